/*
 * coil__ctx_switch for x86-64, System V ABI (Linux, BSD, macOS ELF/Mach-O).
 *
 *   void coil__ctx_switch(struct coil__ctx *from  (%rdi),
 *                         struct coil__ctx *to    (%rsi));
 *
 * Saves what the ABI says a callee must preserve, stores the stack pointer in
 * from->sp, loads to->sp and restores the same frame from there. The caller-
 * saved registers are dead across the call by the ABI, so they are not saved.
 *
 * Saved frame (grows down; from->sp points at its lowest word):
 *
 *         +--------------------------+  higher addresses
 *   +0x38 | return address           |  pushed by the call
 *   +0x30 | rbp                      |
 *   +0x28 | rbx                      |
 *   +0x20 | r12                      |
 *   +0x18 | r13                      |
 *   +0x10 | r14                      |
 *   +0x08 | r15                      |
 *   +0x04 | x87 control word (16 b)  |
 *   +0x00 | MXCSR (32 b)             |  <- from->sp
 *         +--------------------------+
 *
 * MXCSR is saved and loaded whole, status flags too (the ABI makes only its
 * control bits callee-saved): loading it only when the control bits differ
 * measured 7.3 ns per switch against 5.1 here, and loading a value whose
 * flags differ cost nothing on this CPU (bench/README.md, ctxswitch).
 *
 * The return address is popped into a scratch register and jumped to rather
 * than "ret"-urned: a ret into another stack misses the return-stack predictor
 * every time (measured here: 11.7 ns per switch with ret, 5 ns with pop+jmp).
 *
 * A fresh context (coil__ctx_make) holds the same frame with entry in r13,
 * its argument in r12 and coil__ctx_trampoline as the return address.
 */
	.text
	.globl	coil__ctx_switch
	.hidden	coil__ctx_switch
	.type	coil__ctx_switch, @function
	.p2align 4
coil__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)

	movq	(%rsi), %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	popq	%rcx
	jmp	*%rcx
	.cfi_endproc
	.size	coil__ctx_switch, .-coil__ctx_switch

/* First code a fresh fiber runs: entry(arg) on a 16-byte aligned stack.
 * entry never returns; if it did, trap rather than run off into garbage. */
	.globl	coil__ctx_trampoline
	.hidden	coil__ctx_trampoline
	.type	coil__ctx_trampoline, @function
	.p2align 4
coil__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r12, %rdi
	andq	$-16, %rsp
	callq	*%r13
	ud2
	.cfi_endproc
	.size	coil__ctx_trampoline, .-coil__ctx_trampoline

	.section .note.GNU-stack,"",%progbits
