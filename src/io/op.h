/*
 * struct coil__op: one I/O operation, built on the stack of the fiber that
 * asks for it. The fiber hands it to the worker's backend and parks; the
 * backend completes it exactly once (coil__op_complete) and only then does
 * the fiber resume, so every pointer in it (buffers, addresses, the op
 * itself) stays valid for as long as the kernel may use it.
 */
#ifndef COIL_IO_OP_H
#define COIL_IO_OP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/openat2.h>
#include <linux/time_types.h>

#include "base/list.h"
#include "sched/park.h"

/* Each has one row in the op table (io/optable.h), which says the rest. */
enum coil__opcode {
	COIL__OP_NOP,
	COIL__OP_TIMEOUT,	/* u.timeout: absolute CLOCK_MONOTONIC deadline */
	COIL__OP_ACCEPT,	/* fd, u.accept */
	COIL__OP_CONNECT,	/* fd, u.connect */
	COIL__OP_RECV,		/* fd, u.rw, flags = MSG_* */
	COIL__OP_SEND,		/* fd, u.rw, flags = MSG_* */
	COIL__OP_RECVMSG,	/* fd, u.msg, flags = MSG_* */
	COIL__OP_SENDMSG,	/* fd, u.msg, flags = MSG_* */
	COIL__OP_READ,		/* fd, u.rw, off (-1: file position) */
	COIL__OP_WRITE,		/* fd, u.rw, off */
	COIL__OP_READV,		/* fd, u.vec, off */
	COIL__OP_WRITEV,	/* fd, u.vec, off */
	COIL__OP_CLOSE,		/* fd */
	COIL__OP_SHUTDOWN,	/* fd, flags = SHUT_* */
	COIL__OP_OPENAT,	/* fd = dirfd, u.open, flags = O_* */
	COIL__OP_OPENAT2,	/* fd = dirfd, u.open2 (flags, mode, resolve in *how) */
	COIL__OP_FSYNC,		/* fd, flags = 0 or IORING_FSYNC_DATASYNC's meaning */
	COIL__OP_STATX,		/* fd = dirfd, u.statx, flags = AT_* */
	COIL__OP_RESOLVE,	/* u.resolve: host name -> address (blocking pool) */
	COIL__OP_SPLICE,	/* fd -> u.splice.fd_out, off (-1: a pipe); never waits */
	COIL__OP_SENDFILE,	/* socket fd <- u.sendfile.fd_in at off (sendfile(2)) */
	COIL__OP_POLL_OUT,	/* fd writable (a splice's socket said -EAGAIN) */
	COIL__OP_COUNT
};

/* One read or write is capped at this many bytes (the kernel caps at about
 * 2 GiB anyway); a larger request simply comes back short. */
#define COIL__IO_MAX ((size_t)1 << 30)

/* flags for COIL__OP_FSYNC */
#define COIL__FSYNC_DATASYNC 1u

struct coil__io;
struct coil__op;

/* Where an op's completion goes when not to its fiber's own park: a race's
 * ops (io/race.h) go to the race. complete runs on the worker's thread,
 * once per op, with op->res set. */
struct coil__op_target {
	void (*complete)(struct coil__op_target *t, struct coil__op *op);
};

struct coil__op {
	uint8_t code;		/* enum coil__opcode */
	bool completed;		/* coil__op_complete ran (cleared at start) */
	uint16_t gen;		/* tags the backend's reference to this op */
	int32_t res;		/* the completion: >= 0 or -errno */
	/* What an -ECANCELED completion means: set when the fiber's park was
	 * cancelled (-ECANCELED, -ETIMEDOUT: a deadline that sched timed);
	 * 0 when coil did not ask, so a cancel came from a close of the fd. */
	int32_t cancel_code;
	int fd;
	uint32_t flags;
	int64_t off;
	struct coil__park park;		/* the fiber waits here (target NULL) */
	struct coil__op_target *target;	/* or its completion goes here */
	/* The backend's bookkeeping while in flight, named for its owner. */
	union {
		struct {
			struct coil__list link;		/* the fd's wait list */
			uint8_t state;			/* readiness.c: where it waits */
		} compat;
		struct {
			/* The ops in flight naming op->fd, for a close
			 * to cancel each by its user_data (io/uring/uring.h;
			 * apart, so that their stores stay two plain ones). */
			struct coil__op *fd_next;
			bool zc;		/* a SEND_ZC: done at its notification */
			int32_t zc_res;		/* ...with the result its first CQE gave */
			struct coil__op **fd_pprev;
		} uring;
	} be;
	/* The blocking pool's, while it holds the op (under its lock). */
	struct {
		struct coil__list link;	/* its queue or done list */
		uint8_t state;		/* 1 queued, 2 running */
	} pool;
	union {
		struct { void *buf; size_t len; } rw;
		struct { const struct iovec *iov; int iovcnt; } vec;
		struct { struct sockaddr *addr; socklen_t *addrlen; } accept;
		struct { const struct sockaddr *addr; socklen_t addrlen; } connect;
		struct { struct msghdr *msg; } msg;
		struct { const char *path; mode_t mode; } open;
		struct { const char *path; struct open_how *how; } open2;
		struct { const char *path; unsigned mask; struct statx *buf; } statx;
		struct { int64_t deadline; struct __kernel_timespec ts; } timeout;
		struct { int fd_out; size_t len; } splice;
		struct { int fd_in; size_t len; } sendfile;
		struct {
			const char *host;
			uint16_t port;
			int socktype;			/* SOCK_STREAM, SOCK_DGRAM */
			struct sockaddr_storage *addr;	/* out */
			socklen_t *addrlen;		/* out */
		} resolve;
	} u;
};

/* Set up the fields every op reads (code, fd, flags, offset) without
 * zeroing the whole struct: the hot path of every read and write. The
 * caller fills u; coil__op_run and the backend set the rest. */
static inline void coil__op_init(struct coil__op *op, uint8_t code, int fd, uint32_t flags,
				 int64_t off)
{
	op->code = code;
	op->fd = fd;
	op->flags = flags;
	op->off = off;
}

/* Hand op to the worker's backend, its completion to go to to (NULL: the
 * op's own park, which the caller set up). Returns what the backend's
 * submit said: 0 (in flight, counted: it completes later), COIL__SUBMIT_DONE
 * (finished now: op->res), COIL__SUBMIT_FULL (no room: nothing started) or
 * -errno (it cannot start). The one start of every op, alone or raced. */
int coil__op_start(struct coil__io *io, struct coil__op *op, struct coil__op_target *to);

/* Run op on the calling fiber: hand it to the backend, park until it
 * completes, return its result. Returns -ECANCELED without submitting if the
 * task is cancelled, -EPERM outside a runtime. */
int coil__op_run(struct coil__op *op);

#endif
