/* Tasks: the fiber table, spawn, join, detach, cancel. */
#include "coil/task.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/race.h"
#include "core/worker.h"

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
	/* Push in reverse so that low indexes are handed out first. */
	for (size_t i = COIL__FIBER_CHUNK; i-- > 0;) {
		chunk[i].index = base + (uint32_t)i;
		chunk[i].gen = 1;
		chunk[i].state = COIL__FIBER_FREE;
		chunk[i].next = w->free_fibers;
		w->free_fibers = &chunk[i];
	}
	w->chunks[w->nchunks++] = chunk;
	return 0;
}

struct coil__fiber *coil__fiber_alloc(struct coil__worker *w)
{
	if (!w->free_fibers && grow(w) < 0)
		return NULL;
	struct coil__fiber *f = w->free_fibers;
	w->free_fibers = f->next;
	f->next = NULL;
	return f;
}

void coil__fiber_release(struct coil__worker *w, struct coil__fiber *f)
{
	/* The other fields are set afresh by coil__spawn_fiber. */
	f->gen = f->gen + 1 ? f->gen + 1 : 1; /* a handle is never 0 */
	f->state = COIL__FIBER_FREE;
	f->next = w->free_fibers;
	w->free_fibers = f;
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
	w->free_fibers = NULL;
}

/* Inlined into both spawn calls: spawn is on the hot path of every
 * short-lived task. */
static inline __attribute__((always_inline)) int
spawn_fiber(struct coil__worker *w, size_t stack_size, coil_fn fn, void *arg, bool detached,
	    struct coil__fiber **out)
{
	struct coil__fiber *f = w->free_fibers;
	if (__builtin_expect(f != NULL, 1)) {
		w->free_fibers = f->next;
		f->next = NULL;
	} else if (!(f = coil__fiber_alloc(w))) {
		return -ENOMEM;
	}
	f->fn = fn;
	f->arg = arg;
	f->result = NULL;
	f->stack = NULL;
	f->stack_size = stack_size;
	f->detached = detached;
	/* Anything spawned while the runtime winds down starts cancelled. */
	f->cancelled = w->shutting_down;
	f->no_stack = false;
	f->started = false;
	f->wait = COIL__WAIT_NONE;
	f->join_case = NULL;
	f->wait_op = NULL;
	f->wait_waiter = NULL;
	f->scope = NULL;
	f->timer_slot = 0;
	f->inline_streak = 0;
	w->live++;
	if (!detached && w->main)
		w->attached_live++;
	coil__wake(w, f);
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

static void join_unlink(struct coil__waiter *wt)
{
	struct coil__join_case *jc = wt->data;
	if (jc->target->join_case == jc)
		jc->target->join_case = NULL;
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
		struct coil__waiter wt = {.cancel = join_unlink};
		struct coil__join_case jc = {.wt = &wt, .target = f};
		wt.data = &jc;
		f->join_case = &jc;
		int r = coil__waiter_park(&wt);
		if (r < 0)
			return r; /* cancelled or timed out: f stays joinable */
	}
	int r = f->no_stack ? -ENOMEM : 0;
	if (result)
		*result = f->result;
	coil__fiber_release(w, f);
	return r;
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

void coil__fiber_interrupt(struct coil__worker *w, struct coil__fiber *f, int code)
{
	if (f->state != COIL__FIBER_PARKED)
		return; /* it sees the reason at its next blocking call */
	switch (f->wait) {
	case COIL__WAIT_OP:
		/* Ask once; the op completes through its own completion, with
		 * -ECANCELED or its real result if that came first. */
		if (!f->op_cancel_sent) {
			f->op_cancel_sent = true;
			w->backend->cancel(w, f->wait_op);
		}
		break;
	case COIL__WAIT_RACE:
		coil__race_interrupt(w, f);
		break;
	case COIL__WAIT_ROOM:
		coil__queue_remove(&w->room_waiters, f);
		f->wait = COIL__WAIT_NONE;
		f->wait_result = code;
		coil__wake(w, f);
		break;
	case COIL__WAIT_WAITER: {
		struct coil__waiter *wt = f->wait_waiter;
		wt->cancel(wt);
		f->wait = COIL__WAIT_NONE;
		wt->result = code;
		coil__wake(w, f);
		break;
	}
	default:
		break;
	}
}

void coil__fiber_cancel(struct coil__worker *w, struct coil__fiber *f)
{
	if (f->state == COIL__FIBER_FREE || f->state == COIL__FIBER_DONE)
		return;
	f->cancelled = true;
	if (coil__scope_reaches(f, NULL))
		coil__fiber_interrupt(w, f, -ECANCELED);
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

int coil__waiter_park(struct coil__waiter *wt)
{
	return coil__waiter_park_until(wt, INT64_MAX);
}

int coil__waiter_park_until(struct coil__waiter *wt, int64_t until)
{
	struct coil__worker *w = coil__tls_worker;
	struct coil__fiber *self = w ? w->current : NULL;
	if (!self) {
		wt->cancel(wt);
		return -EPERM;
	}
	int64_t deadline;
	int r = coil__fiber_may_block(self, &deadline);
	if (r < 0) {
		wt->cancel(wt);
		return r;
	}
	if (until < deadline)
		deadline = until;
	wt->fiber = self;
	wt->result = 0;
	if (deadline != INT64_MAX && (r = coil__timer_add(w, self, deadline)) < 0) {
		wt->cancel(wt);
		return r;
	}
	self->wait = COIL__WAIT_WAITER;
	self->wait_waiter = wt;
	coil__park(w);
	coil__timer_del(w, self);
	self->wait = COIL__WAIT_NONE;
	self->wait_waiter = NULL;
	return wt->result;
}

void coil__waiter_wake(struct coil__waiter *wt, int result)
{
	struct coil__worker *w = coil__tls_worker;
	struct coil__fiber *f = wt->fiber;
	if (f->state != COIL__FIBER_PARKED || f->wait_waiter != wt)
		coil__panic("waking a waiter that is not parked");
	wt->result = result;
	f->wait = COIL__WAIT_NONE;
	coil__wake(w, f);
}
