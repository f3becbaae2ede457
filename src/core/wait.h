/*
 * Parking a fiber on a core object (channel, mutex, group...): the one way
 * for such objects to block, so that cancellation (and, later, deadlines)
 * work the same for all of them.
 *
 * The object links a waiter into its own wait list, then parks on it:
 *
 *     struct coil__waiter wt = {.cancel = my_unlink, .data = ...};
 *     my_list_append(obj, &wt);
 *     int r = coil__waiter_park(&wt);   // 0..: what the waker said; -ECANCELED
 *
 * Whoever satisfies the wait unlinks the waiter and calls
 * coil__waiter_wake(wt, result). If the task is cancelled while parked (or
 * already was), core calls wt->cancel(wt), which must unlink it from the
 * object's list, and the park returns -ECANCELED. A waiter is woken at most
 * once: after a wake it is no longer linked, so a later cancel cannot touch
 * it, and after a cancel it is no longer linked, so no waker can find it.
 */
#ifndef COIL_CORE_WAIT_H
#define COIL_CORE_WAIT_H

#include <stdint.h>

struct coil__fiber;

struct coil__waiter {
	struct coil__fiber *fiber;		/* set by coil__waiter_park */
	struct coil__waiter *prev, *next;	/* the object's list, its own use */
	void (*cancel)(struct coil__waiter *wt); /* unlink wt from the object */
	void *data;				/* the object's use */
	int result;
};

/* Park the calling fiber on wt (already linked by the caller). Returns the
 * result given to coil__waiter_wake, or -ECANCELED (then wt->cancel ran),
 * or -EPERM outside a fiber (wt->cancel ran too). */
int coil__waiter_park(struct coil__waiter *wt);

/* The same, also ending with -ETIMEDOUT at until (CLOCK_MONOTONIC ns) if
 * that comes before the scope's deadline. */
int coil__waiter_park_until(struct coil__waiter *wt, int64_t until);

/* Wake the fiber parked on wt with result. wt must already be unlinked. It
 * runs in a later turn (never at once). */
void coil__waiter_wake(struct coil__waiter *wt, int result);

#endif
