/*
 * A close that reaches every worker that keeps state for the fd, in any
 * runtime.
 *
 * Each worker's backend keeps state per fd number: epoll and poll their
 * wait lists, poller registration and the fd's kind; io_uring its ops in
 * flight (each holds the file), what it learnt of the fd and its registered
 * slot. A close must reach every worker with such state, wherever it runs
 * (another worker of the closer's runtime, a worker of another runtime;
 * the closer may be a plain thread), before the number goes back to the
 * kernel: their ops on the fd end at once with -EBADF (not at their
 * deadline, and never by a read of the new fd that took the number), and
 * they forget the fd, so a new fd of that number starts clean everywhere.
 *
 * One 64-bit word per fd number, process-wide (coil__fd_words): the low
 * half is the fd's generation, bumped by every close through coil (io/fixed.h
 * compares it); the high half has the bits (sched/crew.h: list_bit) of the
 * listed workers that met the fd since.
 *
 * - A worker that starts keeping state for an fd marks its bit in the fd's
 *   word (coil__fd_met); its backend remembers that it did, until it
 *   forgets the fd, so a worker marks an fd once in its life.
 * - coil__fd_close bumps the generation and takes the bits in one atomic
 *   step, and asks every other listed worker a taken bit names, by a call
 *   through its inbox (sched/crew.h), to run its backend's fd_gone; the
 *   closer waits until each has answered (coil__fd_gone_done), then
 *   closes. The closer may be a fiber of any runtime (it parks) or a plain
 *   thread (it waits on a futex).
 *
 * A close of an fd that only the closer's worker met asks no one: its step
 * is the compare-and-swap that bumps the generation, and a test against the
 * bits of the other workers (list_others). A worker marks nothing while it is not
 * listed (a coil_loop's): a close from outside its loop does not reach it.
 * Words below 64Ki fds are static, the others in chunks of 64Ki made on
 * first mark; an fd past 16Mi counts as met by all. A spare bit (one shared
 * by listed workers, one left by a worker that stopped, a mark by an op
 * that raced with the close) only costs a call that finds nothing.
 */
#ifndef COIL_IO_FD_H
#define COIL_IO_FD_H

#include <stdint.h>

#include "sched/crew.h"

/* fds at or past this number count as met by every worker. */
#define COIL__FD_WORDS_MAX (1 << 24)
/* The words of fds below this are static: no lookup. */
#define COIL__FD_WORDS_NEAR 65536
/* Where a worker's bit goes in the word. */
#define COIL__FD_MET_SHIFT 32
_Static_assert(COIL__LIST_BITS <= 64 - COIL__FD_MET_SHIFT, "a worker's bit fits the high half");

extern uint64_t coil__fd_words[COIL__FD_WORDS_NEAR];

/* fd's generation (0 <= fd < COIL__FD_WORDS_NEAR): moves at each close of
 * fd through coil. */
static inline uint32_t coil__fd_gen(int fd)
{
	return (uint32_t)__atomic_load_n(&coil__fd_words[fd], __ATOMIC_ACQUIRE);
}

/* Worker w keeps state for fd from now on (its thread). Nothing if w is
 * not listed. Release: a closer that takes the bit sees w listed (it looks
 * for w in the list after). */
void coil__fd_met_far(struct coil__worker *w, int fd);
static inline void coil__fd_met(struct coil__worker *w, int fd)
{
	if ((unsigned)fd < COIL__FD_WORDS_NEAR) {
		if (w->list_bit)
			__atomic_fetch_or(&coil__fd_words[fd],
					  (uint64_t)w->list_bit << COIL__FD_MET_SHIFT,
					  __ATOMIC_RELEASE);
	} else {
		coil__fd_met_far(w, fd);
	}
}

/* One worker's part of a close (on the closer's stack). */
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
