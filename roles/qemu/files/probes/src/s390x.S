# uname -m: uname(2), print the machine field and a newline, exit(0).
        .global _start
        .text
_start: larl %r2, buf
        svc  122                      # uname
        larl %r3, buf
        aghi %r3, 260                 # utsname.machine
        lghi %r4, 0
1:      llc  %r5, 0(%r4,%r3)
        ltr  %r5, %r5
        jz   2f
        aghi %r4, 1
        j    1b
2:      lghi %r5, 10
        stc  %r5, 0(%r4,%r3)
        aghi %r4, 1
        lghi %r2, 1
        svc  4                        # write
        lghi %r2, 0
        svc  1                        # exit
        .bss
buf:    .space 400
