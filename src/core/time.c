/* The monotonic clock and sleeping. */
#include "coil/time.h"

#include <errno.h>
#include <time.h>

#include "coil/task.h"
#include "core/op.h"
#include "core/wait.h"
#include "core/worker.h"

int64_t coil_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * COIL_NSEC_PER_SEC + ts.tv_nsec;
}

static void no_unlink(struct coil__waiter *wt)
{
	(void)wt; /* a sleep is linked nowhere: only its timer can end it */
}

int coil_sleep_until(int64_t deadline_ns)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	int64_t scope_deadline;
	int r = coil__fiber_may_block(w->current, &scope_deadline);
	if (r < 0)
		return r;
	if (deadline_ns <= coil_now())
		return coil_task_yield();
	/* A scope deadline before ours ends the sleep early, as -ETIMEDOUT. */
	int64_t until = deadline_ns < scope_deadline ? deadline_ns : scope_deadline;
	if (w->cfg.coalesce_sleeps) {
		/* A core timer: the worker's wait is bounded by the earliest
		 * one (one io_uring_enter with a timeout, no SQE per sleep). */
		struct coil__waiter wt = {.cancel = no_unlink};
		r = coil__waiter_park_until(&wt, deadline_ns);
		if (r == -ETIMEDOUT && deadline_ns <= scope_deadline)
			return 0;
		return r;
	}
	struct coil__op op = {.code = COIL__OP_TIMEOUT};
	op.u.timeout.deadline = until;
	r = coil__op_run(&op);
	/* The timer firing is the normal way for a sleep to end. */
	if (r == -ETIME)
		return until < deadline_ns ? -ETIMEDOUT : 0;
	return r;
}

int coil_sleep(int64_t ns)
{
	if (ns <= 0) {
		struct coil__worker *w = coil__tls_worker;
		if (!w || !w->current)
			return -EPERM;
		int64_t d;
		int r = coil__fiber_may_block(w->current, &d);
		if (r < 0)
			return r;
		return coil_task_yield();
	}
	int64_t now = coil_now();
	int64_t deadline = ns > INT64_MAX - now ? INT64_MAX : now + ns;
	return coil_sleep_until(deadline);
}
