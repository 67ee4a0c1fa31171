@ uname -m: uname(2), print the machine field and a newline, exit(0).
        .global _start
        .text
        .arm
_start: ldr  r0, =buf
        mov  r7, #122                 @ uname
        svc  #0
        ldr  r1, =buf
        add  r1, r1, #260             @ utsname.machine
        mov  r2, #0
1:      ldrb r3, [r1, r2]
        cmp  r3, #0
        beq  2f
        add  r2, r2, #1
        b    1b
2:      mov  r3, #10
        strb r3, [r1, r2]
        add  r2, r2, #1
        mov  r0, #1
        mov  r7, #4                   @ write
        svc  #0
        mov  r0, #0
        mov  r7, #1                   @ exit
        svc  #0
        .ltorg
        .bss
buf:    .space 400
