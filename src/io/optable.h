/*
 * The op table: one row per opcode (enum coil__opcode, io/op.h) that says
 * everything the io layer and the backends need to know of that op, so no
 * file keeps its own list of ops.
 *
 * A row holds the op's name ($COIL_URING_WITHOUT, coil-probe), its facts
 * (COIL__OPF_* flags), which of its caller's buffers the kernel writes, how
 * it is done the blocking way (the blocking pool: io/blocking.h) and how
 * the readiness backends try it (io/try.h: the try, its direction and its
 * route). How io_uring turns the op into an SQE stays in that backend, in
 * a table keyed by the same opcode (io/uring/submit.c: coil__uring_preps).
 *
 * Adding an op: an entry in enum coil__opcode (and, if it needs one, a
 * member of the op's union u), one row in coil__optable (optable.c), its
 * blocking function if the pool may do it and its try if the readiness
 * backends do it themselves, and its prep row in io/uring/submit.c (or no
 * prep: the pool always does it there). Nothing else lists ops: a flag in
 * the row is how every backend learns what is special about it.
 */
#ifndef COIL_IO_OPTABLE_H
#define COIL_IO_OPTABLE_H

#include <errno.h>
#include <stdint.h>

#include "io/op.h"

/* What is true of an op, whatever the backend. */
enum coil__opf {
	/* Its result is a new fd: a backend forgets what it knew of an
	 * earlier fd of that number. */
	COIL__OPF_MAKES_FD = 1 << 0,
	/* It closes op->fd: first the fd's other ops end (-EBADF) and every
	 * backend forgets the fd. */
	COIL__OPF_CLOSES_FD = 1 << 1,
	/* It works on the file op->fd names and holds it while in flight:
	 * with several workers, this worker has met the fd (io/fd.h). Not
	 * for a dirfd (openat, statx). */
	COIL__OPF_NAMES_FD = 1 << 2,
	/* It may name the fd's registered slot instead (io/fixed.h). */
	COIL__OPF_FIXED_FILE = 1 << 3,
	/* It takes op->off (>= 0: a position), which an fd pread(2) takes
	 * none on refuses with -ESPIPE on every backend (io/offsets.h). */
	COIL__OPF_SEEKS = 1 << 4,
	/* The blocking pool may do it when io_uring lacks its opcode: it
	 * never waits on a peer (open, stat, fsync, close). Not reads and
	 * writes: on a pipe or socket the pool's call would fail with EAGAIN
	 * or block a pool thread where no cancel or deadline can reach it. */
	COIL__OPF_POOL_STANDS_IN = 1 << 5,
	/* Only io_uring runs it (the readiness backends say -ENOTSUP):
	 * a sleep as a kernel timer. */
	COIL__OPF_URING_ONLY = 1 << 6,
};

/* Which of the caller's buffers the kernel writes into on success (for
 * Valgrind, which cannot see io_uring's writes: io/op.c). */
enum coil__op_out {
	COIL__OUT_NONE = 0,
	COIL__OUT_RW,		/* u.rw.buf, res bytes */
	COIL__OUT_VEC,		/* u.vec, res bytes in order */
	COIL__OUT_MSG,		/* u.msg: its first iovec, name and namelen */
	COIL__OUT_ADDR,		/* u.accept: addr and addrlen */
	COIL__OUT_STATX,	/* u.statx.buf */
};

/* The direction a readiness backend waits in (also the pollers' bits). */
enum {
	COIL__DIR_READ = 1,
	COIL__DIR_WRITE = 2,
};

/* How a readiness backend runs an op (io/compat/readiness.c). */
enum coil__op_route {
	COIL__ROUTE_NONE = 0,	/* not there (COIL__OPF_URING_ONLY) */
	COIL__ROUTE_NOW,	/* one call that does not block: done at submit */
	COIL__ROUTE_FD,		/* try, else wait for readiness of fd in dir */
	COIL__ROUTE_FILE,	/* a regular file -> the pool; a stream -> ROUTE_FD */
	COIL__ROUTE_POOL,	/* always the blocking pool */
	/* One call that does not wait when the kernel has what it needs
	 * cached (a path in the dentry cache, an open fd's inode); its try
	 * says COIL__TRY_POOL otherwise, and the pool does it. */
	COIL__ROUTE_CACHED,
};

struct coil__opdef {
	const char *name;
	uint8_t flags;		/* enum coil__opf */
	uint8_t out;		/* enum coil__op_out */
	uint8_t dir;		/* COIL__DIR_*: where ROUTE_FD waits */
	uint8_t route;		/* enum coil__op_route */
	/* The op done the blocking way, on the calling thread (io/blocking.h):
	 * >= 0 or -errno. NULL: the pool never does it. */
	int (*blocking)(struct coil__op *op);
	/* One non-blocking attempt (io/try.h): the result, -EAGAIN (wait for
	 * readiness and try again) or COIL__TRY_POOL. *mode is the fd's
	 * COIL__FD_* bits as the readiness backend knows them; the try may
	 * add what it learns. NULL unless route is NOW, FD or FILE. */
	int (*try)(struct coil__op *op, uint8_t *mode);
};

/* Indexed by enum coil__opcode; every row is filled (optable.c checks the
 * count, test_seams the rows). */
extern const struct coil__opdef coil__optable[];

/* Do op the blocking way, on the calling thread: the blocking pool's work
 * (files on the readiness backends, host names everywhere). Returns the
 * result as the op would complete: >= 0 or -errno (-EINVAL for an op the
 * pool never does). */
static inline int coil__op_do_blocking(struct coil__op *op)
{
	int (*fn)(struct coil__op *) = coil__optable[op->code].blocking;
	return fn ? fn(op) : -EINVAL;
}

#endif
