/*
 * spawn_join: the cost of starting and finishing a fiber through the public
 * API, in one coil_run() on one thread.
 *
 *   seq    coil_task_spawn(&t, empty, NULL); coil_task_join(t, NULL);  N times
 *   batch  spawn B fibers, then join the B of them;                     N/B times
 *
 * The fiber body is empty (returns its argument). Each variant runs one
 * untimed warm-up (it fills the stack cache: spawning in steady state takes a
 * pooled stack and makes no syscall), then R timed repetitions with
 * clock_gettime(CLOCK_MONOTONIC). The result is ns per spawn+join (per task
 * in the batch variant): median over the repetitions and min-max.
 *
 * Syscalls: one more repetition of each variant runs with a counter of the
 * raw_syscalls:sys_enter tracepoint of this thread (perf_event_open, enabled
 * just around the loop; the count of an empty region, the disabling ioctl
 * itself, is subtracted). 0 means the steady-state loop made no syscall.
 * Needs perf_event_paranoid <= 1 or root, and tracefs; "n/a" otherwise.
 * bench/micro.sh checks the same with `perf stat` from outside.
 *
 *   spawn_join [--iters N] [--reps R] [--batch B] [--cpu C] [--tsv]
 *              [--only seq,batch] [--no-count]
 *
 *   --iters N  spawn+joins per repetition (default 1000000)
 *   --reps R   repetitions (default 7)
 *   --batch B  batch size (default 100)
 *   --cpu C    pin to CPU C (sched_setaffinity) before coil_run
 *   --tsv      "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>syscalls<TAB>reps"
 *              lines (syscalls -1 when not counted)
 *   --no-count skip the syscall-counting repetition
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <coil.h>

#include "bench_util.h"

#define MAX_REPS BENCH_MAX_REPS
#define MAX_BATCH 4096

static long g_iters = 1000000;
static int g_reps = 7;
static int g_batch = 100;
static int g_count = 1;

/* ---- syscall counter: raw_syscalls:sys_enter of this thread ------------- */

static int tracepoint_id(void)
{
	static const char *paths[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		FILE *f = fopen(paths[i], "r");
		if (!f)
			continue;
		int id = -1;
		if (fscanf(f, "%d", &id) != 1)
			id = -1;
		fclose(f);
		if (id >= 0)
			return id;
	}
	return -1;
}

/* A disabled counter of this thread's syscall entries, or -1. */
static int counter_open(void)
{
	int id = tracepoint_id();
	if (id < 0)
		return -1;
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = (uint64_t)id;
	attr.disabled = 1;
	attr.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &attr, 0 /* this thread */, -1, -1,
			    PERF_FLAG_FD_CLOEXEC);
}

static void counter_start(int fd)
{
	ioctl(fd, PERF_EVENT_IOC_RESET, 0);
	ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
}

static long long counter_stop(int fd)
{
	ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	uint64_t v = 0;
	if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
		return -1;
	return (long long)v;
}

/* ---- the benchmarks ------------------------------------------------------ */

static void *empty(void *arg)
{
	return arg;
}

static void check(int e, const char *what)
{
	if (e < 0) {
		fprintf(stderr, "spawn_join: %s: %s\n", what, strerror(-e));
		exit(1);
	}
}

static void loop_seq(long n)
{
	for (long i = 0; i < n; i++) {
		coil_task t;
		check(coil_task_spawn(&t, empty, NULL), "coil_task_spawn");
		check(coil_task_join(t, NULL), "coil_task_join");
	}
}

static void loop_batch(long n)
{
	coil_task t[MAX_BATCH];
	for (long i = 0; i < n; i += g_batch) {
		for (int j = 0; j < g_batch; j++)
			check(coil_task_spawn(&t[j], empty, NULL), "coil_task_spawn");
		for (int j = 0; j < g_batch; j++)
			check(coil_task_join(t[j], NULL), "coil_task_join");
	}
}

struct result {
	const char *name;
	const char *what;
	void (*loop)(long n);
	long iters;
	int n;
	double v[MAX_REPS]; /* ns per spawn+join */
	double med, min, max;
	long long syscalls; /* in one counted repetition; -1: not counted */
	int done;
};

static struct result res[] = {
	{.name = "seq", .what = "spawn + join, one at a time", .loop = loop_seq},
	{.name = "batch", .what = "spawn B, then join B (per task)", .loop = loop_batch},
};
enum { NRES = sizeof res / sizeof res[0] };
static const char *g_only;


static void run_one(struct result *r, int counter)
{
	long n = g_iters;
	if (r->loop == loop_batch)
		n = (n + g_batch - 1) / g_batch * g_batch;
	r->iters = n;
	r->loop(n / 10 > g_batch ? n / 10 : g_batch); /* warm-up: fills the caches */
	for (int i = 0; i < g_reps; i++) {
		uint64_t t0 = bench_now_ns();
		r->loop(n);
		uint64_t t1 = bench_now_ns();
		r->v[r->n++] = (double)(t1 - t0) / (double)n;
	}
	r->syscalls = -1;
	if (counter >= 0) {
		counter_start(counter);
		long long base = counter_stop(counter); /* the disable ioctl */
		counter_start(counter);
		r->loop(n);
		long long c = counter_stop(counter);
		if (c >= 0 && base >= 0)
			r->syscalls = c - base;
	}
	bench_stats(r->v, r->n, &r->med, &r->min, &r->max);
	r->done = 1;
}

static void *bench_main(void *arg)
{
	(void)arg;
	int counter = g_count ? counter_open() : -1;
	if (g_count && counter < 0)
		fprintf(stderr, "spawn_join: no syscall counter (perf_event_open: %s)\n",
			strerror(errno));
	for (int i = 0; i < NRES; i++)
		if (bench_selected(g_only, res[i].name))
			run_one(&res[i], counter);
	if (counter >= 0)
		close(counter);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: spawn_join [--iters N] [--reps R] [--batch B] [--cpu C] "
			"[--only seq,batch] [--tsv] [--no-count]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int cpu = -1, tsv = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			g_iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			g_reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			g_batch = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			g_only = argv[++i];
		else if (!strcmp(argv[i], "--tsv"))
			tsv = 1;
		else if (!strcmp(argv[i], "--no-count"))
			g_count = 0;
		else
			usage();
	}
	if (g_iters < 1 || g_reps < 1 || g_reps > MAX_REPS || g_batch < 1 ||
	    g_batch > MAX_BATCH)
		usage();
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) != 0) {
			perror("sched_setaffinity");
			return 1;
		}
	}
	/* Stacks are pooled up to stack_cache; the batch needs B of them. */
	struct coil_config cfg;
	coil_config_init(&cfg);
	if ((size_t)g_batch + 1 > cfg.stack_cache)
		cfg.stack_cache = (size_t)g_batch + 1;
	int e = coil_run(&cfg, bench_main, NULL, NULL);
	if (e < 0) {
		fprintf(stderr, "spawn_join: coil_run: %s\n", strerror(-e));
		return 1;
	}

	if (tsv) {
		for (int i = 0; i < NRES; i++) {
			const struct result *r = &res[i];
			if (!r->done)
				continue;
			printf("%s\t%.3f\t%.3f\t%.3f\t%ld\t%lld\t", r->name, r->med, r->min, r->max,
			       r->iters, r->syscalls);
			for (int j = 0; j < r->n; j++)
				printf("%s%.3f", j ? "," : "", r->v[j]);
			printf("\n");
		}
		return 0;
	}
	printf("spawn_join: %d reps x %ld spawn+join, batch %d", g_reps, g_iters, g_batch);
	if (cpu >= 0)
		printf(", pinned to CPU %d\n\n", cpu);
	else
		printf(", not pinned\n\n");
	printf("| variant | ns per spawn+join median | min-max | syscalls in %ld |\n", g_iters);
	printf("|---|---|---|---|\n");
	for (int i = 0; i < NRES; i++) {
		const struct result *r = &res[i];
		if (!r->done)
			continue;
		char sc[32] = "n/a";
		if (r->syscalls >= 0)
			snprintf(sc, sizeof sc, "%lld", r->syscalls);
		printf("| %s: %s | %.1f | %.1f-%.1f | %s |\n", r->name, r->what, r->med, r->min,
		       r->max, sc);
	}
	return 0;
}
