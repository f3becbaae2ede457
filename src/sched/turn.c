/* The turn: running fibers, switching between them, and the tick. See
 * sched.h. */
#include "sched/fiber.h"
#include "sched/sched.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/panic.h"
#include "coil/time.h"
#include "sched/crew.h"
#include "sched/switch.h"
#include "sched/turn.h"

__thread struct coil__worker *coil__tls_worker __attribute__((tls_model("initial-exec")));

void coil__yield(struct coil__worker *w)
{
	struct coil__fiber *self = w->current;
	self->budget = 0;
	coil__make_runnable(w, self);
	coil__switch_away(w, self, false);
}

void coil__fiber_entry(void *arg)
{
	struct coil__fiber *f = arg;
	struct coil__worker *w = coil__tls_worker;
	coil__exec_started(&w->sched);
	coil__release_finished(w);
	f->result = f->fn(f->arg);
	coil__fiber_finished(w, f);
	/* Whoever runs next frees this stack: we must be off it first. */
	w->finished = f;
	coil__switch_away(w, f, true);
	coil__panic("a finished fiber was resumed");
}

/* ---- timers -------------------------------------------------------------- */

/* End the waits whose deadline has passed. */
static void expire_timers(struct coil__worker *w)
{
	if (coil__timers_empty(&w->timers))
		return;
	int64_t now = coil_now();
	struct coil__timer *tm, *nomem;
	while ((tm = coil__timers_take_due(&w->timers, now, &nomem)) || nomem) {
		/* A far timer that found no room in the heap: its wait ends
		 * as one whose timer could not be armed does. */
		struct coil__park *p = coil__container_of(tm ? tm : nomem, struct coil__park, timer);
		coil__fiber_interrupt(p->fiber, tm ? -ETIMEDOUT : -ENOMEM);
	}
}

/* Cancel every fiber of w still running, so that the runtime can end. */
static void wind_down(struct coil__worker *w)
{
	w->shutting_down = true;
	for (size_t c = 0; c < w->nchunks; c++)
		for (size_t i = 0; i < COIL__FIBER_CHUNK; i++)
			coil__fiber_cancel(w, &w->chunks[c][i]);
}

/* Main is done: once its children are (or at once, without join_children),
 * cancel every fiber still running, on every worker. */
static void maybe_shut_down(struct coil__worker *w)
{
	struct coil__crew *c = w->crew;
	if (w->shutting_down)
		return;
	if (!w->multi) {
		if (c->main_done && !(w->join_children && w->attached_live > 0))
			wind_down(w);
		return;
	}
	if (!__atomic_load_n(&c->shutting_down, __ATOMIC_SEQ_CST)) {
		if (w->index != 0 || !__atomic_load_n(&c->main_done, __ATOMIC_SEQ_CST))
			return;
		if (c->join_children && __atomic_load_n(&c->attached, __ATOMIC_SEQ_CST) > 0)
			return;
		__atomic_store_n(&c->shutting_down, 1, __ATOMIC_SEQ_CST);
		coil__crew_announce(c);
	}
	wind_down(w);
}

/* When a sleep towards wake_at begins: the clock, or INT64_MAX when the
 * sleep is not timed (no clock read then). */
static inline int64_t sleep_began(int64_t wake_at)
{
	return wake_at == INT64_MAX ? INT64_MAX : coil_now();
}

/* A sleep of a worker with others, begun at began, just ended: if its time
 * did end it (nothing in the inbox), how late it woke (crew.h). One whose
 * time had passed before it began (a fiber ran past the timer) did not
 * wait for a timer: no lateness to learn. */
static void learn_lateness(struct coil__worker *w, int64_t began, int64_t wake_at)
{
	if (began >= wake_at || !coil__inbox_empty(w))
		return;
	int64_t now = coil_now();
	if (now >= wake_at)
		coil__crew_late_sample(w, now - wake_at);
}

#define STUCK_ENTRY ((uint64_t)1 << 32)

/* Whether every inbox of the crew is empty and no plain thread is posting. */
static bool no_message_in_flight(struct coil__crew *c)
{
	if (__atomic_load_n(&c->outside_posters, __ATOMIC_SEQ_CST))
		return false;
	for (unsigned i = 0; i < c->n; i++)
		if (__atomic_load_n(&c->workers[i]->inbox, __ATOMIC_SEQ_CST))
			return false;
	return true;
}

/* Several workers: nothing runnable, no I/O, no timer, and nothing a plain
 * thread could wake: only another worker can give w work. Count w stuck
 * while it waits; the worker whose count makes every worker stuck, with no
 * message in flight and no one leaving or coming meanwhile (crew.h), has
 * found a deadlock. The wait may end at wake_at (a timer of another worker
 * that w waits for awake: coil__crew_expect). */
static int wait_stuck(struct coil__worker *w, uint32_t seen, int64_t wake_at)
{
	struct coil__crew *c = w->crew;
	uint64_t v = __atomic_add_fetch(&c->stuck, STUCK_ENTRY | 1, __ATOMIC_SEQ_CST);
	if ((uint32_t)v == c->n && no_message_in_flight(c) &&
	    __atomic_load_n(&c->stuck, __ATOMIC_SEQ_CST) == v) {
		__atomic_store_n(&c->deadlock, 1, __ATOMIC_SEQ_CST);
		coil__crew_announce(c);
	}
	int r = 0;
	__atomic_store_n(&w->next_timer, INT64_MAX, __ATOMIC_RELAXED);
	if (coil__crew_sleep_begin(w, seen, COIL__SLEEP_QUIET)) {
		int64_t began = sleep_began(wake_at);
		r = coil__crew_sleep_quiet(w, wake_at);
		coil__crew_sleep_end(w);
		learn_lateness(w, began, wake_at);
	}
	__atomic_sub_fetch(&c->stuck, 1, __ATOMIC_SEQ_CST);
	return r;
}

/* The crew ended: every fiber is done (0), a deadlock (-EDEADLK), a fatal
 * error of some worker; 1: go on. */
static int crew_state(struct coil__worker *w)
{
	struct coil__crew *c = w->crew;
	int e = __atomic_load_n(&c->error, __ATOMIC_SEQ_CST);
	if (e)
		return e;
	if (__atomic_load_n(&c->deadlock, __ATOMIC_SEQ_CST))
		return -EDEADLK;
	if (__atomic_load_n(&c->live, __ATOMIC_SEQ_CST) == 0 && w->pending == 0)
		return 0;
	return 1;
}

static int fatal(struct coil__worker *w, int r)
{
	if (w->multi) {
		int zero = 0;
		__atomic_compare_exchange_n(&w->crew->error, &zero, r, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
		coil__crew_announce(w->crew);
	}
	return r;
}

int coil__sched_tick(struct coil__worker *w, int64_t timeout_ns, unsigned budget)
{
	uint32_t seen = __atomic_load_n(&w->crew->epoch, __ATOMIC_SEQ_CST);
	if (!coil__inbox_empty(w))
		w->spin = coil__crew_drain(w);
	/* Run what is runnable now, once. */
	w->batch = budget && budget < w->runq_len ? budget : w->runq_len;
	while (w->batch > 0) {
		struct coil__fiber *f = coil__runq_pop(w);
		w->batch--;
		coil__fiber_prepare(f);
		f->state = COIL__FIBER_RUNNING;
		w->current = f;
		coil__exec_switch(&w->sched, &f->exec, false);
		coil__release_finished(w);
	}
	maybe_shut_down(w);
	if (w->multi) {
		int s = crew_state(w);
		if (s <= 0)
			return s;
	} else if (w->live == 0) {
		return 0;
	}
	bool idle = w->runq_len == 0 && coil__inbox_empty(w);
	int64_t timer = coil__timers_next(&w->timers);
	int64_t deadline = timer;
	if (idle && timeout_ns >= 0) {
		int64_t now = coil_now();
		int64_t until = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
		if (until < deadline)
			deadline = until;
	}
	/* Awake when work is about to come from another worker (crew.h);
	 * only a worker with no I/O in flight: spinning on the inbox would
	 * hold back completions. */
	bool may_spin = idle && w->multi && w->pending == 0 && timeout_ns != 0;
	if (may_spin && w->spin) {
		int64_t now = coil_now();
		int64_t end = deadline - now < COIL__CREW_SPIN_NS ? deadline : now + COIL__CREW_SPIN_NS;
		w->spin = coil__crew_spin(w, seen, end);
		if (w->spin)
			return 1; /* the next turn drains it */
	}
	int64_t expect = INT64_MAX, wake_at = deadline;
	if (may_spin) {
		expect = coil__crew_expect(w, coil_now(), deadline);
		if (expect != INT64_MAX)
			wake_at = expect - coil__crew_expect_lead(w);
	}
	int r = 0;
	if (idle && w->multi && w->pending == 0 && deadline == INT64_MAX && w->outside_waits == 0) {
		r = wait_stuck(w, seen, wake_at);
	} else if (w->pending > 0 || (idle && deadline != INT64_MAX) ||
		   (idle && (w->multi || w->outside_waits > 0))) {
		/* A worker that waits must hear posts from other threads. A
		 * tick told not to wait (timeout 0: coil_loop) polls without
		 * blocking: a zero-length timed wait costs ~16 us on io_uring.
		 * With nothing in the kernel, a sleep is quiet (crew.h). */
		bool quiet = w->pending == 0;
		bool block = idle && timeout_ns != 0 &&
			     coil__crew_sleep_begin(w, seen, quiet ? COIL__SLEEP_QUIET : COIL__SLEEP_POLL);
		int64_t began = INT64_MAX;
		if (block && w->multi) {
			__atomic_store_n(&w->sleep_cpu, sched_getcpu(), __ATOMIC_RELAXED);
			/* The next timer that ends a wait: a sweep of the far
			 * list (timer may be one) wakes this worker but runs no
			 * fiber, so the others must not expect work from it. */
			__atomic_store_n(&w->next_timer, coil__heap_min_key(&w->timers.near),
					 __ATOMIC_RELAXED);
			began = sleep_began(wake_at);
		}
		if (block && quiet)
			r = coil__crew_sleep_quiet(w, wake_at);
		else
			r = w->poll(w->poll_ctx, block, block ? wake_at : deadline);
		if (block) {
			coil__crew_sleep_end(w);
			if (w->multi)
				learn_lateness(w, began, wake_at);
		}
	} else if (idle) {
		return -EDEADLK;
	}
	if (expect != INT64_MAX && r >= 0 && coil__inbox_empty(w) &&
	    coil_now() >= wake_at && coil__crew_expect_spin(w, seen, expect, deadline))
		return 1; /* the next turn drains it */
	if (r < 0 && r != -EINTR)
		return fatal(w, r);
	if (!coil__inbox_empty(w))
		w->spin = coil__crew_drain(w);
	expire_timers(w);
	return 1;
}

void coil__sched_abandon(struct coil__worker *w)
{
	for (size_t c = 0; c < w->nchunks; c++) {
		for (size_t i = 0; i < COIL__FIBER_CHUNK; i++) {
			struct coil__fiber *f = &w->chunks[c][i];
			if (f->state != COIL__FIBER_PARKED)
				continue;
			coil__fiber_interrupt(f, -EDEADLK);
			if (f->state == COIL__FIBER_RUNNABLE) {
				/* Unlinked from its object; it never runs. */
				coil__list_remove(&f->link);
				w->runq_len--;
			}
			f->state = COIL__FIBER_DONE;
		}
	}
}

int coil__sched_init(struct coil__worker *w, struct coil__crew *crew, unsigned index,
		     const struct coil_config *cfg, coil__poll_fn *poll, void *poll_ctx)
{
	w->crew = crew;
	w->index = index;
	w->multi = crew->n > 1;
	w->list_others = ~UINT32_C(0); /* not listed (sched/crew.h) */
#ifdef __wasi__
	/* One thread (WASI preview 1): nothing can wake the worker but its
	 * own backend, so it has no wake fd. */
	w->wake_fd = -1;
#else
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
#endif
	coil__list_init(&w->runq);
	coil__list_init(&w->free_fibers);
	coil__timers_init(&w->timers);
	coil__stack_pool_init(&w->stacks, cfg->stack_size, cfg->stack_cache);
	w->join_children = cfg->join_children;
	w->poll = poll;
	w->poll_ctx = poll_ctx;
	return 0;
}

int coil__sched_start(struct coil__worker *w, coil_fn fn, void *arg)
{
	struct coil__fiber *main;
	int r = coil__spawn_fiber(w, w, w->stacks.size, fn, arg, false, &main);
	if (r == 0)
		w->crew->main = main;
	return r;
}

void coil__sched_fini(struct coil__worker *w)
{
	/* Ops still pending can only remain after a fatal poll error; their
	 * stacks are then leaked rather than handed back while the kernel may
	 * still write into them. */
	if (w->pending == 0)
		coil__fibers_free_all(w);
	coil__stack_pool_fini(&w->stacks);
	free(w->chunks);
	coil__timers_fini(&w->timers);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
}
