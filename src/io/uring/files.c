/*
 * The io_uring backend's per-fd facts and registered files: what coil
 * learnt of each fd number (seekable, zero-copy, met by this worker), how
 * many of this ring's requests in flight name it, the ring's file table
 * (io/fixed.h), and another worker's close (fd_gone). See uring.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <linux/tcp.h> /* its struct tcp_info has tcpi_snd_wnd; glibc's not */
#include <netinet/in.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/panic.h"
#include "io/fd.h"
#include "io/fixed.h"
#include "io/offsets.h"
#include "io/uring/uring.h"

static void fixed_drop(struct coil__uring *u, int fd, uint16_t *i);

/* A new fd (or none) has this number: forget what was known (and let go
 * of the old file if the ring's table still held it), the mark too: its
 * list of ops ends in unmet again. Its requests still in flight stay
 * counted: their CQEs come all the same. */
void coil__uring_fd_forget(struct coil__uring *u, int fd)
{
	if (fd >= 0 && (size_t)fd < u->nfds) {
		struct coil__uring_fd *e = &u->fds[fd];
		if (e->info & FD_MET) {
			struct coil__op **end = &e->ops;
			while (*end)
				end = &(*end)->be.uring.fd_next;
			*end = &u->unmet;
		}
		if (e->info & FD_FIXED)
			fixed_drop(u, fd, &e->info);
		e->info = 0;
	}
}

struct coil__uring_fd *coil__uring_fd_grow(struct coil__uring *u, int fd)
{
	if (fd < 0)
		return NULL;
	size_t n = u->nfds ? u->nfds : 256;
	while (n <= (size_t)fd)
		n *= 2;
	struct coil__uring_fd *t = realloc(u->fds, n * sizeof *t);
	if (!t)
		return NULL;
	memset(t + u->nfds, 0, (n - u->nfds) * sizeof *t);
	for (size_t i = u->nfds; i < n; i++)
		t[i].ops = &u->unmet; /* not marked yet */
	/* The first op listed on each fd points back into the table. */
	for (size_t i = 0; i < u->nfds; i++)
		if (!coil__uring_ops_end(u, t[i].ops))
			t[i].ops->be.uring.fd_pprev = &t[i].ops;
	u->fds = t;
	u->nfds = n;
	return &u->fds[fd];
}

/* ---- requests in flight per fd (uring.h) ------------------------------- */

/* fd is past the table: grow it, unless fd is no open file (then the
 * request would fail with -EBADF anyway, and a stray number must not
 * grow the table to its size). */
__attribute__((noinline)) int coil__uring_fd_room_slow(struct coil__uring *u, int fd)
{
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	if (!coil__uring_fd_grow(u, fd))
		return -ENOMEM;
	return 0;
}

__attribute__((noinline, cold)) void coil__uring_fd_went_negative(struct coil__uring *u, int fd)
{
	coil__panic("io_uring: fd %d: more requests ended than were counted (%d)", fd,
		    (int)u->fds[fd].reqs);
}

/* The cancels of closes queued in this process: by fd (a walk of every
 * request pending in the ring), by a multishot's user_data, by an op's. */
static unsigned long fd_cancels, multi_cancels, op_cancels;

void coil__uring_close_plan(const struct coil__uring *u, int fd, unsigned max,
			    struct coil__uring_close_plan *p)
{
	const struct coil__uring_fd *e = &u->fds[fd]; /* busy: in the table */
	if (max > COIL__URING_CLOSE_MAX)
		max = COIL__URING_CLOSE_MAX;
	unsigned n = 0;
	bool named = e->reqs == (e->multi != 0); /* else a splice's fd_out */
	p->multi = e->multi != 0;
	if (e->multi)
		p->ud[n++] = e->multi;
	bool none = coil__uring_ops_end(u, e->ops);
	for (const struct coil__op *op = e->ops; !coil__uring_ops_end(u, op) && named;
	     op = op->be.uring.fd_next) {
		if (n == max)
			named = false; /* too many to name: one walk */
		else
			p->ud[n++] = coil__uring_op_tag(op);
	}
	p->n = named ? n : 0;
	p->one = e->reqs + !none == 1 && (none || coil__uring_ops_end(u, e->ops->be.uring.fd_next));
}

void coil__uring_prep_close_cancel(struct io_uring_sqe *sqe, int fd,
				   const struct coil__uring_close_plan *p, unsigned i, uint64_t tag)
{
	if (p->n) {
		io_uring_prep_cancel64(sqe, p->ud[i], 0);
		__atomic_fetch_add(i == 0 && p->multi ? &multi_cancels : &op_cancels, 1,
				   __ATOMIC_RELAXED);
	} else {
		/* Its one request: the kernel's walk stops where it finds it;
		 * with ALL it would walk on, and once more to see none is
		 * left. */
		io_uring_prep_cancel_fd(sqe, fd, p->one ? 0 : IORING_ASYNC_CANCEL_ALL);
		__atomic_fetch_add(&fd_cancels, 1, __ATOMIC_RELAXED);
	}
	io_uring_sqe_set_data64(sqe, tag);
}

unsigned long coil__uring_fd_cancels(void)
{
	return __atomic_load_n(&fd_cancels, __ATOMIC_RELAXED);
}

unsigned long coil__uring_multi_cancels(void)
{
	return __atomic_load_n(&multi_cancels, __ATOMIC_RELAXED);
}

unsigned long coil__uring_op_cancels(void)
{
	return __atomic_load_n(&op_cancels, __ATOMIC_RELAXED);
}

int coil__uring_fd_reqs(int fd)
{
	struct coil__io *io = coil__tls_io;
	if (!io || io->backend != &coil__backend_uring || !io->be.uring)
		return -1;
	struct coil__uring *u = io->be.uring;
	if (fd < 0 || (size_t)fd >= u->nfds)
		return 0;
	int n = (int)u->fds[fd].reqs;
	for (const struct coil__op *op = u->fds[fd].ops; !coil__uring_ops_end(u, op);
	     op = op->be.uring.fd_next)
		n++;
	return n;
}

/* Tear-down (no op in flight, no multishot armed: io/setup.c): every
 * request counted has ended. A count left over means a kind of request
 * was counted without its end (or the other way round): closes of that
 * fd would have cancelled for nothing, or not at all. Debug builds. */
void coil__uring_check_counts(struct coil__io *io, struct coil__uring *u)
{
#ifndef NDEBUG
	if (io->inflight || u->multi_armed || u->error)
		return; /* requests may still be in the kernel */
	for (size_t fd = 0; fd < u->nfds; fd++) {
		bool listed = !coil__uring_ops_end(u, u->fds[fd].ops);
		if (u->fds[fd].reqs || listed)
			coil__panic("io_uring: fd %zu: %d requests counted at tear-down%s", fd,
				    (int)u->fds[fd].reqs, listed ? ", ops listed" : "");
	}
#else
	(void)io;
	(void)u;
#endif
}

/* Marked once: FD_MET, and the list of ops ends in NULL (uring.h). */
__attribute__((noinline)) void coil__uring_fd_met(struct coil__uring *u, int fd)
{
	struct coil__uring_fd *e = &u->fds[fd];
	if (e->info & FD_MET)
		return;
	e->info |= FD_MET;
	struct coil__op **end = &e->ops;
	while (*end != &u->unmet)
		end = &(*end)->be.uring.fd_next;
	*end = NULL;
	coil__uring_mark(u, e, fd);
}

void coil__uring_fd_learns(struct coil__uring *u, int fd)
{
	uint16_t *i = fd >= 0 ? coil__uring_fd_info(u, fd) : NULL;
	if (i && !(*i & FD_MET))
		coil__uring_fd_met(u, fd);
}

/* ---- registered files (COIL_FEATURE_FIXED_FILES, io/fixed.h) ----------- */


/* Put fd in the ring's table at slot fd. The generation is read first: a
 * close racing with this moves it, and the next op sees that. */
static bool fixed_register(struct coil__uring *u, int fd, uint16_t *i)
{
	uint32_t gen = coil__fixed_gen(fd);
	int f = fd;
	if (io_uring_register_files_update(&u->ring, (unsigned)fd, &f, 1) != 1) {
		*i |= FD_FIXED_NO; /* until a new fd of this number */
		return false;
	}
	u->fixed_gen[fd] = gen;
	*i |= FD_FIXED;
	coil__fixed_hold(fd);
	return true;
}

static void fixed_drop(struct coil__uring *u, int fd, uint16_t *i)
{
	int none = -1;
	(void)io_uring_register_files_update(&u->ring, (unsigned)fd, &none, 1);
	*i &= (uint16_t)~FD_FIXED;
	coil__fixed_release(fd);
}

/* Make sqe (an op on fd) name fd's slot, registering it on first use; a
 * slot whose fd was closed since (its generation moved) is registered
 * anew. Without a slot the op takes the fd, as always. */
void coil__uring_use_fixed(struct coil__uring *u, struct io_uring_sqe *sqe, int fd)
{
	if ((unsigned)fd >= u->nslots)
		return;
	uint16_t *i = coil__uring_fd_info(u, fd);
	if (!i)
		return;
	if (__builtin_expect(*i & FD_FIXED, 1)) {
		if (__builtin_expect(coil__fixed_gen(fd) != u->fixed_gen[fd], 0)) {
			fixed_drop(u, fd, i);
			if (!fixed_register(u, fd, i))
				return;
		}
	} else if ((*i & FD_FIXED_NO) || !fixed_register(u, fd, i)) {
		return;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
}

/* A closed fd's file may still sit in this ring's table (the close was
 * another thread's): drop every slot whose generation moved. */
__attribute__((noinline)) void coil__uring_fixed_rescan(struct coil__uring *u, uint64_t epoch)
{
	u->fixed_epoch = epoch;
	size_t n = u->nfds < u->nslots ? u->nfds : u->nslots;
	for (size_t fd = 0; fd < n; fd++)
		if ((u->fds[fd].info & FD_FIXED) && coil__fixed_gen((int)fd) != u->fixed_gen[fd])
			fixed_drop(u, (int)fd, &u->fds[fd].info);
}

/* The table, when the feature is asked for: as many slots as fds the
 * process may have (at most COIL__FIXED_MAX). Refused (memory, an old
 * kernel), coil does without. */
void coil__uring_fixed_init(struct coil__io *io, struct coil__uring *u)
{
	struct rlimit rl;
	unsigned n = COIL__FIXED_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n)
		n = (unsigned)rl.rlim_cur;
	if (!n || io->w->wake_fd < 0 || !(u->fixed_gen = calloc(n, sizeof *u->fixed_gen)))
		return;
	if (io_uring_register_files_sparse(&u->ring, n) < 0 ||
	    coil__fixed_ring_add(io->w->wake_fd) < 0) {
		(void)io_uring_unregister_files(&u->ring);
		free(u->fixed_gen);
		u->fixed_gen = NULL;
		return;
	}
	u->fixed = true;
	u->nslots = n;
	u->fixed_epoch = coil__fixed_epoch();
	for (size_t i = 0; i < COIL__OP_COUNT; i++)
		u->fixable[i] = coil__optable[i].flags & COIL__OPF_FIXED_FILE;
	io->features |= COIL_FEATURE_FIXED_FILES;
}

void coil__uring_fixed_fini(struct coil__io *io, struct coil__uring *u)
{
	if (!u->fixed)
		return;
	size_t n = u->nfds < u->nslots ? u->nfds : u->nslots;
	for (size_t fd = 0; fd < n; fd++)
		if (u->fds[fd].info & FD_FIXED)
			coil__fixed_release((int)fd); /* the ring's exit drops the slots */
	coil__fixed_ring_remove(io->w->wake_fd);
	free(u->fixed_gen);
	u->fixed = false;
}

/* ---- what an fd is ---------------------------------------------------- */

/* What one fstat says of fd: FD_SEEK_KNOWN with FD_SEEKABLE and FD_REG
 * (a regular file, for nowait_read), or 0 if fd is not open. Out of line:
 * the struct stat stays off the stack of every read. */
static __attribute__((noinline)) uint16_t fd_kind(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return 0;
	return FD_SEEK_KNOWN | (coil__fd_takes_offsets(fd, &st) ? FD_SEEKABLE : 0) |
	       (S_ISREG(st.st_mode) ? FD_REG : 0);
}

/* Whether fd has offsets, as pread(2) sees it (io/offsets.h): io_uring
 * ignores the offset on a pipe or socket and reads an eventfd at any;
 * pread(2) and the readiness backends say -ESPIPE, and so does coil
 * everywhere. */
bool coil__uring_seekable(struct coil__uring *u, int fd)
{
	uint16_t *i = coil__uring_fd_info(u, fd);
	if (!i)
		return true; /* no memory to remember: let the kernel decide */
	if (!(*i & FD_SEEK_KNOWN)) {
		*i |= fd_kind(fd);
		if (!(*i & FD_SEEK_KNOWN))
			return true; /* not an open fd: the kernel says so */
	}
	return *i & FD_SEEKABLE;
}

/* Whether fd is a socket the kernel sends from without copying (TCP, UDP
 * over IPv4/IPv6; a Unix socket says -EOPNOTSUPP to SEND_ZC), and whether
 * a stream one. */
static uint16_t zc_kind(struct coil__uring *u, int fd)
{
	uint16_t *i = coil__uring_fd_info(u, fd);
	if (!i)
		return 0;
	if (!(*i & FD_ZC_KNOWN)) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int type = 0;
		socklen_t tlen = sizeof type;
		bool inet = getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
			    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
		bool stream = inet && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
			      type == SOCK_STREAM;
		*i |= FD_ZC_KNOWN | (inet ? FD_ZC : 0) | (stream ? FD_ZC_STREAM : 0);
	}
	return *i & (FD_ZC | FD_ZC_STREAM);
}

/* Whether some other request in flight on fd writes to it (or may: a
 * fiber waiting for room, one not listed: a splice's fd_out). */
static bool fd_writes(const struct coil__uring *u, int fd)
{
	if ((size_t)fd >= u->nfds)
		return false;
	const struct coil__uring_fd *e = &u->fds[fd];
	for (const struct coil__op *op = e->ops; !coil__uring_ops_end(u, op);
	     op = op->be.uring.fd_next) {
		switch (op->code) {
		case COIL__OP_SEND:
		case COIL__OP_SENDMSG:
		case COIL__OP_WRITE:
		case COIL__OP_WRITEV:
		case COIL__OP_POLL_OUT:
			return true;
		default:
			break;
		}
	}
	return e->reqs != (e->multi != 0);
}

enum { TCPS_ESTABLISHED = 1, TCPS_CLOSE_WAIT = 8 }; /* tcpi_state: the kernel's */

/* The sends that went zero-copy in this process, for the tests. */
static unsigned long zc_sends;

unsigned long coil__uring_zc_sends(void)
{
	return __atomic_load_n(&zc_sends, __ATOMIC_RELAXED);
}

/* Whether a TCP send's bytes, with those its socket holds and no other
 * write in flight on it, fit the window the peer advertised. */
static bool stream_fits(struct coil__uring *u, const struct coil__op *op)
{
	if (fd_writes(u, op->fd))
		return false;
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int queued;
	if (getsockopt(op->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof ti.tcpi_snd_wnd ||
	    (ti.tcpi_state != TCPS_ESTABLISHED && ti.tcpi_state != TCPS_CLOSE_WAIT) ||
	    ioctl(op->fd, SIOCOUTQ, &queued) < 0 || queued < 0)
		return false;
	return (uint64_t)queued + op->u.rw.len <= ti.tcpi_snd_wnd;
}

/* Whether op (a send of at least zc_min bytes) may go zero-copy. Until its
 * notification the kernel may still transmit from the caller's buffer, so
 * the call cannot return before it, not even cancelled: on TCP that is
 * when the peer has ACKed every byte. The peer's stack ACKs what fits the
 * window it advertised whether its application reads or not, so a send
 * goes zero-copy only when all the bytes the socket holds, its own and
 * those of no other write in flight, fit that window: then a cancelled or
 * timed-out send waits a round trip at most, never for a peer that stopped
 * reading. Else, or when the kernel says nothing of the window, it is
 * copied. A datagram's buffer is let go once the packet is out. */
bool coil__uring_zc_fits(struct coil__uring *u, const struct coil__op *op)
{
	uint16_t kind = zc_kind(u, op->fd);
	if (!(kind & FD_ZC) || ((kind & FD_ZC_STREAM) && !stream_fits(u, op)))
		return false;
	__atomic_fetch_add(&zc_sends, 1, __ATOMIC_RELAXED);
	return true;
}

/* ---- fds coil made, and fds another worker closes ---------------------- */

void coil__uring_fd_opened(struct coil__io *io, int fd)
{
	coil__uring_fd_forget(io->be.uring, fd);
}

/* Another worker closes call->fd, which still names the file: forget it
 * (and drop its slot), and cancel this ring's requests on it, as a close
 * here does (their -ECANCELED is reported as -EBADF). A cancel by fd
 * matches by file when the kernel takes it, so the closer waits for the
 * last cancel's CQE (with SQPOLL that is not at the submit); cancels by
 * user_data keep the same order, taken in turn before it. With none in
 * flight here there is nothing to cancel: the closer goes on at once. */
void coil__uring_fd_gone(struct coil__io *io, struct coil__fd_gone_call *call)
{
	struct coil__uring *u = io->be.uring;
	coil__uring_fd_forget(u, call->fd);
	if (!coil__uring_fd_busy(u, call->fd)) {
		coil__fd_gone_done(call);
		return;
	}
	/* Named now: getting SQEs may reap, which ends ops (a stale name
	 * cancels nothing: its generation moved on). */
	struct coil__uring_close_plan p;
	coil__uring_close_plan(u, call->fd, COIL__URING_CLOSE_MAX, &p);
	unsigned k = coil__uring_close_sqes(&p);
	for (unsigned i = 0; i < k; i++) {
		struct io_uring_sqe *sqe = coil__uring_sqe_for_cancel(io, u, NULL);
		if (!sqe) {
			coil__fd_gone_done(call); /* a failed ring ends the runtime */
			return;
		}
		coil__uring_prep_close_cancel(sqe, call->fd, &p, i,
					      i + 1 < k ? 0 : (uint64_t)(uintptr_t)call | UD_FD_GONE);
	}
	io->w->pending++; /* its CQE: the worker must poll for it */
}

/* A coil_loop's: fd was closed elsewhere, already, so the number may name
 * a new file and nothing goes by it (a cancel by fd would find the new
 * file's requests, or none): each request listed on fd is cancelled by its
 * user_data (the ops' -ECANCELED is reported as -EBADF), and fd forgotten
 * (its registered slot dropped). Getting SQEs here only submits, never
 * reaps: the list holds still while it is walked. A splice's fd_out is
 * not listed by name: it ends with its fd_in, or on its own. */
static bool cancel_by_name(struct coil__uring *u, uint64_t ud, unsigned long *count)
{
	struct io_uring_sqe *sqe = coil__uring_sqe(u);
	if (!sqe)
		return false; /* the kernel takes none (-EBUSY): they end on their own */
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, 0);
	__atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
	return true;
}

static void closed_one(struct coil__uring *u, int fd)
{
	struct coil__uring_fd *e = &u->fds[fd];
	uint64_t multi = e->multi;
	struct coil__op *op = e->ops;
	coil__uring_fd_forget(u, fd);
	if (multi && !cancel_by_name(u, multi, &multi_cancels))
		return;
	for (; !coil__uring_ops_end(u, op); op = op->be.uring.fd_next)
		if (!cancel_by_name(u, coil__uring_op_tag(op), &op_cancels))
			return;
}

void coil__uring_fd_closed(struct coil__io *io, int fd, uint32_t gen)
{
	struct coil__uring *u = io->be.uring;
	if (fd >= 0) {
		/* Forgotten since, or met again under a later generation (a
		 * new fd of the number came through here): not this close's. */
		if ((size_t)fd < u->nfds && (u->fds[fd].info & FD_MET) &&
		    u->fds[fd].gen == (uint16_t)gen)
			closed_one(u, fd);
		return;
	}
	for (size_t f = 0; f < u->nfds; f++)
		if ((u->fds[f].info & FD_MET) &&
		    u->fds[f].gen != (uint16_t)coil__fd_gen_any((int)f))
			closed_one(u, (int)f);
}
