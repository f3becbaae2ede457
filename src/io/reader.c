/* Readers (coil/reader.h) over the buffers their worker lends them
 * (io/lend.h). */
#include "coil/reader.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>

#ifdef COIL_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
#endif

#include "io/backend.h"
#include "io/io.h"
#include "io/lend.h"
#include "io/reader.h"
#include "io/op.h"
#include "base/panic.h"
#include "sched/scope.h"
#include "sched/switch.h"
#include "sched/turn.h"

#define NO_BUF UINT32_MAX
/* Buffers a reader may hold unread before its multishot is stopped (the
 * data then waits in the socket): one slow reader cannot take every
 * buffer of the worker. */
#define QUEUE_HIGH 4
/* Data held in the reader itself before the queue needs the heap. The
 * queue's capacity stays a power of two (it doubles): indexes are masked. */
#define QUEUE_INLINE 2

struct chunk {
	uint32_t id;
	uint32_t len;
};

struct coil_reader {
	struct coil__list link;		/* lend->readers */
	struct coil__list starve_link;	/* lend->starved, while starved */
	struct coil__io *io;
	int fd;
	bool armed;		/* its multishot recv is in the kernel */
	bool stopping;		/* coil asked that multishot to end */
	bool starved;		/* it ended for want of buffers: rearmed on a give */
	bool closing;
	int end;		/* 1: end of stream; -errno: sticky error; 0: none */
	uint32_t lent;		/* the buffer the caller holds, or NO_BUF */
	struct coil__park *waiter;	/* a fiber in read or close */
	struct coil__fiber *plain_reader; /* a fiber in read_plain */
	/* Data received, not yet read: a FIFO ring of chunks. */
	struct chunk *q;
	uint32_t qhead, qlen, qcap;
	struct chunk qinline[QUEUE_INLINE];
	uint16_t gen;		/* tags the completions of its current arm */
};

/* ---- the reader's queue -------------------------------------------------- */

static bool queue_push(struct coil_reader *r, uint32_t id, uint32_t len)
{
	if (r->qlen == r->qcap) {
		/* Grows only while a stop is on its way: bounded by the
		 * worker's buffers. */
		uint32_t cap = r->qcap * 2;
		struct chunk *q = malloc(sizeof *q * cap);
		if (!q)
			return false;
		for (uint32_t i = 0; i < r->qlen; i++)
			q[i] = r->q[(r->qhead + i) & (r->qcap - 1)];
		if (r->q != r->qinline)
			free(r->q);
		r->q = q;
		r->qhead = 0;
		r->qcap = cap;
	}
	r->q[(r->qhead + r->qlen) & (r->qcap - 1)] = (struct chunk){id, len};
	r->qlen++;
	return true;
}

static struct chunk queue_pop(struct coil_reader *r)
{
	struct chunk c = r->q[r->qhead];
	r->qhead = (r->qhead + 1) & (r->qcap - 1);
	r->qlen--;
	return c;
}

/* ---- the multishot recv (io_uring) --------------------------------------- */

static void wake_waiter(struct coil_reader *r, int code);

/* Buffer id is free again: back to the set, and a reader whose recv
 * stopped for want of buffers may receive again (its fiber, if it waits,
 * arms it, or its next read does). */
static void give_buffer(struct coil__io *io, struct coil__lend *l, uint32_t id)
{
	coil__lend_give(io, l, id);
	if (l->ring && !coil__list_empty(&l->starved)) {
		struct coil_reader *r =
			coil__container_of(l->starved.next, struct coil_reader, starve_link);
		coil__list_remove(&r->starve_link);
		r->starved = false;
		wake_waiter(r, 0);
	}
}

static void wake_waiter(struct coil_reader *r, int code)
{
	struct coil__park *p = r->waiter;
	if (p) {
		r->waiter = NULL;
		coil__park_wake(p, code);
	}
}

/* Arm r's multishot recv. Returns 0, or COIL__SUBMIT_FULL when the
 * kernel takes no SQE now (the caller waits for room and tries again); an
 * error ends the reader. */
static int reader_arm(struct coil_reader *r)
{
	struct coil__io *io = r->io;
	r->gen = ++io->op_gen;
	r->stopping = false;
	int rc = io->backend->multi_arm(io, r, COIL__MULTI_RECV, r->fd, r->gen);
	if (rc == 0)
		r->armed = true;
	else if (rc != COIL__SUBMIT_FULL)
		r->end = rc < 0 ? rc : -EIO;
	return rc;
}

/* Ask the kernel to end r's multishot; its last completion says when. */
static void reader_stop(struct coil_reader *r)
{
	if (r->armed && !r->stopping) {
		r->stopping = true;
		r->io->backend->multi_stop(r->io, r, COIL__MULTI_RECV, r->gen);
	}
}

void coil__reader_cqe(struct coil__io *io, struct coil_reader *r, uint16_t gen, int res,
		    bool has_buf, uint32_t id, bool more)
{
	struct coil__lend *l = io->lend;
	if (gen != r->gen)
		coil__panic("reader %p: stale completion (gen %u, cqe gen %u)", (void *)r, r->gen,
			    gen);
	if (has_buf) {
		if (res > 0 && !r->closing && queue_push(r, id, (uint32_t)res)) {
#ifdef COIL_HAVE_VALGRIND_H
			VALGRIND_MAKE_MEM_DEFINED(coil__lend_buf(l, id), (size_t)res);
#endif
		} else {
			give_buffer(io, l, id);
			if (res > 0 && !r->closing && !r->end)
				r->end = -ENOMEM; /* no room to keep data: it would be lost */
		}
	} else if (res == 0) {
		if (!r->end)
			r->end = 1;
	} else if (res == -ENOBUFS) {
		/* Every buffer is out: receiving waits for one to come back
		 * (backpressure; the data waits in the socket). */
		if (!more && !r->starved && !r->closing) {
			r->starved = true;
			coil__list_push_back(&l->starved, &r->starve_link);
		}
	} else if (res == -ECANCELED) {
		/* Not asked by coil: coil_close cancelled the fd's ops. */
		if (!r->stopping && !r->end)
			r->end = -EBADF;
	} else if (res < 0 && !r->end) {
		r->end = res;
	}
	if (!more) {
		r->armed = false;
		r->stopping = false;
	} else if (r->qlen >= QUEUE_HIGH) {
		reader_stop(r); /* the data waits in the socket until read */
	}
	if (r->qlen || r->end || !r->armed)
		wake_waiter(r, 0);
}

int coil__reader_fd(const struct coil_reader *r)
{
	return r->fd;
}

/* ---- the calls ----------------------------------------------------------- */

int coil_reader_open(coil_reader **out, int fd)
{
	if (!out)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	struct coil__io *io = coil__tls_io;
	if (!io || !coil__self())
		return -EPERM;
	int type;
	socklen_t tlen = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -EINVAL;
	struct coil__lend *l;
	int rc = coil__lend_get(io, &l);
	if (rc < 0)
		return rc;
	struct coil_reader *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->io = io;
	r->fd = fd;
	r->lent = NO_BUF;
	r->q = r->qinline;
	r->qcap = QUEUE_INLINE;
	coil__list_push_back(&l->readers, &r->link);
	*out = r;
	return 0;
}

/* The caller is done with what it was lent. */
static void give_back_lent(struct coil_reader *r)
{
	if (r->lent != NO_BUF) {
		uint32_t id = r->lent;
		r->lent = NO_BUF;
		give_buffer(r->io, r->io->lend, id);
	}
}

/* Park until the multishot side has news for r. */
static int wait_news(struct coil_reader *r, int64_t deadline)
{
	return coil__io_wait_news(&r->waiter, deadline);
}

/* One recv on r's fd of len bytes into buf with flags. */
static int recv_op(struct coil_reader *r, void *buf, size_t len, uint32_t flags)
{
	struct coil__op op;
	coil__op_init(&op, COIL__OP_RECV, r->fd, flags, -1);
	op.u.rw.buf = buf;
	op.u.rw.len = len;
	return coil__op_run(&op);
}

/* Without a ring: receive into a free buffer, but only once data is there:
 * the wait itself is a 1-byte MSG_PEEK that holds no buffer (else idle
 * readers would hold every buffer and the rest would wait for them). */
static ssize_t read_plain(struct coil_reader *r, const void **data, int64_t deadline)
{
	struct coil__lend *l = r->io->lend;
	r->plain_reader = coil__self();
	int n;
	for (;;) {
		if (l->nfree > 0) {
			uint32_t id = l->free_ids[--l->nfree];
			n = recv_op(r, coil__lend_buf(l, id), l->size, MSG_DONTWAIT);
			if (n > 0 && !r->closing) {
				r->lent = id;
				*data = coil__lend_buf(l, id);
				break;
			}
			give_buffer(r->io, l, id);
			if (n != -EAGAIN || r->closing)
				break;
			char peek;
			if ((n = recv_op(r, &peek, 1, MSG_PEEK)) < 0 || r->closing)
				break;
			continue; /* data (or the end) is there */
		}
		/* Every buffer is lent: wait for one (backpressure). */
		struct coil__park p = {.cancel = coil__waitq_cancel, .data = &l->room};
		coil__waitq_push(&l->room, &p);
		if ((n = coil__park(&p, deadline)) < 0 || r->closing)
			break;
	}
	r->plain_reader = NULL;
	if (r->closing) {
		wake_waiter(r, 0); /* the closer waits for us to let go */
		return -EBADF;
	}
	if (n == 0)
		r->end = 1;
	else if (n < 0 && n != -ECANCELED && n != -ETIMEDOUT && n != -ENOMEM && n != -EINTR)
		r->end = n;
	return n;
}

ssize_t coil_reader_read(coil_reader *r, const void **data)
{
	if (!r || !data)
		return -EINVAL;
	struct coil__fiber *self = coil__self();
	if (!self)
		return -EPERM;
	if (r->io != coil__tls_io)
		return -EXDEV;
	if (r->closing)
		return -EBADF;
	if (r->waiter || r->plain_reader)
		return -EBUSY; /* another fiber of this worker is reading it */
	give_back_lent(r);
	int64_t deadline;
	int rc = coil__fiber_may_block(self, &deadline);
	if (rc < 0)
		return rc;
	struct coil__lend *l = r->io->lend;
	for (;;) {
		if (r->qlen) {
			struct chunk c = queue_pop(r);
			r->lent = c.id;
			*data = coil__lend_buf(l, c.id);
			/* A reader that never waits must still let others run. */
			if (coil__sched_budget(self))
				coil__yield(coil__tls_worker);
			return (ssize_t)c.len;
		}
		if (r->end)
			return r->end > 0 ? 0 : r->end;
		if (!l->ring)
			return read_plain(r, data, deadline);
		if (!r->armed && !r->starved && reader_arm(r) != 0) {
			if (r->end)
				continue;
			/* No room in the ring now: after the next poll. */
			if ((rc = coil__io_wait_room(r->io, &deadline)) < 0)
				return rc;
			continue;
		}
		if ((rc = wait_news(r, deadline)) < 0)
			return rc;
		if (r->closing)
			return -EBADF;
		/* Woken without a chunk (re-armed, say): a scope may have been
		 * cancelled meanwhile, while this fiber was not parked. */
		if (!r->qlen && !r->end && (rc = coil__fiber_may_block(self, &deadline)) < 0)
			return rc;
	}
}

/* Free r (nothing armed, nobody waiting). */
static void reader_free(struct coil_reader *r)
{
	struct coil__lend *l = r->io->lend;
	give_back_lent(r);
	while (r->qlen)
		give_buffer(r->io, l, queue_pop(r).id);
	if (r->starved)
		coil__list_remove(&r->starve_link);
	coil__list_remove(&r->link);
	if (r->q != r->qinline)
		free(r->q);
	free(r);
}

int coil_reader_close(coil_reader *r)
{
	if (!r)
		return -EINVAL;
	if (!coil__self())
		return -EPERM;
	if (r->io != coil__tls_io)
		return -EXDEV;
	if (r->closing)
		return -EBADF;
	r->closing = true;
	/* A fiber waiting on the multishot is told at once; one in
	 * read_plain is interrupted (its recv cancelled) and lets go when it
	 * returns. */
	wake_waiter(r, -EBADF);
	if (r->plain_reader)
		coil__fiber_interrupt(r->plain_reader, -EBADF);
	if (r->armed || r->plain_reader) {
		/* Clean-up: shielded, so a cancelled task still waits for the
		 * kernel to let go of the reader. */
		struct coil__scope shield;
		coil__shield_enter(&shield);
		reader_stop(r);
		while (r->armed || r->plain_reader)
			(void)wait_news(r, INT64_MAX);
		coil__shield_exit(&shield);
	}
	reader_free(r);
	return 0;
}

void coil__readers_wind_down(struct coil__io *io)
{
	struct coil__lend *l = io->lend;
	if (!l)
		return;
	struct coil__list *n;
	for (n = l->readers.next; n != &l->readers; n = n->next) {
		struct coil_reader *r = coil__container_of(n, struct coil_reader, link);
		r->closing = true;
		reader_stop(r);
	}
	for (;;) {
		bool armed = false;
		for (n = l->readers.next; n != &l->readers; n = n->next)
			armed |= coil__container_of(n, struct coil_reader, link)->armed;
		if (!armed)
			break;
		int pr = io->backend->poll(io, true, INT64_MAX);
		if (pr < 0 && pr != -EINTR)
			break;
	}
	while (!coil__list_empty(&l->readers)) {
		struct coil_reader *r = coil__container_of(l->readers.next, struct coil_reader, link);
		if (r->armed)
			return; /* the ring failed: leave what the kernel may hold */
		reader_free(r);
	}
	coil__lend_fini(io);
}
