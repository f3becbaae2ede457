/*
 * timer_lateness: how late timed waits wake under load. F fibers each do K
 * timed waits of a random 0.1-5 ms (F * K waits, 50k by default), either as
 * sleeps (coil_sleep_until) or as scope deadlines on a channel receive that
 * never gets a value. Prints the lateness (wake time minus deadline)
 * percentiles and the process CPU time per wait. Run it per backend and
 * with COIL_COALESCE_SLEEPS=0 (one IORING_OP_TIMEOUT per sleep on
 * io_uring) to compare:
 *
 *   timer_lateness [--fibers F] [--waits K] [--mode sleep|scope] [--seed S]
 */
#include <coil.h>

#include "bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long fibers = 2000, waits = 25;
static int scope_mode;
static uint64_t rng = 88172645463325252ull;
static int64_t *late;
static long nlate;
static coil_chan *never;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void *waiter(void *arg)
{
	(void)arg;
	for (long i = 0; i < waits; i++) {
		int64_t deadline = coil_now() + 100000 + (int64_t)(next_rand() % 4900000);
		if (!scope_mode) {
			if (coil_sleep_until(deadline) != 0)
				return (void *)1;
		} else {
			coil_scope s;
			int v;
			coil_scope_enter(&s, deadline);
			int r = coil_chan_recv(never, &v);
			coil_scope_exit(&s);
			if (r != -ETIMEDOUT)
				return (void *)1;
		}
		late[nlate++] = coil_now() - deadline;
	}
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void *run(void *arg)
{
	(void)arg;
	coil_task *t = calloc((size_t)fibers, sizeof *t);
	late = calloc((size_t)(fibers * waits), sizeof *late);
	if (!t || !late || coil_chan_new(&never, sizeof(int), 0) < 0)
		return (void *)1;
	double c0 = bench_cpu_ns();
	for (long i = 0; i < fibers; i++)
		if (coil_task_spawn(&t[i], waiter, NULL) < 0)
			return (void *)1;
	long bad = 0;
	for (long i = 0; i < fibers; i++) {
		void *r;
		if (coil_task_join(t[i], &r) < 0 || r)
			bad++;
	}
	double cpu = bench_cpu_ns() - c0;
	qsort(late, (size_t)nlate, sizeof *late, cmp64);
	printf("backend=%s mode=%s fibers=%ld waits=%ld late_us p50=%.1f p99=%.1f max=%.1f "
	       "cpu_ns_per_wait=%.0f failed=%ld\n",
	       coil_backend_name(), scope_mode ? "scope" : "sleep", fibers, nlate,
	       late[nlate / 2] / 1e3, late[nlate * 99 / 100] / 1e3, late[nlate - 1] / 1e3,
	       cpu / (double)nlate, bad);
	coil_chan_free(never);
	free(late);
	free(t);
	return bad ? (void *)1 : NULL;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fibers") && i + 1 < argc)
			fibers = atol(argv[++i]);
		else if (!strcmp(argv[i], "--waits") && i + 1 < argc)
			waits = atol(argv[++i]);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			scope_mode = !strcmp(argv[++i], "scope");
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			rng = strtoull(argv[++i], NULL, 0) | 1;
		else {
			fprintf(stderr, "usage: timer_lateness [--fibers F] [--waits K] "
					"[--mode sleep|scope] [--seed S]\n");
			return 2;
		}
	}
	if (fibers < 1 || waits < 1)
		return 2;
	void *res = NULL;
	int r = coil_run(NULL, run, NULL, &res);
	if (r < 0) {
		fprintf(stderr, "coil_run: %s\n", strerror(-r));
		return 1;
	}
	return res ? 1 : 0;
}
