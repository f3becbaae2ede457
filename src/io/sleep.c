/* Sleeping (coil_sleep, coil_sleep_until: coil/time.h). A sleep is a park
 * with a deadline in sched's timer heap (the backend's wait is bounded by
 * the earliest: no syscall, no kernel timer per sleep), or, on a backend
 * with timer ops when coil_config.coalesce_sleeps is off, one timer op of
 * its own (io_uring: an absolute IORING_OP_TIMEOUT; for the lab). Same
 * results and codes. */
#include "coil/time.h"

#include <errno.h>

#include "coil/task.h"
#include "io/backend.h"
#include "io/io.h"
#include "io/op.h"

/* A sleep is linked nowhere: only its deadline or a cancel ends it. */
static void sleep_cancel(struct coil__park *p, int code)
{
	coil__park_wake(p, code);
}

int coil_sleep_until(int64_t deadline_ns)
{
	struct coil__io *io = coil__tls_io;
	struct coil__fiber *self = coil__self();
	if (!self)
		return -EPERM;
	int64_t scope_deadline;
	int r = coil__fiber_may_block(self, &scope_deadline);
	if (r < 0)
		return r;
	if (deadline_ns <= coil_now())
		return coil_task_yield();
	/* A scope deadline before ours ends the sleep early, as -ETIMEDOUT. */
	int64_t until = deadline_ns < scope_deadline ? deadline_ns : scope_deadline;
	if (io->cfg->pub.coalesce_sleeps || !io->backend->timer_ops) {
		struct coil__park p = {.cancel = sleep_cancel};
		r = coil__park(&p, until);
		if (r == -ETIMEDOUT && until == deadline_ns)
			return 0; /* our own deadline: the normal end */
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
		struct coil__fiber *self = coil__self();
		if (!self)
			return -EPERM;
		int64_t d;
		int r = coil__fiber_may_block(self, &d);
		if (r < 0)
			return r;
		return coil_task_yield();
	}
	int64_t now = coil_now();
	int64_t deadline = ns > INT64_MAX - now ? INT64_MAX : now + ns;
	return coil_sleep_until(deadline);
}
