/*
 * trace-load: a small, known io_uring load for ctest trace (trace-test.sh).
 *
 *   trace-load [SECONDS]
 *
 * Runs SECONDS (default 10) or until SIGTERM, in rounds 10 ms apart: NOPs,
 * a read of /dev/zero forced to io-wq (IOSQE_ASYNC: a punt), a 1 ms timeout,
 * and more NOPs than the CQ ring holds before reaping (CQ overflows). So
 * coil-trace has to see completions of NOP, READ and TIMEOUT, READ's punts
 * and overflows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES 8 /* the CQ ring gets 16 */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

static struct io_uring_sqe *sqe_or_die(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		fprintf(stderr, "trace-load: SQ ring full\n");
		exit(1);
	}
	return sqe;
}

static void reap(struct io_uring *ring, unsigned n)
{
	while (n) {
		struct io_uring_cqe *cqe;
		int err = io_uring_wait_cqe(ring, &cqe);
		if (err == -EINTR)
			continue;
		if (err) {
			fprintf(stderr, "trace-load: wait: %s\n", strerror(-err));
			exit(1);
		}
		io_uring_cqe_seen(ring, cqe);
		n--;
	}
}

static void nops(struct io_uring *ring, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		io_uring_prep_nop(sqe_or_die(ring));
	io_uring_submit(ring);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	struct io_uring ring;
	int err = io_uring_queue_init(RING_ENTRIES, &ring, 0);
	if (err) {
		fprintf(stderr, "trace-load: io_uring_queue_init: %s\n", strerror(-err));
		return 1;
	}
	int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero < 0) {
		perror("trace-load: /dev/zero");
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);

	static char buf[4096];
	struct __kernel_timespec ms = {.tv_nsec = 1000 * 1000};
	struct timespec t0, t, nap = {0, 10 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct io_uring_sqe *sqe = sqe_or_die(&ring);
		io_uring_prep_read(sqe, zero, buf, sizeof buf, 0);
		sqe->flags |= IOSQE_ASYNC;
		io_uring_prep_timeout(sqe_or_die(&ring), &ms, 0, 0);
		io_uring_submit(&ring);
		reap(&ring, 2);
		/* 3 x 8 NOPs unreaped: 24 CQEs for 16 slots. */
		for (int i = 0; i < 3; i++)
			nops(&ring, RING_ENTRIES);
		reap(&ring, 3 * RING_ENTRIES);
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!stop && (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	io_uring_queue_exit(&ring);
	return 0;
}
