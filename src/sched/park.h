/*
 * The one way a fiber waits. Every blocking call (an I/O op, a race, a wait
 * for room in the ring, a channel, a lock, a join, a select, a coalesced
 * sleep) fills a struct coil__park on the waiting fiber's stack, links it
 * wherever its waker will find it, and parks on it:
 *
 *     struct coil__park p = {.cancel = my_cancel, .data = obj};
 *     my_list_append(obj, &p);
 *     int r = coil__park(&p, deadline);   // what the waker said, or a code
 *
 * Whoever satisfies the wait unlinks the park and calls
 * coil__park_wake(p, result): the one path back to runnable. To end the
 * wait early (the task or a scope is cancelled: -ECANCELED; the deadline
 * passed: -ETIMEDOUT; the runtime found a deadlock: -EDEADLK), sched calls
 * p->cancel(p, code), at most once per park. The callback must lead to
 * exactly one coil__park_wake, now (a park on an object: unlink, then wake
 * with code) or later (an op: ask the backend, and wake from the op's own
 * completion, since the kernel owns the op's buffers until then).
 *
 * A waker on another thread (a fiber of another worker, a plain thread)
 * cannot touch the fiber: coil__park_wake sets the result and posts the park
 * to the fiber's worker's inbox, which wakes it there. So a cancel that
 * runs on the fiber's worker can find the park already unlinked by such a
 * waker: it must then do nothing, the wake is on its way. Objects that
 * cross threads therefore unlink and check "still linked?" under their lock.
 * A park whose fiber is NULL is a plain thread's (coil_chan_send_until from
 * a pthread): its wake stores thread_woken and wakes the futex.
 *
 * The deadline (CLOCK_MONOTONIC ns, INT64_MAX: none) sits in the worker's
 * one timer heap while the fiber is parked; the parker takes it out when
 * it resumes (an expiry in between finds the fiber no longer parked).
 */
#ifndef COIL_SCHED_PARK_H
#define COIL_SCHED_PARK_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/timers.h"

struct coil__fiber;

/* An entry of a worker's inbox (sched/crew.h): what another thread asks
 * of it. Embedded in what it is about, so a cross-thread wake allocates
 * nothing. */
struct coil__msg {
	struct coil__msg *next;
	uint8_t kind;			/* enum coil__msg_kind */
};

struct coil__park {
	struct coil__fiber *fiber;		/* set by coil__park */
	void (*cancel)(struct coil__park *p, int code);
	void *data;				/* the waker's and cancel's use */
	struct coil__park *prev, *next;		/* the object's wait list, its own use */
	int result;
	bool cancel_sent;			/* cancel ran for this wait */
	struct coil__timer timer;
	struct coil__msg msg;			/* the wake, when it comes from another thread */
	int far_result;				/* ...and its result (result is the parker's to reset) */
	uint32_t thread_woken;			/* fiber NULL: a plain thread's futex word */
};

/* Park the calling fiber on p until coil__park_wake(p, result); returns
 * result. With a deadline, p->cancel(p, -ETIMEDOUT) runs when it passes
 * (and the result is what the wake that follows says). If the deadline
 * cannot be armed (no memory), p->cancel(p, -ENOMEM) runs at once. The
 * caller has checked that it may block (coil__fiber_may_block). */
int coil__park(struct coil__park *p, int64_t deadline);

/* The same for a wait on an object, after linking p: the deadline is the
 * earlier of until and the scope's; if the fiber may not block (its task
 * or a scope is cancelled: -ECANCELED; past a scope's deadline:
 * -ETIMEDOUT), p->cancel runs at once with that code (unlinking p), and
 * that is the result. Must run on a fiber. */
int coil__park_checked(struct coil__park *p, int64_t until);

/* coil__park_wake(p, result): make p's fiber runnable with result; p must
 * be the park it waits on; it runs in a later turn (never at once). Inline,
 * in sched/sched.h: every channel hand-over and completion calls it. */

/* End f's wait early with code if it is parked (p->cancel, once). A fiber
 * that is not parked sees the reason at its next blocking call. */
void coil__fiber_interrupt(struct coil__fiber *f, int code);

#endif
