/*
 * An execution context: a machine context plus what the sanitizers must know
 * about its stack. Both fibers and a worker's scheduler (which runs on the
 * thread's own stack) are one of these; every switch goes through
 * coil__exec_switch().
 */
#ifndef COIL_FIBER_EXEC_H
#define COIL_FIBER_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "fiber/context.h"
#include "fiber/sanitizer.h"

struct coil__exec {
	struct coil__ctx ctx;
	const void *stack_lo; /* bounds, for ASan; NULL for a thread stack until learnt */
	size_t stack_size;
	void *asan_fake;      /* ASan's fake stack while switched out */
	void *tsan_fiber;     /* TSan's context (a thread's own: learnt at its first switch) */
};

/* The TSan context of a fiber's exec (made once per fiber slot, kept while
 * the slot is reused) and its end; nothing outside TSan builds. */
static inline void coil__exec_tsan_make(struct coil__exec *e)
{
#ifdef COIL__TSAN
	if (!e->tsan_fiber)
		e->tsan_fiber = __tsan_create_fiber(0);
#else
	(void)e;
#endif
}

static inline void coil__exec_tsan_free(struct coil__exec *e)
{
#ifdef COIL__TSAN
	if (e->tsan_fiber)
		__tsan_destroy_fiber(e->tsan_fiber);
	e->tsan_fiber = NULL;
#else
	(void)e;
#endif
}

/* Switch from `from` to `to`. from_ends: `from` will never be resumed (its
 * stack is about to be reused), so ASan may drop its fake stack. */
static inline void coil__exec_switch(struct coil__exec *from, struct coil__exec *to,
				     bool from_ends)
{
#ifdef COIL__TSAN
	if (!from->tsan_fiber)
		from->tsan_fiber = __tsan_get_current_fiber();
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
#ifdef COIL__ASAN
	__sanitizer_start_switch_fiber(from_ends ? NULL : &from->asan_fake,
				       to->stack_lo, to->stack_size);
	coil__ctx_switch(&from->ctx, &to->ctx);
	const void *prev_lo;
	size_t prev_size;
	__sanitizer_finish_switch_fiber(from->asan_fake, &prev_lo, &prev_size);
#else
	(void)from_ends;
	coil__ctx_switch(&from->ctx, &to->ctx);
#endif
}

/* First thing a fresh context does on its new stack. If `came_from` has no
 * known bounds yet (a thread stack), they are learnt here. */
static inline void coil__exec_started(struct coil__exec *came_from)
{
#ifdef COIL__ASAN
	const void *prev_lo;
	size_t prev_size;
	__sanitizer_finish_switch_fiber(NULL, &prev_lo, &prev_size);
	if (came_from && !came_from->stack_lo) {
		came_from->stack_lo = prev_lo;
		came_from->stack_size = prev_size;
	}
#else
	(void)came_from;
#endif
}

#endif
