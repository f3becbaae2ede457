/*
 * timers: the cost of coil's sleeps. F fibers each sleep K times for D ns
 * (F * K sleeps in all, 1M by default), on the chosen backend. Reports the
 * process CPU time per sleep (user + system, getrusage) and how late the
 * sleeps woke on average (coil_now() after the sleep minus its deadline),
 * plus the wall time. Every sleep is one IORING_OP_TIMEOUT on io_uring, one
 * timer-heap entry on the readiness backends.
 *
 *   timers [--fibers F] [--sleeps K] [--ns D]
 */
#include <coil.h>

#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long fibers = 1000, sleeps = 1000;
static int64_t dur = 1000; /* ns */
static int64_t late_sum;
static long late_n;

static void *sleeper(void *arg)
{
	(void)arg;
	for (long i = 0; i < sleeps; i++) {
		int64_t deadline = coil_now() + dur;
		if (coil_sleep_until(deadline) != 0)
			return (void *)1;
		late_sum += coil_now() - deadline;
		late_n++;
	}
	return NULL;
}

static void *run(void *arg)
{
	(void)arg;
	coil_task *t = calloc((size_t)fibers, sizeof *t);
	if (!t)
		return (void *)1;
	double c0 = bench_cpu_ns();
	int64_t w0 = coil_now();
	for (long i = 0; i < fibers; i++)
		if (coil_task_spawn(&t[i], sleeper, NULL) != 0)
			return (void *)1;
	long failed = 0;
	for (long i = 0; i < fibers; i++) {
		void *r;
		coil_task_join(t[i], &r);
		failed += r != NULL;
	}
	int64_t wall = coil_now() - w0;
	double cpu = bench_cpu_ns() - c0;
	long n = fibers * sleeps;
	printf("timers backend=%s fibers=%ld sleeps=%ld ns=%lld total=%ld wall_ms=%.1f cpu_ns_per_sleep=%.1f mean_late_us=%.1f failed=%ld\n",
	       coil_backend_name(), fibers, sleeps, (long long)dur, n, wall / 1e6, cpu / (double)n,
	       late_n ? (double)late_sum / (double)late_n / 1e3 : 0.0, failed);
	free(t);
	return failed ? (void *)1 : NULL;
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--fibers"))
			fibers = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--sleeps"))
			sleeps = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--ns"))
			dur = atoll(argv[i + 1]);
		else {
			fprintf(stderr, "usage: timers [--fibers F] [--sleeps K] [--ns D]\n");
			return 2;
		}
	}
	if (fibers < 1 || sleeps < 1 || dur < 0) {
		fprintf(stderr, "timers: bad arguments\n");
		return 2;
	}
	void *r = NULL;
	int rc = coil_run(NULL, run, NULL, &r);
	if (rc < 0) {
		fprintf(stderr, "timers: coil_run: %s\n", strerror(-rc));
		return 1;
	}
	return r ? 1 : 0;
}
