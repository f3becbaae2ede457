/*
 * A thread that runs a worker: what it is set up with while it does, and
 * gives back after. coil_run's workers (run.c) hold it for their turns;
 * a coil_loop's owner thread (loop.c) from coil_loop_new to coil_loop_free.
 *
 * Entered, the thread has its stack-overflow reporter asking the worker
 * which fiber runs (fiber/guard.h), SIGPIPE blocked and timer slack of 1 ns
 * (base/threadenv.h: no coil call raises SIGPIPE; a wait ends when its
 * timer is due, not 50 us later). Leaving restores each in reverse order,
 * and only what entering did, so a failed enter is left the same way.
 *
 * Binding is apart: it says which worker and I/O layer the coil calls on
 * this thread reach now. A coil_run worker is bound for all its turns; a
 * coil_loop only inside a call of its own (the thread is the embedder's in
 * between).
 */
#ifndef COIL_RUNTIME_THREAD_H
#define COIL_RUNTIME_THREAD_H

#include <stdbool.h>

#include "base/threadenv.h"
#include "io/io.h"
#include "sched/sched.h"

struct coil__thread_state {
	struct coil__sigpipe_guard sg;
	long slack;
	bool guard;			/* the overflow reporter is set up */
	bool entered;			/* all of it */
};

/* Set up the calling thread to run w. Returns 0 or -errno (the alternate
 * signal stack could not be had); call coil__thread_leave either way. */
int coil__thread_enter(struct coil__thread_state *ts, struct coil__worker *w);
void coil__thread_leave(struct coil__thread_state *ts);

/* Coil calls on this thread reach w and io from now on (NULL, NULL: none).
 * Inline: a coil_loop binds and unbinds at every tick. */
static inline void coil__thread_bind(struct coil__worker *w, struct coil__io *io)
{
	coil__tls_worker = w;
	coil__tls_io = io;
}

#endif
