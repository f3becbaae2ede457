/*
 * Channel internals, for chan.c and for select (which waits on several
 * channel cases at once).
 *
 * A fiber blocked on a channel is represented by a struct coil__chan_case
 * linked into the channel's sendq or recvq (FIFO). The case points at the
 * value to send or at the buffer to receive into, and at the park (sched/park.h)
 * the fiber waits on. A channel operation that finds a blocked peer completes it
 * on the spot, synchronously: it copies the value straight between the two
 * fibers' buffers (or via the ring, for a full bounded channel), unlinks the
 * peer's case and "fires" it. The woken fiber has nothing left to do but
 * return: cancelling it after the fire changes nothing (the waiter is no
 * longer parked, see sched/park.h), so a value is never lost or duplicated.
 *
 * Threads: with several workers, or on a COIL_CHAN_THREADS channel, every
 * step below happens under the channel's lock (select takes the locks of
 * all its channels, sorted by address, for its ready scan and linking).
 * A fire runs under the firing channel's lock and takes no other lock:
 * a select's fire only records which case won (its claim was won in the
 * pop) and wakes it; the select unlinks its other cases after it wakes,
 * one channel lock at a time, and meanwhile they are stale: skipped.
 *
 * Invariants:
 *   - recvq is non-empty only while nothing is buffered;
 *   - sendq is non-empty only while the buffer is full (always, for
 *     rendezvous; never, for unbounded);
 *   - a closed channel has both queues empty;
 *   (a select with both a send and a receive case on one channel may break
 *   the first two for as long as it is parked; nothing relies on them for
 *   correctness.)
 *
 * How select uses this (single fiber, cases c[0..n-1]):
 *
 *   1. Poll, starting at a random case for fairness: for each case, call
 *      coil__chan_send_now / coil__chan_recv_now. Anything but -EAGAIN means
 *      the case fired now (0, or -EPIPE on a closed channel): done.
 *      (coil__chan_*_ready says the same without doing it.)
 *   2. Otherwise set up one struct coil__park for the fiber and, for each
 *      case, a struct coil__chan_case with .wt = &waiter, .buf, and .fire set
 *      to a select callback; link each with coil__chan_case_enqueue().
 *      The waiter's cancel callback unlinks every case
 *      (coil__chan_case_dequeue is a no-op on an unlinked case).
 *   3. Park on the waiter. The first channel to complete one case calls that
 *      case's fire(c, result) with c already unlinked; the select's fire must
 *      unlink all the other cases at once (so no second channel can fire
 *      them, and no value goes into a buffer that select will not report),
 *      record which case and result, then coil__park_wake() the waiter.
 *   4. On wake, report the fired case. If the park returned < 0 (cancelled,
 *      a deadline), the cancel callback already unlinked everything and no
 *      case fired.
 *
 * A plain blocking send/recv is the one-case form of the same thing, with
 * fire == NULL meaning coil__park_wake(c->wt, result).
 */
#ifndef COIL_SYNC_CHAN_H
#define COIL_SYNC_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "sched/park.h"

struct coil_chan;

enum coil__chan_dir {
	COIL__CHAN_SEND = 1,
	COIL__CHAN_RECV = 2,
};

struct coil__chan_case {
	struct coil__list link;			/* in ch->sendq or ch->recvq */
	struct coil_chan *ch;			/* set by enqueue; kept after */
	/* SEND: the elem_size bytes to send; RECV: where to copy the value
	 * (must stay valid while linked: it is on the parked fiber's stack). */
	void *buf;
	struct coil__park *wt;		/* the fiber's parking spot */
	/* Called once when the channel completes this case, after unlinking
	 * it; result 0 (done) or -EPIPE (closed: a send did not happen, a
	 * receive got nothing). NULL: coil__park_wake(wt, result). */
	void (*fire)(struct coil__chan_case *c, int result);
	void *data;				/* the fire callback's use */
	/* A select's claim word (NULL for a plain send or receive): the
	 * channel that pops this case claims it (0 -> 1) before it fires it;
	 * a case whose select is already claimed is stale and skipped. */
	uint32_t *claim;
	uint8_t dir;				/* enum coil__chan_dir */
};

/* Whether operations on ch take its lock: it is made for plain threads, or
 * the calling worker's runtime has several workers. Then every function
 * below is called with the lock (coil__chan_lock_word) held. */
bool coil__chan_locking(const struct coil_chan *ch);
uint32_t *coil__chan_lock_word(struct coil_chan *ch);
/* Whether ch was made with COIL_CHAN_THREADS. */
bool coil__chan_threads(const struct coil_chan *ch);

/* Whether coil__chan_send_now would not return -EAGAIN: closed, a receiver
 * waits, or there is room. */
bool coil__chan_send_ready(struct coil_chan *ch);

/* Whether coil__chan_recv_now would not return -EAGAIN: something buffered,
 * a sender waits, or closed. */
bool coil__chan_recv_ready(struct coil_chan *ch);

/* Send now if that does not block: 0 (sent; a blocked receiver was fired),
 * -EPIPE (closed), -EAGAIN (would block). elem may be NULL when elem_size
 * is 0. Never parks, never checks cancellation. */
int coil__chan_send_now(struct coil_chan *ch, const void *elem);

/* Receive now if that does not block: 0 (received; a blocked sender may
 * have been fired), -EPIPE (closed and drained), -EAGAIN. */
int coil__chan_recv_now(struct coil_chan *ch, void *out);

/* Link c (dir, buf, wt, fire set by the caller) at the tail of ch's queue
 * for c->dir. The channel must not be ready for that direction (the caller
 * just got -EAGAIN from *_now, with no switch since), else the case could
 * wait forever. */
void coil__chan_case_enqueue(struct coil_chan *ch, struct coil__chan_case *c);

/* Unlink c if it is linked (a no-op otherwise). */
void coil__chan_case_dequeue(struct coil__chan_case *c);

/* The channel's element size. */
size_t coil__chan_elem_size(const struct coil_chan *ch);

#endif
