/*
 * Completions emulated on readiness: the part of the epoll, poll and kqueue
 * backends that does not depend on the mechanism. See compat.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coil/time.h"
#include "io/compat/compat.h"
#include "io/backend.h"
#include "io/fd.h"
#include "io/io.h"
#include "io/offsets.h"
#include "io/optable.h"
#include "io/pool.h"
#include "io/try.h"

/* Where an op is while in flight (op->be.compat.state; its top bit is
 * the try's own, COIL__TRY_STARTED). */
enum {
	AT_NONE = 0,
	AT_POOL = 2,
	AT_FD_READ = 3,
	AT_FD_WRITE = 4,
	AT_MASK = 0x0f,
};

static int to_pool(struct coil__compat *c, struct coil__op *op);
static void fail_waiters(struct coil__compat *c, struct coil__list *waiters, int res);
static unsigned waiting_dirs(const struct coil__fd_state *st);

/* ---- the fd table ------------------------------------------------------- */

struct coil__fd_state *coil__compat_fd(struct coil__compat *c, int fd)
{
	if (fd < 0)
		return NULL;
	int chunk = fd / COIL__FD_CHUNK;
	if (chunk >= c->nchunks) {
		int n = c->nchunks ? c->nchunks : 4;
		while (n <= chunk)
			n *= 2;
		struct coil__fd_state **t = realloc(c->fd_chunks, (size_t)n * sizeof *t);
		if (!t)
			return NULL;
		memset(t + c->nchunks, 0, (size_t)(n - c->nchunks) * sizeof *t);
		c->fd_chunks = t;
		c->nchunks = n;
	}
	if (!c->fd_chunks[chunk]) {
		struct coil__fd_state *states = calloc(COIL__FD_CHUNK, sizeof *states);
		if (!states)
			return NULL;
		for (int i = 0; i < COIL__FD_CHUNK; i++) {
			coil__list_init(&states[i].rd);
			coil__list_init(&states[i].wr);
		}
		c->fd_chunks[chunk] = states;
	}
	return &c->fd_chunks[chunk][fd % COIL__FD_CHUNK];
}

/* A new fd with this number: nothing known of an earlier one carries over. */
static void fd_reset(struct coil__compat *c, int fd, uint8_t kind)
{
	struct coil__fd_state *st = coil__compat_fd(c, fd);
	if (!st)
		return;
	st->kind = kind;
	st->mode = 0;
	st->registered = 0;
	/* poll(2)'s slot, if any, was dropped when the old fd was forgotten;
	 * an fd closed behind coil's back may still hold one: keep it. */
}

/* coil is closing fd (here or on another worker): its waiters fail with
 * -EBADF rather than wait on a number that may soon name another file,
 * and nothing of it is kept. */
static inline __attribute__((always_inline)) void
fd_forget_all(struct coil__compat *c, int fd, struct coil__fd_state *st)
{
	fail_waiters(c, &st->rd, -EBADF);
	fail_waiters(c, &st->wr, -EBADF);
	if (st->registered || st->poll_slot)
		c->poller->forget(c, fd, st);
	fd_reset(c, fd, COIL__KIND_UNKNOWN);
}

/* This worker keeps state for fd from now on (io/fd.h). A coil_loop's
 * notes the generation it met fd under. */
static void fd_mark(struct coil__compat *c, int fd, struct coil__fd_state *st)
{
	if (c->late)
		st->gen = coil__fd_met_gen(c->io->w, fd);
	else
		coil__fd_met(c->io->w, fd);
}

/* A coil_loop's worker (c->late): what it keeps for fd is of an fd that
 * was closed since (elsewhere: it hears of it at its next turn). */
static inline bool fd_stale(const struct coil__fd_state *st, int fd)
{
	return st->kind && st->gen != coil__fd_gen_any(fd);
}

/* A new fd coil just made (accept, open, a socket): its kind is known.
 * State kept here is state a close elsewhere must reach: kept, it is
 * marked (io/fd.h). With several workers it is not kept: the worker that
 * uses the fd may be another, and the first op on it asks. */
static void fd_new(struct coil__compat *c, int fd, uint8_t kind)
{
	if (c->late) {
		/* The number was free: whatever waits on it waits on an fd
		 * closed elsewhere, whose news has not come yet. */
		struct coil__fd_state *old = coil__compat_fd_if(c, fd);
		if (old && (old->kind || waiting_dirs(old)))
			fd_forget_all(c, fd, old);
	}
	if (c->multi)
		kind = COIL__KIND_UNKNOWN;
	fd_reset(c, fd, kind);
	struct coil__fd_state *st;
	if (kind != COIL__KIND_UNKNOWN && (st = coil__compat_fd_if(c, fd)))
		fd_mark(c, fd, st);
}

static int fd_kind(struct coil__compat *c, struct coil__fd_state *st, int fd, bool socket_op)
{
	if (st->kind)
		return st->kind;
	/* From here on this worker keeps state for fd. */
	fd_mark(c, fd, st);
	if (!socket_op) {
		struct stat sb;
		if (fstat(fd, &sb) != 0)
			return -errno;
		if (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode) || S_ISDIR(sb.st_mode))
			return st->kind = COIL__KIND_FILE;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (fl & O_NONBLOCK)
		return st->kind = COIL__KIND_NONBLOCK;
	st->mode |= COIL__FD_BLOCKING; /* the tries take care (io/try.h) */
	return st->kind = COIL__KIND_BLOCKING;
}

/* Whether fd, not one of the pool's files, takes offsets (io/offsets.h):
 * asked at its first positional op and kept with what the tries know. */
static bool fd_takes_offsets(struct coil__fd_state *st, int fd)
{
	if (!(st->mode & COIL__FD_OFFSETS_KNOWN)) {
		struct stat sb;
		if (fstat(fd, &sb) != 0)
			return true; /* the try says why */
		st->mode |= COIL__FD_OFFSETS_KNOWN |
			    (coil__fd_takes_offsets(fd, &sb) ? COIL__FD_OFFSETS : 0);
	}
	return st->mode & COIL__FD_OFFSETS;
}

/* ---- one try of each op ------------------------------------------------- */

/* The try of an op that makes or closes an fd, or of one whose fd this
 * backend keeps no state for: what it keeps per fd is set right around
 * the try (a close forgets the fd first, a new fd starts clean). Out of
 * line: the reads and writes of the hot path need none of it. */
static __attribute__((noinline)) int try_op_keeping(struct coil__compat *c,
						    struct coil__fd_state *st,
						    struct coil__op *op)
{
	const struct coil__opdef *d = &coil__optable[op->code];
	uint8_t mode = 0;
	if (d->flags & COIL__OPF_CLOSES_FD) {
		if (st)
			fd_forget_all(c, op->fd, st);
		st = NULL;
	}
	int r = d->try(op, st ? &st->mode : &mode);
	/* An accept's flags say whether the socket is non-blocking; an
	 * open's are O_* (what it is is learnt at its first op, as for the
	 * pool's opens). */
	if (r >= 0 && (d->flags & COIL__OPF_MAKES_FD))
		fd_new(c, r,
		       d->route != COIL__ROUTE_CACHED && (op->flags & SOCK_NONBLOCK) ? COIL__KIND_NONBLOCK
										: COIL__KIND_UNKNOWN);
	return r;
}

/* One try of op (st: its fd's state, or NULL): its row's try (io/try.h),
 * which reads and may add to what this backend knows of the fd. */
static inline __attribute__((always_inline)) int try_op(struct coil__compat *c,
							struct coil__fd_state *st,
							struct coil__op *op)
{
	const struct coil__opdef *d = &coil__optable[op->code];
	if (__builtin_expect(!st || (d->flags & (COIL__OPF_CLOSES_FD | COIL__OPF_MAKES_FD)), 0))
		return try_op_keeping(c, st, op);
	return d->try(op, &st->mode);
}

/* ---- fd wait lists ------------------------------------------------------ */

static struct coil__op *op_of(struct coil__list *n)
{
	return coil__container_of(n, struct coil__op, be.compat.link);
}

static void fail_waiters(struct coil__compat *c, struct coil__list *waiters, int res)
{
	struct coil__list *n;
	while ((n = coil__list_pop_front(waiters)) != NULL) {
		struct coil__op *op = op_of(n);
		op->be.compat.state = AT_NONE;
		coil__op_complete(c->io, op, res);
	}
}

static unsigned waiting_dirs(const struct coil__fd_state *st)
{
	return (coil__list_empty(&st->rd) ? 0 : COIL__DIR_READ) |
	       (coil__list_empty(&st->wr) ? 0 : COIL__DIR_WRITE);
}

/* Returns false if fd turned out stale (c->late): its waiters failed. */
static bool run_waiters(struct coil__compat *c, int fd, struct coil__fd_state *st, unsigned dir)
{
	struct coil__list *waiters = dir == COIL__DIR_READ ? &st->rd : &st->wr;
	struct coil__list *n;
	while ((n = coil__list_first(waiters)) != NULL) {
		struct coil__op *op = op_of(n);
		/* Readiness may be a new fd's that took the number (poll(2)
		 * watches numbers): a waiter of the closed one must not try
		 * it. */
		if (__builtin_expect(c->late, 0) && fd_stale(st, fd)) {
			fd_forget_all(c, fd, st);
			return false;
		}
		int r = try_op(c, st, op);
		if (r == -EAGAIN)
			break;
		coil__list_remove(n);
		op->be.compat.state = AT_NONE;
		if (r == COIL__TRY_POOL) {
			/* The fd cannot say "would block" for this op (a tty,
			 * say): a pool thread waits instead of the worker. */
			r = to_pool(c, op);
			if (r == 0)
				continue;
			if (r == COIL__SUBMIT_DONE)
				r = op->res; /* ran at once (WASI) */
		}
		coil__op_complete(c->io, op, r);
	}
	return true;
}

static void pool_before_complete(void *ctx, struct coil__op *op)
{
	op->be.compat.state = AT_NONE;
	/* A file that an open returned is a new fd for us. */
	if ((coil__optable[op->code].flags & COIL__OPF_MAKES_FD) && op->res >= 0)
		fd_new(ctx, op->res, COIL__KIND_UNKNOWN);
}

void coil__compat_fd_ready(struct coil__compat *c, int fd, unsigned dirs)
{
	if (fd == c->pool_fd) {
		coil__pool_reap(c->io->pool, c->io, pool_before_complete, c);
		return;
	}
	if (fd == c->io->w->wake_fd) {
		/* A kick: sched drains the inbox after the poll. */
		uint64_t n;
		while (read(fd, &n, sizeof n) > 0) {
		}
		return;
	}
	struct coil__fd_state *st = coil__compat_fd_if(c, fd);
	if (!st)
		return;
#ifdef __wasi__
	if (dirs & COIL__DIR_READ) {
		st->mode |= COIL__FD_READABLE; /* try.h */
		bool live = run_waiters(c, fd, st, COIL__DIR_READ);
		st->mode &= (uint8_t)~COIL__FD_READABLE;
		if (!live)
			return;
	}
#else
	if ((dirs & COIL__DIR_READ) && !run_waiters(c, fd, st, COIL__DIR_READ))
		return; /* forgotten */
#endif
	if ((dirs & COIL__DIR_WRITE) && !run_waiters(c, fd, st, COIL__DIR_WRITE))
		return;
	c->poller->watch(c, fd, st, waiting_dirs(st));
}

/* ---- the backend ---------------------------------------------------------- */

#ifdef __wasi__
/* WASI preview 1 has one thread and no pool: what would go there runs here,
 * at once. Its host does files synchronously anyway (a WASI read of a file
 * is a blocking call into the host); a blocking pipe or tty that a write
 * would block on holds the worker until it takes the bytes. */
static int to_pool(struct coil__compat *c, struct coil__op *op)
{
	op->res = coil__op_do_blocking(op);
	if ((coil__optable[op->code].flags & COIL__OPF_MAKES_FD) && op->res >= 0)
		fd_new(c, op->res, COIL__KIND_UNKNOWN);
	return COIL__SUBMIT_DONE;
}
#else
static int to_pool(struct coil__compat *c, struct coil__op *op)
{
	struct coil__pool *pool;
	int r = coil__io_pool(c->io, &pool);
	if (r < 0)
		return r;
	if (c->pool_fd < 0) {
		/* A new fd for us, whatever an earlier fd of that number left. */
		fd_reset(c, pool->notify_fd, COIL__KIND_NONBLOCK);
		struct coil__fd_state *st = coil__compat_fd(c, pool->notify_fd);
		if (!st)
			return -ENOMEM;
		r = c->poller->watch(c, pool->notify_fd, st, COIL__DIR_READ);
		if (r < 0)
			return r;
		c->pool_fd = pool->notify_fd;
	}
	r = coil__pool_submit(pool, op);
	if (r == 0)
		op->be.compat.state = AT_POOL;
	return r;
}
#endif

static int finish_now(struct coil__op *op, int res)
{
	op->res = res;
	return COIL__SUBMIT_DONE;
}

static int compat_submit(struct coil__io *io, struct coil__op *op)
{
	struct coil__compat *c = io->be.compat;
	const struct coil__opdef *d = &coil__optable[op->code];
	unsigned route = d->route;
	unsigned dir = d->dir;
	struct coil__fd_state *st;

	op->be.compat.state = AT_NONE;
	switch (route) {
	case COIL__ROUTE_POOL:
		return to_pool(c, op);
	case COIL__ROUTE_NOW:
		return finish_now(op, try_op(c, coil__compat_fd_if(c, op->fd), op));
	case COIL__ROUTE_CACHED: {
		int r = try_op(c, coil__compat_fd_if(c, op->fd), op);
		return r == COIL__TRY_POOL ? to_pool(c, op) : finish_now(op, r);
	}
	case COIL__ROUTE_NONE:
		return -ENOTSUP; /* io_uring's only; sleeps are sched's timers here */
	default:
		break;
	}

	st = coil__compat_fd(c, op->fd);
	if (!st)
		return finish_now(op, op->fd < 0 ? -EBADF : -ENOMEM);
	/* An fd closed elsewhere whose news has not come yet: this op is on
	 * whatever the number names now, which starts clean. */
	if (__builtin_expect(c->late, 0) && fd_stale(st, op->fd))
		fd_forget_all(c, op->fd, st);
	int kind = fd_kind(c, st, op->fd, route == COIL__ROUTE_FD);
	if (kind < 0)
		return finish_now(op, kind);
	if (kind == COIL__KIND_FILE) {
		if (route == COIL__ROUTE_FILE)
			return to_pool(c, op);
		return finish_now(op, -ENOTSOCK);
	}
	/* An offset where pread(2) takes none (a pipe, a socket, an eventfd,
	 * a tty) is its -ESPIPE, before any wait; a device that takes one
	 * (/dev/null) is tried there. */
	if (route == COIL__ROUTE_FILE && op->off >= 0 && !fd_takes_offsets(st, op->fd))
		return finish_now(op, -ESPIPE);

	struct coil__list *waiters = dir == COIL__DIR_READ ? &st->rd : &st->wr;
	/* A try that must not wait (MSG_DONTWAIT: io/lend.h's readers): its
	 * -EAGAIN is its result, as io_uring gives it. */
	if (op->flags & MSG_DONTWAIT)
		return finish_now(op, coil__list_empty(waiters) ? try_op(c, st, op) : -EAGAIN);
	/* Try at once, unless others already wait in this direction: they go
	 * first (a stream's writes must not overtake each other). */
	if (coil__list_empty(waiters)) {
		int r = try_op(c, st, op);
		if (r == COIL__TRY_POOL)
			return to_pool(c, op);
		if (r != -EAGAIN)
			return finish_now(op, r);
	}
	coil__list_push_back(waiters, &op->be.compat.link);
	op->be.compat.state = (uint8_t)((op->be.compat.state & COIL__TRY_STARTED) |
					(dir == COIL__DIR_READ ? AT_FD_READ : AT_FD_WRITE));
	int r = c->poller->watch(c, op->fd, st, waiting_dirs(st));
	if (r < 0) {
		coil__list_remove(&op->be.compat.link);
		op->be.compat.state = AT_NONE;
		return finish_now(op, r);
	}
	return 0;
}

static void compat_cancel(struct coil__io *io, struct coil__op *op)
{
	struct coil__compat *c = io->be.compat;
	unsigned at = op->be.compat.state & AT_MASK;
	switch (at) {
	case AT_FD_READ:
	case AT_FD_WRITE: {
		struct coil__fd_state *st = coil__compat_fd_if(c, op->fd);
		coil__list_remove(&op->be.compat.link);
		op->be.compat.state = AT_NONE;
		c->poller->watch(c, op->fd, st, waiting_dirs(st));
		coil__op_complete(io, op, -ECANCELED);
		break;
	}
	case AT_POOL:
		/* Still queued: taken back. Running: it completes with its
		 * real result. */
		if (coil__pool_cancel(io->pool, op)) {
			op->be.compat.state = AT_NONE;
			coil__op_complete(io, op, -ECANCELED);
		}
		break;
	default:
		break;
	}
}

static int compat_poll(struct coil__io *io, bool block, int64_t deadline)
{
	struct coil__compat *c = io->be.compat;
	int64_t timeout = 0;
	if (block) {
		timeout = -1;
		if (deadline != INT64_MAX) {
			int64_t d = deadline - coil_now();
			timeout = d > 0 ? d : 0;
		}
	}
	int r = c->poller->wait(c, timeout);
	return r < 0 ? r : 0;
}

static void compat_fd_opened(struct coil__io *io, int fd)
{
	fd_new(io->be.compat, fd, COIL__KIND_UNKNOWN);
}

static void compat_fd_gone(struct coil__io *io, struct coil__fd_gone_call *call)
{
	struct coil__compat *c = io->be.compat;
	int fd = call->fd;
	struct coil__fd_state *st = coil__compat_fd_if(c, fd);
	/* The worker's own fds are never another worker's to close. */
	if (st && fd != c->pool_fd && fd != io->w->wake_fd)
		fd_forget_all(c, fd, st);
	coil__fd_gone_done(call);
}

static void compat_fd_closed(struct coil__io *io, int fd, uint32_t gen)
{
	struct coil__compat *c = io->be.compat;
	if (fd >= 0) {
		struct coil__fd_state *st = coil__compat_fd_if(c, fd);
		/* Kept under a later generation: a new fd's, already here. */
		if (st && st->kind && st->gen == gen && fd != c->pool_fd && fd != io->w->wake_fd)
			fd_forget_all(c, fd, st);
		return;
	}
	for (int k = 0; k < c->nchunks; k++) {
		if (!c->fd_chunks[k])
			continue;
		for (int i = 0; i < COIL__FD_CHUNK; i++) {
			int f = k * COIL__FD_CHUNK + i;
			struct coil__fd_state *st = &c->fd_chunks[k][i];
			if (f != c->pool_fd && f != io->w->wake_fd && fd_stale(st, f))
				fd_forget_all(c, f, st);
		}
	}
}

static int compat_init(struct coil__io *io, const struct coil__poller *p)
{
	if (!p->init)
		return -ENOTSUP;
	struct coil__compat *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->io = io;
	c->multi = io->w->multi;
	c->late = io->w->later != NULL;
	c->poller = p;
	c->pool_fd = -1;
	int r = p->init(c);
	if (r < 0) {
		free(c);
		return r;
	}
	/* The worker's wake eventfd: how other threads end its wait (none on
	 * WASI, which has one thread). */
	int wfd = io->w->wake_fd;
	struct coil__fd_state *st = NULL;
	if (wfd >= 0) {
		fd_reset(c, wfd, COIL__KIND_NONBLOCK);
		st = coil__compat_fd(c, wfd);
		r = st ? p->watch(c, wfd, st, COIL__DIR_READ) : -ENOMEM;
	}
	if (r < 0) {
		p->fini(c);
		for (int i = 0; i < c->nchunks; i++)
			free(c->fd_chunks[i]);
		free(c->fd_chunks);
		free(c);
		return r;
	}
	io->be.compat = c;
	io->inflight_max = 0; /* memory is the only bound */
	return 0;
}

static void compat_fini(struct coil__io *io)
{
	struct coil__compat *c = io->be.compat;
	if (!c)
		return;
	c->poller->fini(c);
	for (int i = 0; i < c->nchunks; i++)
		free(c->fd_chunks[i]);
	free(c->fd_chunks);
	free(c);
	io->be.compat = NULL;
}

/* The poller's fd (epoll, kqueue: the wake eventfd is in its set, so a
 * write to that makes it readable too); poll(2) has none. */
static int compat_embed(struct coil__io *io, int efd, int *signal_fd)
{
	struct coil__compat *c = io->be.compat;
	(void)efd;
	*signal_fd = io->w->wake_fd;
	return c->poller->pollable_fd ? c->poller->pollable_fd(c) : -EOPNOTSUPP;
}

#define DEFINE_BACKEND(mech)                                                          \
	static int init_##mech(struct coil__io *io, const struct coil__config *cfg)        \
	{                                                                              \
		(void)cfg;                                                             \
		return compat_init(io, &coil__poller_##mech);                          \
	}                                                                              \
	const struct coil__backend coil__backend_##mech = {                            \
		.name = #mech,                                                         \
		.init = init_##mech,                                                   \
		.fini = compat_fini,                                                   \
		.submit = compat_submit,                                               \
		.cancel = compat_cancel,                                               \
		.poll = compat_poll,                                                   \
		.fd_opened = compat_fd_opened,                                         \
		.fd_gone = compat_fd_gone,                                             \
		.fd_closed = compat_fd_closed,                                         \
		.embed = compat_embed,                                                 \
	}

#ifdef __linux__
DEFINE_BACKEND(epoll);
#else
const struct coil__backend coil__backend_epoll = {.name = "epoll"};
#endif
#ifdef __wasi__
const struct coil__backend coil__backend_poll = {.name = "poll"}; /* no ppoll */
#else
DEFINE_BACKEND(poll);
#endif
#ifdef COIL_HAVE_KQUEUE
DEFINE_BACKEND(kqueue);
#else
const struct coil__backend coil__backend_kqueue = {.name = "kqueue"};
#endif
#ifdef __wasi__
DEFINE_BACKEND(wasi);
const struct coil__backend coil__backend_none = {.name = "none"};
#else
const struct coil__backend coil__backend_wasi = {.name = "wasi"};
#endif
