/* coil/sync.h: fiber-aware synchronisation: mutex, condition variable,
 * semaphore, wait group, event, one-time initialisation.
 *
 * Waiting parks the calling fiber, never the thread: other fibers (and I/O)
 * run meanwhile. Waiters are served in FIFO order.
 *
 * Storage: each object is a small struct the caller embeds anywhere (a
 * global, a struct field, a fiber's stack). All-zero bytes are a valid,
 * fresh object, so static objects need no initialisation; the COIL_*_INIT
 * macros and coil_*_init() functions give the same state. Nothing is
 * allocated, so there is nothing to free; coil_*_destroy() only checks that
 * no fiber waits (-EBUSY otherwise) before the memory is reused. Never copy
 * an object that a fiber waits on.
 *
 * Cancellation: every call that can block is a cancellation point. If the
 * calling task is cancelled (before the call, or while it waits) it returns
 * -ECANCELED and has not acquired anything (exception: coil_cond_wait, which
 * always returns with the mutex held). A call that acquired (it was handed
 * the lock, a unit, the notification) returns 0 even if a cancel comes right
 * after, so nothing is lost. An enclosing scope (coil/scope.h) acts the
 * same way: its cancel gives -ECANCELED, its passed deadline -ETIMEDOUT,
 * and then nothing was acquired either.
 *
 * Common errors: -EINVAL for a NULL object, -EPERM for a blocking call (or an
 * owner-checked one) outside a fiber.
 *
 * Threads: these objects serve the fibers of one runtime, on any of its
 * workers (with several workers each call takes the object's spin lock for
 * a few instructions; with one it takes none). Plain threads and other
 * runtimes must not use them (channels made with COIL_CHAN_THREADS are the
 * way to reach fibers from outside).
 */
#ifndef COIL_SYNC_H
#define COIL_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mutex ---------------------------------------------------------------------
 * Not recursive. Unlock hands the mutex straight to the first waiter (FIFO),
 * so a waiter cannot be starved by fibers that keep locking and unlocking.
 */
typedef struct coil_mutex {
	uint64_t opaque_[4];
} coil_mutex;
#define COIL_MUTEX_INIT {{0}}

/* Make *m a fresh, unlocked mutex. Returns 0 or -EINVAL. */
COIL_API int coil_mutex_init(coil_mutex *m);

/* Check that m is unlocked and unwaited. Returns 0, -EBUSY, -EINVAL. */
COIL_API int coil_mutex_destroy(coil_mutex *m);

/*
 * Lock m, waiting while another fiber holds it.
 * Returns 0 (the caller owns m), -EDEADLK (the caller already owns it),
 * -ECANCELED or -ETIMEDOUT (not locked), -EPERM (outside a fiber), -EINVAL.
 */
COIL_API int coil_mutex_lock(coil_mutex *m);

/* Lock m if it is free. Returns 0, -EBUSY (held, also by the caller),
 * -EPERM (outside a fiber), -EINVAL. Never a cancellation point. */
COIL_API int coil_mutex_try_lock(coil_mutex *m);

/* Unlock m; the first waiter, if any, owns it now. Works in a cancelled
 * task. Returns 0, -EPERM (the caller does not own m, or outside a fiber),
 * -EINVAL. */
COIL_API int coil_mutex_unlock(coil_mutex *m);

/* ---- condition variable ----------------------------------------------------------
 * A waiter is woken only by signal or broadcast (no spurious wake-ups), but
 * another fiber may run between the wake and the re-lock: re-check the
 * predicate in a loop, as with pthreads.
 */
typedef struct coil_cond {
	uint64_t opaque_[4];
} coil_cond;
#define COIL_COND_INIT {{0}}

COIL_API int coil_cond_init(coil_cond *c);		/* 0, -EINVAL */
COIL_API int coil_cond_destroy(coil_cond *c);	/* 0, -EBUSY, -EINVAL */

/*
 * Atomically unlock m (which the caller must own) and wait on c; re-lock m
 * before returning. m is held again on every return except -EINVAL/-EPERM.
 * Returns 0 (signalled), -ECANCELED (cancelled before or while waiting:
 * then no signal was consumed; m is held), -ETIMEDOUT (the deadline of an
 * enclosing scope passed: likewise, m held), -EPERM (the caller does not
 * own m, or outside a fiber), -EINVAL. Re-locking m after the wait cannot
 * be cut short by a cancel or a deadline.
 */
COIL_API int coil_cond_wait(coil_cond *c, coil_mutex *m);

/* coil_cond_wait with an absolute CLOCK_MONOTONIC deadline (as if inside a
 * coil_scope with that deadline): -ETIMEDOUT once it passes, m held. */
COIL_API int coil_cond_wait_until(coil_cond *c, coil_mutex *m, int64_t deadline_ns);

/* Wake the first waiter, if any. Returns 0 or -EINVAL. */
COIL_API int coil_cond_signal(coil_cond *c);

/* Wake every waiter. Returns the number woken (>= 0) or -EINVAL. */
COIL_API int coil_cond_broadcast(coil_cond *c);

/* ---- semaphore -------------------------------------------------------------------
 * A count of units. Release hands a unit straight to the first waiter.
 */
typedef struct coil_sem {
	uint64_t opaque_[4];
} coil_sem;
#define COIL_SEM_INIT(n) {{0, 0, 0, (uint64_t)(n)}}

/* Make *s a semaphore with count units (at most PTRDIFF_MAX, so that
 * coil_sem_value can report it). Returns 0 or -EINVAL. */
COIL_API int coil_sem_init(coil_sem *s, size_t count);
COIL_API int coil_sem_destroy(coil_sem *s);		/* 0, -EBUSY, -EINVAL */

/* Take one unit, waiting while there is none.
 * Returns 0, -ECANCELED or -ETIMEDOUT (nothing taken), -EPERM, -EINVAL. */
COIL_API int coil_sem_acquire(coil_sem *s);

/* Take one unit if one is free. Returns 0, -EAGAIN, -EINVAL. */
COIL_API int coil_sem_try_acquire(coil_sem *s);

/* Give one unit back (to the first waiter, if any). Works anywhere on the
 * runtime's thread. Returns 0, -EOVERFLOW (count at PTRDIFF_MAX), -EINVAL. */
COIL_API int coil_sem_release(coil_sem *s);

/* The free units now (>= 0), or -EINVAL. */
COIL_API ptrdiff_t coil_sem_value(const coil_sem *s);

/* ---- wait group ------------------------------------------------------------------
 * A counter of outstanding work: add before starting, done when finished,
 * wait until it is zero (Go's sync.WaitGroup).
 */
typedef struct coil_wg {
	uint64_t opaque_[4];
} coil_wg;
#define COIL_WG_INIT {{0}}

COIL_API int coil_wg_init(coil_wg *wg);		/* 0, -EINVAL */
COIL_API int coil_wg_destroy(coil_wg *wg);	/* 0, -EBUSY, -EINVAL */

/* Add delta (may be negative) to the counter; when it reaches 0 every
 * waiter wakes. Returns 0, or -EINVAL (wg NULL, or the counter would go
 * below 0 or overflow: then it is unchanged). */
COIL_API int coil_wg_add(coil_wg *wg, int64_t delta);

/* coil_wg_add(wg, -1). */
COIL_API int coil_wg_done(coil_wg *wg);

/* Wait until the counter is 0 (at once if it is).
 * Returns 0, -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. */
COIL_API int coil_wg_wait(coil_wg *wg);

/* The counter now, or -EINVAL. */
COIL_API int64_t coil_wg_count(const coil_wg *wg);

/* ---- event -----------------------------------------------------------------------
 * Notification without data (Tokio's Notify): notify_one wakes the first
 * waiter, or, if none waits, leaves one permit that the next wait consumes
 * at once (permits do not add up: at most one is stored). notify_all wakes
 * every fiber waiting now and stores no permit.
 */
typedef struct coil_event {
	uint64_t opaque_[4];
} coil_event;
#define COIL_EVENT_INIT {{0}}

COIL_API int coil_event_init(coil_event *e);		/* 0, -EINVAL */
COIL_API int coil_event_destroy(coil_event *e);	/* 0, -EBUSY, -EINVAL */

/* Wait for a notification (returns at once, consuming it, if a permit is
 * stored). Returns 0, -ECANCELED or -ETIMEDOUT (nothing consumed), -EPERM,
 * -EINVAL. */
COIL_API int coil_event_wait(coil_event *e);

/* Wake one waiter or store the permit. Returns 0 or -EINVAL. */
COIL_API int coil_event_notify_one(coil_event *e);

/* Wake every waiter. Returns the number woken (>= 0) or -EINVAL. */
COIL_API int coil_event_notify_all(coil_event *e);

/* ---- one-time initialisation ----------------------------------------------------- */
typedef struct coil_once {
	uint64_t opaque_[4];
} coil_once;
#define COIL_ONCE_INIT {{0}}

/*
 * Run fn(arg) once per o, successfully. The first caller runs it (fn may
 * block); callers that come meanwhile wait until it returns. If fn returns
 * >= 0 the initialisation is done and every caller, then and later, gets 0.
 * If fn returns < 0 this caller gets that value, nothing is marked done, and
 * the next caller (a waiter, if any) runs fn again.
 * Returns 0, fn's negative result, -ECANCELED or -ETIMEDOUT (before running
 * fn, or while waiting), -EDEADLK (fn itself called coil_once_call on o: it would wait
 * for itself), -EPERM (outside a fiber, unless already done), -EINVAL.
 */
COIL_API int coil_once_call(coil_once *o, int (*fn)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif
