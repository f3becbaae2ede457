/*
 * The I/O layer of one worker: its backend instance, the blocking pool,
 * the count of ops in flight and their bound, and the fibers waiting for
 * room under that bound. It sits on sched: a fiber running an op parks
 * through sched/park.h, and the backend's poll is the turn's poll hook
 * (coil__io_poll), installed by the runtime. Set up and torn down by
 * io/setup.h, which chooses the backend.
 */
#ifndef COIL_IO_IO_H
#define COIL_IO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "sched/crew.h"
#include "sched/sched.h"
#include "sched/waitq.h"

struct coil__backend;
struct coil__pool;

struct coil__io {
	struct coil__worker *w;
	const struct coil__backend *backend;
	/* The backend's own state, named for its owner. */
	union {
		struct coil__uring *uring;
		struct coil__compat *compat;
	} be;
	struct coil__pool *pool;	/* the blocking pool, made on first use */
	struct coil__lend *lend;	/* buffers lent to readers, made on first use */
	struct coil__iobufs *iobufs;	/* coil_iobuf_alloc's, made on first use */
	unsigned features;		/* enum coil_feature bits in use (coil_features) */
	bool can_splice;		/* COIL__OP_SPLICE runs here (io_uring) */
	/* Pipes coil_sock_sendfile splices through, kept for the next call
	 * (closed with the worker). */
	int pipes[8][2];
	unsigned npipes;
	const struct coil__config *cfg;
	size_t inflight;		/* ops handed to the backend, not completed */
	size_t inflight_max;		/* 0: no limit */
	struct coil__waitq room;	/* fibers waiting for inflight < max */
	uint16_t op_gen;
};

/* What the I/O layers of one runtime's workers share. The runtime owns it
 * and points its crew at it (sched/crew.h: io); zeroed to start. */
struct coil__io_shared {
	uint32_t said_fallback;		/* the io_uring fallback line was printed */
	/* io_uring with SQPOLL: the ring whose kernel thread every worker's
	 * ring shares (IORING_SETUP_ATTACH_WQ), its fd + 1 (0: none yet);
	 * set under sqpoll_lock by the first worker that made one. */
	uint32_t sqpoll_lock;
	int sqpoll_fd1;
};

static inline struct coil__io_shared *coil__io_shared(struct coil__io *io)
{
	return io->w->crew->io;
}

/* The I/O layer of the worker on this thread, or NULL. */
extern __thread struct coil__io *coil__tls_io __attribute__((tls_model("initial-exec")));

/* The turn's poll hook (sched.h): the backend's poll, then wake the fibers
 * waiting for room. ctx is the struct coil__io. */
int coil__io_poll(void *ctx, bool block, int64_t deadline);

/* Park the calling fiber until the next poll (which may have made room:
 * ops completed), under *deadline (the scope's). Then the entry check
 * again, which refreshes *deadline: the caller looks at the bound again
 * only if the call may still go on. Returns 0, or -ECANCELED / -ETIMEDOUT /
 * -ENOMEM. Out of line: rare. */
int coil__io_wait_room(struct coil__io *io, int64_t *deadline);

/* Park the calling fiber on a multishot request's news (io/lend.h,
 * io/accepts.h): *slot points at the park until whoever has news clears it
 * and wakes it (or a cancel does). Counted as pending meanwhile: the worker
 * must poll for it. Returns the wake's result or the cancel's code. */
int coil__io_wait_news(struct coil__park **slot, int64_t deadline);

/* An op was handed to the backend / its completion came back: the count
 * sched reads to know a poll is needed. */
static inline void coil__io_started(struct coil__io *io)
{
	io->inflight++;
	io->w->pending++;
}

static inline void coil__io_finished(struct coil__io *io)
{
	io->inflight--;
	io->w->pending--;
}

#endif
