/*
 * The turn (sched/turn.c): setting a worker up, running it, and yielding.
 *
 * A turn (coil__sched_tick) runs every fiber that is runnable at its start,
 * once, then polls I/O through the hook the runtime installed (no wait if
 * fibers are runnable, else until the earliest timer or the caller's
 * timeout), then expires the timers that are due. Fibers switch straight to
 * the next runnable fiber of the turn when they park; only when the turn's
 * batch is used up does control go back to the scheduler context (the
 * thread's own stack). When nothing is pending in I/O, the next round may
 * start right on the parking fiber, without the two switches through the
 * scheduler, but only when no timer is due: a fiber that keeps yielding can
 * never starve a deadline.
 */
#ifndef COIL_SCHED_TURN_H
#define COIL_SCHED_TURN_H

#include "sched/sched.h"

/* Set up w, worker index of crew (not yet running: coil__tls_worker is
 * the caller's to set). Returns 0 or -errno (its wake eventfd). */
int coil__sched_init(struct coil__worker *w, struct coil__crew *crew, unsigned index,
		     const struct coil_config *cfg, coil__poll_fn *poll, void *poll_ctx);
/* Free what w holds. Fibers whose stacks the kernel may still write into
 * (pending > 0 after a fatal poll error) keep them: leaked, not reused. */
void coil__sched_fini(struct coil__worker *w);
/* Spawn the main fiber (crew->main). Returns 0 or -ENOMEM. */
int coil__sched_start(struct coil__worker *w, coil_fn fn, void *arg);

/* One turn; see the head of this file. budget: run at most that many
 * fibers (0: all that are runnable at the start). timeout_ns: how long the poll may
 * wait when nothing is runnable (-1: until a timer or an I/O completion).
 * Returns 1 when fibers remain, 0 when all have finished (on every
 * worker), -EDEADLK when every fiber is parked on something nothing can
 * wake, or a poll's fatal error (this worker's or, with several, any
 * worker's). Runs on the scheduler context only. */
int coil__sched_tick(struct coil__worker *w, int64_t timeout_ns, unsigned budget);

/* After -EDEADLK: detach every parked fiber from what it waits on (each
 * park's cancel, with -EDEADLK), so that no object keeps a pointer into a
 * stack about to be freed. The fibers never run again. */
void coil__sched_abandon(struct coil__worker *w);

/* Entry of every fiber, on its own stack. */
void coil__fiber_entry(void *fiber);

/* Put the current fiber at the back of the run queue and run others. */
void coil__yield(struct coil__worker *w);

#endif
