/* Mutex, condition variable, semaphore, wait group, event, once: see
 * coil/sync.h. Every wait is a struct coil__park on the waiting fiber's
 * stack, in the object's FIFO (sched/waitq.h). Whoever satisfies a wait
 * (unlock, release, notify...) transfers what is waited for right there
 * (ownership, a unit, the permit) and then wakes the waiter, so a fiber
 * that is cancelled after its wake still got what it waited for, and one
 * cancelled before it got nothing and is no longer linked. */
#include "coil/sync.h"
#include "coil/task.h"

#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "coil/scope.h"
#include "sched/waitq.h"
#include "base/panic.h"
#include "sched/sched.h"

/* The public structs are storage for these; all-zero is a fresh object. The
 * queue sits in a 16-byte slot so that the static initialisers' layout is
 * the same on 32- and 64-bit targets. */
union qslot {
	struct coil__waitq q;
	uint64_t pad_[2];
};

struct mutex {
	union qslot w;
	struct coil__fiber *owner;
};

struct cond {
	union qslot w;
};

struct sem {
	union qslot w;
	uint64_t count;
};

struct wg {
	union qslot w;
	int64_t count;
};

struct event {
	union qslot w;
	uint64_t permit;
};

enum { ONCE_NEW, ONCE_RUNNING, ONCE_DONE };

struct once {
	union qslot w;
	uint64_t state;
	struct coil__fiber *runner;	/* running fn (ONCE_RUNNING) */
};

#define FITS(priv, pub)                                                        \
	_Static_assert(sizeof(struct priv) <= sizeof(pub) &&                   \
			       alignof(struct priv) <= alignof(pub),           \
		       #priv " does not fit in " #pub)
FITS(mutex, coil_mutex);
FITS(cond, coil_cond);
FITS(sem, coil_sem);
FITS(wg, coil_wg);
FITS(event, coil_event);
FITS(once, coil_once);
_Static_assert(offsetof(struct sem, count) == 2 * sizeof(uint64_t),
	       "COIL_SEM_INIT puts the count in the third word");


/* Link a park for the calling fiber into q and park. Returns what the
 * waker gave, or < 0 (cancelled...; then it is unlinked). */
static int wait_on(struct coil__waitq *q)
{
	return coil__waitq_wait(q, INT64_MAX);
}

/* ---- mutex ------------------------------------------------------------------------ */

#define MUTEX(p) ((struct mutex *)(void *)(p))

int coil_mutex_init(coil_mutex *m)
{
	if (!m)
		return -EINVAL;
	memset(m, 0, sizeof *m);
	return 0;
}

int coil_mutex_destroy(coil_mutex *m)
{
	if (!m)
		return -EINVAL;
	struct mutex *x = MUTEX(m);
	return x->owner || !coil__waitq_empty(&x->w.q) ? -EBUSY : 0;
}

int coil_mutex_lock(coil_mutex *m)
{
	if (!m)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	struct mutex *x = MUTEX(m);
	struct coil__fiber *self = coil__self();
	if (!x->owner) {
		x->owner = self;
		return 0;
	}
	if (x->owner == self)
		return -EDEADLK;
	/* 0 means unlock made us the owner (handoff). */
	return wait_on(&x->w.q);
}

int coil_mutex_trylock(coil_mutex *m)
{
	if (!m)
		return -EINVAL;
	struct coil__fiber *self = coil__self();
	if (!self)
		return -EPERM;
	struct mutex *x = MUTEX(m);
	if (x->owner)
		return -EBUSY;
	x->owner = self;
	return 0;
}

/*
 * Hand x to its first waiter (ownership passes before it runs), or free it.
 */
static void mutex_release(struct mutex *x)
{
	struct coil__park *wt = coil__waitq_pop(&x->w.q);
	if (!wt) {
		x->owner = NULL;
		return;
	}
	x->owner = wt->fiber;
	coil__park_wake(wt, 0);
}

int coil_mutex_unlock(coil_mutex *m)
{
	if (!m)
		return -EINVAL;
	struct mutex *x = MUTEX(m);
	struct coil__fiber *self = coil__self();
	if (!self || x->owner != self)
		return -EPERM;
	mutex_release(x);
	return 0;
}

/*
 * Take x back for a condition wait, whatever happens: the caller must hold
 * it on return. The wait is shielded (sched/scope.h), so neither a cancel
 * nor a deadline can cut it short: it ends when mutex_release hands the
 * mutex over, in FIFO order.
 */
static void relock(struct mutex *x, struct coil__fiber *self)
{
	if (!x->owner) {
		x->owner = self;
		return;
	}
	coil_scope shield;
	coil_scope_enter_shielded(&shield, COIL_NO_DEADLINE);
	int r = wait_on(&x->w.q);
	coil_scope_exit(&shield);
	if (r != 0)
		coil__panic("a shielded mutex re-lock failed (%d)", r);
}

/* ---- condition variable ---------------------------------------------------------- */

#define COND(p) ((struct cond *)(void *)(p))

int coil_cond_init(coil_cond *c)
{
	if (!c)
		return -EINVAL;
	memset(c, 0, sizeof *c);
	return 0;
}

int coil_cond_destroy(coil_cond *c)
{
	if (!c)
		return -EINVAL;
	return coil__waitq_empty(&COND(c)->w.q) ? 0 : -EBUSY;
}

int coil_cond_wait(coil_cond *c, coil_mutex *m)
{
	if (!c || !m)
		return -EINVAL;
	struct coil__fiber *self = coil__self();
	struct mutex *x = MUTEX(m);
	if (!self || x->owner != self)
		return -EPERM;
	int r = coil__checkpoint();
	if (r < 0)
		return r; /* m still held: nothing was released */
	/* Link first, then release: a signal from whoever gets m next finds
	 * us. No switch happens in between (one thread, no parking). */
	struct coil__park wt = {.cancel = coil__waitq_cancel, .data = &COND(c)->w.q};
	coil__waitq_push(&COND(c)->w.q, &wt);
	mutex_release(x);
	r = coil__park_checked(&wt, INT64_MAX);
	/* r: 0 signalled; < 0 cancelled or a deadline, not linked. */
	relock(x, self);
	return r;
}

int coil_cond_wait_until(coil_cond *c, coil_mutex *m, int64_t deadline_ns)
{
	coil_scope s;
	int r = coil_scope_enter(&s, deadline_ns);
	if (r < 0)
		return r;
	r = coil_cond_wait(c, m);
	coil_scope_exit(&s);
	return r;
}

int coil_cond_signal(coil_cond *c)
{
	if (!c)
		return -EINVAL;
	struct coil__park *wt = coil__waitq_pop(&COND(c)->w.q);
	if (wt)
		coil__park_wake(wt, 0);
	return 0;
}

int coil_cond_broadcast(coil_cond *c)
{
	if (!c)
		return -EINVAL;
	int n = 0;
	struct coil__park *wt;
	while ((wt = coil__waitq_pop(&COND(c)->w.q)) != NULL) {
		coil__park_wake(wt, 0);
		n++;
	}
	return n;
}

/* ---- semaphore ------------------------------------------------------------------- */

#define SEM(p) ((struct sem *)(void *)(p))

int coil_sem_init(coil_sem *s, size_t count)
{
	/* coil_sem_value reports the count as a ptrdiff_t. */
	if (!s || count > (size_t)PTRDIFF_MAX)
		return -EINVAL;
	memset(s, 0, sizeof *s);
	SEM(s)->count = count;
	return 0;
}

int coil_sem_destroy(coil_sem *s)
{
	if (!s)
		return -EINVAL;
	return coil__waitq_empty(&SEM(s)->w.q) ? 0 : -EBUSY;
}

int coil_sem_acquire(coil_sem *s)
{
	if (!s)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	struct sem *x = SEM(s);
	/* count > 0 implies nobody waits (release hands units to waiters). */
	if (x->count > 0) {
		x->count--;
		return 0;
	}
	return wait_on(&x->w.q);
}

int coil_sem_try_acquire(coil_sem *s)
{
	if (!s)
		return -EINVAL;
	struct sem *x = SEM(s);
	if (x->count == 0)
		return -EAGAIN;
	x->count--;
	return 0;
}

int coil_sem_release(coil_sem *s)
{
	if (!s)
		return -EINVAL;
	struct sem *x = SEM(s);
	struct coil__park *wt = coil__waitq_pop(&x->w.q);
	if (wt) {
		coil__park_wake(wt, 0); /* the unit goes to it */
		return 0;
	}
	if (x->count >= SIZE_MAX || x->count >= (uint64_t)PTRDIFF_MAX)
		return -EOVERFLOW;
	x->count++;
	return 0;
}

ptrdiff_t coil_sem_value(const coil_sem *s)
{
	if (!s)
		return -EINVAL;
	return (ptrdiff_t)((const struct sem *)(const void *)s)->count;
}

/* ---- wait group ------------------------------------------------------------------ */

#define WG(p) ((struct wg *)(void *)(p))

int coil_wg_init(coil_wg *wg)
{
	if (!wg)
		return -EINVAL;
	memset(wg, 0, sizeof *wg);
	return 0;
}

int coil_wg_destroy(coil_wg *wg)
{
	if (!wg)
		return -EINVAL;
	return coil__waitq_empty(&WG(wg)->w.q) ? 0 : -EBUSY;
}

int coil_wg_add(coil_wg *wg, int64_t delta)
{
	if (!wg)
		return -EINVAL;
	struct wg *x = WG(wg);
	int64_t n;
	if (__builtin_add_overflow(x->count, delta, &n) || n < 0)
		return -EINVAL;
	x->count = n;
	if (n == 0)
		coil__waitq_wake_all(&x->w.q, 0);
	return 0;
}

int coil_wg_done(coil_wg *wg)
{
	return coil_wg_add(wg, -1);
}

int coil_wg_wait(coil_wg *wg)
{
	if (!wg)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	struct wg *x = WG(wg);
	if (x->count == 0)
		return 0;
	return wait_on(&x->w.q);
}

int64_t coil_wg_count(const coil_wg *wg)
{
	if (!wg)
		return -EINVAL;
	return ((const struct wg *)(const void *)wg)->count;
}

/* ---- event ------------------------------------------------------------------------ */

#define EVENT(p) ((struct event *)(void *)(p))

int coil_event_init(coil_event *e)
{
	if (!e)
		return -EINVAL;
	memset(e, 0, sizeof *e);
	return 0;
}

int coil_event_destroy(coil_event *e)
{
	if (!e)
		return -EINVAL;
	return coil__waitq_empty(&EVENT(e)->w.q) ? 0 : -EBUSY;
}

int coil_event_wait(coil_event *e)
{
	if (!e)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	struct event *x = EVENT(e);
	if (x->permit) {
		x->permit = 0;
		return 0;
	}
	return wait_on(&x->w.q);
}

int coil_event_notify_one(coil_event *e)
{
	if (!e)
		return -EINVAL;
	struct event *x = EVENT(e);
	struct coil__park *wt = coil__waitq_pop(&x->w.q);
	if (wt)
		coil__park_wake(wt, 0);
	else
		x->permit = 1;
	return 0;
}

int coil_event_notify_all(coil_event *e)
{
	if (!e)
		return -EINVAL;
	int n = 0;
	struct coil__park *wt;
	while ((wt = coil__waitq_pop(&EVENT(e)->w.q)) != NULL) {
		coil__park_wake(wt, 0);
		n++;
	}
	return n;
}

/* ---- once ------------------------------------------------------------------------- */

#define ONCE(p) ((struct once *)(void *)(p))

/* Waiters are woken with 0 when done, with this when fn failed: one of them
 * runs it again. */
#define ONCE_RETRY 1

int coil_once_call(coil_once *o, int (*fn)(void *arg), void *arg)
{
	if (!o || !fn)
		return -EINVAL;
	struct once *x = ONCE(o);
	if (x->state == ONCE_DONE)
		return 0;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	for (;;) {
		if (x->state == ONCE_DONE)
			return 0;
		if (x->state == ONCE_RUNNING && x->runner == coil__self())
			return -EDEADLK; /* fn calls coil_once_call on its own o */
		if (x->state == ONCE_NEW) {
			x->state = ONCE_RUNNING;
			x->runner = coil__self();
			r = fn(arg);
			x->runner = NULL;
			if (r >= 0) {
				x->state = ONCE_DONE;
				coil__waitq_wake_all(&x->w.q, 0);
				return 0;
			}
			x->state = ONCE_NEW;
			coil__waitq_wake_all(&x->w.q, ONCE_RETRY);
			return r;
		}
		/* 0: done (return without touching o again: it may be gone);
		 * ONCE_RETRY: fn failed, try to run it; < 0: cancelled. */
		r = wait_on(&x->w.q);
		if (r <= 0)
			return r;
	}
}
