/*
 * loop_tick: what driving coil from an embedder's loop costs, against
 * coil_run, in one process, through the public API.
 *
 *   run-pingpong    two fibers bounce a value over rendezvous channels
 *                   inside coil_run: ns per round trip
 *   tick-pingpong   the same inside a coil_loop driven by
 *                   coil_loop_tick(l, 0, 0) in a plain loop: each tick runs
 *                   what is ready once, so a round trip is a few ticks
 *   tick-idle       one tick of a loop whose one fiber waits on a socket
 *                   (nothing ready, nothing completes): the embedder's
 *                   per-wake cost of asking coil (io_uring: an
 *                   io_uring_enter and an eventfd read)
 *   post-run        coil_loop_post from the owner thread, then the tick that
 *                   runs it: ns per post
 *
 * Rows "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps" with --tsv.
 *
 *   loop_tick [--iters N] [--reps R] [--tsv]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coil.h>

#include "bench_util.h"

static void check(int e, const char *what)
{
	if (e < 0) {
		fprintf(stderr, "loop_tick: %s: %s\n", what, strerror(-e));
		exit(1);
	}
}

struct pair {
	coil_chan *ab, *ba;
	long n;
	uint64_t t0, t1;
};

static void *ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t v;
	for (long i = 0; i < p->n; i++) {
		check(coil_chan_recv(p->ab, &v), "recv");
		check(coil_chan_send(p->ba, &v), "send");
	}
	return NULL;
}

static void *pinger(void *arg)
{
	struct pair *p = arg;
	uint64_t v = 0;
	p->t0 = bench_now_ns();
	for (long i = 0; i < p->n; i++) {
		check(coil_chan_send(p->ab, &v), "send");
		check(coil_chan_recv(p->ba, &v), "recv");
	}
	p->t1 = bench_now_ns();
	return NULL;
}

static void *run_main(void *arg)
{
	struct pair *p = arg;
	coil_task t;
	check(coil_task_spawn(&t, ponger, p), "spawn");
	pinger(p);
	check(coil_task_join(t, NULL), "join");
	return NULL;
}

static double run_pingpong(long n)
{
	struct pair p = {.n = n};
	check(coil_chan_new(&p.ab, 8, 0), "chan");
	check(coil_chan_new(&p.ba, 8, 0), "chan");
	check(coil_run(NULL, run_main, &p, NULL), "coil_run");
	coil_chan_free(p.ab);
	coil_chan_free(p.ba);
	return (double)(p.t1 - p.t0) / (double)n;
}

static double tick_pingpong(long n)
{
	coil_loop *l;
	check(coil_loop_new(&l, NULL), "coil_loop_new");
	struct pair p = {.n = n};
	check(coil_chan_new(&p.ab, 8, 0), "chan");
	check(coil_chan_new(&p.ba, 8, 0), "chan");
	check(coil_loop_spawn(l, NULL, ponger, &p), "spawn");
	check(coil_loop_spawn(l, NULL, pinger, &p), "spawn");
	int r;
	while ((r = coil_loop_tick(l, 0, 0)) > 0) {
	}
	check(r, "tick");
	check(coil_loop_free(l), "free");
	coil_chan_free(p.ab);
	coil_chan_free(p.ba);
	return (double)(p.t1 - p.t0) / (double)n;
}

static void *wait_read(void *arg)
{
	char c;
	coil_sock_read((int)(intptr_t)arg, &c, 1);
	return NULL;
}

static double tick_idle(long n)
{
	coil_loop *l;
	check(coil_loop_new(&l, NULL), "coil_loop_new");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		check(-errno, "socketpair");
	check(coil_loop_spawn(l, NULL, wait_read, (void *)(intptr_t)sv[0]), "spawn");
	check(coil_loop_tick(l, 0, 0), "tick");
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		check(coil_loop_tick(l, 0, 0), "tick");
	uint64_t t1 = bench_now_ns();
	check(coil_loop_free(l), "free");
	close(sv[0]);
	close(sv[1]);
	return (double)(t1 - t0) / (double)n;
}

static void count(coil_loop *l, void *arg)
{
	(*(long *)arg)++;
}

static double post_run(long n)
{
	coil_loop *l;
	check(coil_loop_new(&l, NULL), "coil_loop_new");
	long ran = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		check(coil_loop_post(l, count, &ran), "post");
		check(coil_loop_tick(l, 0, 0), "tick");
	}
	uint64_t t1 = bench_now_ns();
	check(coil_loop_free(l), "free");
	if (ran != n) {
		fprintf(stderr, "loop_tick: %ld posts ran of %ld\n", ran, n);
		exit(1);
	}
	return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	long iters = 200000;
	int reps = 5, tsv = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tsv"))
			tsv = 1;
		else {
			fprintf(stderr, "usage: loop_tick [--iters N] [--reps R] [--tsv]\n");
			return 2;
		}
	}
	if (iters < 1 || reps < 1 || reps > BENCH_MAX_REPS)
		return 2;
	static const struct {
		const char *name, *unit;
		double (*fn)(long);
	} v[] = {
		{"run-pingpong", "ns/round trip", run_pingpong},
		{"tick-pingpong", "ns/round trip", tick_pingpong},
		{"tick-idle", "ns/tick", tick_idle},
		{"post-run", "ns/post", post_run},
	};
	if (!tsv)
		printf("%-16s %10s %10s %10s  %s (%ld iterations, %d reps)\n", "variant", "median", "min",
		       "max", "unit", iters, reps);
	for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
		double r[BENCH_MAX_REPS];
		v[k].fn(iters / 10 + 1);
		for (int i = 0; i < reps; i++)
			r[i] = v[k].fn(iters);
		bench_print(tsv, v[k].name, v[k].unit, r, reps, iters);
	}
	return 0;
}
