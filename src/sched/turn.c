/* The turn: running fibers, switching between them, and the tick. See
 * sched.h. */
#include "sched/sched.h"

#include <stdlib.h>

#include "base/panic.h"
#include "coil/time.h"
#include "sched/switch.h"

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
	if (!w->timers.n)
		return;
	int64_t now = coil_now();
	struct coil__heap_node *n;
	while ((n = coil__heap_min(&w->timers)) && n->key <= now) {
		coil__heap_remove(&w->timers, n);
		struct coil__park *p = coil__container_of(n, struct coil__park, timer);
		coil__fiber_interrupt(p->fiber, -ETIMEDOUT);
	}
}

/* Main is done: once its children are (or at once, without join_children),
 * cancel every fiber still running so that the runtime can end. */
static void maybe_shut_down(struct coil__worker *w)
{
	if (w->shutting_down || w->main->state != COIL__FIBER_DONE)
		return;
	if (w->join_children && w->attached_live > 0)
		return;
	w->shutting_down = true;
	for (size_t c = 0; c < w->nchunks; c++)
		for (size_t i = 0; i < COIL__FIBER_CHUNK; i++)
			coil__fiber_cancel(w, &w->chunks[c][i]);
}

int coil__sched_tick(struct coil__worker *w, int64_t timeout_ns)
{
	/* Run what is runnable now, once. */
	w->batch = w->runq_len;
	while (w->batch > 0) {
		struct coil__fiber *f = coil__runq_pop(w);
		w->batch--;
		coil__fiber_prepare(f);
		f->state = COIL__FIBER_RUNNING;
		w->current = f;
		coil__exec_switch(&w->sched, &f->exec, false);
		coil__release_finished(w);
	}
	if (w->main->state == COIL__FIBER_DONE)
		maybe_shut_down(w);
	if (w->live == 0)
		return 0;
	bool idle = w->runq_len == 0;
	int64_t deadline = coil__heap_min_key(&w->timers);
	if (idle && timeout_ns >= 0) {
		int64_t now = coil_now();
		int64_t until = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
		if (until < deadline)
			deadline = until;
	}
	if (w->pending > 0 || (idle && deadline != INT64_MAX)) {
		int r = w->poll(w->poll_ctx, idle, deadline);
		if (r < 0 && r != -EINTR)
			return r;
	} else if (idle) {
		return -EDEADLK;
	}
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

void coil__sched_init(struct coil__worker *w, const struct coil_config *cfg,
		      coil__poll_fn *poll, void *poll_ctx)
{
	coil__list_init(&w->runq);
	coil__list_init(&w->free_fibers);
	coil__stack_pool_init(&w->stacks, cfg->stack_size, cfg->stack_cache);
	w->join_children = cfg->join_children;
	w->poll = poll;
	w->poll_ctx = poll_ctx;
}

int coil__sched_start(struct coil__worker *w, coil_fn fn, void *arg)
{
	return coil__spawn_fiber(w, w->stacks.size, fn, arg, false, &w->main);
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
	coil__heap_fini(&w->timers);
}
