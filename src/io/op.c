/* Starting an op, running one on the calling fiber, and its completion:
 * to the fiber's park, or to the op's target (a race's). */
#include <errno.h>
#include <sys/uio.h>

#ifdef COIL_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
#endif

#include "io/backend.h"
#include "io/io.h"
#include "io/op.h"
#include "io/optable.h"
#include "sched/switch.h"
#include "sched/turn.h"

static void op_cancel(struct coil__park *p, int code)
{
	struct coil__op *op = p->data;
	struct coil__io *io = coil__tls_io;
	/* Ask once; the op completes through its own completion, with
	 * -ECANCELED (reported as code) or its real result if that came
	 * first. A readiness backend may complete it right here. */
	op->cancel_code = code;
	io->backend->cancel(io, op);
}

/* coil__op_start's body, inlined into the single op's run (the hot path);
 * a race calls it out of line. */
static inline __attribute__((always_inline)) int
op_start(struct coil__io *io, struct coil__op *op, struct coil__op_target *to)
{
	op->gen = ++io->op_gen;
	op->cancel_code = 0;
	op->completed = false;
	op->target = to;
	int r = io->backend->submit(io, op);
	if (__builtin_expect(r == 0, 1))
		coil__io_started(io);
	return r;
}

int coil__op_start(struct coil__io *io, struct coil__op *op, struct coil__op_target *to)
{
	return op_start(io, op, to);
}

int coil__op_run(struct coil__op *op)
{
	struct coil__fiber *self = coil__self();
	if (__builtin_expect(!self, 0))
		return -EPERM;
	struct coil__io *io = coil__tls_io;
	int64_t deadline;
	int r = coil__fiber_may_block(self, &deadline);
	if (r < 0)
		return r;
	for (;;) {
		/* Bounded in-flight ops: wait for room rather than overflow
		 * the completion queue. */
		if (__builtin_expect(io->inflight_max && io->inflight >= io->inflight_max, 0)) {
			if ((r = coil__io_wait_room(io, &deadline)) < 0)
				return r;
			continue;
		}
		op->park.cancel = op_cancel;
		op->park.data = op;
		op->park.fiber = NULL; /* set by the park (read there first) */
		r = op_start(io, op, NULL);
		if (__builtin_expect(r == 0, 1)) {
			/* sched times the deadline; past it, op_cancel asks the
			 * backend. A timer op is its own deadline
			 * (coil_sleep_until clamps it to the scope's). */
			return coil__park_inline(&op->park,
						 op->code == COIL__OP_TIMEOUT ? INT64_MAX : deadline, 0);
		}
		if (r == COIL__SUBMIT_DONE) {
			/* Done without waiting (a readiness backend's first
			 * try). A fiber that never waits must still let the
			 * others run. */
			if (coil__sched_budget(self))
				coil__yield(coil__tls_worker);
			return op->res;
		}
		if (r != COIL__SUBMIT_FULL)
			return r;
		if ((r = coil__io_wait_room(io, &deadline)) < 0)
			return r;
	}
}

/* Memcheck cannot see the kernel write into buffers through io_uring: tell
 * it what a completed op defined (its row's out, io/optable.h), or every
 * byte received looks uninitialised. A few no-op instructions when not
 * under Valgrind. */
static void mark_defined(const struct coil__op *op, int res)
{
#ifdef COIL_HAVE_VALGRIND_H
	if (res < 0)
		return;
	switch (coil__optable[op->code].out) {
	case COIL__OUT_RW:
		VALGRIND_MAKE_MEM_DEFINED(op->u.rw.buf, (size_t)res);
		break;
	case COIL__OUT_VEC:
		for (int i = 0, left = res; i < op->u.vec.iovcnt && left > 0; i++) {
			size_t n = op->u.vec.iov[i].iov_len < (size_t)left ? op->u.vec.iov[i].iov_len
									    : (size_t)left;
			VALGRIND_MAKE_MEM_DEFINED(op->u.vec.iov[i].iov_base, n);
			left -= (int)n;
		}
		break;
	case COIL__OUT_MSG: {
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
	case COIL__OUT_ADDR:
		if (op->u.accept.addrlen) {
			VALGRIND_MAKE_MEM_DEFINED(op->u.accept.addrlen, sizeof(socklen_t));
			VALGRIND_MAKE_MEM_DEFINED(op->u.accept.addr, *op->u.accept.addrlen);
		}
		break;
	case COIL__OUT_STATX:
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

void coil__op_complete(struct coil__io *io, struct coil__op *op, int res)
{
	op->completed = true;
	mark_defined(op, res);
	coil__io_finished(io);
	if (op->target) {
		op->res = res;
		op->target->complete(op->target, op);
		return;
	}
	if (res == -ECANCELED)
		res = op->cancel_code ? op->cancel_code : -EBADF; /* no cancel of ours: closed */
	op->res = res;
	coil__park_wake(&op->park, res);
}

void coil__fd_opened(int fd)
{
	struct coil__io *io = coil__tls_io;
	if (io && io->backend->fd_opened)
		io->backend->fd_opened(io, fd);
}
