/*
 * The io_uring backend's submissions: how each op becomes an SQE (the prep
 * table, keyed by enum coil__opcode beside io/optable.h), the ops that need
 * more than one SQE, cancels, kicks of other workers, and the POLL_ADDs on
 * the pool's and the wake fds. See uring.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/panic.h"
#include "io/iobuf.h"
#include "io/pool.h"
#include "io/uring/uring.h"
#include "sched/crew.h"

/* ---- one table: how each op becomes an SQE ----------------------------- */

static void prep_nop(struct io_uring_sqe *sqe, struct coil__op *op)
{
	(void)op;
	io_uring_prep_nop(sqe);
}

static void prep_timeout(struct io_uring_sqe *sqe, struct coil__op *op)
{
	int64_t d = op->u.timeout.deadline;
	op->u.timeout.ts.tv_sec = d / 1000000000;
	op->u.timeout.ts.tv_nsec = d % 1000000000;
	/* Absolute on CLOCK_MONOTONIC: never fires before the deadline, and
	 * the kernel copies the timespec when the SQE is submitted. */
	io_uring_prep_timeout(sqe, &op->u.timeout.ts, 0, IORING_TIMEOUT_ABS);
}

static void prep_accept(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_accept(sqe, op->fd, op->u.accept.addr, op->u.accept.addrlen,
			     (int)op->flags);
}

static void prep_connect(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_connect(sqe, op->fd, op->u.connect.addr, op->u.connect.addrlen);
}

static void prep_recv(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_recv(sqe, op->fd, op->u.rw.buf, op->u.rw.len, (int)op->flags);
}

static void prep_send(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_send(sqe, op->fd, op->u.rw.buf, op->u.rw.len, (int)op->flags);
}

static void prep_recvmsg(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_recvmsg(sqe, op->fd, op->u.msg.msg, op->flags);
}

static void prep_sendmsg(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_sendmsg(sqe, op->fd, op->u.msg.msg, op->flags);
}

static void prep_read(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_read(sqe, op->fd, op->u.rw.buf, (unsigned)op->u.rw.len,
			   (uint64_t)op->off);
}

static void prep_write(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_write(sqe, op->fd, op->u.rw.buf, (unsigned)op->u.rw.len,
			    (uint64_t)op->off);
}

static void prep_readv(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_readv(sqe, op->fd, op->u.vec.iov, (unsigned)op->u.vec.iovcnt,
			    (uint64_t)op->off);
}

static void prep_writev(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_writev(sqe, op->fd, op->u.vec.iov, (unsigned)op->u.vec.iovcnt,
			     (uint64_t)op->off);
}

static void prep_close(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_close(sqe, op->fd);
}

static void prep_shutdown(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_shutdown(sqe, op->fd, (int)op->flags);
}

static void prep_openat(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_openat(sqe, op->fd, op->u.open.path, (int)op->flags, op->u.open.mode);
}

static void prep_openat2(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_openat2(sqe, op->fd, op->u.open2.path, op->u.open2.how);
}

static void prep_fsync(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_fsync(sqe, op->fd,
			    (op->flags & COIL__FSYNC_DATASYNC) ? IORING_FSYNC_DATASYNC : 0);
}

static void prep_statx(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_statx(sqe, op->fd, op->u.statx.path, (int)op->flags, op->u.statx.mask,
			    op->u.statx.buf);
}

static void prep_splice(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_splice(sqe, op->fd, op->off, op->u.splice.fd_out, -1,
			     (unsigned)op->u.splice.len, 0);
}

static void prep_poll_out(struct io_uring_sqe *sqe, struct coil__op *op)
{
	io_uring_prep_poll_add(sqe, op->fd, POLLOUT);
}

/* Keyed by enum coil__opcode, beside the op table (io/optable.h), which
 * names each op and says the rest: a new op is a row here too (or none:
 * the blocking pool always does it here, which its row must allow). */
const struct coil__uring_prep coil__uring_preps[COIL__OP_COUNT] = {
	[COIL__OP_NOP] = {prep_nop, IORING_OP_NOP},
	[COIL__OP_TIMEOUT] = {prep_timeout, IORING_OP_TIMEOUT},
	[COIL__OP_ACCEPT] = {prep_accept, IORING_OP_ACCEPT},
	[COIL__OP_CONNECT] = {prep_connect, IORING_OP_CONNECT},
	[COIL__OP_RECV] = {prep_recv, IORING_OP_RECV},
	[COIL__OP_SEND] = {prep_send, IORING_OP_SEND},
	[COIL__OP_RECVMSG] = {prep_recvmsg, IORING_OP_RECVMSG},
	[COIL__OP_SENDMSG] = {prep_sendmsg, IORING_OP_SENDMSG},
	[COIL__OP_READ] = {prep_read, IORING_OP_READ},
	[COIL__OP_WRITE] = {prep_write, IORING_OP_WRITE},
	[COIL__OP_READV] = {prep_readv, IORING_OP_READV},
	[COIL__OP_WRITEV] = {prep_writev, IORING_OP_WRITEV},
	[COIL__OP_CLOSE] = {prep_close, IORING_OP_CLOSE},
	[COIL__OP_SHUTDOWN] = {prep_shutdown, IORING_OP_SHUTDOWN},
	[COIL__OP_OPENAT] = {prep_openat, IORING_OP_OPENAT},
	[COIL__OP_OPENAT2] = {prep_openat2, IORING_OP_OPENAT2},
	[COIL__OP_FSYNC] = {prep_fsync, IORING_OP_FSYNC},
	[COIL__OP_STATX] = {prep_statx, IORING_OP_STATX},
	/* No opcode resolves names: the pool does, and a POLL_ADD on its
	 * notify fd tells us when. */
	[COIL__OP_RESOLVE] = {NULL, 0},
	[COIL__OP_SPLICE] = {prep_splice, IORING_OP_SPLICE},
	/* sendfile(2) has no opcode: coil_sock_sendfile splices through a
	 * pipe here (io->can_splice), so this op never comes. */
	[COIL__OP_SENDFILE] = {NULL, 0},
	[COIL__OP_POLL_OUT] = {prep_poll_out, IORING_OP_POLL_ADD},
};

size_t coil__uring_ops(struct coil__uring_op_row *rows, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < COIL__OP_COUNT && n < max; i++) {
		if (!coil__uring_preps[i].prep)
			continue; /* no opcode: the pool's */
		rows[n].name = coil__optable[i].name;
		rows[n].opcode = coil__uring_preps[i].opcode;
		rows[n].pool_stands_in = coil__optable[i].flags & COIL__OPF_POOL_STANDS_IN;
		n++;
	}
	return n;
}

/* ---- the SQ ------------------------------------------------------------- */

/* Hand the queued SQEs to the kernel now. -EBUSY / -EAGAIN (its CQ
 * backlog is full) pass: the next reap makes room. Any other error is the
 * ring failing: kept, and the next poll ends the runtime with it. */
void coil__uring_submit_now(struct coil__uring *u)
{
	int r = io_uring_submit(&u->ring);
	if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR && !u->error)
		u->error = r;
}

/* The same for io_uring_get_events (flush task work and overflowed CQEs). */
void coil__uring_get_events(struct coil__uring *u)
{
	int r = io_uring_get_events(&u->ring);
	if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR && !u->error)
		u->error = r;
}

/* The SQ was full after a submit: let the kernel take SQEs (with SQPOLL,
 * its thread does, in its own time: wait for room) and post completions. */
void coil__uring_sq_drain(struct coil__uring *u)
{
	if (u->setup_flags & IORING_SETUP_SQPOLL)
		(void)io_uring_sqring_wait(&u->ring);
	coil__uring_get_events(u);
}

/* An SQE, handing the queued ones to the kernel if the SQ is full. NULL
 * only if the kernel takes none (its CQ backlog is full: -EBUSY). */
__attribute__((noinline)) struct io_uring_sqe *coil__uring_sqe_after_submit(struct coil__uring *u)
{
	coil__uring_submit_now(u);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe && (u->setup_flags & IORING_SETUP_SQPOLL)) {
		/* The SQ thread has not taken the queued SQEs yet (on a busy
		 * machine it lags): wait until it has. Parking the fiber for
		 * room instead could leave every fiber waiting with no op of
		 * ours in flight, which sched takes for a deadlock. */
		(void)io_uring_sqring_wait(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

/* Before the worker blocks: its wake eventfd readable ends the wait (a
 * plain thread posted to its inbox). Not an op: not counted as pending. */
void coil__uring_arm_wake(struct coil__io *io, struct coil__uring *u)
{
	struct io_uring_sqe *sqe = coil__uring_sqe(u);
	if (!sqe)
		return; /* the next poll tries again */
	io_uring_prep_poll_add(sqe, io->w->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_WAKE_FD);
	u->wake_armed = true;
}

/* The worker's kick_from: post a CQE into to's ring (IORING_OP_MSG_RING,
 * to the ring's own fd: the registered index is its worker's only), which
 * ends its wait; submitted now, since to sleeps. to's I/O layer (its poll
 * hook's ctx) was set up before it could sleep, and its backend and ring
 * fd do not change after. */
bool coil__uring_kick(struct coil__worker *self, struct coil__worker *to)
{
	struct coil__io *io = coil__tls_io;
	const struct coil__io *tio = to->poll_ctx;
	if (!io || io->w != self || io->backend != &coil__backend_uring || !tio ||
	    tio->backend != &coil__backend_uring)
		return false;
	struct coil__uring *u = io->be.uring;
	struct io_uring_sqe *sqe = coil__uring_sqe(u);
	if (!sqe)
		return false;
	io_uring_prep_msg_ring(sqe, tio->be.uring->ring.ring_fd, 0, UD_KICK, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)to | UD_KICK_FAILED);
	coil__uring_submit_now(u);
	return true;
}

void coil__uring_arm_pool(struct coil__io *io, struct coil__uring *u)
{
	struct io_uring_sqe *sqe = coil__uring_sqe(u);
	if (!sqe)
		return; /* the next reap tries again */
	io_uring_prep_poll_add(sqe, io->pool->notify_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_POOL);
	u->pool_armed = true;
}

/* ---- ops ---------------------------------------------------------------- */

/* A read of a buffered regular file whose pages are cached is a memcpy:
 * preadv2(RWF_NOWAIT) on the worker's thread does it without an SQE, a
 * completion and a fiber switch, and says -EAGAIN when it would wait for
 * the disk (then the ring reads). After 8 such misses in a row on an fd,
 * coil stops trying there until the fd is new again. Returns the bytes read
 * or -EAGAIN: not done, submit it. */
static int nowait_read(struct coil__uring *u, struct coil__op *op)
{
	uint16_t *i = coil__uring_fd_info(u, op->fd);
	if (!i)
		return -EAGAIN;
	if (!(*i & FD_NOWAIT_KNOWN)) {
		/* Its kind was asked just before (coil__uring_seekable). */
		if (!(*i & FD_SEEK_KNOWN))
			return -EAGAIN;
		int fl = fcntl(op->fd, F_GETFL);
		bool ok = fl >= 0 && !(fl & O_DIRECT) && (*i & FD_REG);
		*i |= FD_NOWAIT_KNOWN | (ok ? FD_NOWAIT : 0);
	}
	if (!(*i & FD_NOWAIT) || (*i & FD_MISSES) == FD_MISSES)
		return -EAGAIN;
	struct iovec iov = {op->u.rw.buf, op->u.rw.len};
	ssize_t n = preadv2(op->fd, &iov, 1, op->off, RWF_NOWAIT);
	if (n >= 0) {
		*i &= (uint16_t)~FD_MISSES;
		return (int)n;
	}
	if (errno == EAGAIN || errno == EOPNOTSUPP) {
		if ((*i & FD_MISSES) != FD_MISSES)
			*i = (uint16_t)(*i + FD_MISS_ONE);
		return -EAGAIN;
	}
	return -errno; /* the ring would say the same */
}

/* The ops that need more than an SQE: the pool's, positional reads and
 * writes (-ESPIPE on a stream), close (cancels the fd's ops first, when it
 * has any), splice (names two fds). Out of line: the hot path is one SQE. */
static __attribute__((noinline)) int
submit_special(struct coil__io *io, struct coil__uring *u, struct coil__op *op)
{
	unsigned f = coil__optable[op->code].flags;
	if (u->to_pool[op->code]) {
		if (f & COIL__OPF_CLOSES_FD) {
			/* The fd's ops end with it here too: the cancel must
			 * reach the kernel while the number still names the
			 * file, so before the pool closes it. */
			if (coil__uring_fd_busy(u, op->fd)) {
				struct coil__uring_close_plan p;
				coil__uring_close_plan(u, op->fd, u->ring.sq.ring_entries, &p);
				unsigned k = coil__uring_close_sqes(&p);
				if (io_uring_sq_space_left(&u->ring) < k)
					coil__uring_submit_now(u);
				if (io_uring_sq_space_left(&u->ring) < k)
					return COIL__SUBMIT_FULL;
				for (unsigned i = 0; i < k; i++)
					coil__uring_prep_close_cancel(io_uring_get_sqe(&u->ring), op->fd,
								      &p, i, 0);
				coil__uring_submit_now(u);
			}
			coil__uring_fd_forget(u, op->fd);
		}
		struct coil__pool *pool;
		int r = coil__io_pool(io, &pool);
		if (r == 0)
			r = coil__pool_submit(pool, op);
		if (r == 0 && !u->pool_armed)
			coil__uring_arm_pool(io, u);
		return r; /* -errno: no pool thread could start, say */
	}
	bool fixed_rw = false;
	if (f & COIL__OPF_SEEKS) {
		/* What it learns of the fd here (and a read done inline) is
		 * kept: marked before (io/fd.h). */
		coil__uring_fd_learns(u, op->fd);
		if (op->off >= 0 && !coil__uring_seekable(u, op->fd))
			return -ESPIPE;
		if (op->code == COIL__OP_READ && op->off >= 0 && (io->features & COIL_FEATURE_NOWAIT_READS)) {
			int n = nowait_read(u, op);
			if (n != -EAGAIN) {
				op->res = n;
				return COIL__SUBMIT_DONE;
			}
		}
		/* In the registered region: no pinning per call. */
		fixed_rw = (op->code == COIL__OP_READ || op->code == COIL__OP_WRITE) &&
			   coil__iobuf_fixed(io->iobufs, op->u.rw.buf, op->u.rw.len);
	} else if (op->code == COIL__OP_SEND) {
		op->be.uring.zc = u->zc_min && op->u.rw.len >= u->zc_min && coil__uring_zc_fits(u, op);
	} else if (f & COIL__OPF_CLOSES_FD) {
		coil__uring_fd_forget(u, op->fd);
		/* Requests still in flight on the fd (another fiber's read, a
		 * reader's multishot...) end with it, as on the readiness
		 * backends: cancel them, then close (hard-linked: the close runs
		 * whatever the cancels found). Their -ECANCELED is reported as
		 * -EBADF. None in flight (the usual close): no cancel. Each is
		 * cancelled by its user_data: a cancel by fd walks every
		 * request pending in the ring, which would make closing n
		 * connections O(n^2) (files.c: when it is still needed). */
		if (coil__uring_fd_busy(u, op->fd)) {
			/* The cancels and the close must be adjacent in the SQ. */
			struct coil__uring_close_plan p;
			coil__uring_close_plan(u, op->fd, u->ring.sq.ring_entries - 1, &p);
			unsigned k = coil__uring_close_sqes(&p);
			if (io_uring_sq_space_left(&u->ring) < k + 1)
				coil__uring_submit_now(u);
			if (io_uring_sq_space_left(&u->ring) < k + 1)
				return COIL__SUBMIT_FULL;
			for (unsigned i = 0; i < k; i++) {
				struct io_uring_sqe *c = io_uring_get_sqe(&u->ring);
				coil__uring_prep_close_cancel(c, op->fd, &p, i, 0);
				c->flags |= IOSQE_IO_HARDLINK;
			}
		}
	}
	int r = coil__uring_op_hold(u, op);
	if (r < 0)
		return r;
	bool splice = op->code == COIL__OP_SPLICE;
	if (splice && (r = coil__uring_fd_hold(u, op->u.splice.fd_out)) < 0) {
		coil__uring_op_let_go(u, op);
		return r;
	}
	if (splice)
		coil__uring_fd_met(u, op->u.splice.fd_out);
	struct io_uring_sqe *sqe = coil__uring_sqe(u);
	if (!sqe) {
		coil__uring_op_let_go(u, op);
		if (splice)
			coil__uring_fd_let_go(u, op->u.splice.fd_out);
		return COIL__SUBMIT_FULL;
	}
	if (fixed_rw && op->code == COIL__OP_READ)
		io_uring_prep_read_fixed(sqe, op->fd, op->u.rw.buf, (unsigned)op->u.rw.len,
					 (uint64_t)op->off, 0);
	else if (fixed_rw)
		io_uring_prep_write_fixed(sqe, op->fd, op->u.rw.buf, (unsigned)op->u.rw.len,
					  (uint64_t)op->off, 0);
	else if (op->code == COIL__OP_SEND && op->be.uring.zc)
		io_uring_prep_send_zc(sqe, op->fd, op->u.rw.buf, op->u.rw.len, (int)op->flags, 0);
	else
		coil__uring_preps[op->code].prep(sqe, op);
	if (u->fixable[op->code])
		coil__uring_use_fixed(u, sqe, op->fd);
	io_uring_sqe_set_data64(sqe, coil__uring_op_tag(op));
	return 0;
}

int coil__uring_submit(struct coil__io *io, struct coil__op *op)
{
	struct coil__uring *u = io->be.uring;
	if (__builtin_expect(u->error != 0, 0))
		return u->error;
	if ((uintptr_t)op & ~(uintptr_t)PTR_MASK)
		coil__panic("op address %p does not fit the user_data tag", (void *)op);
	if (__builtin_expect(u->special[op->code], 0))
		return submit_special(io, u, op);
	int r = coil__uring_op_hold(u, op);
	if (__builtin_expect(r < 0, 0))
		return r;
	struct io_uring_sqe *sqe = coil__uring_sqe(u);
	if (__builtin_expect(!sqe, 0)) {
		coil__uring_op_let_go(u, op);
		return COIL__SUBMIT_FULL;
	}
	coil__uring_preps[op->code].prep(sqe, op);
	if (u->fixable[op->code])
		coil__uring_use_fixed(u, sqe, op->fd);
	io_uring_sqe_set_data64(sqe, coil__uring_op_tag(op));
	return 0;
}

/* A cancel must not be lost: if the kernel takes no SQE now, reap until it
 * does (what is to be cancelled may even complete meanwhile: *done). */
struct io_uring_sqe *coil__uring_sqe_for_cancel(struct coil__io *io, struct coil__uring *u,
						const bool *done)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = coil__uring_sqe(u))) {
		coil__uring_sq_drain(u);
		coil__uring_reap(io, u);
		if ((done && *done) || u->error)
			return NULL;
	}
	return sqe;
}

void coil__uring_cancel(struct coil__io *io, struct coil__op *op)
{
	struct coil__uring *u = io->be.uring;
	struct io_uring_sqe *sqe;
	if (u->to_pool[op->code]) {
		if (coil__pool_cancel(io->pool, op))
			coil__op_complete(io, op, -ECANCELED);
		return;
	}
	if (!(sqe = coil__uring_sqe_for_cancel(io, u, &op->completed)))
		return; /* completed meanwhile, or the ring failed (fatal) */
	io_uring_prep_cancel64(sqe, coil__uring_op_tag(op), 0);
	io_uring_sqe_set_data64(sqe, 0);
}
