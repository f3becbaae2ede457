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
 * bits of the other workers (list_others). Words below 64Ki fds are static,
 * the others in chunks of 64Ki made on first mark; an fd past 16Mi counts
 * as met by all (generation 0). A spare bit (one shared by listed workers,
 * one left by a worker that stopped, a mark by an op that raced with the
 * close) only costs a call that finds nothing.
 *
 * A coil_loop's worker is listed too, but nobody waits for it: between
 * ticks its thread is the embedder's, which may be the closer itself or
 * wait for it. A closer that takes its bit records (fd, generation) in the
 * loop's struct coil__fd_later (w->later), posts its call if it is not in
 * the inbox yet (which makes the embedder's fd readable), and closes at
 * once. At its next turn the loop runs its backend's fd_closed: the ops it
 * kept on fd under that generation end with -EBADF, and it forgets fd,
 * touching nothing by the number (which may name a new file by then). In
 * between, what the loop kept for fd must not reach a new fd of that
 * number: io_uring's ops in flight hold the old file, its registered slot
 * compares the generation (io/fixed.h), and the readiness backends compare
 * the generation a worker marked fd under (coil__fd_met_gen) with the
 * fd's before each try of a waiter that readiness woke, and at each new
 * op: moved, the waiters fail with -EBADF and the fd is forgotten. A close
 * concurrent with that very try is a race of the program's, as with any
 * read(2) racing a close(2) of its fd.
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

/* As coil__fd_met, and returns the generation the mark was made under: a
 * close from that generation takes w's bit (for an unlisted w, fd's
 * generation now). */
uint32_t coil__fd_met_gen_far(struct coil__worker *w, int fd);
static inline uint32_t coil__fd_met_gen(struct coil__worker *w, int fd)
{
	if ((unsigned)fd >= COIL__FD_WORDS_NEAR)
		return coil__fd_met_gen_far(w, fd);
	if (!w->list_bit)
		return coil__fd_gen(fd);
	return (uint32_t)__atomic_fetch_or(&coil__fd_words[fd],
					   (uint64_t)w->list_bit << COIL__FD_MET_SHIFT,
					   __ATOMIC_ACQ_REL);
}

/* fd's generation, any fd >= 0 (0 for an fd that has no word). */
uint32_t coil__fd_gen_far(int fd);
static inline uint32_t coil__fd_gen_any(int fd)
{
	return (unsigned)fd < COIL__FD_WORDS_NEAR ? coil__fd_gen(fd) : coil__fd_gen_far(fd);
}

/* The closes a listed worker that nobody waits for (w->later: a
 * coil_loop's) must hear of: those since its last turn, each with the
 * generation it ended; past COIL__FD_LATER_MAX, "some": it then looks at
 * every fd it keeps. Closers add under lock and post call when it is not
 * in the worker's inbox yet; the worker takes them when it drains. */
#define COIL__FD_LATER_MAX 32
struct coil__fd_later {
	struct coil__call call;
	uint32_t lock;		/* base/spin.h */
	bool posted;		/* call is in the inbox */
	bool overflow;		/* more came than gone holds */
	unsigned n;
	struct {
		int fd;
		uint32_t gen;
	} gone[COIL__FD_LATER_MAX];
};
/* Make w a worker that closers post to but never wait for (before it is
 * listed, and before its I/O layer starts: backends look at w->later). */
void coil__fd_later_init(struct coil__worker *w, struct coil__fd_later *l);

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
