/*
 * coil_run: the crew of workers (the calling thread is worker 0, the others
 * threads of their own), each with its I/O layer, and the main fiber on
 * worker 0, each worker driven by a loop of turns until every fiber of the
 * crew has finished.
 */
#include "coil/runtime.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/config.h"
#include "io/io.h"
#include "io/reader.h"
#include "io/setup.h"
#include "runtime/thread.h"
#include "sched/crew.h"
#include "sched/sched.h"
#include "sched/turn.h"

struct runtime;

/* A worker with its I/O layer, and the thread it runs on. */
struct slot {
	struct runtime *rt;
	struct coil__worker w;
	struct coil__io io;
	pthread_t thread;		/* workers 1..: started by coil_run */
	bool inited;			/* coil__sched_init done */
	bool io_ok;			/* coil__io_init done */
	int setup;			/* its thread's set-up: 0 or -errno */
	int rc;				/* what its turns ended with */
};

struct runtime {
	struct coil__config cfg;
	struct coil__crew crew;
	struct coil__io_shared io_shared;	/* the crew's io: what its io layers share */
	struct coil__worker **workers;
	struct slot *slots;
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	unsigned ready;			/* workers 1.. set up (or failed) */
	int gate;			/* 0: wait; 1: run; -1: give up */
};

/* Pin the calling thread to the index-th CPU it may run on (round robin).
 * Best effort: a refused pin leaves the thread where it was. */
static void pin_to(unsigned index)
{
	cpu_set_t allowed, one;
	if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
		return;
	int count = CPU_COUNT(&allowed);
	if (count <= 0)
		return;
	int want = (int)(index % (unsigned)count);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed))
			continue;
		if (want-- == 0) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			pthread_setaffinity_np(pthread_self(), sizeof one, &one);
			return;
		}
	}
}

/* What a worker's thread is set up with while it runs (runtime/thread.h),
 * and the CPUs it may run on when coil_run pinned it. */
struct worker_state {
	struct coil__thread_state thread;
	bool pinned;
	cpu_set_t affinity;
};

static int worker_enter(struct slot *sl, struct worker_state *ws)
{
	struct runtime *rt = sl->rt;
	memset(ws, 0, sizeof *ws);
	if (rt->cfg.pub.pin_workers) {
		ws->pinned = sched_getaffinity(0, sizeof ws->affinity, &ws->affinity) == 0;
		pin_to(sl->w.index);
	}
	/* The ring is made on the thread that submits to it (SINGLE_ISSUER). */
	int r = coil__io_init(&sl->io, &sl->w, &rt->cfg);
	if (r < 0)
		return r;
	sl->io_ok = true;
	r = coil__thread_enter(&ws->thread, &sl->w);
	if (r < 0)
		return r;
	coil__thread_bind(&sl->w, &sl->io);
	return 0;
}

static void worker_leave(struct worker_state *ws)
{
	coil__thread_bind(NULL, NULL);
	coil__thread_leave(&ws->thread);
	/* The I/O layer stays until every worker has stopped (another may
	 * still kick this one's ring): runtime_free. */
	if (ws->pinned)
		pthread_setaffinity_np(pthread_self(), sizeof ws->affinity, &ws->affinity);
}

/* Turns until the crew is done; -EDEADLK leaves no fiber linked anywhere.
 * Then, on this thread (the ring's), the readers left open are closed. */
static int run_worker(struct coil__worker *w, struct coil__io *io)
{
	int r;
	/* Reachable by a close from outside the crew (sched/crew.h). */
	coil__crew_list_add(w);
	while ((r = coil__sched_tick(w, -1, 0)) > 0) {
	}
	coil__crew_list_remove(w);
	if (r == -EDEADLK)
		coil__sched_abandon(w);
	coil__readers_wind_down(io);
	return r;
}

/* Start gate: workers 1.. set up on their threads, then wait until worker
 * 0 says go (1) or abort (-1). */
static void gate_set(struct runtime *rt, int v)
{
	pthread_mutex_lock(&rt->gate_mu);
	rt->gate = v;
	pthread_cond_broadcast(&rt->gate_cv);
	pthread_mutex_unlock(&rt->gate_mu);
}

static void *worker_thread(void *arg)
{
	struct slot *sl = arg;
	struct runtime *rt = sl->rt;
	struct worker_state ws;
	sl->setup = worker_enter(sl, &ws);
	pthread_mutex_lock(&rt->gate_mu);
	rt->ready++;
	pthread_cond_broadcast(&rt->gate_cv);
	while (rt->gate == 0)
		pthread_cond_wait(&rt->gate_cv, &rt->gate_mu);
	bool go = rt->gate > 0;
	pthread_mutex_unlock(&rt->gate_mu);
	if (go && sl->setup == 0)
		sl->rc = run_worker(&sl->w, &sl->io);
	worker_leave(&ws);
	return NULL;
}

static void runtime_free(struct runtime *rt)
{
	coil__crew_wait_posters(&rt->crew);
	for (unsigned i = 0; i < rt->crew.n; i++) {
		if (rt->slots[i].io_ok)
			coil__io_fini(&rt->slots[i].io);
		if (rt->slots[i].inited)
			coil__sched_fini(&rt->slots[i].w);
	}
	pthread_mutex_destroy(&rt->gate_mu);
	pthread_cond_destroy(&rt->gate_cv);
	free(rt->slots);
	free(rt->workers);
	free(rt);
}

int coil_run(const struct coil_config *cfg, coil_fn fn, void *arg, void **result)
{
	if (!fn)
		return -EINVAL;
	if (coil__tls_worker)
		return -EBUSY;
	struct runtime *rt = calloc(1, sizeof *rt);
	if (!rt)
		return -ENOMEM;
	pthread_mutex_init(&rt->gate_mu, NULL);
	pthread_cond_init(&rt->gate_cv, NULL);
	int r = coil__config_load(&rt->cfg, cfg);
	if (r < 0)
		goto out_free;
	unsigned n = rt->cfg.pub.workers;
	rt->slots = calloc(n, sizeof *rt->slots);
	rt->workers = calloc(n, sizeof *rt->workers);
	r = -ENOMEM;
	if (!rt->slots || !rt->workers)
		goto out_free;
	struct coil__crew *crew = &rt->crew;
	crew->n = n;
	crew->workers = rt->workers;
	crew->io = &rt->io_shared;
	crew->place = rt->cfg.pub.place;
	crew->join_children = rt->cfg.pub.join_children;
	cpu_set_t cpus;
	unsigned ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? (unsigned)CPU_COUNT(&cpus) : 1;
	crew->may_spin = n > 1 && n <= ncpu;
	for (unsigned i = 0; i < n; i++) {
		struct slot *sl = &rt->slots[i];
		sl->rt = rt;
		rt->workers[i] = &sl->w;
		r = coil__sched_init(&sl->w, crew, i, &rt->cfg.pub, coil__io_poll, &sl->io);
		if (r < 0)
			goto out_free;
		sl->inited = true;
	}

	/* A close outside the crew must find its workers (sched/crew.h). */
	r = coil__crew_list_reserve(n);
	if (r < 0)
		goto out_free;
	/* Workers 1..n-1 on threads of their own, each set up there. */
	unsigned started = 0;
	for (unsigned i = 1; i < n; i++) {
		r = -pthread_create(&rt->slots[i].thread, NULL, worker_thread, &rt->slots[i]);
		if (r < 0)
			break;
		started++;
	}
	struct slot *s0 = &rt->slots[0];
	struct worker_state ws;
	bool entered0 = r == 0;
	int r0 = entered0 ? worker_enter(s0, &ws) : r;
	pthread_mutex_lock(&rt->gate_mu);
	while (rt->ready < started)
		pthread_cond_wait(&rt->gate_cv, &rt->gate_mu);
	pthread_mutex_unlock(&rt->gate_mu);
	r = r0;
	for (unsigned i = 1; i <= started && r == 0; i++)
		r = rt->slots[i].setup;
	if (r == 0)
		r = coil__sched_start(&s0->w, fn, arg);
	gate_set(rt, r == 0 ? 1 : -1);
	if (r == 0) {
		r = run_worker(&s0->w, &s0->io);
		if (crew->main->state == COIL__FIBER_DONE && result)
			*result = crew->main->result;
	}
	if (entered0)
		worker_leave(&ws);
	for (unsigned i = 1; i <= started; i++) {
		pthread_join(rt->slots[i].thread, NULL);
		if (r == 0 && rt->slots[i].rc < 0)
			r = rt->slots[i].rc;
	}
	if (n > 1 && r == 0 && crew->error)
		r = crew->error;
	coil__crew_list_release(n);
out_free:
	runtime_free(rt);
	return r;
}
