/*
 * What a thread running coil changes while it runs, and gives back: SIGPIPE
 * blocked, timer slack tightened. Taken and given back by
 * runtime/thread.c, for coil_run's workers and a coil_loop's owner thread.
 */
#ifndef COIL_BASE_THREADENV_H
#define COIL_BASE_THREADENV_H

#include <stdbool.h>
#ifndef __wasi__
#include <signal.h>
#endif

/*
 * No coil call may raise SIGPIPE: sockets are written with MSG_NOSIGNAL,
 * but a write(2) to a pipe or a socket through a file op has no such flag.
 * The worker thread blocks SIGPIPE while it runs (the write then fails with
 * EPIPE), and drops a SIGPIPE that became pending meanwhile before the
 * caller's mask comes back, unless one was pending before.
 */
struct coil__sigpipe_guard {
#ifndef __wasi__
	sigset_t old;
#endif
	bool was_pending;
};

/* WASI has no signals (a broken pipe is EPIPE) and no timer slack: the
 * four calls do nothing there. */
void coil__sigpipe_block(struct coil__sigpipe_guard *g);
void coil__sigpipe_restore(struct coil__sigpipe_guard *g);

/* Timer slack to 1 ns; returns the old value for coil__slack_restore. */
long coil__slack_tighten(void);
void coil__slack_restore(long old);

#endif
