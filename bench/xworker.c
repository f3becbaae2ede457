/*
 * xworker: what crossing workers costs, in one runtime with 2 workers
 * (coil_config.workers = 2), through the public API.
 *
 *   local-pingpong-rdv  two fibers of worker 0 bounce a value over two
 *                       rendezvous channels: ns per round trip. The same
 *                       as chan_pingpong's, but in a 2-worker runtime (the
 *                       channels take their lock).
 *   cross-pingpong-rdv  the same with the second fiber on worker 1: every
 *                       hand-off is a post to the other worker's inbox, and
 *                       a kick when it sleeps.
 *   cross-pingpong-cap1 the same over capacity-1 channels.
 *   cross-spawn-join    spawn on worker 1 (coil_task_spawn_on) and join it
 *                       from worker 0, one at a time: ns per spawn+join.
 *   wake-worker-p50/p99 a fiber of worker 0 sleeps 100 us, stamps the time
 *                       and sends it to a fiber of worker 1 whose worker
 *                       sleeps in the kernel (nothing else to do): ns from
 *                       the stamp to the receiver running (MSG_RING on
 *                       io_uring, eventfd on the readiness backends).
 *   wake-thread-p50/p99 the same with the sender a plain pthread
 *                       (COIL_CHAN_THREADS channel, coil_chan_send_until).
 *   placed-spawn-join   spawn+join with coil_task_spawn: where the runtime
 *                       places it (its default, COIL_PLACE_LOCAL: the
 *                       spawner's worker). The program Go's and Tokio's
 *                       cross-spawn-join rows run (bench/peers): they
 *                       place a new goroutine or task on the spawner's
 *                       thread too.
 *   placed-wake-p50/p99 wake-worker with the receiver spawned by
 *                       coil_task_spawn: the program Go's and Tokio's
 *                       wake-worker rows run (a woken goroutine or task
 *                       goes to its waker's thread there).
 * local-pingpong-rdv and local-pingpong-cap1 (both fibers on worker 0, where
 * coil_task_spawn puts them) are the placed counterparts of the
 * cross-pingpong rows.
 *
 * Rows are "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps" (--tsv) as
 * chan_pingpong's: the median over R repetitions of the per-repetition
 * value (for the wake rows, the per-repetition p50 or p99 of --wakes
 * samples). One untimed warm-up per variant.
 *
 *   xworker [--iters N] [--wakes W] [--reps R] [--tsv] [--pin]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coil.h>

#include "bench_util.h"

static void check(int e, const char *what)
{
	if (e < 0) {
		fprintf(stderr, "xworker: %s: %s\n", what, strerror(-e));
		exit(1);
	}
}

struct opts {
	long iters;
	long wakes;
	int reps;
	int tsv;
};

/* ---- ping-pong ------------------------------------------------------------ */

struct pair {
	coil_chan *ab, *ba;
	long n;
};

static void *ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t v;
	for (long i = 0; i < p->n; i++) {
		check(coil_chan_recv(p->ab, &v), "recv");
		v++;
		check(coil_chan_send(p->ba, &v), "send");
	}
	return NULL;
}

/* Spawn fn(arg) on worker where, or where the runtime places it
 * (PLACED). */
#define PLACED (~0u)
static void spawn_at(unsigned where, coil_task *t, coil_fn fn, void *arg)
{
	if (where == PLACED)
		check(coil_task_spawn(t, fn, arg), "spawn");
	else
		check(coil_task_spawn_on(where, t, fn, arg), "spawn_on");
}

/* ns per round trip, the ponger on worker `where` */
static double pingpong(unsigned where, size_t cap, long n)
{
	struct pair p = {NULL, NULL, n};
	check(coil_chan_new(&p.ab, sizeof(uint64_t), cap), "coil_chan_new");
	check(coil_chan_new(&p.ba, sizeof(uint64_t), cap), "coil_chan_new");
	coil_task t;
	spawn_at(where, &t, ponger, &p);
	uint64_t v = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		check(coil_chan_send(p.ab, &v), "send");
		check(coil_chan_recv(p.ba, &v), "recv");
	}
	uint64_t t1 = bench_now_ns();
	check(coil_task_join(t, NULL), "join");
	if (v != (uint64_t)n) {
		fprintf(stderr, "xworker: value %llu after %ld round trips\n", (unsigned long long)v, n);
		exit(1);
	}
	coil_chan_free(p.ab);
	coil_chan_free(p.ba);
	return (double)(t1 - t0) / (double)n;
}

/* ---- spawn on the other worker and join ---------------------------------- */

static void *nothing(void *arg)
{
	return arg;
}

static double spawn_join(unsigned where, long n)
{
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		coil_task t;
		void *r;
		spawn_at(where, &t, nothing, (void *)(uintptr_t)(i + 1));
		check(coil_task_join(t, &r), "join");
		if ((uintptr_t)r != (uintptr_t)(i + 1)) {
			fprintf(stderr, "xworker: join returned the wrong value\n");
			exit(1);
		}
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

/* ---- waking a sleeping worker --------------------------------------------- */

struct wake {
	coil_chan *ch;
	long n;
	double *lat; /* n samples, ns */
};

static void *wake_receiver(void *arg)
{
	struct wake *w = arg;
	for (long i = 0; i < w->n; i++) {
		uint64_t stamp;
		check(coil_chan_recv(w->ch, &stamp), "recv");
		w->lat[i] = (double)(bench_now_ns() - stamp);
	}
	return NULL;
}

static void *wake_thread(void *arg)
{
	struct wake *w = arg;
	for (long i = 0; i < w->n; i++) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
		uint64_t stamp = bench_now_ns();
		check(coil_chan_send_until(w->ch, &stamp, COIL_NO_DEADLINE), "send_until");
	}
	return NULL;
}

/* p50 and p99 of one run of n wakes, from a fiber (thread = 0) or a plain
 * thread (thread = 1) */
static void wake_once(int thread, unsigned where, long n, double *p50, double *p99)
{
	struct wake w = {NULL, n, calloc((size_t)n, sizeof(double))};
	if (!w.lat)
		check(-ENOMEM, "calloc");
	check(coil_chan_new_ex(&w.ch, sizeof(uint64_t), 1, thread ? COIL_CHAN_THREADS : 0),
	      "coil_chan_new_ex");
	coil_task t;
	spawn_at(where, &t, wake_receiver, &w);
	if (thread) {
		pthread_t th;
		int e = pthread_create(&th, NULL, wake_thread, &w);
		check(-e, "pthread_create");
		check(coil_task_join(t, NULL), "join");
		pthread_join(th, NULL);
	} else {
		for (long i = 0; i < n; i++) {
			check(coil_sleep(100000), "sleep");
			uint64_t stamp = bench_now_ns();
			check(coil_chan_send(w.ch, &stamp), "send");
		}
		check(coil_task_join(t, NULL), "join");
	}
	qsort(w.lat, (size_t)n, sizeof(double), bench_cmp_double);
	*p50 = w.lat[n / 2];
	*p99 = w.lat[(size_t)((double)n * 0.99)];
	coil_chan_free(w.ch);
	free(w.lat);
}

/* ---- the table ------------------------------------------------------------ */

static void row(const struct opts *o, const char *name, const char *unit, double *v, long iters)
{
	bench_print(o->tsv, name, unit, v, o->reps, iters);
}

static void *run(void *arg)
{
	const struct opts *o = arg;
	if (coil_worker_count() != 2) {
		fprintf(stderr, "xworker: expected 2 workers, have %u\n", coil_worker_count());
		exit(1);
	}
	if (!o->tsv)
		printf("%-20s %10s %10s %10s  %s (backend %s, 2 workers, %d reps)\n", "variant", "median",
		       "min", "max", "unit", coil_backend_name(), o->reps);
	static const struct {
		const char *name;
		unsigned where;
		size_t cap;
	} pp[] = {
		{"local-pingpong-rdv", 0, 0},
		{"local-pingpong-cap1", 0, 1},
		{"cross-pingpong-rdv", 1, 0},
		{"cross-pingpong-cap1", 1, 1},
	};
	double v[BENCH_MAX_REPS], v99[BENCH_MAX_REPS];
	for (size_t k = 0; k < sizeof pp / sizeof pp[0]; k++) {
		pingpong(pp[k].where, pp[k].cap, o->iters / 10 + 1);
		for (int i = 0; i < o->reps; i++)
			v[i] = pingpong(pp[k].where, pp[k].cap, o->iters);
		row(o, pp[k].name, "ns/round trip", v, o->iters);
	}
	long sj = o->iters / 4 + 1;
	static const struct {
		const char *name;
		unsigned where;
	} sjs[] = {{"cross-spawn-join", 1}, {"placed-spawn-join", PLACED}};
	for (size_t k = 0; k < sizeof sjs / sizeof sjs[0]; k++) {
		spawn_join(sjs[k].where, sj / 10 + 1);
		for (int i = 0; i < o->reps; i++)
			v[i] = spawn_join(sjs[k].where, sj);
		row(o, sjs[k].name, "ns/spawn+join", v, sj);
	}
	static const struct {
		const char *p50, *p99;
		int thread;
		unsigned where;
	} wk[] = {
		{"wake-worker-p50", "wake-worker-p99", 0, 1},
		{"wake-thread-p50", "wake-thread-p99", 1, 1},
		{"placed-wake-p50", "placed-wake-p99", 0, PLACED},
	};
	for (size_t k = 0; k < sizeof wk / sizeof wk[0]; k++) {
		double a, b;
		wake_once(wk[k].thread, wk[k].where, o->wakes / 10 + 1, &a, &b);
		for (int i = 0; i < o->reps; i++)
			wake_once(wk[k].thread, wk[k].where, o->wakes, &v[i], &v99[i]);
		row(o, wk[k].p50, "ns", v, o->wakes);
		row(o, wk[k].p99, "ns", v99, o->wakes);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o = {.iters = 200000, .wakes = 2000, .reps = 5};
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 2;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			o.iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--wakes") && i + 1 < argc)
			o.wakes = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			o.reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tsv"))
			o.tsv = 1;
		else if (!strcmp(argv[i], "--pin"))
			cfg.pin_workers = true;
		else {
			fprintf(stderr, "usage: xworker [--iters N] [--wakes W] [--reps R] [--tsv] [--pin]\n");
			return 2;
		}
	}
	if (o.iters < 1 || o.wakes < 100 || o.reps < 1 || o.reps > BENCH_MAX_REPS) {
		fprintf(stderr, "xworker: bad --iters, --wakes (>= 100) or --reps\n");
		return 2;
	}
	int e = coil_run(&cfg, run, &o, NULL);
	if (e < 0) {
		fprintf(stderr, "xworker: coil_run: %s\n", strerror(-e));
		return 1;
	}
	return 0;
}
