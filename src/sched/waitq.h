/*
 * A FIFO of parks (sched/park.h), linked through the park's own prev/next:
 * the wait list of a channel, a lock, a group, and of the fibers waiting for
 * room in the ring. A blocking call links a park on its stack at the tail
 * and parks on it; whoever satisfies the wait pops it (or removes it) and
 * wakes it; the park's cancel removes it. Every operation is O(1).
 *
 * NULL-terminated rather than a sentinel ring (base/list.h): the public
 * sync objects are plain storage whose all-zero state must be a fresh,
 * valid object (static initialisers), so an empty queue is two NULLs.
 */
#ifndef COIL_SCHED_WAITQ_H
#define COIL_SCHED_WAITQ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/spin.h"
#include "sched/park.h"
#include "sched/sched.h"

struct coil__waitq {
	struct coil__park *head, *tail;
};

static inline bool coil__waitq_empty(const struct coil__waitq *q)
{
	return q->head == NULL;
}

static inline void coil__waitq_push(struct coil__waitq *q, struct coil__park *p)
{
	p->next = NULL;
	p->prev = q->tail;
	if (q->tail)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
}

static inline void coil__waitq_remove(struct coil__waitq *q, struct coil__park *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		q->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		q->tail = p->prev;
	p->prev = p->next = NULL;
}

static inline struct coil__park *coil__waitq_pop(struct coil__waitq *q)
{
	struct coil__park *p = q->head;
	if (p)
		coil__waitq_remove(q, p);
	return p;
}

/* Wake every park of q with result, in FIFO order. */
static inline void coil__waitq_wake_all(struct coil__waitq *q, int result)
{
	struct coil__park *p;
	while ((p = coil__waitq_pop(q)) != NULL)
		coil__park_wake(p, result);
}

/* The cancel of a park that sits in the waitq p->data: unlink it and wake
 * it with the code. */
void coil__waitq_cancel(struct coil__park *p, int code);

/* Whether p is in q (O(1)): objects that cross threads ask under their
 * lock, since a waker on another thread may have unlinked it. */
static inline bool coil__waitq_linked(const struct coil__waitq *q, const struct coil__park *p)
{
	return p->prev != NULL || q->head == p;
}

/*
 * A waitq with its object's lock: the wait list of a mutex, a semaphore,
 * a group... With several workers, every look at the object and its queue
 * is made under the lock (coil__lockq_on says whether to take it), and the
 * park's cancel unlinks it only if it is still linked (else a waker on
 * another thread has taken it, and its wake is on the way).
 */
struct coil__lockq {
	struct coil__waitq q;
	uint32_t lock;
	uint32_t spare;			/* the object's own use */
};

/* Whether objects take their locks here: the runtime has several workers. */
static inline bool coil__lockq_on(void)
{
	struct coil__worker *w = coil__tls_worker;
	return w && w->multi;
}

/* The cancel of a park in the lockq p->data. */
void coil__lockq_cancel(struct coil__park *p, int code);

/* With lq's lock held (if lk): link a park for the calling fiber at the
 * tail, drop the lock, park until woken or until / the scope's deadline.
 * Returns as coil__waitq_wait. */
int coil__lockq_wait(struct coil__lockq *lq, bool lk, int64_t until);

/* Link a park for the calling fiber at the tail of q and park until woken
 * or until (CLOCK_MONOTONIC ns, INT64_MAX: none) or the scope's deadline.
 * Returns what the waker gave, or -ECANCELED / -ETIMEDOUT / -ENOMEM (then
 * it is not linked). Must run on a fiber. */
int coil__waitq_wait(struct coil__waitq *q, int64_t until);

/*
 * The entry check of every blocking call in chan.c, sync.c and group.c:
 * -EPERM outside a fiber, -ECANCELED if the calling task is cancelled,
 * -ETIMEDOUT past a scope's deadline (the call does nothing then, even if
 * it could have completed at once: each blocking call is a cancellation
 * point, as coil_sleep() and I/O are). Returns 0 when the call may go on,
 * with *deadline the scope's (INT64_MAX: none) for a park that follows
 * with no switch in between.
 */
static inline int coil__checkpoint_until(int64_t *deadline)
{
	struct coil__fiber *self = coil__self();
	if (!self)
		return -EPERM;
	return coil__fiber_may_block(self, deadline);
}

/* The same, when the caller will not park with the deadline itself. */
static inline int coil__checkpoint(void)
{
	int64_t deadline;
	return coil__checkpoint_until(&deadline);
}

#endif
