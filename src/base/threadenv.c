/* See threadenv.h. */
#include "base/threadenv.h"

#ifdef __wasi__
void coil__sigpipe_block(struct coil__sigpipe_guard *g)
{
	g->was_pending = false;
}

void coil__sigpipe_restore(struct coil__sigpipe_guard *g)
{
	(void)g;
}

long coil__slack_tighten(void)
{
	return 0;
}

void coil__slack_restore(long old)
{
	(void)old;
}
#else
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>


void coil__sigpipe_block(struct coil__sigpipe_guard *g)
{
	sigset_t pipe_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

void coil__sigpipe_restore(struct coil__sigpipe_guard *g)
{
	sigset_t pipe_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (!g->was_pending) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE)) {
			struct timespec zero = {0, 0};
			sigtimedwait(&pipe_set, NULL, &zero);
		}
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/*
 * The worker's waits end at timers that are already late by the time they
 * are due: the thread's default timer slack (50 us) would add up to that
 * much again to every epoll_pwait2/ppoll/io_uring wait. 1 ns while the
 * runtime runs (measured here: an idle 1 ms sleep on epoll woke 71 us late
 * with the default slack); the caller's slack comes back after.
 */
long coil__slack_tighten(void)
{
	long old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (old > 1)
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	return old;
}

void coil__slack_restore(long old)
{
	if (old > 1)
		prctl(PR_SET_TIMERSLACK, (unsigned long)old, 0, 0, 0);
}
#endif
