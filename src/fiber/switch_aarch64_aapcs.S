/*
 * coil__ctx_switch for AArch64, AAPCS64 (Linux ELF).
 *
 *   void coil__ctx_switch(struct coil__ctx *from  (x0),
 *                         struct coil__ctx *to    (x1));
 *
 * Saves the callee-saved general registers x19-x28, the frame pointer x29,
 * the link register x30 (where the switch returns to), the low 64 bits of
 * v8-v15 (d8-d15), which AAPCS64 makes callee-saved, and FPCR (rounding
 * mode and FP control: like MXCSR on x86-64 it travels with the fiber);
 * stores sp in from->sp, loads to->sp and restores the same frame from there.
 * FPCR is written back only when it differs: msr fpcr can be slow.
 *
 * Saved frame (176 bytes, 16-byte aligned; from->sp points at +0x00):
 *
 *   +0x00 x19  x20      +0x50 x29  x30 (lr)
 *   +0x10 x21  x22      +0x60 d8   d9
 *   +0x20 x23  x24      +0x70 d10  d11
 *   +0x30 x25  x26      +0x80 d12  d13
 *   +0x40 x27  x28      +0x90 d14  d15
 *   +0xa0 fpcr  (pad)
 *
 * A fresh context (coil__ctx_make) holds the same frame with entry in x20,
 * its argument in x19 and coil__ctx_trampoline in x30.
 */
	.text
	.globl	coil__ctx_switch
	.hidden	coil__ctx_switch
	.type	coil__ctx_switch, %function
	.p2align 4
coil__ctx_switch:
	.cfi_startproc
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0x00]
	stp	x21, x22, [sp, #0x10]
	stp	x23, x24, [sp, #0x20]
	stp	x25, x26, [sp, #0x30]
	stp	x27, x28, [sp, #0x40]
	stp	x29, x30, [sp, #0x50]
	stp	d8,  d9,  [sp, #0x60]
	stp	d10, d11, [sp, #0x70]
	stp	d12, d13, [sp, #0x80]
	stp	d14, d15, [sp, #0x90]
	mrs	x10, fpcr
	str	x10, [sp, #0xa0]
	mov	x9, sp
	str	x9, [x0]

	ldr	x9, [x1]
	mov	sp, x9
	ldp	x19, x20, [sp, #0x00]
	ldp	x21, x22, [sp, #0x10]
	ldp	x23, x24, [sp, #0x20]
	ldp	x25, x26, [sp, #0x30]
	ldp	x27, x28, [sp, #0x40]
	ldp	x29, x30, [sp, #0x50]
	ldp	d8,  d9,  [sp, #0x60]
	ldp	d10, d11, [sp, #0x70]
	ldp	d12, d13, [sp, #0x80]
	ldp	d14, d15, [sp, #0x90]
	ldr	x10, [sp, #0xa0]
	mrs	x11, fpcr
	cmp	x10, x11
	b.eq	1f
	msr	fpcr, x10
1:	add	sp, sp, #176
	ret
	.cfi_endproc
	.size	coil__ctx_switch, .-coil__ctx_switch

/* First code a fresh fiber runs: entry(arg). entry never returns. */
	.globl	coil__ctx_trampoline
	.hidden	coil__ctx_trampoline
	.type	coil__ctx_trampoline, %function
	.p2align 4
coil__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	blr	x20
	brk	#0
	.cfi_endproc
	.size	coil__ctx_trampoline, .-coil__ctx_trampoline

	.section .note.GNU-stack,"",%progbits
