/*
 * The run queue, the switch between fibers and parking, inline: every
 * park, wake and yield goes through here, so it is one header that the
 * turn (turn.c), parking (park.c) and the op path (io/op.c) compile in,
 * rather than a call each.
 */
#ifndef COIL_SCHED_SWITCH_H
#define COIL_SCHED_SWITCH_H

#include "sched/timers.h"
#include "coil/time.h"
#include "sched/crew.h"
#include "sched/fiber.h"
#include "sched/park.h"
#include "sched/sched.h"
#include "sched/turn.h"

static inline struct coil__fiber *coil__runq_pop(struct coil__worker *w)
{
	struct coil__list *n = coil__list_pop_front(&w->runq);
	if (!n)
		return NULL;
	w->runq_len--;
	return coil__container_of(n, struct coil__fiber, link);
}

/* Make f's context on its first run (its stack came with the spawn). */
static inline void coil__fiber_prepare(struct coil__fiber *f)
{
	if (__builtin_expect(f->started, 1))
		return;
	f->started = true;
	f->exec.stack_lo = f->stack->lo;
	f->exec.stack_size = f->stack->size;
	f->exec.asan_fake = NULL;
	coil__exec_tsan_make(&f->exec);
	coil__ctx_make(&f->exec.ctx, f->stack->lo, f->stack->size, coil__fiber_entry, f);
}

/* A finished fiber's stack goes back to the pool once we are off it. */
static inline void coil__release_finished(struct coil__worker *w)
{
	struct coil__fiber *f = w->finished;
	if (__builtin_expect(!f, 1))
		return;
	w->finished = NULL;
	coil__exec_tsan_free(&f->exec); /* TSan counts its contexts as threads */
	coil__stack_put(&w->stacks, f->stack);
	f->stack = NULL;
	if (f->detached)
		coil__fiber_release(w, f);
}

/* Whether a timer is due: then the next round must go through the
 * scheduler, which expires it. Reads the clock only when a timer exists. */
static inline bool coil__timer_due(struct coil__worker *w)
{
	return !coil__timers_empty(&w->timers) && coil__timers_next(&w->timers) <= coil_now();
}

/* Whether the next round can start right here, on a fiber, instead of on
 * the scheduler: with nothing pending the scheduler would not poll I/O, so
 * going through it only costs two switches. Not when a timer is due (the
 * scheduler expires timers), nor when another thread posted to the inbox
 * (the scheduler drains it), nor when main is done (it winds down), nor in
 * a coil_loop (its tick must return to the embedder). */
static inline bool coil__turn_in_place(struct coil__worker *w)
{
	return w->pending == 0 && w->runq_len > 0 && !w->embedded &&
	       __atomic_load_n(&w->inbox, __ATOMIC_RELAXED) == NULL &&
	       !__atomic_load_n(&w->crew->main_done, __ATOMIC_RELAXED) && !coil__timer_due(w);
}

static inline __attribute__((always_inline)) void
coil__switch_away(struct coil__worker *w, struct coil__fiber *self, bool ends)
{
	for (;;) {
		if (w->batch == 0) {
			if (!coil__turn_in_place(w))
				break;
			w->batch = w->runq_len;
		}
		struct coil__fiber *next = coil__runq_pop(w);
		w->batch--;
		if (next == self) {
			self->state = COIL__FIBER_RUNNING;
			return;
		}
		coil__fiber_prepare(next);
		next->state = COIL__FIBER_RUNNING;
		w->current = next;
		coil__exec_switch(&self->exec, &next->exec, ends);
		w->current = self;
		coil__release_finished(w);
		return;
	}
	w->current = NULL;
	coil__exec_switch(&self->exec, &w->sched, ends);
	w->current = self;
	coil__release_finished(w);
}

/* coil__park, inline for the hot callers (an op, a channel case); code <
 * 0: end the wait at once with it (p->cancel runs first thing, so it
 * unlinks p the one way it always does). */
static inline __attribute__((always_inline)) int
coil__park_inline(struct coil__park *p, int64_t deadline, int code)
{
	struct coil__worker *w = coil__tls_worker;
	struct coil__fiber *self = w->current;
	/* A park linked where another thread can see it had its fiber set
	 * before (a waker reads it): not written again. */
	if (p->fiber != self)
		p->fiber = self;
	p->result = 0;
	p->cancel_sent = false;
	p->timer.near.slot = 0;
	p->timer.far = false;
	self->park = p;
	self->state = COIL__FIBER_PARKED;
	if (code < 0)
		coil__fiber_interrupt(self, code);
	else if (deadline != INT64_MAX && coil__timer_arm(&w->timers, &p->timer, deadline) < 0)
		coil__fiber_interrupt(self, -ENOMEM);
	coil__switch_away(w, self, false);
	/* Woken by something else than its deadline: the timer goes here,
	 * not in the wake (the hot path has no timer). Until now it was
	 * harmless: an expiry finds the fiber no longer parked. */
	if (__builtin_expect(coil__timer_armed(&p->timer), 0))
		coil__timer_disarm(&w->timers, &p->timer);
	self->budget = 0;
	return p->result;
}

#endif
