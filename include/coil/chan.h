/* coil/chan.h: channels between fibers, and oneshot channels.
 *
 * A channel carries values of one fixed size (elem_size bytes, set at
 * creation), copied in by a send and out by a receive. Three kinds:
 *
 *   bounded     capacity N > 0: a ring of N slots allocated at creation; no
 *               allocation per message. A send blocks while N values wait.
 *   rendezvous  capacity 0: nothing is buffered; a send completes only when
 *               a receiver has taken its value (the value is copied straight
 *               from the sender into the receiver's buffer).
 *   unbounded   capacity COIL_CHAN_UNBOUNDED: a send never blocks; the
 *               buffer grows by chunks (and keeps one spare chunk).
 *
 * Any number of fibers may send and receive. Blocked senders, and blocked
 * receivers, are served in FIFO order (first to block, first served), and a
 * value never overtakes another: receivers see values in the order their
 * sends completed, blocked senders' values included.
 *
 * Close: coil_chan_close() is final. Senders get -EPIPE at once (blocked
 * senders wake with -EPIPE; their values were not sent). Receivers first
 * drain what is buffered, then get -EPIPE. Every fiber blocked on either side
 * wakes.
 *
 * Blocking calls (coil_chan_send, coil_chan_recv, coil_oneshot_recv) must be
 * made from a fiber: elsewhere they return -EPERM. Each is a cancellation
 * point: if the calling task is cancelled (before the call, or while it is
 * blocked) it returns -ECANCELED and has done nothing: a send did not send,
 * a receive consumed nothing. A call that completed (the value was handed
 * over) returns 0 even if a cancel comes right after.
 *
 * Threads: fibers on any worker of a runtime may share a channel (with
 * several workers each call takes the channel's lock). A channel made with
 * COIL_CHAN_THREADS (coil_chan_new_ex) may also be used by plain threads
 * that are no coil workers, and by the fibers of several runtimes: the
 * try forms, and coil_chan_send_until / coil_chan_recv_until, which block
 * a plain thread (on a futex) and a fiber (parked) alike. Other channels
 * are for the fibers of one runtime, and for its thread outside coil_run
 * (the non-blocking calls, for example before it starts). A fiber parked
 * on a COIL_CHAN_THREADS channel keeps its runtime alive: coil_run never
 * calls that a deadlock, since a plain thread may still send.
 */
#ifndef COIL_CHAN_H
#define COIL_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A channel; create with coil_chan_new(), free with coil_chan_free(). */
typedef struct coil_chan coil_chan;

/* capacity for an unbounded channel */
#define COIL_CHAN_UNBOUNDED SIZE_MAX

/*
 * Create a channel of values of elem_size bytes (0 is allowed: then values
 * carry no data and value pointers may be NULL). capacity is the number of
 * values it buffers: 0 for a rendezvous channel, COIL_CHAN_UNBOUNDED for an
 * unbounded one. Works anywhere (no runtime needed).
 * Returns 0 and *out, or -EINVAL (out NULL; elem_size * capacity overflows
 * or is above 1 GiB for a bounded channel; elem_size above 1 GiB), -ENOMEM.
 */
COIL_API int coil_chan_new(coil_chan **out, size_t elem_size, size_t capacity);

/* Plain threads (not coil workers) may use the channel too. */
#define COIL_CHAN_THREADS 1u

/* coil_chan_new with flags (0 or COIL_CHAN_THREADS); -EINVAL for others. */
COIL_API int coil_chan_new_ex(coil_chan **out, size_t elem_size, size_t capacity,
			      unsigned flags);

/*
 * Free a channel and what it buffers. Values still buffered are dropped
 * (they are plain bytes: free what they point to first, if anything).
 * Returns 0 (also for NULL), or -EBUSY if a fiber is blocked on it (then
 * nothing is freed: close it and let the fibers leave first).
 */
COIL_API int coil_chan_free(coil_chan *ch);

/*
 * Send the elem_size bytes at elem. Blocks while the channel is full (for
 * rendezvous: until a receiver takes the value).
 * Returns 0 (sent), or:
 *   -EPIPE      the channel is closed (also if it was closed while blocked)
 *   -ECANCELED  the calling task (or an enclosing scope) is cancelled;
 *               nothing was sent
 *   -ETIMEDOUT  an enclosing scope's deadline passed; nothing was sent
 *   -ENOMEM     unbounded channel: no memory for a new chunk
 *   -EINVAL     ch NULL, or elem NULL with elem_size > 0
 *   -EPERM      not inside a fiber
 */
COIL_API int coil_chan_send(coil_chan *ch, const void *elem);

/*
 * Receive one value into out (elem_size bytes). Blocks while the channel is
 * empty and open.
 * Returns 0 (received), or:
 *   -EPIPE      the channel is closed and drained
 *   -ECANCELED  the calling task (or an enclosing scope) is cancelled;
 *               nothing was consumed
 *   -ETIMEDOUT  an enclosing scope's deadline passed; nothing was consumed
 *   -EINVAL     ch NULL, or out NULL with elem_size > 0
 *   -EPERM      not inside a fiber
 */
COIL_API int coil_chan_recv(coil_chan *ch, void *out);

/*
 * Send, blocking until deadline_ns (CLOCK_MONOTONIC, coil_now(); 
 * COIL_NO_DEADLINE: none) at most. From a fiber: as coil_chan_send, also
 * bounded by the deadline. From a plain thread (the channel must have
 * COIL_CHAN_THREADS): the thread sleeps until a receiver takes the value
 * (rendezvous), there is room, the channel closes, or the deadline.
 * Returns as coil_chan_send, and -ETIMEDOUT at the deadline (nothing
 * sent), -EPERM from a plain thread on a channel without COIL_CHAN_THREADS.
 */
COIL_API int coil_chan_send_until(coil_chan *ch, const void *elem, int64_t deadline_ns);

/* Receive, blocking until deadline_ns at most; the counterpart of
 * coil_chan_send_until (-ETIMEDOUT: nothing consumed). */
COIL_API int coil_chan_recv_until(coil_chan *ch, void *out, int64_t deadline_ns);

/*
 * Send without blocking: only if a receiver is waiting or there is room.
 * Returns 0, -EAGAIN (it would block: full, or rendezvous with no receiver
 * waiting), -EPIPE (closed), -ENOMEM (unbounded: no memory), -EINVAL.
 */
COIL_API int coil_chan_try_send(coil_chan *ch, const void *elem);

/*
 * Receive without blocking: only if a value is buffered or a sender waits.
 * Returns 0, -EAGAIN (empty and open), -EPIPE (closed and drained), -EINVAL.
 */
COIL_API int coil_chan_try_recv(coil_chan *ch, void *out);

/*
 * Close the channel (see the top of this file). Wakes every blocked fiber:
 * receivers with -EPIPE (the buffer is empty when receivers block), senders
 * with -EPIPE. Works in a cancelled task (it never blocks).
 * Returns 0, -EALREADY (it was already closed), -EINVAL (ch NULL).
 */
COIL_API int coil_chan_close(coil_chan *ch);

/* The number of values buffered now (for rendezvous: 0), or -EINVAL. */
COIL_API ptrdiff_t coil_chan_len(const coil_chan *ch);

/* The capacity given at creation (COIL_CHAN_UNBOUNDED for unbounded), or
 * 0 for ch NULL. */
COIL_API size_t coil_chan_cap(const coil_chan *ch);

/* Whether the channel is closed (1) or not (0), or -EINVAL. */
COIL_API int coil_chan_closed(const coil_chan *ch);

/* ---- oneshot ----------------------------------------------------------------
 *
 * A oneshot channel carries at most one value, from one sending side to one
 * receiving side. The send never blocks. The receive gets the value, or
 * -EPIPE when the sending side closed without sending (or the value was
 * already received). Same threading and cancellation rules as channels.
 */
typedef struct coil_oneshot coil_oneshot;

/* Create a oneshot for a value of elem_size bytes (0 allowed).
 * Returns 0, -EINVAL (out NULL, elem_size above 1 GiB), -ENOMEM. */
COIL_API int coil_oneshot_new(coil_oneshot **out, size_t elem_size);

/*
 * Send the value (never blocks); a blocked receiver wakes with it. After a
 * send the sending side is done: a later send fails.
 * Returns 0, -EALREADY (a value was already sent), -EPIPE (the sending side
 * was closed with coil_oneshot_close), -EINVAL.
 */
COIL_API int coil_oneshot_send(coil_oneshot *os, const void *elem);

/*
 * Wait for the value and copy it into out.
 * Returns 0, -EPIPE (the sending side closed without sending, or the value
 * was already received), -ECANCELED, -ETIMEDOUT (a scope's deadline:
 * nothing consumed), -EINVAL, -EPERM (not inside a fiber).
 */
COIL_API int coil_oneshot_recv(coil_oneshot *os, void *out);

/* Receive without blocking. Returns 0, -EAGAIN (nothing sent yet and the
 * sending side is open), -EPIPE, -EINVAL. */
COIL_API int coil_oneshot_try_recv(coil_oneshot *os, void *out);

/*
 * Close the sending side without sending (a blocked receiver wakes with
 * -EPIPE). Closing after a send is allowed and changes nothing for the
 * receiver, who still gets the value.
 * Returns 0, -EALREADY (already closed), -EINVAL.
 */
COIL_API int coil_oneshot_close(coil_oneshot *os);

/* Free a oneshot. Returns 0 (also for NULL) or -EBUSY (a fiber is blocked
 * receiving from it). */
COIL_API int coil_oneshot_free(coil_oneshot *os);

#ifdef __cplusplus
}
#endif
#endif
