/*
 * Completions emulated on readiness: the part of the epoll, poll and kqueue
 * backends that does not depend on the mechanism. See compat.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "coil/time.h"
#include "compat/compat.h"
#include "core/backend.h"
#include "core/pool.h"
#include "core/worker.h"

/* Where an op is while in flight (op->backend_state). */
enum {
	AT_NONE = 0,
	AT_POOL = 2,
	AT_FD_READ = 3,
	AT_FD_WRITE = 4,
	AT_TIMER = 5,
	AT_MASK = 0x0f,
	IN_HEAP = 0x40,		/* flag: also in the timer heap, for its deadline */
	CONNECT_STARTED = 0x80, /* flag: connect() was called, now in progress */
};

/* ---- the fd table ------------------------------------------------------- */

struct fd_state *compat_fd(struct compat *c, int fd)
{
	if (fd < 0)
		return NULL;
	int chunk = fd / FD_CHUNK;
	if (chunk >= c->nchunks) {
		int n = c->nchunks ? c->nchunks : 4;
		while (n <= chunk)
			n *= 2;
		struct fd_state **t = realloc(c->fd_chunks, (size_t)n * sizeof *t);
		if (!t)
			return NULL;
		memset(t + c->nchunks, 0, (size_t)(n - c->nchunks) * sizeof *t);
		c->fd_chunks = t;
		c->nchunks = n;
	}
	if (!c->fd_chunks[chunk]) {
		c->fd_chunks[chunk] = calloc(FD_CHUNK, sizeof(struct fd_state));
		if (!c->fd_chunks[chunk])
			return NULL;
	}
	return &c->fd_chunks[chunk][fd % FD_CHUNK];
}

/* A new fd with this number: nothing known of an earlier one carries over. */
static void fd_reset(struct compat *c, int fd, uint8_t kind)
{
	struct fd_state *st = compat_fd(c, fd);
	if (!st)
		return;
	st->gen++;
	st->kind = kind;
	st->registered = 0;
	/* poll(2)'s slot, if any, was dropped when the old fd was forgotten;
	 * an fd closed behind coil's back may still hold one: keep it. */
}

static int fd_kind(struct fd_state *st, int fd, bool socket_op)
{
	if (st->kind)
		return st->kind;
	if (!socket_op) {
		struct stat sb;
		if (fstat(fd, &sb) != 0)
			return -errno;
		if (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode) || S_ISDIR(sb.st_mode))
			return st->kind = KIND_FILE;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	return st->kind = (fl & O_NONBLOCK) ? KIND_NONBLOCK : KIND_BLOCKING;
}

/* ---- one try of each op ------------------------------------------------- */

static int neg(long r)
{
	return r < 0 ? -errno : (int)r;
}

/* A blocking fd would block the worker: call it only when poll says ready. */
static bool ready_now(int fd, unsigned dir)
{
	struct pollfd p = {.fd = fd, .events = dir == DIR_READ ? POLLIN : POLLOUT};
	return poll(&p, 1, 0) > 0;
}

static int try_accept(struct compat *c, struct coil__op *op)
{
	if (compat_fd_if(c, op->fd)->kind == KIND_BLOCKING && !ready_now(op->fd, DIR_READ))
		return -EAGAIN;
	int r = neg(accept4(op->fd, op->u.accept.addr, op->u.accept.addrlen, (int)op->flags));
	if (r >= 0)
		fd_reset(c, r, (op->flags & SOCK_NONBLOCK) ? KIND_NONBLOCK : KIND_UNKNOWN);
	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

static int try_connect(struct compat *c, struct coil__op *op)
{
	(void)c;
	int r = neg(connect(op->fd, op->u.connect.addr, op->u.connect.addrlen));
	if (!(op->backend_state & CONNECT_STARTED)) {
		if (r == -EINPROGRESS || r == -EAGAIN) {
			op->backend_state |= CONNECT_STARTED;
			return -EAGAIN;
		}
		return r;
	}
	/* A second connect() tells how the first one ended. */
	if (r == -EISCONN)
		return 0;
	if (r == -EALREADY || r == -EINPROGRESS)
		return -EAGAIN;
	return r;
}

static int try_recv(struct compat *c, struct coil__op *op)
{
	(void)c;
	int r = neg(recv(op->fd, op->u.rw.buf, op->u.rw.len, (int)op->flags | MSG_DONTWAIT));
	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

static int try_send(struct compat *c, struct coil__op *op)
{
	(void)c;
	int r = neg(send(op->fd, op->u.rw.buf, op->u.rw.len, (int)op->flags | MSG_DONTWAIT));
	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

static int try_recvmsg(struct compat *c, struct coil__op *op)
{
	(void)c;
	int r = neg(recvmsg(op->fd, op->u.msg.msg, (int)op->flags | MSG_DONTWAIT));
	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

static int try_sendmsg(struct compat *c, struct coil__op *op)
{
	(void)c;
	int r = neg(sendmsg(op->fd, op->u.msg.msg, (int)op->flags | MSG_DONTWAIT));
	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

/* read/write family on a stream (pipe, socket, tty, eventfd...): the
 * offset means nothing there and is ignored, as io_uring does. */
static int try_stream(struct compat *c, struct coil__op *op)
{
	unsigned dir = (op->code == COIL__OP_READ || op->code == COIL__OP_READV) ? DIR_READ
										   : DIR_WRITE;
	if (compat_fd_if(c, op->fd)->kind == KIND_BLOCKING && !ready_now(op->fd, dir))
		return -EAGAIN;
	int r;
	switch (op->code) {
	case COIL__OP_READ:
		r = neg(read(op->fd, op->u.rw.buf, op->u.rw.len));
		break;
	case COIL__OP_WRITE:
		r = neg(write(op->fd, op->u.rw.buf, op->u.rw.len));
		break;
	case COIL__OP_READV:
		r = neg(readv(op->fd, op->u.vec.iov, op->u.vec.iovcnt));
		break;
	default:
		r = neg(writev(op->fd, op->u.vec.iov, op->u.vec.iovcnt));
		break;
	}
	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

static int try_shutdown(struct compat *c, struct coil__op *op)
{
	(void)c;
	return neg(shutdown(op->fd, (int)op->flags));
}

static int try_nop(struct compat *c, struct coil__op *op)
{
	(void)c;
	(void)op;
	return 0;
}

static void fail_waiters(struct compat *c, struct coil__op **head, struct coil__op **tail,
			 int res);
static void leave_heap(struct compat *c, struct coil__op *op);

static int try_close(struct compat *c, struct coil__op *op)
{
	int fd = op->fd;
	struct fd_state *st = compat_fd_if(c, fd);
	if (st) {
		/* Ops of other fibers still waiting on it (a caller's bug):
		 * they fail now, rather than wait on a number that may soon
		 * name another file. */
		fail_waiters(c, &st->rd_head, &st->rd_tail, -EBADF);
		fail_waiters(c, &st->wr_head, &st->wr_tail, -EBADF);
		if (st->registered || st->poll_slot)
			c->poller->forget(c, fd, st);
		fd_reset(c, fd, KIND_UNKNOWN);
	}
	return neg(close(fd));
}

enum route {
	ROUTE_NOW,	/* one syscall that does not block: done at submit */
	ROUTE_FD,	/* try, else wait for readiness of fd */
	ROUTE_FILE,	/* a regular file -> pool; a stream -> ROUTE_FD */
	ROUTE_POOL,	/* always the blocking pool */
	ROUTE_TIMER,
};

static const struct {
	int (*try)(struct compat *c, struct coil__op *op);
	uint8_t dir;
	uint8_t route;
} opdefs[COIL__OP_COUNT] = {
	[COIL__OP_NOP] = {try_nop, 0, ROUTE_NOW},
	[COIL__OP_TIMEOUT] = {NULL, 0, ROUTE_TIMER},
	[COIL__OP_ACCEPT] = {try_accept, DIR_READ, ROUTE_FD},
	[COIL__OP_CONNECT] = {try_connect, DIR_WRITE, ROUTE_FD},
	[COIL__OP_RECV] = {try_recv, DIR_READ, ROUTE_FD},
	[COIL__OP_SEND] = {try_send, DIR_WRITE, ROUTE_FD},
	[COIL__OP_RECVMSG] = {try_recvmsg, DIR_READ, ROUTE_FD},
	[COIL__OP_SENDMSG] = {try_sendmsg, DIR_WRITE, ROUTE_FD},
	[COIL__OP_READ] = {try_stream, DIR_READ, ROUTE_FILE},
	[COIL__OP_WRITE] = {try_stream, DIR_WRITE, ROUTE_FILE},
	[COIL__OP_READV] = {try_stream, DIR_READ, ROUTE_FILE},
	[COIL__OP_WRITEV] = {try_stream, DIR_WRITE, ROUTE_FILE},
	[COIL__OP_CLOSE] = {try_close, 0, ROUTE_NOW},
	[COIL__OP_SHUTDOWN] = {try_shutdown, 0, ROUTE_NOW},
	[COIL__OP_OPENAT] = {NULL, 0, ROUTE_POOL},
	[COIL__OP_FSYNC] = {NULL, 0, ROUTE_POOL},
	[COIL__OP_STATX] = {NULL, 0, ROUTE_POOL},
	[COIL__OP_RESOLVE] = {NULL, 0, ROUTE_POOL},
};

/* ---- fd wait lists ------------------------------------------------------ */

static void list_append(struct coil__op **head, struct coil__op **tail, struct coil__op *op)
{
	op->link_next = NULL;
	op->link_prev = *tail;
	if (*tail)
		(*tail)->link_next = op;
	else
		*head = op;
	*tail = op;
}

static void list_remove(struct coil__op **head, struct coil__op **tail, struct coil__op *op)
{
	if (op->link_prev)
		op->link_prev->link_next = op->link_next;
	else
		*head = op->link_next;
	if (op->link_next)
		op->link_next->link_prev = op->link_prev;
	else
		*tail = op->link_prev;
	op->link_prev = op->link_next = NULL;
}

static void fail_waiters(struct compat *c, struct coil__op **head, struct coil__op **tail,
			 int res)
{
	while (*head) {
		struct coil__op *op = *head;
		list_remove(head, tail, op);
		leave_heap(c, op);
		op->backend_state = AT_NONE;
		coil__op_complete(c->w, op, res);
	}
}

static unsigned waiting_dirs(const struct fd_state *st)
{
	return (st->rd_head ? DIR_READ : 0) | (st->wr_head ? DIR_WRITE : 0);
}

static void run_waiters(struct compat *c, struct fd_state *st, unsigned dir)
{
	struct coil__op **head = dir == DIR_READ ? &st->rd_head : &st->wr_head;
	struct coil__op **tail = dir == DIR_READ ? &st->rd_tail : &st->wr_tail;
	while (*head) {
		struct coil__op *op = *head;
		int r = opdefs[op->code].try(c, op);
		if (r == -EAGAIN)
			break;
		list_remove(head, tail, op);
		leave_heap(c, op);
		op->backend_state = AT_NONE;
		coil__op_complete(c->w, op, r);
	}
}

static void pool_before_complete(void *ctx, struct coil__op *op)
{
	leave_heap(ctx, op);
	/* A file that openat returned is a new fd for us. */
	if (op->code == COIL__OP_OPENAT && op->res >= 0)
		fd_reset(ctx, op->res, KIND_UNKNOWN);
}

void compat_fd_ready(struct compat *c, int fd, unsigned dirs)
{
	if (fd == c->pool_fd) {
		coil__pool_reap(c->w->pool, c->w, pool_before_complete, c);
		return;
	}
	struct fd_state *st = compat_fd_if(c, fd);
	if (!st)
		return;
	if (dirs & DIR_READ)
		run_waiters(c, st, DIR_READ);
	if (dirs & DIR_WRITE)
		run_waiters(c, st, DIR_WRITE);
	c->poller->watch(c, fd, st, waiting_dirs(st));
}

/* ---- timers: a binary min-heap on the deadline ---------------------------- */

/* A sleep's own deadline, or the scope deadline of an op waiting on an fd
 * or in the pool. */
static int64_t heap_key(const struct coil__op *op)
{
	return op->code == COIL__OP_TIMEOUT ? op->u.timeout.deadline : op->link_deadline;
}

static bool heap_less(struct compat *c, uint32_t a, uint32_t b)
{
	return heap_key(c->timers[a]) < heap_key(c->timers[b]);
}

static void heap_swap(struct compat *c, uint32_t a, uint32_t b)
{
	struct coil__op *t = c->timers[a];
	c->timers[a] = c->timers[b];
	c->timers[b] = t;
	c->timers[a]->heap_index = a;
	c->timers[b]->heap_index = b;
}

static void heap_up(struct compat *c, uint32_t i)
{
	while (i > 0 && heap_less(c, i, (i - 1) / 2)) {
		heap_swap(c, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct compat *c, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < c->ntimers && heap_less(c, l, m))
			m = l;
		if (r < c->ntimers && heap_less(c, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(c, i, m);
		i = m;
	}
}

static int heap_push(struct compat *c, struct coil__op *op)
{
	if (c->ntimers == c->timers_cap) {
		uint32_t cap = c->timers_cap ? 2 * c->timers_cap : 64;
		struct coil__op **t = realloc(c->timers, cap * sizeof *t);
		if (!t)
			return -ENOMEM;
		c->timers = t;
		c->timers_cap = cap;
	}
	op->heap_index = c->ntimers;
	c->timers[c->ntimers++] = op;
	heap_up(c, op->heap_index);
	return 0;
}

/* Remove the timer at slot i: O(log n), so cancelling a sleep is cheap. */
static void heap_remove(struct compat *c, uint32_t i)
{
	uint32_t last = --c->ntimers;
	if (i != last) {
		heap_swap(c, i, last);
		heap_down(c, i);
		heap_up(c, i);
	}
}

static void expire_timers(struct compat *c)
{
	if (!c->ntimers)
		return;
	int64_t now = coil_now();
	while (c->ntimers && heap_key(c->timers[0]) <= now) {
		struct coil__op *op = c->timers[0];
		heap_remove(c, 0);
		if (op->code == COIL__OP_TIMEOUT) {
			op->backend_state = AT_NONE;
			coil__op_complete(c->w, op, -ETIME); /* as io_uring's timeout */
			continue;
		}
		/* An op's scope deadline passed: as a linked timeout would,
		 * stop it, unless a pool thread already runs it (then it
		 * completes with its real result). */
		op->backend_state &= (uint8_t)~IN_HEAP;
		unsigned at = op->backend_state & AT_MASK;
		if (at == AT_POOL) {
			if (coil__pool_cancel(c->w->pool, op)) {
				op->backend_state = AT_NONE;
				coil__op_complete(c->w, op, -ETIMEDOUT);
			}
			continue;
		}
		struct fd_state *st = compat_fd_if(c, op->fd);
		if (at == AT_FD_READ)
			list_remove(&st->rd_head, &st->rd_tail, op);
		else
			list_remove(&st->wr_head, &st->wr_tail, op);
		op->backend_state = AT_NONE;
		c->poller->watch(c, op->fd, st, waiting_dirs(st));
		coil__op_complete(c->w, op, -ETIMEDOUT);
	}
}

static void leave_heap(struct compat *c, struct coil__op *op)
{
	if (op->backend_state & IN_HEAP) {
		heap_remove(c, op->heap_index);
		op->backend_state &= (uint8_t)~IN_HEAP;
	}
}

/* An op that waits (fd or pool) with a scope deadline is also a timer. */
static int enter_heap(struct compat *c, struct coil__op *op)
{
	if (op->link_deadline == INT64_MAX)
		return 0;
	int r = heap_push(c, op);
	if (r == 0)
		op->backend_state |= IN_HEAP;
	return r;
}

/* ---- the backend ---------------------------------------------------------- */

static int to_pool(struct compat *c, struct coil__op *op)
{
	struct coil__pool *pool;
	int r = coil__worker_pool(c->w, &pool);
	if (r < 0)
		return r;
	if (c->pool_fd < 0) {
		struct fd_state *st = compat_fd(c, pool->notify_fd);
		if (!st)
			return -ENOMEM;
		r = c->poller->watch(c, pool->notify_fd, st, DIR_READ);
		if (r < 0)
			return r;
		c->pool_fd = pool->notify_fd;
	}
	op->backend_state = AT_POOL;
	if ((r = enter_heap(c, op)) < 0)
		return r;
	r = coil__pool_submit(pool, op);
	if (r < 0)
		leave_heap(c, op);
	return r;
}

static int finish_now(struct coil__op *op, int res)
{
	op->res = res;
	return COIL__SUBMIT_DONE;
}

static int compat_submit(struct coil__worker *w, struct coil__op *op)
{
	struct compat *c = w->backend_data;
	unsigned route = opdefs[op->code].route;
	unsigned dir = opdefs[op->code].dir;
	struct fd_state *st;

	switch (route) {
	case ROUTE_TIMER: {
		int r = heap_push(c, op);
		if (r < 0)
			return r;
		op->backend_state = AT_TIMER;
		return 0;
	}
	case ROUTE_POOL:
		return to_pool(c, op);
	case ROUTE_NOW:
		return finish_now(op, opdefs[op->code].try(c, op));
	default:
		break;
	}

	st = compat_fd(c, op->fd);
	if (!st)
		return finish_now(op, op->fd < 0 ? -EBADF : -ENOMEM);
	int kind = fd_kind(st, op->fd, route == ROUTE_FD);
	if (kind < 0)
		return finish_now(op, kind);
	if (kind == KIND_FILE) {
		if (route == ROUTE_FILE)
			return to_pool(c, op);
		return finish_now(op, -ENOTSOCK);
	}

	struct coil__op **head = dir == DIR_READ ? &st->rd_head : &st->wr_head;
	struct coil__op **tail = dir == DIR_READ ? &st->rd_tail : &st->wr_tail;
	/* Try at once, unless others already wait in this direction: they go
	 * first (a stream's writes must not overtake each other). */
	if (!*head) {
		int r = opdefs[op->code].try(c, op);
		if (r != -EAGAIN)
			return finish_now(op, r);
	}
	list_append(head, tail, op);
	op->fd_gen = st->gen;
	op->backend_state = (uint8_t)((op->backend_state & CONNECT_STARTED) |
				      (dir == DIR_READ ? AT_FD_READ : AT_FD_WRITE));
	int r = c->poller->watch(c, op->fd, st, waiting_dirs(st));
	if (r == 0)
		r = enter_heap(c, op);
	if (r < 0) {
		list_remove(head, tail, op);
		op->backend_state = AT_NONE;
		return finish_now(op, r);
	}
	return 0;
}

static void compat_cancel(struct coil__worker *w, struct coil__op *op)
{
	struct compat *c = w->backend_data;
	unsigned at = op->backend_state & AT_MASK;
	if (at == AT_FD_READ || at == AT_FD_WRITE)
		leave_heap(c, op);
	switch (at) {
	case AT_FD_READ:
	case AT_FD_WRITE: {
		struct fd_state *st = compat_fd_if(c, op->fd);
		if (at == AT_FD_READ)
			list_remove(&st->rd_head, &st->rd_tail, op);
		else
			list_remove(&st->wr_head, &st->wr_tail, op);
		op->backend_state = AT_NONE;
		c->poller->watch(c, op->fd, st, waiting_dirs(st));
		coil__op_complete(w, op, -ECANCELED);
		break;
	}
	case AT_TIMER:
		heap_remove(c, op->heap_index);
		op->backend_state = AT_NONE;
		coil__op_complete(w, op, -ECANCELED);
		break;
	case AT_POOL:
		/* Still queued: taken back. Running: it completes with its
		 * real result. */
		if (coil__pool_cancel(w->pool, op)) {
			leave_heap(c, op);
			op->backend_state = AT_NONE;
			coil__op_complete(w, op, -ECANCELED);
		}
		break;
	default:
		break;
	}
}

static int compat_poll(struct coil__worker *w, bool block, int64_t deadline)
{
	struct compat *c = w->backend_data;
	int64_t timeout = 0;
	if (block) {
		timeout = -1;
		if (c->ntimers && heap_key(c->timers[0]) < deadline)
			deadline = heap_key(c->timers[0]);
		if (deadline != INT64_MAX) {
			int64_t d = deadline - coil_now();
			timeout = d > 0 ? d : 0;
		}
	}
	int r = c->poller->wait(c, timeout);
	expire_timers(c);
	return r < 0 ? r : 0;
}

static void compat_fd_opened(struct coil__worker *w, int fd)
{
	fd_reset(w->backend_data, fd, KIND_UNKNOWN);
}

static int compat_init(struct coil__worker *w, const struct coil__poller *p)
{
	if (!p->init)
		return -ENOTSUP;
	struct compat *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->w = w;
	c->poller = p;
	c->pool_fd = -1;
	int r = p->init(c);
	if (r < 0) {
		free(c);
		return r;
	}
	w->backend_data = c;
	w->inflight_max = 0; /* memory is the only bound */
	return 0;
}

static void compat_fini(struct coil__worker *w)
{
	struct compat *c = w->backend_data;
	if (!c)
		return;
	c->poller->fini(c);
	for (int i = 0; i < c->nchunks; i++)
		free(c->fd_chunks[i]);
	free(c->fd_chunks);
	free(c->timers);
	free(c);
	w->backend_data = NULL;
}

#define DEFINE_BACKEND(mech)                                                          \
	static int init_##mech(struct coil__worker *w, const struct coil_config *cfg)      \
	{                                                                              \
		(void)cfg;                                                             \
		return compat_init(w, &coil__poller_##mech);                           \
	}                                                                              \
	const struct coil__backend coil__backend_##mech = {                            \
		.name = #mech,                                                         \
		.init = init_##mech,                                                   \
		.fini = compat_fini,                                                   \
		.submit = compat_submit,                                               \
		.cancel = compat_cancel,                                               \
		.poll = compat_poll,                                                   \
		.fd_opened = compat_fd_opened,                                         \
	}

#ifdef __linux__
DEFINE_BACKEND(epoll);
#else
const struct coil__backend coil__backend_epoll = {.name = "epoll"};
#endif
DEFINE_BACKEND(poll);
#ifdef COIL_HAVE_KQUEUE
DEFINE_BACKEND(kqueue);
#else
const struct coil__backend coil__backend_kqueue = {.name = "kqueue"};
#endif
