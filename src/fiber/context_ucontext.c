/*
 * Portable context switch: ucontext only to start a fiber, then _setjmp and
 * _longjmp, which (unlike swapcontext) do not save and restore the signal
 * mask, so a switch is a few dozen instructions and no syscall. Starting a
 * fiber costs one setcontext (one rt_sigprocmask).
 *
 * Built with _FORTIFY_SOURCE off: its __longjmp_chk refuses to jump to
 * another stack, which is the whole point here.
 */
#include "fiber/context.h"

#include <stdlib.h>

/* setcontext() takes no argument, so the context being started is handed to
 * boot() through this thread's slot, read at once on the new stack. */
static __thread struct coil__ctx *starting;

static void boot(void)
{
	struct coil__ctx *self = starting;
	self->entry(self->arg);
	abort(); /* entry never returns */
}

void coil__ctx_make(struct coil__ctx *ctx, void *stack_lo, size_t size,
		    void (*entry)(void *), void *arg)
{
	ctx->started = 0;
	ctx->entry = entry;
	ctx->arg = arg;
	if (getcontext(&ctx->boot) != 0)
		abort();
	ctx->boot.uc_stack.ss_sp = stack_lo;
	ctx->boot.uc_stack.ss_size = size;
	ctx->boot.uc_link = NULL;
	makecontext(&ctx->boot, boot, 0);
}

void coil__ctx_switch(struct coil__ctx *from, struct coil__ctx *to)
{
	/* from may be a context never made (a thread's own stack): once saved
	 * here it is resumed by _longjmp like any other. */
	from->started = 1;
	if (_setjmp(from->jb) != 0)
		return; /* switched back to */
	if (!to->started) {
		to->started = 1;
		starting = to;
		setcontext(&to->boot);
		abort();
	}
	_longjmp(to->jb, 1);
}
