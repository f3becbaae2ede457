/*
 * coil_run: a worker on the calling thread, its I/O layer, and the main
 * fiber, driven by a loop of turns until every fiber has finished.
 */
#include "coil/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#include "base/config.h"
#include "fiber/guard.h"
#include "io/io.h"
#include "sched/sched.h"

struct runtime {
	struct coil__config cfg;
	struct coil__worker w;
	struct coil__io io;
};

static bool guard_lookup(void *ctx, const struct coil__stack **stack, uint64_t *task_id)
{
	struct coil__worker *w = ctx;
	struct coil__fiber *f = w->current;
	if (!f || !f->stack)
		return false;
	*stack = f->stack;
	*task_id = coil__task_id(f);
	return true;
}

/*
 * No coil call may raise SIGPIPE: sockets are written with MSG_NOSIGNAL,
 * but a write(2) to a pipe or a socket through a file op has no such flag.
 * The worker thread blocks SIGPIPE while it runs (the write then fails with
 * EPIPE), and drops a SIGPIPE that became pending meanwhile before the
 * caller's mask comes back, unless one was pending before.
 */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
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
static long slack_tighten(void)
{
	long old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (old > 1)
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	return old;
}

static void slack_restore(long old)
{
	if (old > 1)
		prctl(PR_SET_TIMERSLACK, (unsigned long)old, 0, 0, 0);
}

int coil_run(const struct coil_config *cfg, coil_fn fn, void *arg, void **result)
{
	if (!fn)
		return -EINVAL;
	if (coil__tls_worker)
		return -EBUSY;
	struct runtime *rt = calloc(1, sizeof *rt);
	if (!rt)
		return -ENOMEM;
	int r = coil__config_load(&rt->cfg, cfg);
	if (r < 0)
		goto out_free;
	struct coil__worker *w = &rt->w;
	coil__sched_init(w, &rt->cfg.pub, coil__io_poll, &rt->io);
	r = coil__io_init(&rt->io, w, &rt->cfg);
	if (r < 0)
		goto out_sched;
	r = coil__guard_thread_start(guard_lookup, w);
	if (r < 0)
		goto out_io;

	struct sigpipe_guard sg;
	sigpipe_block(&sg);
	long slack = slack_tighten();
	coil__tls_worker = w;
	coil__tls_io = &rt->io;
	r = coil__sched_start(w, fn, arg);
	if (r == 0) {
		while ((r = coil__sched_tick(w, -1)) > 0) {
		}
		if (r == -EDEADLK)
			coil__sched_abandon(w);
		if (w->main->state == COIL__FIBER_DONE && result)
			*result = w->main->result;
	}
	coil__tls_worker = NULL;
	coil__tls_io = NULL;
	slack_restore(slack);
	sigpipe_restore(&sg);
	coil__guard_thread_stop();
out_io:
	coil__io_fini(&rt->io);
out_sched:
	coil__sched_fini(w);
out_free:
	free(rt);
	return r;
}
