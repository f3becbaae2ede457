/*
 * The io_uring backend.
 *
 * Every op becomes one SQE whose user_data is the op's address tagged with
 * its generation in the top 16 bits; its CQE completes it. SQEs queued while
 * fibers run are handed to the kernel together, by poll(), in one
 * io_uring_submit_and_wait (or submit_and_get_events when fibers are still
 * runnable). A cancel is an IORING_OP_ASYNC_CANCEL aimed at the op's tagged
 * user_data; its own CQE carries user_data 0 and is only counted: the op
 * resumes its fiber from the op's own CQE, never before.
 *
 * Deadlines are sched's timers, not linked timeouts: a kernel timer per op
 * costs an SQE and an hrtimer even when it never fires, and every one that
 * fires is an interrupt (here, in a VM, ~4 us of CPU: 2000 fibers sleeping
 * through IORING_OP_TIMEOUTs saturated a core and woke 10 ms late). A
 * deadline that passes cancels the op (IORING_OP_ASYNC_CANCEL); the ring's
 * wait is bounded by the earliest timer. IORING_OP_TIMEOUT is still there
 * for sleeps when coil_config.coalesce_sleeps is off (the lab compares).
 *
 * In-flight ops are bounded (coil_config.max_inflight; by default 16 x the
 * CQ size on IORING_FEAT_NODROP kernels, else cq/2, which makes overflow
 * impossible since an op owes at most 2 CQEs). A burst of more completions
 * than the CQ holds is kept by a NODROP kernel: coil reaps, sees
 * IORING_SQ_CQ_OVERFLOW and flushes; a submit refused with -EBUSY waits
 * for the next reap.
 */
#include <errno.h>
#include <liburing.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "coil/time.h"
#include "base/panic.h"
#include "base/spin.h"
#include "io/backend.h"
#include "sched/crew.h"
#include "io/io.h"
#include "io/accepts.h"
#include "io/fd.h"
#include "io/fixed.h"
#include "io/iobuf.h"
#include "io/lend.h"
#include "io/optable.h"
#include "io/pool.h"
#include "io/uring/shim.h"

struct coil__uring {
	struct io_uring ring;
	unsigned setup_flags;
	unsigned features;	/* IORING_FEAT_* */
	bool pool_armed;	/* a POLL_ADD on the blocking pool's notify fd is in flight */
	bool wake_armed;	/* a POLL_ADD on the worker's wake eventfd is in flight */
	int error;		/* the ring failed (a submit's own error): fatal */
	/* Ops whose opcode this kernel lacks and that the blocking pool can
	 * do instead (per-op fallback: the ring is kept for the rest). */
	bool to_pool[COIL__OP_COUNT];
	/* Ops that take submit_special() (and a look at their completion):
	 * SPECIAL_* bits. */
	uint8_t special[COIL__OP_COUNT];
	/* Multishot recv with provided buffers (6.0) is there. */
	bool has_recv_multi;
	bool has_send_zc;	/* IORING_OP_SEND_ZC (6.0) */
	bool has_accept_multi;	/* IORING_ACCEPT_MULTISHOT (5.19) */
	/* The provided buffer ring of io/lend.h (group 0), or NULL. */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	int br_mask;
	/* Recv bundles (COIL_FEATURE_RECV_BUNDLE): a completion may span
	 * several buffers, found through br_pos (buffer id -> the ring
	 * position it was last put at). */
	bool bundle;
	uint16_t *br_pos;
	/* Per fd number: whether it can seek (see seekable()). */
	uint16_t *fd_info;	/* FD_* bits, per fd number */
	size_t fd_info_len;
	/* SEND_ZC for sends of at least zc_min bytes (0: never). */
	size_t zc_min;
	/* Registered files (io/fixed.h): a sparse table of nslots; per slot
	 * the fd generation it was registered under; the close epoch last
	 * looked at; the ops that name a slot. */
	bool fixed;
	unsigned nslots;
	uint32_t *fixed_gen;
	uint64_t fixed_epoch;
	bool fixable[COIL__OP_COUNT];
};

/* Why an op takes submit_special(). */
enum {
	SPECIAL_OWN = 1,	/* its own path (pool, offsets, close...) */
	SPECIAL_MEETS = 2,	/* several workers: it names an fd, which this
				 * worker then met (io/fd.h); never with one */
};

/* What coil learnt of an fd number, asked once and kept until coil closes
 * it or a new fd of that number comes through coil (0: nothing yet). */
enum {
	FD_SEEK_KNOWN = 1, FD_SEEKABLE = 2,	/* seekable() */
	FD_ZC_KNOWN = 4, FD_ZC = 8,		/* zc_capable() */
	FD_NOWAIT_KNOWN = 16, FD_NOWAIT = 32,	/* nowait_read(): a buffered regular file */
	FD_FIXED = 64, FD_FIXED_NO = 128,	/* in the ring's file table; could not be */
	FD_MISS_ONE = 256, FD_MISSES = 0x0f00,	/* its inline reads that missed the cache, in a row */
	FD_MET = 0x1000,			/* marked as met (io/fd.h) */
};

static void fixed_drop(struct coil__uring *u, int fd, uint16_t *i);

/* A new fd (or none) has this number: forget what was known (and let go
 * of the old file if the ring's table still held it). */
static void fd_forget(struct coil__uring *u, int fd)
{
	if (fd >= 0 && (size_t)fd < u->fd_info_len) {
		if (u->fd_info[fd] & FD_FIXED)
			fixed_drop(u, fd, &u->fd_info[fd]);
		u->fd_info[fd] = 0;
	}
}

/* fd's entry, the table grown to hold it; NULL without memory. */
static uint16_t *fd_info(struct coil__uring *u, int fd)
{
	if ((size_t)fd >= u->fd_info_len) {
		size_t n = u->fd_info_len ? u->fd_info_len : 256;
		while (n <= (size_t)fd)
			n *= 2;
		uint16_t *t = realloc(u->fd_info, n * sizeof *t);
		if (!t)
			return NULL;
		memset(t + u->fd_info_len, 0, (n - u->fd_info_len) * sizeof *t);
		u->fd_info = t;
		u->fd_info_len = n;
	}
	return &u->fd_info[fd];
}

/* Several workers: this worker is about to keep state for fd (an op in
 * flight, what it learns of it); mark it once, for a close on another
 * worker to reach (io/fd.h). Without memory for the entry, every time. */
static __attribute__((noinline)) void fd_met(struct coil__io *io, struct coil__uring *u, int fd)
{
	if (fd < 0)
		return;
	uint16_t *i = fd_info(u, fd);
	if (i && (*i & FD_MET))
		return;
	if (i)
		*i |= FD_MET;
	coil__fd_met(io->w, fd);
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
static inline void use_fixed(struct coil__uring *u, struct io_uring_sqe *sqe, int fd)
{
	if ((unsigned)fd >= u->nslots)
		return;
	uint16_t *i = fd_info(u, fd);
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
static __attribute__((noinline)) void fixed_rescan(struct coil__uring *u, uint64_t epoch)
{
	u->fixed_epoch = epoch;
	size_t n = u->fd_info_len < u->nslots ? u->fd_info_len : u->nslots;
	for (size_t fd = 0; fd < n; fd++)
		if ((u->fd_info[fd] & FD_FIXED) && coil__fixed_gen((int)fd) != u->fixed_gen[fd])
			fixed_drop(u, (int)fd, &u->fd_info[fd]);
}

/* The table, when the feature is asked for: as many slots as fds the
 * process may have (at most COIL__FIXED_MAX). Refused (memory, an old
 * kernel), coil does without. */
static void fixed_init(struct coil__io *io, struct coil__uring *u)
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

static void fixed_fini(struct coil__io *io, struct coil__uring *u)
{
	if (!u->fixed)
		return;
	size_t n = u->fd_info_len < u->nslots ? u->fd_info_len : u->nslots;
	for (size_t fd = 0; fd < n; fd++)
		if (u->fd_info[fd] & FD_FIXED)
			coil__fixed_release((int)fd); /* the ring's exit drops the slots */
	coil__fixed_ring_remove(io->w->wake_fd);
	free(u->fixed_gen);
	u->fixed = false;
}

/* Whether fd has offsets. io_uring ignores the offset of a read or write
 * on a pipe or socket; the readiness backends and pread(2) say -ESPIPE,
 * and so does coil everywhere. */
static bool seekable(struct coil__uring *u, int fd)
{
	uint16_t *i = fd_info(u, fd);
	if (!i)
		return true; /* no memory to remember: let the kernel decide */
	if (!(*i & FD_SEEK_KNOWN))
		*i |= FD_SEEK_KNOWN |
		      (lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE ? 0 : FD_SEEKABLE);
	return *i & FD_SEEKABLE;
}

/* Whether fd is a socket the kernel sends from without copying (TCP, UDP
 * over IPv4/IPv6; a Unix socket says -EOPNOTSUPP to SEND_ZC). */
static bool zc_capable(struct coil__uring *u, int fd)
{
	uint16_t *i = fd_info(u, fd);
	if (!i)
		return false;
	if (!(*i & FD_ZC_KNOWN)) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		bool inet = getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
			    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
		*i |= FD_ZC_KNOWN | (inet ? FD_ZC : 0);
	}
	return *i & FD_ZC;
}

/* A read of a buffered regular file whose pages are cached is a memcpy:
 * preadv2(RWF_NOWAIT) on the worker's thread does it without an SQE, a
 * completion and a fiber switch, and says -EAGAIN when it would wait for
 * the disk (then the ring reads). After 8 such misses in a row on an fd,
 * coil stops trying there until the fd is new again. Returns the bytes read
 * or -EAGAIN: not done, submit it. */
static int nowait_read(struct coil__uring *u, struct coil__op *op)
{
	uint16_t *i = fd_info(u, op->fd);
	if (!i)
		return -EAGAIN;
	if (!(*i & FD_NOWAIT_KNOWN)) {
		struct stat st;
		int fl = fcntl(op->fd, F_GETFL);
		bool ok = fl >= 0 && !(fl & O_DIRECT) && fstat(op->fd, &st) == 0 &&
			  S_ISREG(st.st_mode);
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

/* user_data of our own POLL_ADD on the pool's notify fd (ops are 8-aligned,
 * 0 is a cancel's completion). */
#define UD_POOL 1
/* The CQE another worker's IORING_OP_MSG_RING posts here: a kick. */
#define UD_KICK 2
/* Our own POLL_ADD on the worker's wake eventfd (kicks from plain threads). */
#define UD_WAKE_FD 4
/* A MSG_RING of ours that failed (only failures post: CQE_SKIP_SUCCESS):
 * the target worker's address | this; it is kicked by its eventfd. */
#define UD_KICK_FAILED 3
/* A multishot request (backend->multi_arm): its key's address | its kind
 * (enum coil__multi_kind: 5 or 6), tagged like an op with its generation. */
/* The cancel of an fd another worker closes (uring_fd_gone): the call's
 * address | this. */
#define UD_FD_GONE 7

static bool uring_kick(struct coil__worker *self, struct coil__worker *to);

/* The buffer group of the ring that io/lend.h's buffers sit in. */
#define COIL__LEND_BGID 0

/* How long an SQPOLL thread spins without work before it sleeps (and the
 * next submission costs a wake-up syscall again). */
#define SQPOLL_IDLE_MS 20

#define TAG_SHIFT 48
#define PTR_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)

static inline uint64_t op_tag(const struct coil__op *op)
{
	return ((uint64_t)op->gen << TAG_SHIFT) | (uint64_t)(uintptr_t)op;
}

/* ---- one table: how each op becomes an SQE ----------------------------- */

typedef void prep_fn(struct io_uring_sqe *sqe, struct coil__op *op);

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
 * names each op and says the rest. An op without a prep has no opcode:
 * the blocking pool always does it here (its row must allow that). */
static const struct {
	prep_fn *prep;
	uint8_t opcode; /* the io_uring opcode, also checked by the probe */
} preps[COIL__OP_COUNT] = {
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
		if (!preps[i].prep)
			continue; /* no opcode: the pool's */
		rows[n].name = coil__optable[i].name;
		rows[n].opcode = preps[i].opcode;
		rows[n].pool_stands_in = coil__optable[i].flags & COIL__OPF_POOL_STANDS_IN;
		n++;
	}
	return n;
}

/* ---- set-up ------------------------------------------------------------- */

/* Whether list (comma-separated op names, from $COIL_URING_WITHOUT) names
 * the op. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Every opcode coil issues, plus async cancel and poll. An op the kernel
 * lacks goes to the blocking pool if its row lets the pool stand in (open,
 * stat, fsync, close); a kernel lacking any other (reads, writes, socket
 * ops), cancel or poll is refused at start (-ENOTSUP: coil falls back to
 * epoll) rather than failing mid-program. */
static int probe_ops(struct coil__uring *u, const char *without)
{
	struct io_uring *ring = &u->ring;
	bool *to_pool = u->to_pool;
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	if (!probe)
		return -ENOTSUP; /* IORING_REGISTER_PROBE is 5.6+; we need newer */
	/* No probe tells flags apart: multishot recv came in 6.0 with
	 * IORING_OP_SEND_ZC, whose presence stands for it. */
	u->has_recv_multi = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&
			    !listed(without, "recv_multishot");
	u->has_send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&
			 !listed(without, "send_zc");
	/* Multishot accept came in 5.19 with IORING_OP_SOCKET. */
	u->has_accept_multi = io_uring_opcode_supported(probe, IORING_OP_SOCKET) &&
			      !listed(without, "accept_multishot");
	int r = 0;
	for (size_t i = 0; i < COIL__OP_COUNT; i++) {
		bool pool_may = coil__optable[i].flags & COIL__OPF_POOL_STANDS_IN;
		if (!preps[i].prep && !pool_may)
			coil__panic("op %s: no io_uring prep and no stand-in", coil__optable[i].name);
		if (preps[i].prep && io_uring_opcode_supported(probe, preps[i].opcode) &&
		    !listed(without, coil__optable[i].name))
			continue;
		if (pool_may)
			to_pool[i] = true;
		else
			r = -ENOTSUP;
	}
	if (!io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) ||
	    !io_uring_opcode_supported(probe, IORING_OP_POLL_ADD))
		r = -ENOTSUP;
	io_uring_free_probe(probe);
	return r;
}

/* Kernels 6.6-6.8 may hand out invalid fds from a multishot accept on a
 * DEFER_TASKRUN ring (liburing issue #1062): coil does not choose it there. */
static bool accept_multi_broken(void)
{
	struct utsname un;
	unsigned major, minor;
	if (uname(&un) < 0 || sscanf(un.release, "%u.%u", &major, &minor) != 2)
		return true;
	return major == 6 && minor >= 6 && minor <= 8;
}

static int uring_init(struct coil__io *io, const struct coil__config *cfg)
{
	struct coil__uring *u = calloc(1, sizeof *u);
	if (!u)
		return -ENOMEM;
	/* Best first: one thread submits and reaps (SINGLE_ISSUER), and task
	 * work runs only when we wait (DEFER_TASKRUN, 6.1+); else cooperative
	 * task work (5.19+); else whatever the kernel has. */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	int r = -EINVAL;
	/* SQPOLL, asked for, before all: a kernel thread takes the SQEs (it
	 * is then the single issuer; DEFER_TASKRUN and the task-run flags do
	 * not go with it). Refused, the list below. */
	if (COIL__FEATURE(cfg, COIL_FEATURE_SQPOLL, false)) {
		/* One kernel thread for the whole crew: the workers' rings
		 * attach to the first one's (N spinning threads on fewer CPUs
		 * would starve the workers). */
		struct coil__crew *crew = io->w->crew;
		coil__spin_lock(&crew->sqpoll_lock);
		for (int attach = crew->sqpoll_fd1 != 0; attach >= 0 && r < 0; attach--) {
			struct io_uring_params p;
			memset(&p, 0, sizeof p);
			p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_CQSIZE | (attach ? IORING_SETUP_ATTACH_WQ : 0);
			p.wq_fd = attach ? (unsigned)(crew->sqpoll_fd1 - 1) : 0;
			p.cq_entries = cfg->pub.cq_entries;
			p.sq_thread_idle = SQPOLL_IDLE_MS;
			r = io_uring_queue_init_params(cfg->pub.sq_entries, &u->ring, &p);
			if (r == 0) {
				u->setup_flags = p.flags;
				u->features = p.features;
				io->features |= COIL_FEATURE_SQPOLL;
				if (!crew->sqpoll_fd1)
					crew->sqpoll_fd1 = u->ring.ring_fd + 1;
			}
		}
		coil__spin_unlock(&crew->sqpoll_lock);
	}
	/* $COIL_URING_SETUP=coop|plain starts lower down the list: how the
	 * tests run the fallbacks of older kernels on a new one. */
	size_t first = cfg->uring_setup; /* enum coil__uring_setup: an index here */
	/* A coil_loop's ring is waited on through its registered eventfd,
	 * from the embedder's poll, not in io_uring_enter. Under
	 * DEFER_TASKRUN a completion that needs task work (a socket read
	 * that waited for data) signals that eventfd late, from a deferred
	 * callback (call_rcu, by the kernel's source): 13-16 ms on 6.18,
	 * measured with a bare liburing ring (0.05 ms with COOP_TASKRUN or
	 * no flag). So it starts at COOP, whose task work runs on the
	 * owner's next return from any syscall (the embedder's poll
	 * included) and signals at once. */
	if (io->w->embedded && first < COIL__URING_SETUP_COOP)
		first = COIL__URING_SETUP_COOP;
	for (size_t i = first; r < 0 && i < sizeof tries / sizeof tries[0]; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = cfg->pub.cq_entries;
		r = io_uring_queue_init_params(cfg->pub.sq_entries, &u->ring, &p);
		if (r == 0) {
			u->setup_flags = p.flags;
			u->features = p.features;
			break;
		}
		if (r != -EINVAL)
			break; /* ENOSYS, EPERM, ENOMEM...: no flag set helps */
	}
	if (r < 0)
		goto fail;
	r = probe_ops(u, cfg->uring_without);
	if (r < 0)
		goto fail_ring;
	io->can_splice = true;
	for (size_t i = 0; i < COIL__OP_COUNT; i++) {
		unsigned f = coil__optable[i].flags;
		/* The pool's, positional (-ESPIPE on a stream), a new fd to
		 * forget the past of, a close (cancels the fd's ops first). */
		if (u->to_pool[i] ||
		    (f & (COIL__OPF_SEEKS | COIL__OPF_MAKES_FD | COIL__OPF_CLOSES_FD)))
			u->special[i] |= SPECIAL_OWN;
		/* Several workers: the ops that name an fd mark it as met on
		 * their way (submit_special). One worker keeps its hot path. */
		if (io->w->multi && (f & COIL__OPF_NAMES_FD))
			u->special[i] |= SPECIAL_MEETS;
	}
	if (COIL__FEATURE(cfg, COIL_FEATURE_NOWAIT_READS, true))
		io->features |= COIL_FEATURE_NOWAIT_READS;
	if (COIL__FEATURE(cfg, COIL_FEATURE_ACCEPT_MULTI, !accept_multi_broken()) &&
	    u->has_accept_multi)
		io->features |= COIL_FEATURE_ACCEPT_MULTI;
	if (COIL__FEATURE(cfg, COIL_FEATURE_SEND_ZC, false) && u->has_send_zc) {
		u->zc_min = cfg->pub.send_zc_min ? cfg->pub.send_zc_min : 1;
		u->special[COIL__OP_SEND] |= SPECIAL_OWN;
		io->features |= COIL_FEATURE_SEND_ZC;
	}
	if (COIL__FEATURE(cfg, COIL_FEATURE_FIXED_FILES, false))
		fixed_init(io, u);
	/* Saves a file-table lookup on every io_uring_enter (5.18+). */
	(void)io_uring_register_ring_fd(&u->ring);
	io->be.uring = u;
	/* Other workers of the crew kick this one by MSG_RING (the ring's own
	 * fd: the registered index is ours only). */
	io->w->ring_fd = u->ring.ring_fd;
	io->w->kick_from = uring_kick;
	/* Each op owes at most 2 CQEs: its own and a cancel's (a close: its
	 * own and its fd-cancel's). Bounding ops at cq/2 makes an overflow
	 * impossible, but also caps idle connections (each holds a read) at
	 * cq/2. Kernels with
	 * IORING_FEAT_NODROP keep what does not fit in the CQ and coil flushes
	 * it (reap, the overflow flag, -EBUSY), so there the bound only has to
	 * keep memory sane. */
	if (cfg->pub.max_inflight)
		io->inflight_max = cfg->pub.max_inflight;
	else if (u->features & IORING_FEAT_NODROP)
		io->inflight_max = (size_t)u->ring.cq.ring_entries * 16;
	else
		io->inflight_max = u->ring.cq.ring_entries / 2;
	return 0;
fail_ring:
	io_uring_queue_exit(&u->ring);
fail:
	free(u);
	return r;
}

static void uring_fini(struct coil__io *io)
{
	struct coil__uring *u = io->be.uring;
	if (!u)
		return;
	fixed_fini(io, u);
	io_uring_queue_exit(&u->ring);
	if (u->br)
		munmap(u->br, u->br_bytes);
	free(u->br_pos);
	free(u->fd_info);
	free(u);
	io->be.uring = NULL;
}

/* ---- completions -------------------------------------------------------- */

static void arm_pool(struct coil__io *io, struct coil__uring *u);
static void arm_wake(struct coil__io *io, struct coil__uring *u);
static void get_events(struct coil__uring *u);
static void submit_now(struct coil__uring *u);

/* A CQE about kicks: the worker woken (nothing to do: sched drains its
 * inbox after the poll), the wake eventfd readable (drain it), or a kick of
 * ours refused (the target's CQ full...: kick it through its eventfd). */
static __attribute__((noinline)) void kick_cqe(struct coil__io *io, struct coil__uring *u,
					       uint64_t ud)
{
	uint64_t n;
	if (ud == UD_WAKE_FD) {
		u->wake_armed = false;
		while (read(io->w->wake_fd, &n, sizeof n) > 0) {
		}
	} else if ((ud & 7) == UD_KICK_FAILED) {
		struct coil__worker *to = (struct coil__worker *)(uintptr_t)(ud & ~(uint64_t)7);
		n = 1;
		(void)!write(to->wake_fd, &n, sizeof n);
	}
}

static inline struct io_uring_sqe *get_sqe(struct coil__uring *u);

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
		uint16_t *i = fd_info(u, op->fd);
		if (i)
			*i = (uint16_t)((*i & ~FD_ZC) | FD_ZC_KNOWN);
		struct io_uring_sqe *sqe = get_sqe(u);
		if (sqe) {
			op->be.uring.zc = false;
			prep_send(sqe, op);
			io_uring_sqe_set_data64(sqe, op_tag(op));
			return false;
		}
	}
	return true;
}

/* A recv bundle's completion: res bytes in the buffers from id on, in
 * buffer-ring order (each full but the last). Each goes to the reader as
 * if it had completed alone, so the data keeps its order. The next id is
 * read from the ring only after the ones before were handed over, which
 * may give them back at once: a give writes at the ring's tail, which
 * stays behind the entries still to read (those buffers are still out). */
static void lend_bundle(struct coil__io *io, struct coil__uring *u, void *key, uint16_t gen,
			int res, uint32_t id, bool more)
{
	int size = (int)io->lend->size;
	uint32_t pos = u->br_pos[id];
	for (uint32_t i = 0; res > 0; i++) {
		uint32_t bid = i ? u->br->bufs[(pos + i) & (uint32_t)u->br_mask].bid : id;
		int len = res > size ? size : res;
		res -= len;
		coil__lend_cqe(io, key, gen, len, true, bid, res > 0 || more);
	}
}

static int reap(struct coil__io *io, struct coil__uring *u)
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
		if (ud == 0)
			continue; /* a cancel request's own completion */
		if (ud == UD_POOL) {
			u->pool_armed = false;
			completed += coil__pool_reap(io->pool, io, NULL, NULL);
			continue;
		}
		if ((ud & 7) >= COIL__MULTI_RECV) {
			if ((ud & 7) == UD_FD_GONE) {
				/* The kernel took the cancel: the closing
				 * worker may close. */
				io->w->pending--;
				coil__fd_gone_done((struct coil__fd_gone_call *)(uintptr_t)(ud & ~(uint64_t)7));
				continue;
			}
			/* Completes many times: not an op's end. */
			void *key = (void *)(uintptr_t)(ud & PTR_MASK & ~(uint64_t)7);
			uint16_t gen = (uint16_t)(ud >> TAG_SHIFT);
			bool more = flags & IORING_CQE_F_MORE;
			if ((ud & 7) == COIL__MULTI_RECV) {
				uint32_t id = flags >> IORING_CQE_BUFFER_SHIFT;
				if (u->bundle && (flags & IORING_CQE_F_BUFFER) &&
				    res > (int)io->lend->size)
					lend_bundle(io, u, key, gen, res, id, more);
				else
					coil__lend_cqe(io, key, gen, res, flags & IORING_CQE_F_BUFFER,
						       id, more);
			} else {
				if (res >= 0)
					fd_forget(u, res); /* a new fd */
				coil__accepts_cqe(io, key, gen, res, more);
			}
			continue;
		}
		if (__builtin_expect(ud < 8 || (ud & 7) == UD_KICK_FAILED, 0)) {
			kick_cqe(io, u, ud);
			continue;
		}
		struct coil__op *op = (struct coil__op *)(uintptr_t)(ud & PTR_MASK);
		if (op->gen != (uint16_t)(ud >> TAG_SHIFT))
			coil__panic("io_uring: stale completion (op %p gen %u, cqe gen %u)",
				    (void *)op, op->gen, (unsigned)(ud >> TAG_SHIFT));
		if (__builtin_expect(u->special[op->code] & SPECIAL_OWN, 0)) {
			if (res >= 0 && (coil__optable[op->code].flags & COIL__OPF_MAKES_FD))
				fd_forget(u, res); /* a new fd */
			if (op->code == COIL__OP_SEND && op->be.uring.zc &&
			    !zc_cqe(io, u, op, &res, flags))
				continue;
		}
		coil__op_complete(io, op, res);
		completed++;
	}
	if (io->pool && io->pool->outstanding && !u->pool_armed)
		arm_pool(io, u);
	return completed;
}

static bool cq_overflowed(struct coil__uring *u)
{
	return IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW;
}

static int uring_poll(struct coil__io *io, bool block, int64_t deadline)
{
	struct coil__uring *u = io->be.uring;
	int r;
	if (u->error)
		return u->error;
	if (u->fixed) {
		uint64_t epoch = coil__fixed_epoch();
		if (__builtin_expect(epoch != u->fixed_epoch, 0))
			fixed_rescan(u, epoch);
	}
	if (block && !u->wake_armed) {
		arm_wake(io, u);
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
	int completed = reap(io, u);
	/* Completions the kernel could not post are flushed by entering it. */
	while (cq_overflowed(u) && !u->error) {
		get_events(u);
		completed += reap(io, u);
	}
	if (u->error)
		return u->error;
	return r == -EINTR && completed == 0 ? -EINTR : completed;
}

/* ---- submission --------------------------------------------------------- */

/* Hand the queued SQEs to the kernel now. -EBUSY / -EAGAIN (its CQ
 * backlog is full) pass: the next reap makes room. Any other error is the
 * ring failing: kept, and the next poll ends the runtime with it. */
static void submit_now(struct coil__uring *u)
{
	int r = io_uring_submit(&u->ring);
	if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR && !u->error)
		u->error = r;
}

/* The same for io_uring_get_events (flush task work and overflowed CQEs). */
static void get_events(struct coil__uring *u)
{
	int r = io_uring_get_events(&u->ring);
	if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR && !u->error)
		u->error = r;
}

/* The SQ was full after a submit: let the kernel take SQEs (with SQPOLL,
 * its thread does, in its own time: wait for room) and post completions. */
static void sq_drain(struct coil__uring *u)
{
	if (u->setup_flags & IORING_SETUP_SQPOLL)
		(void)io_uring_sqring_wait(&u->ring);
	get_events(u);
}

/* An SQE, handing the queued ones to the kernel if the SQ is full. NULL
 * only if the kernel takes none (its CQ backlog is full: -EBUSY). */
static __attribute__((noinline)) struct io_uring_sqe *get_sqe_after_submit(struct coil__uring *u)
{
	submit_now(u);
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

static inline __attribute__((always_inline)) struct io_uring_sqe *get_sqe(struct coil__uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (__builtin_expect(sqe != NULL, 1))
		return sqe;
	return get_sqe_after_submit(u);
}

/* Before the worker blocks: its wake eventfd readable ends the wait (a
 * plain thread posted to its inbox). Not an op: not counted as pending. */
static void arm_wake(struct coil__io *io, struct coil__uring *u)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return; /* the next poll tries again */
	io_uring_prep_poll_add(sqe, io->w->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_WAKE_FD);
	u->wake_armed = true;
}

/* The worker's kick_from: post a CQE into to's ring (IORING_OP_MSG_RING),
 * which ends its wait; submitted now, since to sleeps. */
static bool uring_kick(struct coil__worker *self, struct coil__worker *to)
{
	struct coil__io *io = coil__tls_io;
	if (to->ring_fd < 0 || !io || io->w != self || io->backend != &coil__backend_uring)
		return false;
	struct coil__uring *u = io->be.uring;
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return false;
	io_uring_prep_msg_ring(sqe, to->ring_fd, 0, UD_KICK, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)to | UD_KICK_FAILED);
	submit_now(u);
	return true;
}

static void arm_pool(struct coil__io *io, struct coil__uring *u)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return; /* the next reap tries again */
	io_uring_prep_poll_add(sqe, io->pool->notify_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_POOL);
	u->pool_armed = true;
}

/* The ops that need more than an SQE: the pool's, positional reads and
 * writes (-ESPIPE on a stream), close (cancels the fd's ops first). Out of
 * line: the hot path is one SQE. */
static __attribute__((noinline)) int
submit_special(struct coil__io *io, struct coil__uring *u, struct coil__op *op)
{
	if (u->special[op->code] & SPECIAL_MEETS)
		fd_met(io, u, op->fd);
	unsigned f = coil__optable[op->code].flags;
	if (u->to_pool[op->code]) {
		if (f & COIL__OPF_CLOSES_FD) {
			/* The fd's ops end with it here too: the cancel must
			 * reach the kernel while the number still names the
			 * file, so before the pool closes it. */
			struct io_uring_sqe *c = get_sqe(u);
			if (!c)
				return COIL__SUBMIT_FULL;
			io_uring_prep_cancel_fd(c, op->fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(c, 0);
			submit_now(u);
			fd_forget(u, op->fd);
		}
		struct coil__pool *pool;
		int r = coil__io_pool(io, &pool);
		if (r == 0)
			r = coil__pool_submit(pool, op);
		if (r == 0 && !u->pool_armed)
			arm_pool(io, u);
		return r; /* -errno: no pool thread could start, say */
	}
	if (f & COIL__OPF_SEEKS) {
		if (op->off >= 0 && !seekable(u, op->fd))
			return -ESPIPE;
		if (op->code == COIL__OP_READ && op->off >= 0 && (io->features & COIL_FEATURE_NOWAIT_READS)) {
			int n = nowait_read(u, op);
			if (n != -EAGAIN) {
				op->res = n;
				return COIL__SUBMIT_DONE;
			}
		}
		if ((op->code == COIL__OP_READ || op->code == COIL__OP_WRITE) &&
		    coil__iobuf_fixed(io->iobufs, op->u.rw.buf, op->u.rw.len)) {
			/* In the registered region: no pinning per call. */
			struct io_uring_sqe *sqe = get_sqe(u);
			if (!sqe)
				return COIL__SUBMIT_FULL;
			if (op->code == COIL__OP_READ)
				io_uring_prep_read_fixed(sqe, op->fd, op->u.rw.buf,
							 (unsigned)op->u.rw.len, (uint64_t)op->off, 0);
			else
				io_uring_prep_write_fixed(sqe, op->fd, op->u.rw.buf,
							  (unsigned)op->u.rw.len, (uint64_t)op->off, 0);
			if (u->fixable[op->code])
				use_fixed(u, sqe, op->fd);
			io_uring_sqe_set_data64(sqe, op_tag(op));
			return 0;
		}
	} else if (op->code == COIL__OP_SEND) {
		op->be.uring.zc = u->zc_min && op->u.rw.len >= u->zc_min && zc_capable(u, op->fd);
		if (op->be.uring.zc) {
			struct io_uring_sqe *sqe = get_sqe(u);
			if (!sqe)
				return COIL__SUBMIT_FULL;
			io_uring_prep_send_zc(sqe, op->fd, op->u.rw.buf, op->u.rw.len,
					      (int)op->flags, 0);
			if (u->fixable[op->code])
				use_fixed(u, sqe, op->fd);
			io_uring_sqe_set_data64(sqe, op_tag(op));
			return 0;
		}
	} else if (f & COIL__OPF_CLOSES_FD) {
		fd_forget(u, op->fd);
		/* The cancel and the close must be adjacent in the SQ. */
		if (io_uring_sq_space_left(&u->ring) < 2)
			submit_now(u);
		if (io_uring_sq_space_left(&u->ring) < 2)
			return COIL__SUBMIT_FULL;
		/* Ops still waiting on the fd (another fiber's read...) end
		 * with it, as on the readiness backends: cancel them, then
		 * close (hard-linked: the close runs whatever the cancel
		 * found). Their -ECANCELED is reported as -EBADF. */
		struct io_uring_sqe *c = io_uring_get_sqe(&u->ring);
		io_uring_prep_cancel_fd(c, op->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(c, 0);
		c->flags |= IOSQE_IO_HARDLINK;
	}
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return COIL__SUBMIT_FULL;
	preps[op->code].prep(sqe, op);
	if (u->fixable[op->code])
		use_fixed(u, sqe, op->fd);
	io_uring_sqe_set_data64(sqe, op_tag(op));
	return 0;
}

static int uring_submit(struct coil__io *io, struct coil__op *op)
{
	struct coil__uring *u = io->be.uring;
	if (__builtin_expect(u->error != 0, 0))
		return u->error;
	if ((uintptr_t)op & ~(uintptr_t)PTR_MASK)
		coil__panic("op address %p does not fit the user_data tag", (void *)op);
	if (__builtin_expect(u->special[op->code], 0))
		return submit_special(io, u, op);
	struct io_uring_sqe *sqe = get_sqe(u);
	if (__builtin_expect(!sqe, 0))
		return COIL__SUBMIT_FULL;
	preps[op->code].prep(sqe, op);
	if (u->fixable[op->code])
		use_fixed(u, sqe, op->fd);
	io_uring_sqe_set_data64(sqe, op_tag(op));
	return 0;
}

static void uring_cancel(struct coil__io *io, struct coil__op *op)
{
	struct coil__uring *u = io->be.uring;
	struct io_uring_sqe *sqe;
	if (u->to_pool[op->code]) {
		if (coil__pool_cancel(io->pool, op))
			coil__op_complete(io, op, -ECANCELED);
		return;
	}
	/* A cancel must not be lost: if the kernel takes no SQE now, reap
	 * until it does (the op may even complete meanwhile). */
	while (!(sqe = get_sqe(u))) {
		sq_drain(u);
		reap(io, u);
		if (op->completed || u->error)
			return; /* a failed ring ends the runtime */
	}
	io_uring_prep_cancel64(sqe, op_tag(op), 0);
	io_uring_sqe_set_data64(sqe, 0);
}

static void uring_fd_opened(struct coil__io *io, int fd)
{
	fd_forget(io->be.uring, fd);
}

/* Another worker closes call->fd, which still names the file: forget it
 * (and drop its slot), and cancel this ring's ops on it, as a close here
 * does (their -ECANCELED is reported as -EBADF). The kernel matches them
 * by file when it takes the cancel, so the closer waits for the cancel's
 * CQE (with SQPOLL that is not at the submit). */
static void uring_fd_gone(struct coil__io *io, struct coil__fd_gone_call *call)
{
	struct coil__uring *u = io->be.uring;
	struct io_uring_sqe *sqe;
	fd_forget(u, call->fd);
	/* As uring_cancel: it must not be lost. */
	while (!(sqe = get_sqe(u))) {
		sq_drain(u);
		reap(io, u);
		if (u->error) {
			coil__fd_gone_done(call); /* a failed ring ends the runtime */
			return;
		}
	}
	io_uring_prep_cancel_fd(sqe, call->fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)call | UD_FD_GONE);
	io->w->pending++; /* its CQE: the worker must poll for it */
}

/* The eventfd, registered with the ring: the kernel signals it when a
 * completion is posted. A loop's ring is COOP_TASKRUN (uring_init), so
 * that is when the data comes, not a deferred callback later. */
static int uring_embed(struct coil__io *io, int efd, int *signal_fd)
{
	int r = io_uring_register_eventfd(&io->be.uring->ring, efd);
	if (r < 0)
		return r;
	*signal_fd = efd;
	return efd;
}

/* ---- buffers lent to readers (io/lend.h) -------------------------------- */

/* The ring of l's buffers, registered as buffer group COIL__LEND_BGID.
 * Refused without multishot recv (the reader would gain nothing), or
 * when the kernel (5.19+), memory or memlock says no. */
static int uring_lend_init(struct coil__io *io, struct coil__lend *l)
{
	struct coil__uring *u = io->be.uring;
	if (!u->has_recv_multi || l->count > 32768)
		return -ENOTSUP;
	size_t bytes = l->count * sizeof(struct io_uring_buf);
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	struct io_uring_buf_ring *br = m;
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)br,
		.ring_entries = l->count,
		.bgid = COIL__LEND_BGID,
	};
	int r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0) {
		munmap(m, bytes);
		return r;
	}
	u->br = br;
	u->br_bytes = bytes;
	u->br_mask = io_uring_buf_ring_mask(l->count);
	if (COIL__FEATURE(io->cfg, COIL_FEATURE_RECV_BUNDLE, false) &&
	    (u->features & IORING_FEAT_RECVSEND_BUNDLE) &&
	    (u->br_pos = malloc(sizeof *u->br_pos * l->count))) {
		u->bundle = true;
		io->features |= COIL_FEATURE_RECV_BUNDLE;
	}
	for (uint32_t i = 0; i < l->count; i++) {
		if (u->bundle)
			u->br_pos[i] = (uint16_t)i;
		io_uring_buf_ring_add(br, coil__lend_buf(l, i), (unsigned)l->size, (unsigned short)i,
				      u->br_mask, (int)i);
	}
	io_uring_buf_ring_advance(br, (int)l->count);
	return 0;
}

static void uring_lend_give(struct coil__io *io, struct coil__lend *l, uint32_t id)
{
	struct coil__uring *u = io->be.uring;
	if (u->bundle)
		u->br_pos[id] = (uint16_t)(u->br->tail & u->br_mask);
	io_uring_buf_ring_add(u->br, coil__lend_buf(l, id), (unsigned)l->size, (unsigned short)id,
			      u->br_mask, 0);
	io_uring_buf_ring_advance(u->br, 1);
}

static int uring_iobuf_register(struct coil__io *io, void *base, size_t len)
{
	struct iovec iov = {.iov_base = base, .iov_len = len};
	return io_uring_register_buffers(&io->be.uring->ring, &iov, 1);
}

static uint64_t multi_tag(void *key, unsigned kind, uint16_t gen)
{
	return ((uint64_t)gen << TAG_SHIFT) | (uint64_t)(uintptr_t)key | kind;
}

/* Armed once, a multishot recv completes each time data arrives, into a
 * buffer the kernel takes from the ring; a multishot accept each time a
 * connection comes. */
static int uring_multi_arm(struct coil__io *io, void *key, unsigned kind, int fd, uint16_t gen)
{
	struct coil__uring *u = io->be.uring;
	if (u->error)
		return u->error;
	if ((uintptr_t)key & 7 || (uintptr_t)key & ~(uintptr_t)PTR_MASK)
		coil__panic("multishot key %p does not fit the user_data tag", key);
	if (u->special[COIL__OP_RECV] & SPECIAL_MEETS)
		fd_met(io, u, fd);
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return COIL__SUBMIT_FULL;
	if (kind == COIL__MULTI_RECV) {
		io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = COIL__LEND_BGID;
		if (u->bundle)
			sqe->ioprio |= IORING_RECVSEND_BUNDLE;
		if (u->fixed)
			use_fixed(u, sqe, fd);
	} else {
		io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	io_uring_sqe_set_data64(sqe, multi_tag(key, kind, gen));
	return 0;
}

static void uring_multi_stop(struct coil__io *io, void *key, unsigned kind, uint16_t gen)
{
	struct coil__uring *u = io->be.uring;
	struct io_uring_sqe *sqe;
	/* As uring_cancel: a stop must not be lost. */
	while (!(sqe = get_sqe(u))) {
		sq_drain(u);
		reap(io, u);
		if (u->error)
			return;
	}
	io_uring_prep_cancel64(sqe, multi_tag(key, kind, gen), 0);
	io_uring_sqe_set_data64(sqe, 0);
}

static void uring_lend_fini(struct coil__io *io, struct coil__lend *l)
{
	(void)l;
	struct coil__uring *u = io->be.uring;
	(void)io_uring_unregister_buf_ring(&u->ring, COIL__LEND_BGID);
	munmap(u->br, u->br_bytes);
	u->br = NULL;
	free(u->br_pos);
	u->br_pos = NULL;
	u->bundle = false;
}

const struct coil__backend coil__backend_uring = {
	.name = "io_uring",
	.timer_ops = true,
	.init = uring_init,
	.fini = uring_fini,
	.submit = uring_submit,
	.cancel = uring_cancel,
	.poll = uring_poll,
	.fd_opened = uring_fd_opened,
	.fd_gone = uring_fd_gone,
	.embed = uring_embed,
	.lend_init = uring_lend_init,
	.lend_give = uring_lend_give,
	.lend_fini = uring_lend_fini,
	.iobuf_register = uring_iobuf_register,
	.multi_arm = uring_multi_arm,
	.multi_stop = uring_multi_stop,
};
