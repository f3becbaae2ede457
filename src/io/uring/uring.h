/*
 * The io_uring backend's own header: its state, the user_data tags of its
 * CQEs, and what its rooms share. Private to src/io/uring:
 *
 *   ring.c     set-up: the ring's flags, the probe of opcodes, features;
 *              tear-down; the backend's table of functions
 *   submit.c   ops into SQEs (the prep table, keyed like io/optable.h),
 *              cancels, kicks, the arms on the pool's and wake fds
 *   reap.c     the wait and the one CQE loop (a switch on the tag)
 *   files.c    per-fd facts (seekable, zero-copy, met), the count of each
 *              fd's requests in flight, registered files, another
 *              worker's close (fd_gone)
 *   bufring.c  provided buffers (io/lend.h), recv bundles, multishot
 *              requests, the registered buffer region (io/iobuf.h)
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
#ifndef COIL_IO_URING_URING_H
#define COIL_IO_URING_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/backend.h"
#include "io/fd.h"
#include "io/io.h"
#include "io/optable.h"
#include "io/uring/shim.h"

struct coil__uring {
	struct io_uring ring;
	struct coil__worker *w;	/* its worker */
	unsigned setup_flags;
	unsigned features;	/* IORING_FEAT_* */
	bool pool_armed;	/* a POLL_ADD on the blocking pool's notify fd is in flight */
	bool wake_armed;	/* a POLL_ADD on the worker's wake eventfd is in flight */
	int error;		/* the ring failed (a submit's own error): fatal */
	/* Ops whose opcode this kernel lacks and that the blocking pool can
	 * do instead (per-op fallback: the ring is kept for the rest). */
	bool to_pool[COIL__OP_COUNT];
	/* Ops that take the special submit (and a look at their completion):
	 * SPECIAL_* bits, from their rows' flags (ring.c). */
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
	/* Per fd number (files.c): what coil learnt of it and its requests
	 * in flight; nfds entries. */
	struct coil__uring_fd *fds;
	size_t nfds;
	/* The end of the list of ops of an fd not marked as met yet (struct
	 * coil__uring_fd); never submitted, its fd_pprev written for nothing. */
	struct coil__op unmet;
	/* Per op: its request names op->fd, so it is listed in fds[].ops from
	 * its SQE to its last CQE (a splice's fd_out is counted in its
	 * reqs: submit_special). */
	bool names_fd[COIL__OP_COUNT];
	/* Multishot requests armed, not ended (a check at tear-down). */
	size_t multi_armed;
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

/* Why an op takes the special submit. */
enum {
	SPECIAL_OWN = 1,	/* its own path (pool, offsets, close...) */
};

/* What coil learnt of an fd number, asked once and kept until coil closes
 * it or a new fd of that number comes through coil (0: nothing yet). */
enum {
	FD_SEEK_KNOWN = 1, FD_SEEKABLE = 2,	/* coil__uring_seekable() */
	FD_ZC_KNOWN = 4, FD_ZC = 8,		/* a socket SEND_ZC takes (files.c) */
	FD_NOWAIT_KNOWN = 16, FD_NOWAIT = 32,	/* nowait_read(): a buffered regular file */
	FD_FIXED = 64, FD_FIXED_NO = 128,	/* in the ring's file table; could not be */
	FD_MISS_ONE = 256, FD_MISSES = 0x0f00,	/* its inline reads that missed the cache, in a row */
	FD_MET = 0x1000,			/* marked as met by this worker (io/fd.h) */
	FD_ZC_STREAM = 0x2000,			/* with FD_ZC: TCP (coil__uring_zc_fits) */
	FD_REG = 0x4000,			/* with FD_SEEK_KNOWN: a regular file */
};

/* One fd number's entry (files.c). */
struct coil__uring_fd {
	uint16_t info;	/* FD_* bits below */
	/* A coil_loop's worker, with FD_MET: the low bits of the generation
	 * it marked the fd under (io/fd.h; a stale close's news is told
	 * from a new fd's state by it). */
	uint16_t gen;
	/* Requests in flight in this ring that name the fd, from the SQE to
	 * the last CQE, are the ops listed in ops and reqs more: a multishot
	 * request (its user_data in multi), a splice's fd_out. A close
	 * cancels only when there are some; each by its user_data, a lookup
	 * in the kernel's hash, unless one is not known by name (a splice's
	 * fd_out): then by fd, a walk of every request pending in the ring
	 * (closing n connections whose fibers wait would cost O(n^2)). */
	int32_t reqs;
	/* The user_data of a multishot request (a reader's recv, an accept)
	 * in flight on the fd, or 0: set at its arm, cleared at its last
	 * CQE. */
	uint64_t multi;
	/* The ops in flight naming the fd, through op->be.uring.fd_next and
	 * fd_pprev (which points into this table for the first: files.c
	 * mends it when the table moves). The list ends in NULL once this
	 * worker marked the fd as met (FD_MET in info), else in &u->unmet:
	 * an op that finds the list empty (NULL, the usual case) needs no
	 * look at info, and only one that finds something there (another op,
	 * or unmet) does (coil__uring_op_hold). */
	struct coil__op *ops;
};

/*
 * user_data: what each CQE is about, in its low 3 bits (the tag). Ops,
 * multishot keys, workers and fd_gone calls are 8-aligned, so their
 * address leaves the tag free; ops and multishot requests carry their
 * generation in the top 16 bits (an address fits in 48).
 *
 * Invariant: every CQE in this ring carries a user_data coil wrote. It
 * holds because the ring has IORING_FEAT_EXT_ARG (checked at set-up): the
 * timed wait passes its timeout to io_uring_enter instead of queueing
 * liburing's own IORING_OP_TIMEOUT, whose CQE (user_data ~0: tag 7, a
 * bogus address) the loop would take for an fd_gone.
 */
enum coil__uring_tag {
	UD_OP = 0,		/* an op | gen << 48; 0 alone: a cancel's own CQE */
	UD_POOL = 1,		/* our POLL_ADD on the pool's notify fd */
	UD_KICK = 2,		/* another worker's IORING_OP_MSG_RING: a kick */
	UD_KICK_FAILED = 3,	/* a MSG_RING of ours that failed (only failures
				 * post: CQE_SKIP_SUCCESS): the target worker | 3 */
	UD_WAKE_FD = 4,		/* our POLL_ADD on the worker's wake eventfd */
	UD_MULTI_RECV = COIL__MULTI_RECV,	/* a reader's multishot recv: key | 5 | gen */
	UD_MULTI_ACCEPT = COIL__MULTI_ACCEPT,	/* a multishot accept: key | 6 | gen */
	UD_FD_GONE = 7,		/* the cancel of an fd another worker closes: call | 7 */
};
#define UD_TAG_MASK UINT64_C(7)
_Static_assert(COIL__MULTI_RECV == 5 && COIL__MULTI_ACCEPT == 6,
	       "enum coil__multi_kind is the multishot tags");

#define TAG_SHIFT 48
#define PTR_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)

static inline uint64_t coil__uring_op_tag(const struct coil__op *op)
{
	return ((uint64_t)op->gen << TAG_SHIFT) | (uint64_t)(uintptr_t)op;
}

/* The buffer group of the ring that io/lend.h's buffers sit in. */
#define COIL__LEND_BGID 0

/* ---- submit.c --------------------------------------------------------- */

typedef void coil__uring_prep_fn(struct io_uring_sqe *sqe, struct coil__op *op);

/* How each op becomes an SQE, keyed by enum coil__opcode beside the op
 * table. An op without a prep has no opcode: the pool always does it here
 * (its row must let the pool stand in). */
struct coil__uring_prep {
	coil__uring_prep_fn *prep;
	uint8_t opcode;		/* the io_uring opcode, also checked by the probe */
};
extern const struct coil__uring_prep coil__uring_preps[COIL__OP_COUNT];

int coil__uring_submit(struct coil__io *io, struct coil__op *op);
void coil__uring_cancel(struct coil__io *io, struct coil__op *op);
/* The worker's kick_from (sched/crew.h): a MSG_RING into to's ring. */
bool coil__uring_kick(struct coil__worker *self, struct coil__worker *to);
/* Hand the queued SQEs to the kernel now; flush task work and overflowed
 * CQEs; with SQPOLL, wait for the SQ thread to take SQEs. A ring's own
 * failure is kept in u->error. */
void coil__uring_submit_now(struct coil__uring *u);
void coil__uring_get_events(struct coil__uring *u);
void coil__uring_sq_drain(struct coil__uring *u);
/* An SQE that must not be lost (a cancel): reaps until the kernel takes
 * one. NULL once the ring failed (u->error) or *done (done may be NULL). */
struct io_uring_sqe *coil__uring_sqe_for_cancel(struct coil__io *io, struct coil__uring *u,
						const bool *done);
/* Arm a POLL_ADD on the pool's notify fd / the worker's wake eventfd. */
void coil__uring_arm_pool(struct coil__io *io, struct coil__uring *u);
void coil__uring_arm_wake(struct coil__io *io, struct coil__uring *u);

struct io_uring_sqe *coil__uring_sqe_after_submit(struct coil__uring *u);

/* An SQE, handing the queued ones to the kernel if the SQ is full. NULL
 * only if the kernel takes none (its CQ backlog is full: -EBUSY). */
static inline __attribute__((always_inline)) struct io_uring_sqe *
coil__uring_sqe(struct coil__uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (__builtin_expect(sqe != NULL, 1))
		return sqe;
	return coil__uring_sqe_after_submit(u);
}

/* ---- reap.c ----------------------------------------------------------- */

int coil__uring_poll(struct coil__io *io, bool block, int64_t deadline);
/* Complete what the CQ holds. Returns how many ops completed. */
int coil__uring_reap(struct coil__io *io, struct coil__uring *u);

/* ---- files.c ---------------------------------------------------------- */

struct coil__uring_fd *coil__uring_fd_grow(struct coil__uring *u, int fd);
/* This worker keeps state for fd (< nfds) from now on (a request names
 * it): marked once, until it forgets fd, for a close elsewhere to reach it
 * (io/fd.h). */
void coil__uring_fd_met(struct coil__uring *u, int fd);
/* The same before this worker learns what fd is, the entry made if need be. */
void coil__uring_fd_learns(struct coil__uring *u, int fd);

/* fd's FD_* bits, the table grown to hold it; NULL without memory. */
static inline uint16_t *coil__uring_fd_info(struct coil__uring *u, int fd)
{
	if (__builtin_expect((size_t)fd < u->nfds, 1))
		return &u->fds[fd].info;
	struct coil__uring_fd *e = coil__uring_fd_grow(u, fd);
	return e ? &e->info : NULL;
}

/* The requests naming an fd (struct coil__uring_fd). An op's request is
 * listed by coil__uring_op_hold before its SQE and unlisted by
 * coil__uring_op_let_go at its last CQE (the op's completion: a SEND_ZC
 * at its notification), both by the op's row of names_fd; a multishot
 * request is counted by coil__uring_fd_hold at its arm and let go by
 * coil__uring_fd_let_go at its last CQE, and so is a splice's fd_out (in
 * submit_special and op_cqe). The pool's ops and the ring's own POLL_ADDs
 * (pool, wake fd) are not counted: no coil_close ever names their fds.
 * Debug builds check that no count goes below 0, and at tear-down that
 * none is left. */
int coil__uring_fd_room_slow(struct coil__uring *u, int fd);
void coil__uring_fd_went_negative(struct coil__uring *u, int fd);

/* One more request names fd. 0, or -EBADF (no such fd: the kernel would
 * say the same) or -ENOMEM (no room to count it): the request must not
 * be made. */
static inline __attribute__((always_inline)) int coil__uring_fd_hold(struct coil__uring *u, int fd)
{
	if (__builtin_expect((size_t)fd >= u->nfds, 0)) {
		int r = coil__uring_fd_room_slow(u, fd);
		if (r < 0)
			return r;
	}
	u->fds[fd].reqs++;
	return 0;
}

/* A request that named fd has ended (its last CQE), or was never made. */
static inline __attribute__((always_inline)) void coil__uring_fd_let_go(struct coil__uring *u, int fd)
{
	int32_t n = --u->fds[fd].reqs;
#ifndef NDEBUG
	if (n < 0)
		coil__uring_fd_went_negative(u, fd);
#else
	(void)n;
#endif
}

/* Whether op ends an fd's list of ops (NULL, or u->unmet). */
static inline bool coil__uring_ops_end(const struct coil__uring *u, const struct coil__op *op)
{
	return !op || op == &u->unmet;
}

/* This worker keeps state for fd from now on (io/fd.h); a coil_loop's
 * notes the generation. */
static inline void coil__uring_mark(struct coil__uring *u, struct coil__uring_fd *e, int fd)
{
	if (__builtin_expect(u->w->later != NULL, 0))
		e->gen = (uint16_t)coil__fd_met_gen(u->w, fd);
	else
		coil__fd_met(u->w, fd);
}

/* op's SQE is about to be made: list it on op->fd if it names it, and
 * mark the fd as met by this worker the first time (io/fd.h): a list that
 * was empty (NULL) had been marked, so the usual op costs no more than
 * its listing. 0, or as coil__uring_fd_hold. */
static inline __attribute__((always_inline)) int coil__uring_op_hold(struct coil__uring *u,
								   struct coil__op *op)
{
	if (!u->names_fd[op->code])
		return 0;
	if (__builtin_expect((size_t)op->fd >= u->nfds, 0)) {
		int r = coil__uring_fd_room_slow(u, op->fd);
		if (r < 0)
			return r;
	}
	struct coil__uring_fd *e = &u->fds[op->fd];
	struct coil__op *first = e->ops;
	op->be.uring.fd_pprev = &e->ops;
	e->ops = op;
	op->be.uring.fd_next = first;
	if (__builtin_expect(first != NULL, 0)) {
		if (first == &u->unmet) {
			/* The first op since this worker met the fd. */
			op->be.uring.fd_next = NULL;
			e->info |= FD_MET;
			coil__uring_mark(u, e, op->fd);
		} else {
			first->be.uring.fd_pprev = &op->be.uring.fd_next;
			if (__builtin_expect(!(e->info & FD_MET), 0))
				coil__uring_fd_met(u, op->fd); /* a new fd, old ops listed */
		}
	}
	return 0;
}

/* op's request has ended (its last CQE), or its SQE was never made. */
static inline __attribute__((always_inline)) void coil__uring_op_let_go(struct coil__uring *u,
								      struct coil__op *op)
{
	if (!u->names_fd[op->code])
		return;
	struct coil__op *next = op->be.uring.fd_next;
	*op->be.uring.fd_pprev = next;
	if (next)
		next->be.uring.fd_pprev = op->be.uring.fd_pprev; /* unmet's: unread */
}

/* Whether a request in flight here names fd: a close must cancel them. */
static inline bool coil__uring_fd_busy(const struct coil__uring *u, int fd)
{
	return fd >= 0 && (size_t)fd < u->nfds &&
	       (!coil__uring_ops_end(u, u->fds[fd].ops) || u->fds[fd].reqs != 0);
}

/* The cancels of every request in flight on fd (coil__uring_fd_busy)
 * before its close: each by its user_data (n of them, in ud), or, when
 * one is not known by name (a splice's fd_out) or there are more than
 * max (or COIL__URING_CLOSE_MAX), one by fd (n == 0). */
#define COIL__URING_CLOSE_MAX 8
struct coil__uring_close_plan {
	unsigned n;
	bool multi;	/* ud[0] is the fd's multishot's */
	bool one;	/* n == 0: the fd has one request (the walk stops at it) */
	uint64_t ud[COIL__URING_CLOSE_MAX];
};
void coil__uring_close_plan(const struct coil__uring *u, int fd, unsigned max,
			    struct coil__uring_close_plan *p);
/* The SQEs the plan takes. */
static inline unsigned coil__uring_close_sqes(const struct coil__uring_close_plan *p)
{
	return p->n ? p->n : 1;
}
/* Make sqe the plan's cancel i (< coil__uring_close_sqes), its CQE's
 * user_data tag. Counted for the tests. */
void coil__uring_prep_close_cancel(struct io_uring_sqe *sqe, int fd,
				   const struct coil__uring_close_plan *p, unsigned i, uint64_t tag);
void coil__uring_check_counts(struct coil__io *io, struct coil__uring *u);

void coil__uring_fd_forget(struct coil__uring *u, int fd);
bool coil__uring_seekable(struct coil__uring *u, int fd);
/* Whether a send may go SEND_ZC: a TCP one only when its bytes and those
 * the socket holds fit the peer's window (a cancel then never waits for
 * a peer that stopped reading). */
bool coil__uring_zc_fits(struct coil__uring *u, const struct coil__op *op);
void coil__uring_fixed_init(struct coil__io *io, struct coil__uring *u);
void coil__uring_fixed_fini(struct coil__io *io, struct coil__uring *u);
void coil__uring_fixed_rescan(struct coil__uring *u, uint64_t epoch);
/* Make sqe (an op on fd) name fd's registered slot (COIL__OPF_FIXED_FILE
 * ops, with the feature on), registering it on first use. */
void coil__uring_use_fixed(struct coil__uring *u, struct io_uring_sqe *sqe, int fd);
void coil__uring_fd_opened(struct coil__io *io, int fd);
void coil__uring_fd_gone(struct coil__io *io, struct coil__fd_gone_call *call);
void coil__uring_fd_closed(struct coil__io *io, int fd, uint32_t gen);

/* ---- bufring.c -------------------------------------------------------- */

int coil__uring_lend_init(struct coil__io *io, struct coil__lend *l);
void coil__uring_lend_give(struct coil__io *io, struct coil__lend *l, uint32_t id);
void coil__uring_lend_fini(struct coil__io *io, struct coil__lend *l);
int coil__uring_iobuf_register(struct coil__io *io, void *base, size_t len);
int coil__uring_multi_arm(struct coil__io *io, void *key, unsigned kind, int fd, uint16_t gen);
void coil__uring_multi_stop(struct coil__io *io, void *key, unsigned kind, uint16_t gen);
/* A multishot request's CQE (tag 5 or 6): to the reader or the accepts. */
void coil__uring_multi_cqe(struct coil__io *io, struct coil__uring *u, uint64_t ud, int res,
			   unsigned flags);

#endif
