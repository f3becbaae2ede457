/*
 * A listener's standing multishot accept (io_uring, COIL_FEATURE_ACCEPT_MULTI):
 * one request accepts every connection as it comes, instead of one SQE per
 * accept. coil_server's accepting fibers take connections from it.
 *
 *     struct coil__accepts a;
 *     if (coil__accepts_start(&a, listen_fd) == 0) {
 *             int fd;
 *             while ((fd = coil__accepts_next(&a)) >= 0 || transient(fd))
 *                     ...;
 *             coil__accepts_stop(&a);   // always, before a goes
 *     }
 *
 * Accepted connections wait in a (when nobody takes them yet); past a few,
 * the request is stopped and the rest wait in the listen backlog, as they
 * would for coil_tcp_accept. An error comes back once from next (the
 * request ends with it) and the next call arms a new one. Like a reader's
 * recv (io/lend.h), an armed request counts as pending only while a fiber
 * waits on it. Used on one fiber at a time, of the worker that started it.
 */
#ifndef COIL_IO_ACCEPTS_H
#define COIL_IO_ACCEPTS_H

#include <stdbool.h>
#include <stdint.h>

struct coil__io;
struct coil__park;

struct coil__accepts {
	struct coil__io *io;
	int fd;				/* the listener */
	uint16_t gen;			/* tags its current arm's completions */
	bool armed;			/* in the kernel */
	bool stopping;			/* coil asked it to end */
	int error;			/* its last completion's error, not yet returned */
	int *q;				/* accepted, not taken: a FIFO ring */
	uint32_t qhead, qlen, qcap;
	struct coil__park *waiter;
} __attribute__((aligned(8)));

/* Start on listen_fd. Returns 0, or -ENOTSUP when this worker has no
 * multishot accept (another backend, the feature off, an older kernel):
 * then use coil_tcp_accept. Must run on a fiber. */
int coil__accepts_start(struct coil__accepts *a, int listen_fd);

/* The next accepted connection (a non-blocking, close-on-exec fd that coil
 * knows), waiting for one; or -errno: the accept's error, -ECANCELED /
 * -ETIMEDOUT (the task or a scope), -ENOMEM. */
int coil__accepts_next(struct coil__accepts *a);

/* Stop and wait for the kernel to let go (shielded: also in a cancelled
 * task); connections accepted and not taken are closed. */
void coil__accepts_stop(struct coil__accepts *a);

/* A completion of a's request armed with tag gen (the backend's reap):
 * a new fd, or -errno; more: it stays armed. */
void coil__accepts_cqe(struct coil__io *io, struct coil__accepts *a, uint16_t gen, int res,
		       bool more);

#endif
