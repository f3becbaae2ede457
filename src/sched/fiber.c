/* Tasks: the fiber table, spawn, join, detach, cancel. */
#include "coil/task.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

uint64_t coil__task_id(const struct coil__fiber *f)
{
	return ((uint64_t)f->gen << 32) | f->index;
}

struct coil__fiber *coil__task_lookup(struct coil__worker *w, coil_task t)
{
	uint64_t index = t & 0xffffffffu;
	uint32_t gen = (uint32_t)(t >> 32);
	if (gen == 0 || index >= w->nchunks * COIL__FIBER_CHUNK)
		return NULL;
	struct coil__fiber *f = &w->chunks[index / COIL__FIBER_CHUNK][index % COIL__FIBER_CHUNK];
	if (f->gen != gen || f->state == COIL__FIBER_FREE)
		return NULL;
	return f;
}

static int grow(struct coil__worker *w)
{
	if (w->nchunks == w->chunk_cap) {
		size_t cap = w->chunk_cap ? 2 * w->chunk_cap : 16;
		struct coil__fiber **chunks = realloc(w->chunks, cap * sizeof *chunks);
		if (!chunks)
			return -ENOMEM;
		w->chunks = chunks;
		w->chunk_cap = cap;
	}
	if ((w->nchunks + 1) * (size_t)COIL__FIBER_CHUNK > UINT32_MAX)
		return -ENOMEM;
	struct coil__fiber *chunk = calloc(COIL__FIBER_CHUNK, sizeof *chunk);
	if (!chunk)
		return -ENOMEM;
	uint32_t base = (uint32_t)(w->nchunks * COIL__FIBER_CHUNK);
	for (size_t i = 0; i < COIL__FIBER_CHUNK; i++) {
		chunk[i].index = base + (uint32_t)i;
		chunk[i].gen = 1;
		chunk[i].state = COIL__FIBER_FREE;
		coil__list_push_back(&w->free_fibers, &chunk[i].link);
	}
	w->chunks[w->nchunks++] = chunk;
	return 0;
}

void coil__fiber_release(struct coil__worker *w, struct coil__fiber *f)
{
	/* The other fields are set afresh by coil__spawn_fiber. */
	f->gen = f->gen + 1 ? f->gen + 1 : 1; /* a handle is never 0 */
	f->state = COIL__FIBER_FREE;
	coil__list_push_back(&w->free_fibers, &f->link);
}

void coil__fibers_free_all(struct coil__worker *w)
{
	for (size_t c = 0; c < w->nchunks; c++) {
		for (size_t i = 0; i < COIL__FIBER_CHUNK; i++) {
			struct coil__fiber *f = &w->chunks[c][i];
			if (f->stack) {
				coil__stack_put(&w->stacks, f->stack);
				f->stack = NULL;
			}
		}
		free(w->chunks[c]);
	}
	w->nchunks = 0;
	coil__list_init(&w->free_fibers);
}

void coil__fiber_finished(struct coil__worker *w, struct coil__fiber *f)
{
	f->state = COIL__FIBER_DONE;
	w->live--;
	if (!f->detached && f != w->main)
		w->attached_live--;
	struct coil__join_case *jc = f->join_case;
	if (jc) {
		/* join_case stays set until the woken joiner releases f: until
		 * then nobody else may join or detach it (-EBUSY). */
		if (jc->fire)
			jc->fire(jc, 0);
		else
			coil__park_wake(jc->park, 0);
	}
}

/* Inlined into both spawn calls: spawn is on the hot path of every
 * short-lived task. */
static inline __attribute__((always_inline)) int
spawn_fiber(struct coil__worker *w, size_t stack_size, coil_fn fn, void *arg, bool detached,
	    struct coil__fiber **out)
{
	if (__builtin_expect(coil__list_empty(&w->free_fibers), 0) && grow(w) < 0)
		return -ENOMEM;
	/* The stack now, not at the first run: a spawn that cannot have one
	 * fails while its caller can still clean up (close the connection it
	 * meant to hand over...). */
	struct coil__stack *st = coil__stack_get(&w->stacks, stack_size);
	if (__builtin_expect(!st, 0))
		return -ENOMEM;
	struct coil__list *n = coil__list_pop_front(&w->free_fibers);
	struct coil__fiber *f = coil__container_of(n, struct coil__fiber, link);
	f->fn = fn;
	f->arg = arg;
	f->result = NULL;
	f->stack = st;
	f->detached = detached;
	/* Anything spawned while the runtime winds down starts cancelled. */
	f->cancelled = w->shutting_down;
	f->started = false;
	f->park = NULL;
	f->join_case = NULL;
	f->scope = NULL;
	f->budget = 0;
	w->live++;
	if (!detached && w->main)
		w->attached_live++;
	coil__make_runnable(w, f);
	*out = f;
	return 0;
}

int coil__spawn_fiber(struct coil__worker *w, size_t stack_size, coil_fn fn, void *arg,
		      bool detached, struct coil__fiber **out)
{
	return spawn_fiber(w, stack_size, fn, arg, detached, out);
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
	if (opts && opts->stack_size) {
		if (opts->stack_size < COIL__STACK_MIN || opts->stack_size > COIL__STACK_MAX)
			return -EINVAL;
		size = coil__stack_round(opts->stack_size);
	}
	struct coil__fiber *f;
	int r = spawn_fiber(w, size, fn, arg, out == NULL, &f);
	if (r < 0)
		return r;
	if (out)
		*out = coil__task_id(f);
	return 0;
}

int coil_task_spawn(coil_task *out, coil_fn fn, void *arg)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	if (!fn)
		return -EINVAL;
	struct coil__fiber *f;
	int r = spawn_fiber(w, w->stacks.size, fn, arg, out == NULL, &f);
	if (r < 0)
		return r;
	if (out)
		*out = coil__task_id(f);
	return 0;
}

static void join_cancel(struct coil__park *p, int code)
{
	struct coil__join_case *jc = p->data;
	if (jc->target->join_case == jc)
		jc->target->join_case = NULL;
	coil__park_wake(p, code);
}

int coil_task_join(coil_task t, void **result)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__fiber *self = w->current;
	struct coil__fiber *f = coil__task_lookup(w, t);
	if (f == self)
		return -EDEADLK;
	/* main is joined by coil_run itself */
	if (!f || f->detached || f == w->main)
		return -ESRCH;
	if (f->join_case)
		return -EBUSY;
	if (f->state != COIL__FIBER_DONE) {
		int64_t deadline;
		int r = coil__fiber_may_block(self, &deadline);
		if (r < 0)
			return r;
		struct coil__park p = {.cancel = join_cancel};
		struct coil__join_case jc = {.park = &p, .target = f};
		p.data = &jc;
		f->join_case = &jc;
		r = coil__park(&p, deadline);
		if (r < 0)
			return r; /* cancelled or timed out: f stays joinable */
	}
	if (result)
		*result = f->result;
	coil__fiber_release(w, f);
	return 0;
}

int coil_task_detach(coil_task t)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__fiber *f = coil__task_lookup(w, t);
	if (!f || f->detached || f == w->main)
		return -ESRCH;
	if (f->join_case)
		return -EBUSY;
	if (f->state == COIL__FIBER_DONE) {
		coil__fiber_release(w, f);
		return 0;
	}
	f->detached = true;
	w->attached_live--;
	return 0;
}

void coil__fiber_cancel(struct coil__worker *w, struct coil__fiber *f)
{
	if (f->state == COIL__FIBER_FREE || f->state == COIL__FIBER_DONE)
		return;
	f->cancelled = true;
	if (coil__scope_reaches(f, NULL))
		coil__fiber_interrupt(f, -ECANCELED);
}

int coil_task_cancel(coil_task t)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__fiber *f = coil__task_lookup(w, t);
	if (!f)
		return -ESRCH;
	coil__fiber_cancel(w, f);
	return 0;
}

int coil_task_cancelled(void)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	return w->current->cancelled ? 1 : 0;
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
