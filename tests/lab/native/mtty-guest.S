/*
 * mtty-guest.S — the firmware of lab-native's tiny guest: no OS, 64 KiB of
 * ROM loaded as the BIOS of an i440fx "pc" machine (<loader type='rom'>),
 * running in real mode.  Assembled by native.sh with GNU as:
 *   as --32 -o rom.o mtty-guest.S && objcopy -O binary -j .text rom.o rom.bin
 *
 * What it does with the mtty mediated device (PCI 4348:3253, BAR0 = 8 I/O
 * ports of a 16550-like UART, see the kernel's samples/vfio-mdev/mtty.c):
 *  1. finds it on bus 0 through PCI configuration mechanism #1 (0xcf8/0xcfc);
 *     no BIOS ran, so it assigns BAR0 itself (0xc000 when BAR0 is 0) and
 *     turns on I/O decoding;
 *  2. writes FCR = 0x07 (FIFO on, both FIFOs cleared), a value to SCR and
 *     four bytes to THR (mtty loops them back into its receive FIFO); the
 *     values come from the TSC, so each run writes different ones, and no
 *     byte is 0 (a fresh instance reads SCR 0 and an empty FIFO);
 *  3. counts forever (64-bit counter at 0x1000, as the twohost guest does);
 *     every 65536 counts it executes "pause" (TCG leaves its execution loop:
 *     QEMU's RCU and monitor need that) and looks at CMOS byte 0x40;
 *  4. when CMOS 0x40 reads 1 (set through the monitor of the QEMU it runs
 *     in: "o /b 0x70 0x40", "o /b 0x71 1"), reads SCR, LSR and the FIFO
 *     back, once.
 *
 * Results in guest RAM (read with "xp /64xb 0x2000"):
 *   0x2000 state: 0 starting, 1 written, 2 read back, 0xee no device found
 *   0x2004 I/O base of BAR0 (16 bit)     0x2008 its config address (32 bit)
 *   0x2010 SCR value written             0x2011..0x2014 the 4 bytes written
 *   0x2018 LSR after writing (0x01 set: data ready)
 *   0x2020 SCR read back   0x2021 LSR before reading the FIFO
 *   0x2022 bytes read      0x2023 LSR after reading (0x60: empty)
 *   0x2030..0x203f the bytes read from the FIFO
 */
	.code16
	.text

	.set COUNTER, 0x1000
	.set RES, 0x2000
	.set UART_RX, 0
	.set UART_FCR, 2
	.set UART_LSR, 5
	.set UART_SCR, 7

start:					/* F000:0000, reached from the reset vector */
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7000, %sp
	movl	$0, COUNTER
	movl	$0, COUNTER + 4
	mov	$RES, %di		/* clear the result area (64 bytes) */
	mov	$16, %cx
	xor	%eax, %eax
	rep stosl

	/* 1. find 4348:3253: bus 0, devices 0..31, function 0 */
	mov	$0x80000000, %ebx
find:
	mov	%ebx, %eax
	mov	$0xcf8, %dx
	outl	%eax, %dx
	mov	$0xcfc, %dx
	inl	%dx, %eax
	cmp	$0x32534348, %eax
	je	found
	add	$0x800, %ebx
	cmp	$0x80010000, %ebx
	jb	find
	movb	$0xee, RES
	jmp	idle

found:
	mov	%ebx, RES + 8
	call	read_bar0
	test	%eax, %eax
	jnz	1f
	lea	0x10(%ebx), %eax	/* BAR0 unassigned: 0xc000 */
	mov	$0xcf8, %dx
	outl	%eax, %dx
	mov	$0xc000, %eax
	mov	$0xcfc, %dx
	outl	%eax, %dx
	call	read_bar0
1:	mov	%ax, RES + 4
	lea	0x04(%ebx), %eax	/* command: I/O space on (status untouched) */
	mov	$0xcf8, %dx
	outl	%eax, %dx
	mov	$0xcfc, %dx
	inl	%dx, %eax
	and	$0xffff, %eax
	or	$0x0001, %eax
	outl	%eax, %dx

	/* 2. the values: TSC-derived, no zero byte */
	rdtsc
	imul	$0x9e3779b1, %eax, %eax
	or	$0x01010101, %eax
	mov	%eax, RES + 0x11
	rdtsc
	imul	$0x85ebca6b, %eax, %eax
	or	$0x01, %al
	mov	%al, RES + 0x10

	mov	RES + 4, %dx
	add	$UART_FCR, %dx
	mov	$0x07, %al
	outb	%al, %dx
	mov	RES + 4, %dx
	add	$UART_SCR, %dx
	mov	RES + 0x10, %al
	outb	%al, %dx
	mov	RES + 4, %dx		/* THR (DLAB is 0) */
	mov	$RES + 0x11, %si
	mov	$4, %cx
2:	lodsb
	outb	%al, %dx
	loop	2b
	mov	RES + 4, %dx
	add	$UART_LSR, %dx
	inb	%dx, %al
	mov	%al, RES + 0x18
	movb	$1, RES

	/* 3. count; every 65536 counts: pause, then look at CMOS 0x40 */
idle:
	incl	COUNTER
	jnz	3f
	incl	COUNTER + 4
3:	testl	$0xffff, COUNTER
	jnz	idle
	pause
	cmpb	$1, RES
	jne	idle
	mov	$0x40, %al
	outb	%al, $0x70
	inb	$0x71, %al
	cmp	$1, %al
	jne	idle

	/* 4. read back, once */
	mov	RES + 4, %dx
	add	$UART_SCR, %dx
	inb	%dx, %al
	mov	%al, RES + 0x20
	mov	RES + 4, %dx
	add	$UART_LSR, %dx
	inb	%dx, %al
	mov	%al, RES + 0x21
	mov	$RES + 0x30, %di
	xor	%cx, %cx
4:	mov	RES + 4, %dx
	add	$UART_LSR, %dx
	inb	%dx, %al
	test	$0x01, %al		/* data ready */
	jz	5f
	cmp	$16, %cx
	jae	5f
	mov	RES + 4, %dx
	add	$UART_RX, %dx
	inb	%dx, %al
	mov	%al, (%di)
	inc	%di
	inc	%cx
	jmp	4b
5:	mov	%cl, RES + 0x22
	mov	RES + 4, %dx
	add	$UART_LSR, %dx
	inb	%dx, %al
	mov	%al, RES + 0x23
	movb	$2, RES
	jmp	idle

/* %eax = BAR0 & 0xfffc of the device at config address %ebx */
read_bar0:
	lea	0x10(%ebx), %eax
	mov	$0xcf8, %dx
	outl	%eax, %dx
	mov	$0xcfc, %dx
	inl	%dx, %eax
	and	$0xfffc, %eax
	ret

	.org	0xfff0			/* reset vector (FFFF:FFF0 = top of the ROM) */
	ljmp	$0xf000, $start
	.org	0x10000
