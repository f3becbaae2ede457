/* The worker loop, coil_run(), parking and waking. See worker.h. */
#include "core/worker.h"
#include "coil/task.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coil/time.h"
#include "core/pool.h"
#include "fiber/guard.h"

__thread struct coil__worker *coil__tls_worker __attribute__((tls_model("initial-exec")));

_Noreturn void coil__panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("coil: internal error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

void coil_config_init(struct coil_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->stack_size = 128 * 1024;
	cfg->stack_cache = 1024;
	cfg->sq_entries = 256;
	cfg->cq_entries = 4096;
	cfg->join_children = true;
	cfg->pool_threads = 4;
}

static int config_check(const struct coil_config *c)
{
	if (c->stack_size < COIL__STACK_MIN || c->stack_size > COIL__STACK_MAX)
		return -EINVAL;
	if (c->sq_entries < 1 || c->sq_entries > 32768)
		return -EINVAL;
	if (c->cq_entries < 2 * c->sq_entries || c->cq_entries > 65536)
		return -EINVAL;
	if (c->pool_threads < 1 || c->pool_threads > 256)
		return -EINVAL;
	if (c->max_inflight > (1u << 24))
		return -EINVAL;
	return 0;
}

static const struct coil__backend *backend_by_name(const char *name)
{
	if (!strcmp(name, "uring") || !strcmp(name, "io_uring"))
		return &coil__backend_uring;
	if (!strcmp(name, "epoll"))
		return &coil__backend_epoll;
	if (!strcmp(name, "poll"))
		return &coil__backend_poll;
	if (!strcmp(name, "kqueue"))
		return &coil__backend_kqueue;
	return NULL;
}

/* Set up the backend the config or $COIL_BACKEND names, else io_uring with
 * the documented fallback. */
static int start_backend(struct coil__worker *w, const struct coil_config *c)
{
	const char *want = c->backend;
	if (!want || !*want)
		want = getenv("COIL_BACKEND");
	if (want && *want) {
		const struct coil__backend *b = backend_by_name(want);
		if (!b || !b->init) {
			bool known = b != NULL;
			fprintf(stderr, "coil: %s backend \"%s\"\n",
				known ? "this libcoil has no" : "unknown", want);
			return known ? -ENOTSUP : -EINVAL;
		}
		w->backend = b;
		return b->init(w, c);
	}
	w->backend = &coil__backend_uring;
	int r = w->backend->init(w, c);
	if (r == 0 || r == -ENOMEM || r == -EMFILE || r == -ENFILE)
		return r;
	/* io_uring is missing, forbidden or too old: same program, readiness
	 * model. */
	const struct coil__backend *fallbacks[] = {&coil__backend_epoll, &coil__backend_poll};
	for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++) {
		w->backend = fallbacks[i];
		if (w->backend->init && w->backend->init(w, c) == 0) {
			const char *quiet = getenv("COIL_QUIET");
			if (!c->quiet_fallback && !(quiet && *quiet && strcmp(quiet, "0")))
				fprintf(stderr, "coil: io_uring unavailable (%s); using %s\n",
					strerror(-r), w->backend->name);
			return 0;
		}
	}
	return r;
}

int coil__worker_pool(struct coil__worker *w, struct coil__pool **out)
{
	if (!w->pool) {
		struct coil__pool *pool = malloc(sizeof *pool);
		if (!pool)
			return -ENOMEM;
		int r = coil__pool_init(pool, w->cfg.pool_threads);
		if (r < 0) {
			free(pool);
			return r;
		}
		w->pool = pool;
	}
	*out = w->pool;
	return 0;
}

const char *coil_backend_name(void)
{
	struct coil__worker *w = coil__tls_worker;
	return w ? w->backend->name : NULL;
}

/* ---- running fibers ----------------------------------------------------- */

bool coil__queue_remove(struct coil__fiber_queue *q, struct coil__fiber *f)
{
	struct coil__fiber *prev = NULL;
	for (struct coil__fiber *it = q->head; it; prev = it, it = it->next) {
		if (it != f)
			continue;
		if (prev)
			prev->next = it->next;
		else
			q->head = it->next;
		if (q->tail == it)
			q->tail = prev;
		q->len--;
		it->next = NULL;
		return true;
	}
	return false;
}

static void fiber_finished(struct coil__worker *w, struct coil__fiber *f)
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
			coil__waiter_wake(jc->wt, 0);
	}
}

/* Give f a stack and a fresh context on its first run. False if no stack
 * could be had: then f is finished (its join reports -ENOMEM). */
static bool fiber_prepare(struct coil__worker *w, struct coil__fiber *f)
{
	if (f->started)
		return true;
	struct coil__stack *st = coil__stack_get(&w->stacks, f->stack_size);
	if (!st) {
		f->no_stack = true;
		fiber_finished(w, f);
		if (f->detached)
			coil__fiber_release(w, f);
		return false;
	}
	f->stack = st;
	f->started = true;
	f->exec.stack_lo = st->lo;
	f->exec.stack_size = st->size;
	f->exec.asan_fake = NULL;
	coil__ctx_make(&f->exec.ctx, st->lo, st->size, coil__fiber_entry, f);
	return true;
}

static void release_finished(struct coil__worker *w);

/* Whether the next turn can start right here, on a fiber, instead of on the
 * scheduler: with no op in flight the scheduler would not poll the backend
 * (nothing to submit or reap), so going through it only costs two switches.
 * It must still run when main is done (to wind the runtime down). */
static inline bool turn_in_place(struct coil__worker *w)
{
	return w->inflight == 0 && w->runq.len > 0 && w->main->state != COIL__FIBER_DONE;
}

/* Leave `self` (already queued, parked or finished) for the next fiber of
 * this turn, or for the scheduler when the turn's batch is used up. */
static void switch_away(struct coil__worker *w, struct coil__fiber *self, bool ends)
{
	for (;;) {
		if (w->batch == 0) {
			if (!turn_in_place(w))
				break;
			w->batch = w->runq.len;
		}
		struct coil__fiber *next = coil__queue_pop(&w->runq);
		w->batch--;
		if (next == self) {
			self->state = COIL__FIBER_RUNNING;
			return;
		}
		if (!fiber_prepare(w, next))
			continue;
		next->state = COIL__FIBER_RUNNING;
		w->current = next;
		coil__exec_switch(&self->exec, &next->exec, ends);
		w->current = self;
		release_finished(w);
		return;
	}
	w->current = NULL;
	coil__exec_switch(&self->exec, &w->sched, ends);
	w->current = self;
	release_finished(w);
}

void coil__park(struct coil__worker *w)
{
	struct coil__fiber *self = w->current;
	self->state = COIL__FIBER_PARKED;
	switch_away(w, self, false);
}

int coil_task_yield(void)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	coil__wake(w, w->current);
	coil__park_queued(w);
	return 0;
}

void coil__park_queued(struct coil__worker *w)
{
	switch_away(w, w->current, false);
}

void coil__fiber_entry(void *arg)
{
	struct coil__fiber *f = arg;
	struct coil__worker *w = coil__tls_worker;
	coil__exec_started(&w->sched);
	release_finished(w);
	f->result = f->fn(f->arg);
	fiber_finished(w, f);
	/* Whoever runs next frees this stack: we must be off it first. */
	w->finished = f;
	switch_away(w, f, true);
	coil__panic("a finished fiber was resumed");
}

static void release_finished(struct coil__worker *w)
{
	struct coil__fiber *f = w->finished;
	if (__builtin_expect(!f, 1))
		return;
	w->finished = NULL;
	coil__stack_put(&w->stacks, f->stack);
	f->stack = NULL;
	if (f->detached)
		coil__fiber_release(w, f);
}

/* ---- core timers: deadlines of fibers parked on core objects ----------- */

static void timer_swap(struct coil__worker *w, uint32_t a, uint32_t b)
{
	struct coil__fiber *t = w->timers[a];
	w->timers[a] = w->timers[b];
	w->timers[b] = t;
	w->timers[a]->timer_slot = a + 1;
	w->timers[b]->timer_slot = b + 1;
}

static void timer_up(struct coil__worker *w, uint32_t i)
{
	while (i > 0 && w->timers[i]->park_deadline < w->timers[(i - 1) / 2]->park_deadline) {
		timer_swap(w, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void timer_down(struct coil__worker *w, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->ntimers && w->timers[l]->park_deadline < w->timers[m]->park_deadline)
			m = l;
		if (r < w->ntimers && w->timers[r]->park_deadline < w->timers[m]->park_deadline)
			m = r;
		if (m == i)
			return;
		timer_swap(w, i, m);
		i = m;
	}
}

int coil__timer_add(struct coil__worker *w, struct coil__fiber *f, int64_t deadline)
{
	if (w->ntimers == w->timers_cap) {
		uint32_t cap = w->timers_cap ? 2 * w->timers_cap : 64;
		struct coil__fiber **t = realloc(w->timers, cap * sizeof *t);
		if (!t)
			return -ENOMEM;
		w->timers = t;
		w->timers_cap = cap;
	}
	f->park_deadline = deadline;
	w->timers[w->ntimers] = f;
	f->timer_slot = ++w->ntimers;
	timer_up(w, w->ntimers - 1);
	return 0;
}

void coil__timer_del(struct coil__worker *w, struct coil__fiber *f)
{
	if (!f->timer_slot)
		return;
	uint32_t i = f->timer_slot - 1, last = --w->ntimers;
	if (i != last) {
		timer_swap(w, i, last);
		timer_down(w, i);
		timer_up(w, i);
	}
	f->timer_slot = 0;
}

/* Interrupt the parked fibers whose deadline has passed. */
static void expire_timers(struct coil__worker *w)
{
	if (!w->ntimers)
		return;
	int64_t now = coil_now();
	while (w->ntimers && w->timers[0]->park_deadline <= now) {
		struct coil__fiber *f = w->timers[0];
		coil__timer_del(w, f);
		coil__fiber_interrupt(w, f, -ETIMEDOUT);
	}
}

static void wake_room_waiters(struct coil__worker *w)
{
	size_t room = 1;
	if (w->inflight_max && w->inflight < w->inflight_max)
		room = w->inflight_max - w->inflight;
	while (room-- > 0 && w->room_waiters.len) {
		struct coil__fiber *f = coil__queue_pop(&w->room_waiters);
		f->wait = COIL__WAIT_NONE;
		coil__timer_del(w, f);
		coil__wake(w, f);
	}
}

/* Main is done: once its children are (or at once, without join_children),
 * cancel every fiber still running so that the runtime can end. */
static void maybe_shut_down(struct coil__worker *w)
{
	if (w->shutting_down || w->main->state != COIL__FIBER_DONE)
		return;
	if (w->cfg.join_children && w->attached_live > 0)
		return;
	w->shutting_down = true;
	for (size_t c = 0; c < w->nchunks; c++)
		for (size_t i = 0; i < COIL__FIBER_CHUNK; i++)
			coil__fiber_cancel(w, &w->chunks[c][i]);
}

static int worker_loop(struct coil__worker *w)
{
	for (;;) {
		/* One turn: run what is runnable now, once. */
		w->batch = w->runq.len;
		while (w->batch > 0) {
			struct coil__fiber *f = coil__queue_pop(&w->runq);
			w->batch--;
			if (!fiber_prepare(w, f))
				continue;
			f->state = COIL__FIBER_RUNNING;
			w->current = f;
			coil__exec_switch(&w->sched, &f->exec, false);
			release_finished(w);
		}
		if (w->main->state == COIL__FIBER_DONE)
			maybe_shut_down(w);
		if (w->live == 0)
			return 0;
		bool idle = w->runq.len == 0;
		int64_t timer = w->ntimers ? w->timers[0]->park_deadline : INT64_MAX;
		if (w->inflight > 0 || (idle && timer != INT64_MAX)) {
			int r = w->backend->poll(w, idle, timer);
			if (r < 0 && r != -EINTR && r != -ETIME)
				return r;
		} else if (idle) {
			return -EDEADLK;
		}
		expire_timers(w);
		if (w->room_waiters.len)
			wake_room_waiters(w);
	}
}

static bool guard_lookup(void *ctx, const struct coil__stack **stack, uint64_t *task_id)
{
	struct coil__worker *w = ctx;
	struct coil__fiber *f = w->current;
	if (!f || !f->stack)
		return false;
	*stack = f->stack;
	*task_id = coil__task_id(f);
	return true;
}

int coil_run(const struct coil_config *cfg, coil_fn fn, void *arg, void **result)
{
	if (!fn)
		return -EINVAL;
	if (coil__tls_worker)
		return -EBUSY;
	struct coil_config c;
	if (cfg)
		c = *cfg;
	else
		coil_config_init(&c);
	int r = config_check(&c);
	if (r < 0)
		return r;

	struct coil__worker *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	const char *coalesce = getenv("COIL_COALESCE_SLEEPS");
	if (coalesce && *coalesce && strcmp(coalesce, "0"))
		c.coalesce_sleeps = true;
	w->cfg = c;
	coil__stack_pool_init(&w->stacks, c.stack_size, c.stack_cache);
	r = start_backend(w, &c);
	if (r < 0)
		goto out_free;
	r = coil__guard_thread_start(guard_lookup, w);
	if (r < 0)
		goto out_backend;

	coil__tls_worker = w;
	r = coil__spawn_fiber(w, w->stacks.size, fn, arg, false, &w->main);
	if (r == 0) {
		r = worker_loop(w);
		if (w->main->state == COIL__FIBER_DONE) {
			if (w->main->no_stack && r == 0)
				r = -ENOMEM;
			if (result)
				*result = w->main->result;
		}
	}
	coil__tls_worker = NULL;
	coil__guard_thread_stop();
out_backend:
	/* Ops still in flight can only remain after a fatal backend error;
	 * their stacks are then leaked rather than handed back while the
	 * kernel may still write into them. */
	if (w->inflight == 0)
		coil__fibers_free_all(w);
	w->backend->fini(w);
	if (w->pool && w->pool->outstanding == 0) {
		coil__pool_fini(w->pool);
		free(w->pool);
	}
	coil__stack_pool_fini(&w->stacks);
	free(w->chunks);
	free(w->timers);
out_free:
	free(w);
	return r;
}
