/*
 * A close that reaches every worker (a runtime of several workers).
 *
 * Each worker's backend keeps state per fd number: epoll and poll their
 * wait lists, poller registration and the fd's kind; io_uring its ops in
 * flight (each holds the file), what it learnt of the fd and its registered
 * slot. A close on one worker must reach every other worker with such
 * state before the number goes back to the kernel: their ops on the fd end
 * at once with -EBADF (not at their deadline, and never by a read of the
 * new fd that took the number), and they forget the fd, so a new fd of
 * that number starts clean on every worker.
 *
 * - A worker of several that starts keeping state for an fd marks itself
 *   in the fd's word of a process-wide table (coil__fd_met): one bit per
 *   worker index (mod 64), in chunks of 64Ki fds made on first use. An fd
 *   past the table (16Mi) counts as met by all.
 * - coil__fd_close takes the fd's word (leaving 0) and asks every other
 *   worker marked in it, by a call through its inbox (sched/crew.h), to
 *   run its backend's fd_gone; the closer waits until each has answered
 *   (coil__fd_gone_done), then closes. The closer may be a fiber of any
 *   runtime (it parks) or a plain thread (it waits on a futex): the
 *   workers are found in sched's list of every runtime's workers, and a
 *   bit names index i in each runtime (the others' calls find nothing).
 *
 * A worker alone in its runtime marks nothing; while no runtime of several
 * workers runs, a close (anywhere) asks no one: it is what it always was,
 * plus one load. A spare mark (a bit shared by workers 64 apart, a
 * mark left by an op that raced with the close) only costs a call that
 * finds nothing.
 */
#ifndef COIL_IO_FD_H
#define COIL_IO_FD_H

#include <stdint.h>

#include "sched/crew.h"

/* fds at or past this number count as met by every worker. */
#define COIL__FD_MET_MAX (1 << 24)

/* Worker w (of several) keeps state for fd from now on. */
void coil__fd_met(struct coil__worker *w, int fd);

/* One worker's part of a close (on the closing fiber's stack). */
struct coil__fd_gone_call {
	struct coil__call call;
	struct coil__fd_gone *req;
	int fd;
};

/* The worker that ran its backend's fd_gone for c has let go of c->fd
 * (its ops on it end with -EBADF, its state is reset): any thread. After
 * it, c is gone. */
void coil__fd_gone_done(struct coil__fd_gone_call *c);

#endif
