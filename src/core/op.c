/* Running one op on the calling fiber, and its completion. */
#include <errno.h>
#include <sys/uio.h>

#ifdef COIL_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
#endif

#include "core/op.h"
#include "core/race.h"
#include "core/worker.h"

#define COIL__INLINE_BUDGET 64

int coil__op_run(struct coil__op *op)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__fiber *self = w->current;
	for (;;) {
		int64_t deadline;
		int r = coil__fiber_may_block(self, &deadline);
		if (r < 0)
			return r;
		/* Bounded in-flight ops: wait for room rather than overflow
		 * the completion queue. */
		if (!w->inflight_max || w->inflight < w->inflight_max) {
			op->fiber = self;
			op->gen = ++w->op_gen;
			op->res = 0;
			op->completed = false;
			op->backend_state = 0;
			/* A sleep is its own deadline (coil_sleep_until clamps
			 * it to the scope's); anything else carries it. */
			op->link_deadline = op->code == COIL__OP_TIMEOUT ? INT64_MAX : deadline;
			r = w->backend->submit(w, op);
			if (r == 0)
				break;
			if (r == COIL__SUBMIT_DONE) {
				/* Done without waiting (a readiness backend's
				 * first try). A fiber that never waits must
				 * still let the others run: after a budget of
				 * such ops, it yields (Tokio: 128 ops). */
				if (++self->inline_streak >= COIL__INLINE_BUDGET) {
					self->inline_streak = 0;
					coil__wake(w, self);
					coil__park_queued(w);
				}
				return op->res;
			}
			if (r != -EAGAIN)
				return r;
		}
		self->wait = COIL__WAIT_ROOM;
		self->wait_result = 0;
		coil__queue_push(&w->room_waiters, self);
		if (deadline != INT64_MAX && coil__timer_add(w, self, deadline) < 0) {
			coil__queue_remove(&w->room_waiters, self);
			self->wait = COIL__WAIT_NONE;
			return -ENOMEM;
		}
		coil__park(w);
		coil__timer_del(w, self);
		self->wait = COIL__WAIT_NONE;
		if (self->wait_result < 0)
			return self->wait_result;
	}
	w->inflight++;
	self->wait = COIL__WAIT_OP;
	self->wait_op = op;
	self->op_cancel_sent = false;
	coil__park(w);
	self->wait = COIL__WAIT_NONE;
	self->wait_op = NULL;
	self->inline_streak = 0;
	return op->res;
}

/* Memcheck cannot see the kernel write into buffers through io_uring: tell
 * it what a completed op defined, or every byte received looks
 * uninitialised. A few no-op instructions when not under Valgrind. */
static void mark_defined(const struct coil__op *op, int res)
{
#ifdef COIL_HAVE_VALGRIND_H
	if (res < 0)
		return;
	switch (op->code) {
	case COIL__OP_RECV:
	case COIL__OP_READ:
		VALGRIND_MAKE_MEM_DEFINED(op->u.rw.buf, (size_t)res);
		break;
	case COIL__OP_READV:
		for (int i = 0, left = res; i < op->u.vec.iovcnt && left > 0; i++) {
			size_t n = op->u.vec.iov[i].iov_len < (size_t)left ? op->u.vec.iov[i].iov_len
									    : (size_t)left;
			VALGRIND_MAKE_MEM_DEFINED(op->u.vec.iov[i].iov_base, n);
			left -= (int)n;
		}
		break;
	case COIL__OP_RECVMSG: {
		struct msghdr *m = op->u.msg.msg;
		if (m->msg_iovlen > 0)
			VALGRIND_MAKE_MEM_DEFINED(m->msg_iov[0].iov_base,
						  (size_t)res < m->msg_iov[0].iov_len
							  ? (size_t)res : m->msg_iov[0].iov_len);
		if (m->msg_name)
			VALGRIND_MAKE_MEM_DEFINED(m->msg_name, m->msg_namelen);
		VALGRIND_MAKE_MEM_DEFINED(&m->msg_namelen, sizeof m->msg_namelen);
		break;
	}
	case COIL__OP_ACCEPT:
		if (op->u.accept.addrlen) {
			VALGRIND_MAKE_MEM_DEFINED(op->u.accept.addrlen, sizeof(socklen_t));
			VALGRIND_MAKE_MEM_DEFINED(op->u.accept.addr, *op->u.accept.addrlen);
		}
		break;
	case COIL__OP_STATX:
		VALGRIND_MAKE_MEM_DEFINED(op->u.statx.buf, sizeof *op->u.statx.buf);
		break;
	default:
		break;
	}
#else
	(void)op;
	(void)res;
#endif
}

void coil__op_complete(struct coil__worker *w, struct coil__op *op, int res)
{
	struct coil__fiber *f = op->fiber;
	op->completed = true;
	if (f->wait == COIL__WAIT_RACE) {
		op->res = res;
		mark_defined(op, res);
		w->inflight--;
		coil__race_op_done(w, f, op);
		return;
	}
	if (f->state != COIL__FIBER_PARKED || f->wait_op != op)
		coil__panic("completion for an op its fiber is not waiting on (op %p)", (void *)op);
	op->res = res;
	mark_defined(op, res);
	w->inflight--;
	coil__wake(w, f);
}

void coil__fd_opened(int fd)
{
	struct coil__worker *w = coil__tls_worker;
	if (w && w->backend->fd_opened)
		w->backend->fd_opened(w, fd);
}
