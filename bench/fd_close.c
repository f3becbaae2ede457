/*
 * fd_close: what one coil_close costs, timed around the call alone.
 *
 * Each iteration makes a socketpair (plain syscall, not timed), has a fiber
 * read a byte that is already there from one end (so the worker that reads
 * has met the fd: io_uring ran an op on it, epoll and poll know its kind),
 * then times coil_close of that end and of the other.
 *
 *   1w         one worker: the reader is the closer
 *   2w-local   two workers, the reader is the closer (worker 0): what a
 *              runtime of several workers adds when no other worker met the fd
 *   2w-remote  two workers, the reader runs on worker 1 and worker 0 closes:
 *              the close reaches the other worker first (its ops on the fd
 *              end with -EBADF before the number is released)
 *
 *   fd_close [--iters N] [--reps R] [--only 1w,2w-local,2w-remote] [--tsv]
 *
 * Prints ns per coil_close: median over R repetitions, min, max. The
 * backend is $COIL_BACKEND's (default io_uring).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coil.h>

#include "bench_util.h"

static long g_iters = 20000;
static int g_reps = 5;

struct job {
	long iters;
	int remote; /* read on worker 1 */
	double ns;  /* per coil_close */
};

static void die(const char *what, int r)
{
	fprintf(stderr, "fd_close: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static void *read_one(void *arg)
{
	char c;
	ssize_t r = coil_sock_read((int)(intptr_t)arg, &c, 1);
	return (void *)(intptr_t)r;
}

static void *closer(void *arg)
{
	struct job *j = arg;
	uint64_t spent = 0;
	for (long i = 0; i < j->iters; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
			die("socketpair", errno);
		if (write(sv[1], "x", 1) != 1)
			die("write", errno);
		void *res;
		if (j->remote) {
			coil_task t;
			int r = coil_task_spawn_on(1, &t, read_one, (void *)(intptr_t)sv[0]);
			if (r < 0)
				die("spawn_on", r);
			coil_task_join(t, &res);
		} else {
			res = read_one((void *)(intptr_t)sv[0]);
		}
		if ((intptr_t)res != 1)
			die("read", (int)(intptr_t)res);
		uint64_t t0 = bench_now_ns();
		int a = coil_close(sv[0]);
		int b = coil_close(sv[1]);
		spent += bench_now_ns() - t0;
		if (a || b)
			die("coil_close", a ? a : b);
	}
	j->ns = (double)spent / (double)(2 * j->iters);
	return NULL;
}

static double run(unsigned workers, int remote)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = workers;
	struct job j = {.iters = g_iters, .remote = remote};
	int r = coil_run(&cfg, closer, &j, NULL);
	if (r < 0)
		die("coil_run", r);
	return j.ns;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int tsv = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			g_iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			g_reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--tsv"))
			tsv = 1;
		else {
			fprintf(stderr, "usage: fd_close [--iters N] [--reps R] [--only LIST] [--tsv]\n");
			return 2;
		}
	}
	if (g_reps < 1 || g_reps > BENCH_MAX_REPS || g_iters < 1) {
		fprintf(stderr, "fd_close: bad --reps or --iters\n");
		return 2;
	}
	static const struct {
		const char *name;
		unsigned workers;
		int remote;
	} variants[] = {{"1w", 1, 0}, {"2w-local", 2, 0}, {"2w-remote", 2, 1}};
	if (!tsv)
		printf("%-18s %10s %10s %10s\n", "coil_close", "median", "min", "max");
	for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++) {
		if (!bench_selected(only, variants[k].name))
			continue;
		double v[BENCH_MAX_REPS];
		run(variants[k].workers, variants[k].remote); /* warm-up */
		for (int rep = 0; rep < g_reps; rep++)
			v[rep] = run(variants[k].workers, variants[k].remote);
		bench_print(tsv, variants[k].name, "ns/close", v, g_reps, g_iters);
	}
	return 0;
}
