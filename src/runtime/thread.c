/* See thread.h. */
#include "runtime/thread.h"

#include <string.h>

#include "fiber/guard.h"
#include "sched/fiber.h"

/* For the overflow reporter, from its signal handler: only reads. */
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

int coil__thread_enter(struct coil__thread_state *ts, struct coil__worker *w)
{
	memset(ts, 0, sizeof *ts);
	int r = coil__guard_thread_start(guard_lookup, w);
	if (r < 0)
		return r;
	ts->guard = true;
	coil__sigpipe_block(&ts->sg);
	ts->slack = coil__slack_tighten();
	ts->entered = true;
	return 0;
}

void coil__thread_leave(struct coil__thread_state *ts)
{
	if (ts->entered) {
		coil__slack_restore(ts->slack);
		coil__sigpipe_restore(&ts->sg);
		ts->entered = false;
	}
	if (ts->guard) {
		coil__guard_thread_stop();
		ts->guard = false;
	}
}
