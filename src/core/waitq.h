/*
 * A FIFO of struct coil__waiter (core/wait.h), linked through the waiter's
 * own prev/next, and the entry check shared by the blocking calls of
 * channels, sync objects and groups.
 *
 * Objects in src/core/sync.c and group.c keep one or more of these queues:
 * a blocking call links a waiter on its stack at the tail and parks on it
 * (coil__waiter_park); whoever satisfies the wait pops it (or removes it) and
 * wakes it; the waiter's cancel callback removes it. Every operation is O(1).
 * Single-threaded: all of it runs on the runtime's one thread.
 */
#ifndef COIL_CORE_WAITQ_H
#define COIL_CORE_WAITQ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/wait.h"
#include "core/worker.h"

struct coil__waitq {
	struct coil__waiter *head, *tail;
};

static inline bool coil__waitq_empty(const struct coil__waitq *q)
{
	return q->head == NULL;
}

static inline void coil__waitq_push(struct coil__waitq *q, struct coil__waiter *wt)
{
	wt->next = NULL;
	wt->prev = q->tail;
	if (q->tail)
		q->tail->next = wt;
	else
		q->head = wt;
	q->tail = wt;
}

static inline void coil__waitq_remove(struct coil__waitq *q, struct coil__waiter *wt)
{
	if (wt->prev)
		wt->prev->next = wt->next;
	else
		q->head = wt->next;
	if (wt->next)
		wt->next->prev = wt->prev;
	else
		q->tail = wt->prev;
	wt->prev = wt->next = NULL;
}

static inline struct coil__waiter *coil__waitq_pop(struct coil__waitq *q)
{
	struct coil__waiter *wt = q->head;
	if (wt)
		coil__waitq_remove(q, wt);
	return wt;
}

/* Wake every waiter of q with result, in FIFO order. */
static inline void coil__waitq_wake_all(struct coil__waitq *q, int result)
{
	struct coil__waiter *wt;
	while ((wt = coil__waitq_pop(q)) != NULL)
		coil__waiter_wake(wt, result);
}

/*
 * The entry check of every blocking call in chan.c, sync.c and group.c:
 * -EPERM outside a fiber, -ECANCELED if the calling task is cancelled (the
 * call does nothing then, even if it could have completed at once: each
 * blocking call is a cancellation point, as coil_sleep() and I/O are).
 * Returns 0 when the call may go on.
 *
 * This is the one place where these objects look at the task's cancel
 * state besides coil__waiter_park() itself: shielding and deadline scopes
 * hook in here (a shielded section would return 0; a passed deadline
 * -ETIMEDOUT).
 */
static inline int coil__checkpoint(void)
{
	struct coil__fiber *self = coil__self();
	if (!self)
		return -EPERM;
	int64_t deadline;
	return coil__fiber_may_block(self, &deadline);
}

#endif
