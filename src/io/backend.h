/*
 * The backend interface: the only thing the io layer knows about how I/O
 * is done.
 *
 * A backend turns struct coil__op into work for the kernel and reports each
 * op's result exactly once through coil__op_complete(). io_uring implements
 * it with SQEs and CQEs (src/io/uring); the readiness backends
 * (src/io/compat) with a try / wait-for-readiness / retry loop and the
 * blocking pool.
 *
 * Rules for a backend:
 *   - submit() never blocks. It may finish the op at once (a readiness
 *     backend whose first try succeeded: no wait, no switch) and say so with
 *     COIL__SUBMIT_DONE; otherwise the completion comes from poll(), or
 *     from cancel() (a readiness backend takes the op back at once).
 *   - cancel() only asks; the op still completes exactly once, through its
 *     own completion, with -ECANCELED or its real result if that came first.
 *   - poll() is the only place the worker blocks.
 */
#ifndef COIL_IO_BACKEND_H
#define COIL_IO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "io/op.h"

struct coil__io;
struct coil__fd_gone_call;
struct coil__lend;
struct coil_reader;

struct coil__backend {
	const char *name;
	/* It runs COIL__OP_TIMEOUT (io_uring: IORING_OP_TIMEOUT), for sleeps
	 * when coil_config.coalesce_sleeps is off. Every other deadline, and
	 * sleeps otherwise, are sched's timers: past one, the op is
	 * cancelled and coil__op_complete reports its -ECANCELED as
	 * -ETIMEDOUT. */
	bool timer_ops;
	/* Set up io->be. May set io->inflight_max (default: no limit).
	 * Returns 0 or -errno (then nothing is left to clean up). */
	int (*init)(struct coil__io *io, const struct coil__config *cfg);
	/* Tear down. Called only when no op is in flight. */
	void (*fini)(struct coil__io *io);
	/* Start op (op->gen is set). 0: in flight, it completes through
	 * coil__op_complete() later; COIL__SUBMIT_DONE: finished now, op->res
	 * holds the result; COIL__SUBMIT_FULL: no room right now (the fiber
	 * waits for room and tries again after a poll); -errno: the op cannot
	 * start, that is its result. */
	int (*submit)(struct coil__io *io, struct coil__op *op);
	/* Ask op, which is in flight, to finish early with -ECANCELED. */
	void (*cancel)(struct coil__io *io, struct coil__op *op);
	/* Push pending work to the kernel and report what completed. With
	 * block, wait until at least one op completes or, if deadline is not
	 * INT64_MAX, until that CLOCK_MONOTONIC time (sched's timers).
	 * Returns the number of ops completed, or -errno: -EINTR is harmless,
	 * anything else is fatal for the runtime. */
	int (*poll)(struct coil__io *io, bool block, int64_t deadline);
	/* Optional: coil made fd (a socket) outside any op; forget whatever
	 * was known of an earlier fd with the same number. */
	void (*fd_opened)(struct coil__io *io, int fd);
	/* Optional (several workers, io/fd.h): another worker is closing
	 * c->fd, which still names the file. End this worker's ops on it
	 * with -EBADF and forget it, as a close here would, then say so with
	 * coil__fd_gone_done(c): at once, or once the kernel has taken the
	 * cancel (io_uring). Runs on this worker's thread. */
	void (*fd_gone)(struct coil__io *io, struct coil__fd_gone_call *c);
	/* Optional (a coil_loop's worker, io/fd.h): fd was closed elsewhere
	 * and its number may already name a new file; gen is the generation
	 * that close ended. If this worker keeps fd's state of that
	 * generation, end its ops on it with -EBADF and forget it, touching
	 * nothing by the number. fd < 0: do so for every fd whose generation
	 * moved since this worker met it. Runs on this worker's thread. */
	void (*fd_closed)(struct coil__io *io, int fd, uint32_t gen);
	/* For coil_loop: the fd an embedder polls, readable while there are
	 * completions to reap (or -EOPNOTSUPP), and in *signal_fd the fd a
	 * write to which makes it readable. efd is an eventfd the caller
	 * owns, there for backends that need one. */
	int (*embed)(struct coil__io *io, int efd, int *signal_fd);
	/* Optional (io/lend.h): put l's buffers in a ring the kernel picks
	 * from: 0, or -errno (l stays a free list). lend_give hands buffer id
	 * back to that ring; lend_fini takes the ring down (nothing armed). */
	int (*lend_init)(struct coil__io *io, struct coil__lend *l);
	void (*lend_give)(struct coil__io *io, struct coil__lend *l, uint32_t id);
	void (*lend_fini)(struct coil__io *io, struct coil__lend *l);
	/* Optional: multishot requests, armed once and completing many times
	 * (not ops: no struct coil__op). multi_arm arms one of kind on fd for
	 * key (8-aligned), tagged gen: 0, COIL__SUBMIT_FULL (no room now) or
	 * -errno. Its completions go to coil__reader_cqe (a reader's recv into
	 * the ring) or coil__accepts_cqe (a listener's accepts), the last
	 * without "more". multi_stop asks that arm to end (its last
	 * completion says when). */
	/* Optional: take [base, base + len) as the region of io/iobuf.h (io_uring:
	 * fixed buffer 0). 0, or -errno (then it is plain memory). */
	int (*iobuf_register)(struct coil__io *io, void *base, size_t len);
	int (*multi_arm)(struct coil__io *io, void *key, unsigned kind, int fd, uint16_t gen);
	void (*multi_stop)(struct coil__io *io, void *key, unsigned kind, uint16_t gen);
};

/* Tell the running worker's backend that coil made fd (no-op outside a
 * runtime or when the backend keeps no per-fd state). */
void coil__fd_opened(int fd);

/* Close fd the one way coil closes an fd it knows: through the backend,
 * which fails or cancels the ops still waiting on it (-EBADF) and forgets
 * its registration. Outside a runtime: a plain close. Runs shielded (a
 * cancelled task still closes). Returns 0 or -errno. */
int coil__fd_close(int fd);

/* Kinds of multishot request (backend->multi_arm). */
enum coil__multi_kind {
	COIL__MULTI_RECV = 5,	/* a coil_reader's recv into the buffer ring */
	COIL__MULTI_ACCEPT = 6,	/* io/accepts.h */
	/* 7 is io_uring's own tag: an fd_gone's cancel (io/fd.h). */
};

#define COIL__SUBMIT_DONE 1
#define COIL__SUBMIT_FULL 2

/* The backend reports op's result: its fiber is woken, or its completion
 * target (op.h) hears of it. */
void coil__op_complete(struct coil__io *io, struct coil__op *op, int res);

extern const struct coil__backend coil__backend_uring;

/* The io_uring backend's opcodes, for tools/coil-probe: each op coil
 * submits as an SQE (io/optable.h's rows that have an opcode there), its
 * opcode, and whether the blocking pool stands in when the kernel lacks it
 * (else such a kernel is refused). Returns the rows written (at most
 * max). */
struct coil__uring_op_row {
	const char *name;
	unsigned opcode;
	bool pool_stands_in;
};
size_t coil__uring_ops(struct coil__uring_op_row *rows, size_t max);
/* For the tests: the cancels the io_uring backend has queued in this
 * process for closes (here and fd_gone alike), by fd (IORING_ASYNC_CANCEL_FD:
 * the kernel walks every pending request), by the user_data of the fd's
 * multishot request and by an op's; and how many requests in flight in
 * the calling worker's ring name fd (-1: the worker is not on io_uring). */
unsigned long coil__uring_fd_cancels(void);
unsigned long coil__uring_multi_cancels(void);
unsigned long coil__uring_op_cancels(void);
/* For the tests: the sends the io_uring backend made SEND_ZC in this
 * process (a TCP one only where it fits the peer's window). */
unsigned long coil__uring_zc_sends(void);
int coil__uring_fd_reqs(int fd);
extern const struct coil__backend coil__backend_epoll;
extern const struct coil__backend coil__backend_poll;
extern const struct coil__backend coil__backend_kqueue;
/* WASI preview 1's poll_oneoff (io/compat/poller_wasi.c); only in a
 * wasm32-wasi libcoil, elsewhere an entry without init (-ENOTSUP). */
extern const struct coil__backend coil__backend_wasi;
#ifdef __wasi__
/* What a wasm32-wasi libcoil answers for a backend it was built without. */
extern const struct coil__backend coil__backend_none;
#endif

#endif
