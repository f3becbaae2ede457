/*
 * idle_cpu: what a 2-worker runtime burns while it waits, as a share of one
 * core (process CPU time, user + system, over wall time):
 *
 *   idle          main (worker 0) sleeps, a fiber of worker 1 waits on a
 *                 channel: nothing happens for --seconds.
 *   tick-alone    main ticks every --tick-us (a 1 ms sleep in a loop) and
 *                 never talks to worker 1, whose fiber waits on a channel:
 *                 what worker 1's waiting awake for another worker's timer
 *                 (sched/crew.h) costs when it is no use.
 *   tick-talks    the same, each tick sends a value to worker 1's fiber:
 *                 what the ticker and the wakes cost when they are of use.
 *
 * Prints "name<TAB>percent of a core<TAB>wakes" per mode.
 *
 *   idle_cpu [--seconds S] [--tick-us U] [--only NAME]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <coil.h>

#include "bench_util.h"

struct opts {
	double seconds;
	long tick_us;
	const char *only;
};

struct mode {
	const struct opts *o;
	coil_chan *ch;
	int talks;
	long got;
};

static void check(int e, const char *what)
{
	if (e < 0) {
		fprintf(stderr, "idle_cpu: %s: %s\n", what, strerror(-e));
		exit(1);
	}
}

static void *waiter(void *arg)
{
	struct mode *m = arg;
	long v;
	while (coil_chan_recv(m->ch, &v) == 0)
		m->got++;
	return NULL;
}

static double run_mode(const struct opts *o, const char *name, long *wakes)
{
	struct mode m = {.o = o, .talks = !strcmp(name, "tick-talks")};
	check(coil_chan_new(&m.ch, sizeof(long), 1), "coil_chan_new");
	coil_task t;
	check(coil_task_spawn_on(1, &t, waiter, &m), "spawn_on");
	check(coil_sleep(10 * COIL_NSEC_PER_MSEC), "sleep"); /* the waiter parks */
	int64_t end = coil_now() + (int64_t)(o->seconds * 1e9);
	double c0 = bench_cpu_ns();
	uint64_t t0 = bench_now_ns();
	if (!strcmp(name, "idle")) {
		check(coil_sleep_until(end), "sleep_until");
	} else {
		for (long i = 0; coil_now() < end; i++) {
			check(coil_sleep(o->tick_us * COIL_NSEC_PER_USEC), "sleep");
			if (m.talks)
				check(coil_chan_send(m.ch, &i), "send");
		}
	}
	double cpu = bench_cpu_ns() - c0;
	double wall = (double)(bench_now_ns() - t0);
	coil_chan_close(m.ch);
	check(coil_task_join(t, NULL), "join");
	coil_chan_free(m.ch);
	*wakes = m.got;
	return 100.0 * cpu / wall;
}

static void *run(void *arg)
{
	const struct opts *o = arg;
	static const char *modes[] = {"idle", "tick-alone", "tick-talks"};
	for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
		if (!bench_selected(o->only, modes[k]))
			continue;
		long wakes;
		double pct = run_mode(o, modes[k], &wakes);
		printf("%s\t%.3f\t%ld\n", modes[k], pct, wakes);
		fflush(stdout);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o = {.seconds = 10, .tick_us = 1000, .only = NULL};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			o.seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--tick-us") && i + 1 < argc)
			o.tick_us = atol(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			o.only = argv[++i];
		else {
			fprintf(stderr, "usage: idle_cpu [--seconds S] [--tick-us U] [--only NAME]\n");
			return 2;
		}
	}
	if (o.seconds <= 0 || o.tick_us < 1) {
		fprintf(stderr, "idle_cpu: bad --seconds or --tick-us\n");
		return 2;
	}
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 2;
	int e = coil_run(&cfg, run, &o, NULL);
	if (e < 0) {
		fprintf(stderr, "idle_cpu: coil_run: %s\n", strerror(-e));
		return 1;
	}
	return 0;
}
