/*
 * Machine context of a fiber: the one place that knows how a switch is done.
 *
 * coil__ctx_switch(from, to) saves the caller's callee-saved state into
 * *from and resumes *to; it returns when something later switches back to
 * *from. coil__ctx_make() prepares a fresh context that, when first switched
 * to, calls entry(arg) on the given stack. entry must never return: a fiber
 * ends by switching away for good.
 *
 * Implementations (chosen at configure time, COIL_CONTEXT):
 *   asm      switch_x86_64_sysv.S / switch_aarch64_aapcs.S: a few pushes and a
 *            stack swap; FPU control state (MXCSR + x87 CW on x86-64, FPCR on
 *            AArch64) travels with the fiber.
 *   ucontext context_ucontext.c: makecontext()/swapcontext() only to start a
 *            fiber, then _setjmp()/_longjmp(), which do not touch the signal
 *            mask, so a switch makes no syscall.
 *   asyncify context_asyncify.c (wasm32-wasi, which has no stack switching):
 *            Binaryen's Asyncify unwinds the switching fiber's frames into
 *            its own save buffer and rewinds the next one's; each fiber has
 *            its own shadow stack in linear memory (sp_wasm32.S).
 */
#ifndef COIL_FIBER_CONTEXT_H
#define COIL_FIBER_CONTEXT_H

#include <stddef.h>

#if defined(COIL_CONTEXT_UCONTEXT)
#include <setjmp.h>
#include <ucontext.h>
struct coil__ctx {
	jmp_buf jb;
	int started;            /* 0 until the first switch in */
	ucontext_t boot;        /* used once, to get onto the new stack */
	void (*entry)(void *);
	void *arg;
};
#elif defined(COIL_CONTEXT_ASYNCIFY)
/* Binaryen's Asyncify save buffer: the two words its pass reads, then the
 * saved frames (fiber/context_asyncify.c). */
struct coil__asyncify_buf {
	void *cur;	/* where the next frame is saved; back at data when rewound */
	void *end;	/* one past the buffer */
	unsigned canary; /* overwritten: the shadow stack ran into the buffer */
};
struct coil__ctx {
	void *sp;	/* __stack_pointer while switched out (the start: the top) */
	struct coil__asyncify_buf *buf; /* NULL: a thread's own stack */
	void (*entry)(void *);
	void *arg;
	int state;	/* context_asyncify.c: fresh, running, suspended, resuming */
};
#else
struct coil__ctx {
	void *sp; /* the saved frame, at the top of the suspended stack */
};
#endif

void coil__ctx_make(struct coil__ctx *ctx, void *stack_lo, size_t size,
		    void (*entry)(void *), void *arg);
void coil__ctx_switch(struct coil__ctx *from, struct coil__ctx *to);

#endif
