/*
 * A worker's timers: the deadlines of its parked fibers (sleeps included).
 * Most are timeouts that never fire (an idle connection's, a write's), set
 * seconds ahead and removed a moment later when the wait ends. Those go on
 * a list, at O(1) to add and remove; only deadlines near enough to matter
 * sit in the indexed heap (base/heap.h), whose every add and remove walks
 * and writes log n nodes on as many fiber stacks. A sweep moves list
 * entries into the heap once their deadline comes within COIL__TIMER_FAR_NS,
 * and runs no later than COIL__TIMER_LEAD_NS before the earliest of them:
 * no deadline waits for it, and with n far timers the sweeps cost O(n)
 * at most once a second.
 *
 * Equal deadlines still end in the order they were armed: an entry keeps
 * the heap's sequence number it took when it was armed.
 */
#ifndef COIL_SCHED_TIMERS_H
#define COIL_SCHED_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/heap.h"

#define COIL__TIMER_FAR_NS (2 * (int64_t)1000000000)
#define COIL__TIMER_LEAD_NS ((int64_t)1000000000)

struct coil__timer {
	struct coil__heap_node near;	 /* key: the deadline; slot != 0: in the heap */
	struct coil__timer *prev, *next; /* on the far list */
	bool far;			 /* on the far list */
};

struct coil__timers {
	struct coil__heap near;
	struct coil__timer *far; /* the far list's first entry */
	size_t nfar;
	int64_t far_min; /* no far deadline is earlier (INT64_MAX: none) */
	int64_t seen;	 /* the clock at the last expiry: "far" is from here */
};

void coil__timers_init(struct coil__timers *t);
void coil__timers_fini(struct coil__timers *t);

/* Arm tm for deadline (not INT64_MAX). Returns 0 or -ENOMEM. */
static inline int coil__timer_arm(struct coil__timers *t, struct coil__timer *tm, int64_t deadline)
{
	/* A stale "seen" makes a deadline look farther than it is: the
	 * sweep, bounded by far_min, still moves it in time. */
	if (deadline - t->seen < COIL__TIMER_FAR_NS)
		return coil__heap_push(&t->near, &tm->near, deadline);
	tm->near.key = deadline;
	tm->near.seq = t->near.next_seq++;
	tm->near.slot = 0;
	tm->far = true;
	tm->prev = NULL;
	tm->next = t->far;
	if (t->far)
		t->far->prev = tm;
	t->far = tm;
	t->nfar++;
	if (deadline < t->far_min)
		t->far_min = deadline;
	return 0;
}

/* Disarm tm if armed (a no-op otherwise). */
static inline void coil__timer_disarm(struct coil__timers *t, struct coil__timer *tm)
{
	if (tm->far) {
		if (tm->prev)
			tm->prev->next = tm->next;
		else
			t->far = tm->next;
		if (tm->next)
			tm->next->prev = tm->prev;
		tm->far = false;
		if (--t->nfar == 0)
			t->far_min = INT64_MAX;
	} else if (tm->near.slot) {
		coil__heap_remove(&t->near, &tm->near);
	}
}

static inline bool coil__timer_armed(const struct coil__timer *tm)
{
	return tm->far || tm->near.slot != 0;
}

static inline bool coil__timers_empty(const struct coil__timers *t)
{
	return t->near.n == 0 && t->nfar == 0;
}

/* When the worker must next look at its timers (INT64_MAX: never): the
 * heap's first deadline, or the far list's sweep. */
static inline int64_t coil__timers_next(const struct coil__timers *t)
{
	int64_t next = coil__heap_min_key(&t->near);
	if (t->nfar && t->far_min - COIL__TIMER_LEAD_NS < next)
		next = t->far_min - COIL__TIMER_LEAD_NS;
	return next;
}

/* At now: sweep the far list if due, then take the first timer of the heap
 * that is due, disarmed (NULL: none). -ENOMEM from a sweep's move is
 * reported through *nomem (the timer is disarmed: its wait must end). */
struct coil__timer *coil__timers_take_due(struct coil__timers *t, int64_t now,
					  struct coil__timer **nomem);

#endif
