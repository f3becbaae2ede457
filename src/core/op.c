/* Running one op on the calling fiber, and its completion. */
#include <errno.h>

#include "core/op.h"
#include "core/worker.h"

int coil__op_run(struct coil__op *op)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__fiber *self = w->current;
	for (;;) {
		if (self->cancelled)
			return -ECANCELED;
		/* Bounded in-flight ops: wait for room rather than overflow
		 * the completion queue. */
		if (!w->inflight_max || w->inflight < w->inflight_max) {
			op->fiber = self;
			op->gen = ++w->op_gen;
			op->res = 0;
			op->backend_state = 0;
			int r = w->backend->submit(w, op);
			if (r == 0)
				break;
			if (r != -EAGAIN)
				return r;
		}
		self->wait = COIL__WAIT_ROOM;
		coil__queue_push(&w->room_waiters, self);
		coil__park(w);
	}
	w->inflight++;
	self->wait = COIL__WAIT_OP;
	self->wait_op = op;
	coil__park(w);
	self->wait = COIL__WAIT_NONE;
	self->wait_op = NULL;
	return op->res;
}

void coil__op_complete(struct coil__worker *w, struct coil__op *op, int res)
{
	struct coil__fiber *f = op->fiber;
	if (f->state != COIL__FIBER_PARKED || f->wait_op != op)
		coil__panic("completion for an op its fiber is not waiting on (op %p)", (void *)op);
	op->res = res;
	w->inflight--;
	coil__wake(w, f);
}
