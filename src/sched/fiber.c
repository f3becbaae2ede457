/* Tasks: the fiber table, spawn, join, detach, cancel, on any worker of
 * the crew. A fiber's slot is in its home worker's table; another worker
 * reads or changes it only under that table's lock (sched.h). */
#include "coil/task.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/crew.h"
#include "sched/fiber.h"
#include "sched/sched.h"
#include "sched/turn.h"

uint64_t coil__task_id(const struct coil__fiber *f)
{
	return ((uint64_t)f->gen << 32) | ((uint64_t)f->home->index << COIL__INDEX_BITS) |
	       f->index;
}

struct coil__worker *coil__task_worker(struct coil__worker *w, coil_task t)
{
	unsigned wi = (unsigned)(t >> COIL__INDEX_BITS) & (COIL__WORKERS_MAX - 1);
	return wi < w->crew->n ? w->crew->workers[wi] : NULL;
}

struct coil__fiber *coil__task_lookup(struct coil__worker *tw, coil_task t)
{
	if (!tw)
		return NULL;
	uint64_t index = t & (((uint64_t)1 << COIL__INDEX_BITS) - 1);
	uint32_t gen = (uint32_t)(t >> 32);
	if (gen == 0 || index >= tw->nchunks * COIL__FIBER_CHUNK)
		return NULL;
	struct coil__fiber *f = &tw->chunks[index / COIL__FIBER_CHUNK][index % COIL__FIBER_CHUNK];
	if (f->gen != gen || f->life == COIL__FIBER_FREE)
		return NULL;
	return f;
}

/* Another chunk of slots for w (under its table lock). */
static int grow(struct coil__worker *w)
{
	if (!w->chunks) {
		/* Room for every chunk at once, so that the array never moves
		 * under a reader on another worker (untouched pages cost no
		 * memory). */
		w->chunks = calloc(COIL__CHUNKS_MAX, sizeof *w->chunks);
		if (!w->chunks)
			return -ENOMEM;
	}
	if (w->nchunks == COIL__CHUNKS_MAX)
		return -ENOMEM;
	struct coil__fiber *chunk = calloc(COIL__FIBER_CHUNK, sizeof *chunk);
	if (!chunk)
		return -ENOMEM;
	uint32_t base = (uint32_t)(w->nchunks * COIL__FIBER_CHUNK);
	for (size_t i = 0; i < COIL__FIBER_CHUNK; i++) {
		chunk[i].index = base + (uint32_t)i;
		chunk[i].gen = 1;
		chunk[i].home = w;
		chunk[i].state = COIL__FIBER_FREE;
		chunk[i].life = COIL__FIBER_FREE;
		coil__list_push_back(&w->free_fibers, &chunk[i].link);
	}
	w->chunks[w->nchunks++] = chunk;
	return 0;
}

void coil__fiber_release_locked(struct coil__worker *home, struct coil__fiber *f)
{
	/* The other fields are set afresh by spawn. */
	f->gen = f->gen + 1 ? f->gen + 1 : 1; /* a handle is never 0 */
	/* state stays DONE (the home's own field; this may run on another
	 * worker): life says the slot is free. */
	f->life = COIL__FIBER_FREE;
	coil__list_push_back(&home->free_fibers, &f->link);
}

void coil__fiber_release(struct coil__worker *home, struct coil__fiber *f)
{
	coil__table_lock(home);
	coil__fiber_release_locked(home, f);
	coil__table_unlock(home);
}

void coil__fibers_free_all(struct coil__worker *w)
{
	for (size_t c = 0; c < w->nchunks; c++) {
		for (size_t i = 0; i < COIL__FIBER_CHUNK; i++) {
			struct coil__fiber *f = &w->chunks[c][i];
			if (f->stack) {
				coil__stack_free(f->stack); /* its home may be gone */
				f->stack = NULL;
			}
			coil__exec_tsan_free(&f->exec);
		}
		free(w->chunks[c]);
	}
	w->nchunks = 0;
	coil__list_init(&w->free_fibers);
}

static inline bool counts_as_attached(struct coil__worker *w, struct coil__fiber *f)
{
	return !f->detached && f != w->crew->main;
}

void coil__fiber_finished(struct coil__worker *w, struct coil__fiber *f)
{
	coil__table_lock(w);
	f->state = COIL__FIBER_DONE;
	f->life = COIL__FIBER_DONE;
	__atomic_store_n(&w->live, w->live - 1, __ATOMIC_RELAXED);
	bool attached = counts_as_attached(w, f);
	struct coil__join_case *jc = f->join_case;
	if (jc) {
		/* join_case stays set until the woken joiner releases f: until
		 * then nobody else may join or detach it (-EBUSY). */
		jc->fired = true;
		if (jc->fire)
			jc->fire(jc, 0);
		else
			coil__park_wake(jc->park, 0);
	}
	coil__table_unlock(w);
	if (f == w->crew->main)
		__atomic_store_n(&w->crew->main_done, 1, __ATOMIC_SEQ_CST);
	if (w->multi)
		coil__crew_fiber_gone(w, attached);
	else if (attached)
		w->attached_live--;
}

/* Inlined into the spawn calls: spawn is on the hot path of every
 * short-lived task. *id (if id) gets the handle, taken before a fiber
 * spawned on another worker is posted there (after the post it may run
 * and end at once). *out: the fiber, for a spawn on w itself. */
static inline __attribute__((always_inline)) int
spawn_fiber(struct coil__worker *w, struct coil__worker *on, size_t stack_size, coil_fn fn,
	    void *arg, bool detached, struct coil__fiber **out, coil_task *id)
{
	/* The stack now, not at the first run: a spawn that cannot have one
	 * fails while its caller can still clean up (close the connection it
	 * meant to hand over...). It comes from the spawner's pool and goes
	 * back to the pool of the worker it ran on. */
	struct coil__stack *st = coil__stack_get(&w->stacks, stack_size);
	if (__builtin_expect(!st, 0))
		return -ENOMEM;
	coil__table_lock(on);
	if (__builtin_expect(coil__list_empty(&on->free_fibers), 0) && grow(on) < 0) {
		coil__table_unlock(on);
		coil__stack_put(&w->stacks, st);
		return -ENOMEM;
	}
	struct coil__list *n = coil__list_pop_front(&on->free_fibers);
	struct coil__fiber *f = coil__container_of(n, struct coil__fiber, link);
	f->fn = fn;
	f->arg = arg;
	f->result = NULL;
	f->stack = st;
	f->detached = detached;
	/* Anything spawned while the runtime winds down starts cancelled. */
	f->cancelled = on->shutting_down ||
		       (on->multi && __atomic_load_n(&on->crew->shutting_down, __ATOMIC_RELAXED));
	f->started = false;
	f->park = NULL;
	f->join_case = NULL;
	f->scope = NULL;
	f->budget = 0;
	f->life = COIL__FIBER_RUNNABLE;
	__atomic_store_n(&on->live, on->live + 1, __ATOMIC_RELAXED);
	bool attached = !detached && w->crew->main;
	if (on->multi)
		coil__crew_fiber_born(on, attached);
	else if (attached)
		on->attached_live++;
	if (id)
		*id = coil__task_id(f);
	if (on == w) {
		coil__table_unlock(on);
		coil__make_runnable(w, f);
		*out = f;
		return 0;
	}
	/* state is on's own: it becomes RUNNABLE when on takes the message. */
	coil__table_unlock(on);
	f->run_msg.kind = COIL__MSG_RUN;
	coil__crew_post(on, &f->run_msg);
	*out = NULL;
	return 0;
}

int coil__spawn_task(struct coil__worker *w, coil_fn fn, void *arg, coil_task *out)
{
	struct coil__fiber *f;
	return spawn_fiber(w, w, w->stacks.size, fn, arg, out == NULL, &f, out);
}

int coil__spawn_fiber(struct coil__worker *w, struct coil__worker *on, size_t stack_size,
		      coil_fn fn, void *arg, bool detached, struct coil__fiber **out)
{
	return spawn_fiber(w, on, stack_size, fn, arg, detached, out, NULL);
}

static inline struct coil__worker *placed(struct coil__worker *w, bool detached)
{
	if (__builtin_expect(w->crew->place == COIL_PLACE_LOCAL, 1))
		return w;
	return coil__crew_place(w, detached);
}

int coil_task_spawn_ex(coil_task *out, const struct coil_task_opts *opts, coil_fn fn,
		       void *arg)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	size_t size = w->stacks.size;
	struct coil__worker *on = NULL;
	if (opts) {
		if (opts->stack_size) {
			if (opts->stack_size < COIL__STACK_MIN || opts->stack_size > COIL__STACK_MAX)
				return -EINVAL;
			size = coil__stack_round(opts->stack_size);
		}
		if (opts->flags & ~COIL_TASK_ON_WORKER)
			return -EINVAL;
		if (opts->flags & COIL_TASK_ON_WORKER) {
			if (opts->worker >= w->crew->n)
				return -EINVAL;
			on = w->crew->workers[opts->worker];
		}
	}
	if (!on)
		on = placed(w, out == NULL);
	struct coil__fiber *f;
	return spawn_fiber(w, on, size, fn, arg, out == NULL, &f, out);
}

int coil_task_spawn_on(unsigned worker, coil_task *out, coil_fn fn, void *arg)
{
	struct coil_task_opts o = {.flags = COIL_TASK_ON_WORKER, .worker = worker};
	return coil_task_spawn_ex(out, &o, fn, arg);
}

int coil_task_spawn(coil_task *out, coil_fn fn, void *arg)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	struct coil__fiber *f;
	return spawn_fiber(w, placed(w, out == NULL), w->stacks.size, fn, arg, out == NULL, &f,
			   out);
}

/* The joiner's cancel. The target may live on another worker: under its
 * table lock, either the target has not finished (unhook and wake now) or
 * it has and its wake is on the way (nothing to do). */
static void join_cancel(struct coil__park *p, int code)
{
	struct coil__join_case *jc = p->data;
	struct coil__worker *tw = jc->target->home;
	coil__table_lock(tw);
	bool mine = !jc->fired;
	if (mine && jc->target->join_case == jc)
		jc->target->join_case = NULL;
	coil__table_unlock(tw);
	if (mine)
		coil__park_wake(p, code);
}

int coil_task_join(coil_task t, void **result)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__fiber *self = w->current;
	struct coil__worker *tw = coil__task_worker(w, t);
	if (!tw)
		return -ESRCH;
	coil__table_lock(tw);
	struct coil__fiber *f = coil__task_lookup(tw, t);
	int r = 0;
	if (f == self)
		r = -EDEADLK;
	/* main is joined by coil_run itself */
	else if (!f || f->detached || f == w->crew->main)
		r = -ESRCH;
	else if (f->join_case)
		r = -EBUSY;
	if (r < 0) {
		coil__table_unlock(tw);
		return r;
	}
	if (f->life != COIL__FIBER_DONE) {
		int64_t deadline;
		r = coil__fiber_may_block(self, &deadline);
		if (r < 0) {
			coil__table_unlock(tw);
			return r;
		}
		struct coil__park p = {.cancel = join_cancel, .fiber = self};
		struct coil__join_case jc = {.park = &p, .target = f};
		p.data = &jc;
		f->join_case = &jc;
		coil__table_unlock(tw);
		r = coil__park(&p, deadline);
		if (r < 0)
			return r; /* cancelled or timed out: f stays joinable */
		coil__table_lock(tw);
	}
	if (result)
		*result = f->result;
	coil__fiber_release_locked(tw, f);
	coil__table_unlock(tw);
	return 0;
}

int coil_task_detach(coil_task t)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__worker *tw = coil__task_worker(w, t);
	if (!tw)
		return -ESRCH;
	coil__table_lock(tw);
	struct coil__fiber *f = coil__task_lookup(tw, t);
	int r = 0;
	bool now_detached = false;
	if (!f || f->detached || f == w->crew->main) {
		r = -ESRCH;
	} else if (f->join_case) {
		r = -EBUSY;
	} else if (f->life == COIL__FIBER_DONE) {
		coil__fiber_release_locked(tw, f);
	} else {
		f->detached = true;
		now_detached = true;
		if (!w->multi)
			tw->attached_live--;
	}
	coil__table_unlock(tw);
	if (now_detached && w->multi)
		coil__crew_fiber_detached(w);
	return r;
}

void coil__fiber_cancel(struct coil__worker *w, struct coil__fiber *f)
{
	(void)w;
	if (f->state == COIL__FIBER_FREE || f->state == COIL__FIBER_DONE)
		return;
	__atomic_store_n(&f->cancelled, true, __ATOMIC_RELAXED);
	if (coil__scope_reaches(f, NULL))
		coil__fiber_interrupt(f, -ECANCELED);
}

int coil_task_cancel(coil_task t)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__worker *tw = coil__task_worker(w, t);
	if (!tw)
		return -ESRCH;
	coil__table_lock(tw);
	struct coil__fiber *f = coil__task_lookup(tw, t);
	if (!f) {
		coil__table_unlock(tw);
		return -ESRCH;
	}
	if (tw == w) {
		/* Ours: interrupt it here (its park's cancel may take locks,
		 * so not under the table lock; nothing else changes it). */
		coil__table_unlock(tw);
		coil__fiber_cancel(w, f);
		return 0;
	}
	if (f->life != COIL__FIBER_DONE) {
		__atomic_store_n(&f->cancelled, true, __ATOMIC_RELAXED);
		coil__crew_poke(f);
	}
	coil__table_unlock(tw);
	return 0;
}

int coil_task_cancelled(void)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	return coil__fiber_cancelled(w->current) ? 1 : 0;
}

coil_task coil_task_current(void)
{
	struct coil__fiber *f = coil__self();
	return f ? coil__task_id(f) : 0;
}

int coil_task_yield(void)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	coil__yield(w);
	return 0;
}

int coil_worker_index(void)
{
	struct coil__worker *w = coil__tls_worker;
	return w && w->current ? (int)w->index : -EPERM;
}

int coil_worker_count(void)
{
	struct coil__worker *w = coil__tls_worker;
	return w ? (int)w->crew->n : -EPERM;
}
