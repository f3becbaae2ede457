/* Mutex, condition variable, semaphore, wait group, event, once: see
 * coil/sync.h. Every wait is a struct coil__park on the waiting fiber's
 * stack, in the object's FIFO (sched/waitq.h, a lockq: with several workers
 * every step is made under the object's lock). Whoever satisfies a wait
 * (unlock, release, notify...) transfers what is waited for right there
 * (ownership, a unit, the permit) and then wakes the waiter, so a fiber
 * that is cancelled after its wake still got what it waited for, and one
 * cancelled before it got nothing and is no longer linked. */
#include "coil/sync.h"
#include "coil/task.h"

#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "base/panic.h"
#include "base/spin.h"
#include "coil/time.h"
#include "sched/scope.h"
#include "sched/sched.h"
#include "sched/waitq.h"

/* The public structs are storage for these; all-zero is a fresh object. The
 * queue and its lock sit in a 24-byte slot so that the static initialisers'
 * layout is the same on 32- and 64-bit targets. */
union qslot {
	struct coil__lockq lq;
	uint64_t pad_[3];
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
	union qslot w;			/* state in w.lq.spare */
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
_Static_assert(offsetof(struct sem, count) == 3 * sizeof(uint64_t),
	       "COIL_SEM_INIT puts the count in the fourth word");

#define LOCK(x, lk) coil__spin_lock_if(&(x)->w.lq.lock, lk)
#define UNLOCK(x, lk) coil__spin_unlock_if(&(x)->w.lq.lock, lk)

/* With x's lock held (if lk): link a park for the calling fiber, drop the
 * lock and park. Returns what the waker gave, or < 0 (cancelled...; then
 * it is unlinked). */
#define WAIT_ON(x, lk) coil__lockq_wait(&(x)->w.lq, lk, INT64_MAX)

/* Whether nobody waits (for destroy). */
static bool idle(union qslot *w)
{
	bool lk = coil__lockq_on();
	coil__spin_lock_if(&w->lq.lock, lk);
	bool empty = coil__waitq_empty(&w->lq.q);
	coil__spin_unlock_if(&w->lq.lock, lk);
	return empty;
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
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	bool busy = x->owner || !coil__waitq_empty(&x->w.lq.q);
	UNLOCK(x, lk);
	return busy ? -EBUSY : 0;
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
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	if (!x->owner) {
		x->owner = self;
		UNLOCK(x, lk);
		return 0;
	}
	if (x->owner == self) {
		UNLOCK(x, lk);
		return -EDEADLK;
	}
	/* 0 means unlock made us the owner (handoff). */
	return WAIT_ON(x, lk);
}

int coil_mutex_try_lock(coil_mutex *m)
{
	if (!m)
		return -EINVAL;
	struct coil__fiber *self = coil__self();
	if (!self)
		return -EPERM;
	struct mutex *x = MUTEX(m);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	int r = -EBUSY;
	if (!x->owner) {
		x->owner = self;
		r = 0;
	}
	UNLOCK(x, lk);
	return r;
}

/* Hand x to its first waiter (ownership passes before it runs), or free
 * it. Under x's lock. */
static void mutex_release(struct mutex *x)
{
	struct coil__park *wt = coil__waitq_pop(&x->w.lq.q);
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
	if (!self)
		return -EPERM;
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	int r = -EPERM;
	if (x->owner == self) {
		mutex_release(x);
		r = 0;
	}
	UNLOCK(x, lk);
	return r;
}

/*
 * Take x back for a condition wait, whatever happens: the caller must hold
 * it on return. The wait is shielded (sched/scope.h), so neither a cancel
 * nor a deadline can cut it short: it ends when mutex_release hands the
 * mutex over, in FIFO order.
 */
static void relock(struct mutex *x, struct coil__fiber *self)
{
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	if (!x->owner) {
		x->owner = self;
		UNLOCK(x, lk);
		return;
	}
	struct coil__scope shield;
	coil__shield_enter(&shield);
	int r = WAIT_ON(x, lk);
	coil__shield_exit(&shield);
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
	return idle(&COND(c)->w) ? 0 : -EBUSY;
}

/* coil_cond_wait with a deadline (INT64_MAX: none) besides the scopes'. */
static int cond_wait(coil_cond *c, coil_mutex *m, int64_t until)
{
	if (!c || !m)
		return -EINVAL;
	struct coil__fiber *self = coil__self();
	struct mutex *x = MUTEX(m);
	if (!self)
		return -EPERM;
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	bool mine = x->owner == self;
	UNLOCK(x, lk);
	if (!mine)
		return -EPERM;
	int r = coil__checkpoint();
	if (r == 0 && until != INT64_MAX && until <= coil_now())
		r = -ETIMEDOUT;
	if (r < 0)
		return r; /* m still held: nothing was released */
	/* Link first, then release: a signal from whoever gets m next finds
	 * us. */
	struct cond *cv = COND(c);
	struct coil__park wt = {.cancel = coil__lockq_cancel, .data = &cv->w.lq, .fiber = self};
	LOCK(cv, lk);
	coil__waitq_push(&cv->w.lq.q, &wt);
	UNLOCK(cv, lk);
	LOCK(x, lk);
	mutex_release(x);
	UNLOCK(x, lk);
	r = coil__park_checked(&wt, until);
	/* r: 0 signalled; < 0 cancelled or a deadline, not linked. */
	relock(x, self);
	return r;
}

int coil_cond_wait(coil_cond *c, coil_mutex *m)
{
	return cond_wait(c, m, INT64_MAX);
}

int coil_cond_wait_until(coil_cond *c, coil_mutex *m, int64_t deadline_ns)
{
	return cond_wait(c, m, deadline_ns);
}

/* Wake up to max waiters of x (in FIFO order); returns how many. */
static int wake_some(union qslot *w, int max, int result)
{
	bool lk = coil__lockq_on();
	coil__spin_lock_if(&w->lq.lock, lk);
	int n = 0;
	struct coil__park *wt;
	while (n < max && (wt = coil__waitq_pop(&w->lq.q)) != NULL) {
		coil__park_wake(wt, result);
		n++;
	}
	coil__spin_unlock_if(&w->lq.lock, lk);
	return n;
}

int coil_cond_signal(coil_cond *c)
{
	if (!c)
		return -EINVAL;
	wake_some(&COND(c)->w, 1, 0);
	return 0;
}

int coil_cond_broadcast(coil_cond *c)
{
	if (!c)
		return -EINVAL;
	return wake_some(&COND(c)->w, INT32_MAX, 0);
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
	return idle(&SEM(s)->w) ? 0 : -EBUSY;
}

int coil_sem_acquire(coil_sem *s)
{
	if (!s)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	struct sem *x = SEM(s);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	/* count > 0 implies nobody waits (release hands units to waiters). */
	if (x->count > 0) {
		x->count--;
		UNLOCK(x, lk);
		return 0;
	}
	return WAIT_ON(x, lk);
}

int coil_sem_try_acquire(coil_sem *s)
{
	if (!s)
		return -EINVAL;
	struct sem *x = SEM(s);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	int r = -EAGAIN;
	if (x->count > 0) {
		x->count--;
		r = 0;
	}
	UNLOCK(x, lk);
	return r;
}

int coil_sem_release(coil_sem *s)
{
	if (!s)
		return -EINVAL;
	struct sem *x = SEM(s);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	int r = 0;
	struct coil__park *wt = coil__waitq_pop(&x->w.lq.q);
	if (wt)
		coil__park_wake(wt, 0); /* the unit goes to it */
	else if (x->count >= SIZE_MAX || x->count >= (uint64_t)PTRDIFF_MAX)
		r = -EOVERFLOW;
	else
		x->count++;
	UNLOCK(x, lk);
	return r;
}

ptrdiff_t coil_sem_value(const coil_sem *s)
{
	if (!s)
		return -EINVAL;
	struct sem *x = SEM((coil_sem *)s);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	ptrdiff_t v = (ptrdiff_t)x->count;
	UNLOCK(x, lk);
	return v;
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
	return idle(&WG(wg)->w) ? 0 : -EBUSY;
}

int coil_wg_add(coil_wg *wg, int64_t delta)
{
	if (!wg)
		return -EINVAL;
	struct wg *x = WG(wg);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	int64_t n;
	int r = 0;
	if (__builtin_add_overflow(x->count, delta, &n) || n < 0) {
		r = -EINVAL;
	} else {
		x->count = n;
		if (n == 0)
			coil__waitq_wake_all(&x->w.lq.q, 0);
	}
	UNLOCK(x, lk);
	return r;
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
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	if (x->count == 0) {
		UNLOCK(x, lk);
		return 0;
	}
	return WAIT_ON(x, lk);
}

int64_t coil_wg_count(const coil_wg *wg)
{
	if (!wg)
		return -EINVAL;
	struct wg *x = WG((coil_wg *)wg);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	int64_t n = x->count;
	UNLOCK(x, lk);
	return n;
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
	return idle(&EVENT(e)->w) ? 0 : -EBUSY;
}

int coil_event_wait(coil_event *e)
{
	if (!e)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	struct event *x = EVENT(e);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	if (x->permit) {
		x->permit = 0;
		UNLOCK(x, lk);
		return 0;
	}
	return WAIT_ON(x, lk);
}

int coil_event_notify_one(coil_event *e)
{
	if (!e)
		return -EINVAL;
	struct event *x = EVENT(e);
	bool lk = coil__lockq_on();
	LOCK(x, lk);
	struct coil__park *wt = coil__waitq_pop(&x->w.lq.q);
	if (wt)
		coil__park_wake(wt, 0);
	else
		x->permit = 1;
	UNLOCK(x, lk);
	return 0;
}

int coil_event_notify_all(coil_event *e)
{
	if (!e)
		return -EINVAL;
	return wake_some(&EVENT(e)->w, INT32_MAX, 0);
}

/* ---- once ------------------------------------------------------------------------- */

#define ONCE(p) ((struct once *)(void *)(p))
#define STATE(x) ((x)->w.lq.spare)

/* Waiters are woken with 0 when done, with this when fn failed: one of them
 * runs it again. */
#define ONCE_RETRY 1

int coil_once_call(coil_once *o, int (*fn)(void *arg), void *arg)
{
	if (!o || !fn)
		return -EINVAL;
	struct once *x = ONCE(o);
	if (__atomic_load_n(&STATE(x), __ATOMIC_ACQUIRE) == ONCE_DONE)
		return 0;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	struct coil__fiber *self = coil__self();
	bool lk = coil__lockq_on();
	for (;;) {
		LOCK(x, lk);
		uint32_t state = STATE(x);
		if (state == ONCE_DONE) {
			UNLOCK(x, lk);
			return 0;
		}
		if (state == ONCE_RUNNING && x->runner == self) {
			UNLOCK(x, lk);
			return -EDEADLK; /* fn calls coil_once_call on its own o */
		}
		if (state == ONCE_NEW) {
			__atomic_store_n(&STATE(x), ONCE_RUNNING, __ATOMIC_RELAXED);
			x->runner = self;
			UNLOCK(x, lk);
			r = fn(arg);
			LOCK(x, lk);
			x->runner = NULL;
			if (r >= 0) {
				__atomic_store_n(&STATE(x), ONCE_DONE, __ATOMIC_RELEASE);
				coil__waitq_wake_all(&x->w.lq.q, 0);
				UNLOCK(x, lk);
				return 0;
			}
			__atomic_store_n(&STATE(x), ONCE_NEW, __ATOMIC_RELAXED);
			coil__waitq_wake_all(&x->w.lq.q, ONCE_RETRY);
			UNLOCK(x, lk);
			return r;
		}
		/* 0: done (return without touching o again: it may be gone);
		 * ONCE_RETRY: fn failed, try to run it; < 0: cancelled. */
		r = WAIT_ON(x, lk);
		if (r <= 0)
			return r;
	}
}
