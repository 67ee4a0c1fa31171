# uname -m: uname(2), print the machine field and a newline, exit(0). ELFv2, no TOC needed.
        .abiversion 2
        .global _start
        .text
_start: lis  3, buf@ha
        addi 3, 3, buf@l
        li   0, 122                   # uname
        sc
        lis  4, buf@ha
        addi 4, 4, buf@l
        addi 4, 4, 260                # utsname.machine
        li   5, 0
1:      lbzx 6, 4, 5
        cmpwi 6, 0
        beq  2f
        addi 5, 5, 1
        b    1b
2:      li   6, 10
        stbx 6, 4, 5
        addi 5, 5, 1
        li   3, 1
        li   0, 4                     # write
        sc
        li   3, 0
        li   0, 1                     # exit
        sc
        .bss
buf:    .space 400
