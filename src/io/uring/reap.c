/*
 * The io_uring backend's completions: the wait (with sched's earliest
 * timer as its bound) and the one CQE loop, a switch on each CQE's tag
 * (uring.h). See uring.h.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "base/panic.h"
#include "coil/time.h"
#include "io/fd.h"
#include "io/fixed.h"
#include "io/pool.h"
#include "io/uring/uring.h"

/* A SEND_ZC's CQE: its result (with F_MORE: a notification follows, when
 * the kernel lets go of the buffer) or that notification. True: the op is
 * done with *res. A socket that refuses zero-copy after all is sent again
 * the plain way (and remembered). */
static bool zc_cqe(struct coil__io *io, struct coil__uring *u, struct coil__op *op, int *res,
		   unsigned flags)
{
	(void)io;
	if (flags & IORING_CQE_F_NOTIF) {
		*res = op->be.uring.zc_res;
		return true;
	}
	if (flags & IORING_CQE_F_MORE) {
		op->be.uring.zc_res = *res;
		return false;
	}
	if (*res == -EOPNOTSUPP) {
		uint16_t *i = coil__uring_fd_info(u, op->fd);
		if (i)
			*i = (uint16_t)((*i & ~FD_ZC) | FD_ZC_KNOWN);
		struct io_uring_sqe *sqe = coil__uring_sqe(u);
		if (sqe) {
			op->be.uring.zc = false;
			coil__uring_preps[COIL__OP_SEND].prep(sqe, op);
			io_uring_sqe_set_data64(sqe, coil__uring_op_tag(op));
			return false;
		}
	}
	return true;
}

/* An op's CQE: 1 if it completed the op, 0 if more is to come. */
static inline __attribute__((always_inline)) int op_cqe(struct coil__io *io,
							struct coil__uring *u, uint64_t ud,
							int res, unsigned flags)
{
	struct coil__op *op = (struct coil__op *)(uintptr_t)(ud & PTR_MASK);
	if (op->gen != (uint16_t)(ud >> TAG_SHIFT))
		coil__panic("io_uring: stale completion (op %p gen %u, cqe gen %u)", (void *)op,
			    op->gen, (unsigned)(ud >> TAG_SHIFT));
	if (__builtin_expect(u->special[op->code] & SPECIAL_OWN, 0)) {
		if (res >= 0 && (coil__optable[op->code].flags & COIL__OPF_MAKES_FD))
			coil__uring_fd_forget(u, res); /* a new fd */
		if (op->code == COIL__OP_SEND && op->be.uring.zc && !zc_cqe(io, u, op, &res, flags))
			return 0; /* its request (or the plain send after it) goes on */
		if (op->code == COIL__OP_SPLICE)
			coil__uring_fd_let_go(u, op->u.splice.fd_out);
	}
	coil__uring_op_let_go(u, op);
	coil__op_complete(io, op, res);
	return 1;
}

/* The one CQE loop: each CQE's tag (uring.h) says what it is about. */
int coil__uring_reap(struct coil__io *io, struct coil__uring *u)
{
	/* The ring is set up without IORING_SETUP_CQE32, so a CQE is
	 * cqes[index & mask]. Each CQE is consumed (head stored) before it
	 * is handled: handling may cancel another op, and a cancel that finds
	 * the SQ full reaps from in here; that nested reap must start after
	 * this CQE, and this loop after whatever it took. */
	struct io_uring_cq *cq = &u->ring.cq;
	unsigned tail = io_uring_smp_load_acquire(cq->ktail);
	int completed = 0;
	for (;;) {
		unsigned head = *cq->khead;
		if (head == tail) {
			tail = io_uring_smp_load_acquire(cq->ktail);
			if (head == tail)
				break;
		}
		struct io_uring_cqe *cqe = &cq->cqes[head & cq->ring_mask];
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		unsigned flags = cqe->flags;
		io_uring_smp_store_release(cq->khead, head + 1);
		uint64_t n;
		switch (__builtin_expect(ud & UD_TAG_MASK, UD_OP)) {
		case UD_OP:
			if (__builtin_expect(ud != 0, 1))
				completed += op_cqe(io, u, ud, res, flags);
			break; /* 0: a cancel request's own completion */
		case UD_POOL:
			u->pool_armed = false;
			completed += coil__pool_reap(io->pool, io, NULL, NULL);
			break;
		case UD_KICK:
			break; /* woken: sched drains the inbox after the poll */
		case UD_KICK_FAILED: {
			/* The target's CQ was full...: kick it through its
			 * eventfd. */
			struct coil__worker *to = (struct coil__worker *)(uintptr_t)(ud & ~UD_TAG_MASK);
			n = 1;
			(void)!write(to->wake_fd, &n, sizeof n);
			break;
		}
		case UD_WAKE_FD:
			u->wake_armed = false;
			while (read(io->w->wake_fd, &n, sizeof n) > 0) {
			}
			break;
		case UD_MULTI_RECV:
		case UD_MULTI_ACCEPT:
			/* Completes many times: not an op's end. */
			coil__uring_multi_cqe(io, u, ud, res, flags);
			break;
		case UD_FD_GONE:
			/* The kernel took the cancel: the closing worker may
			 * close. */
			io->w->pending--;
			coil__fd_gone_done((struct coil__fd_gone_call *)(uintptr_t)(ud & ~UD_TAG_MASK));
			break;
		}
	}
	if (io->pool && io->pool->outstanding && !u->pool_armed)
		coil__uring_arm_pool(io, u);
	return completed;
}

static bool cq_overflowed(struct coil__uring *u)
{
	return IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW;
}

int coil__uring_poll(struct coil__io *io, bool block, int64_t deadline)
{
	struct coil__uring *u = io->be.uring;
	int r;
	if (u->error)
		return u->error;
	if (u->fixed) {
		uint64_t epoch = coil__fixed_epoch();
		if (__builtin_expect(epoch != u->fixed_epoch, 0))
			coil__uring_fixed_rescan(u, epoch);
	}
	if (block && !u->wake_armed) {
		coil__uring_arm_wake(io, u);
		/* No SQE for it now (the kernel took none): wait no longer
		 * than a millisecond, so a plain thread's post is not lost. */
		if (!u->wake_armed) {
			int64_t soon = coil_now() + 1000000;
			if (soon < deadline)
				deadline = soon;
		}
	}
	if (!block && (u->setup_flags & IORING_SETUP_SQPOLL)) {
		/* The SQ thread takes the SQEs and posts what completes: no
		 * syscall unless it sleeps (liburing wakes it). */
		r = io_uring_submit(&u->ring);
	} else if (!block) {
		r = io_uring_submit_and_get_events(&u->ring);
	} else if (deadline == INT64_MAX) {
		r = io_uring_submit_and_wait(&u->ring, 1);
	} else {
		/* sched has a timer (a fiber parked with a deadline): wait no
		 * longer than that (one syscall with IORING_FEAT_EXT_ARG). */
		int64_t d = deadline - coil_now();
		if (d < 0)
			d = 0;
		struct __kernel_timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
		struct io_uring_cqe *cqe;
		r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
	}
	if (r == -EBUSY || r == -EAGAIN || r == -ETIME)
		r = 0; /* completions wait to be reaped (reap frees room); or the
			* wait reached sched's timer: a normal end */
	if (r < 0 && r != -EINTR)
		return r;
	int completed = coil__uring_reap(io, u);
	/* Completions the kernel could not post are flushed by entering it. */
	while (cq_overflowed(u) && !u->error) {
		coil__uring_get_events(u);
		completed += coil__uring_reap(io, u);
	}
	if (u->error)
		return u->error;
	return r == -EINTR && completed == 0 ? -EINTR : completed;
}
