# uname -m: uname(2), print the machine field and a newline, exit(0).
        .global _start
        .text
_start: la   a0, buf
        li   a7, 160                  # uname
        ecall
        la   a1, buf
        addi a1, a1, 260              # utsname.machine
        li   a2, 0
1:      add  t0, a1, a2
        lbu  t1, 0(t0)
        beqz t1, 2f
        addi a2, a2, 1
        j    1b
2:      li   t1, 10
        sb   t1, 0(t0)
        addi a2, a2, 1
        li   a0, 1
        li   a7, 64                   # write
        ecall
        li   a0, 0
        li   a7, 93                   # exit
        ecall
        .bss
buf:    .space 400
