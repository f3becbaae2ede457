/*
 * The readiness backends (epoll, poll, kqueue, and WASI's poll_oneoff):
 * completions emulated on top of readiness, shared by all of them. A
 * poller (one small vtable per mechanism) only watches fds and reports
 * which are ready; everything else is here and in readiness.c:
 *
 * What each op does here is its row in the op table (io/optable.h): its
 * try (io/try.h), the direction it waits in and its route.
 *
 *   submit: try the syscall at once (non-blocking). Done -> the op finishes
 *           at submit. EAGAIN -> the op joins its fd's wait list for that
 *           direction, and the poller watches the fd.
 *   ready:  retry the fd's waiters in order until one gets EAGAIN again;
 *           each retried call's result completes its op.
 *   time:   deadlines and sleeps are sched's timers (this backend has no
 *           native deadlines): sched cancels an op whose deadline passed,
 *           and bounds the poller's wait by the earliest timer.
 *   files:  regular files are never "ready": their ops, and fsync, open,
 *           statx and name lookups, go to the blocking pool (io/pool.h).
 *
 * The per-fd state machine: one wait list per fd and direction, shared by
 * all its waiters (FIFO); one poller registration per fd; both directions
 * may wait at once; an op is on at most one list and completes exactly once
 * (when it leaves that list). coil_close of an fd fails its waiters with
 * -EBADF and resets the fd's state, so nothing of a closed fd (its
 * registration, its kind) carries over to a new fd with the same number;
 * with several workers, on every worker that met the fd (io/fd.h), before
 * the number is released.
 */
#ifndef COIL_IO_COMPAT_COMPAT_H
#define COIL_IO_COMPAT_COMPAT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/list.h"
#include "io/op.h"
#include "io/optable.h"

struct coil__io;
struct coil__compat;

enum coil__fd_kind {
	COIL__KIND_UNKNOWN = 0,
	COIL__KIND_FILE,		/* regular file, block device, directory: pool */
	COIL__KIND_NONBLOCK,		/* O_NONBLOCK stream/socket: try first */
	COIL__KIND_BLOCKING,		/* blocking pipe, tty...: check readiness first */
};

struct coil__fd_state {
	struct coil__list rd, wr;	/* ops waiting to read / write (FIFO) */
	uint8_t kind;			/* enum coil__fd_kind */
	uint8_t mode;			/* COIL__FD_* (io/try.h): what the tries know */
	uint8_t registered;		/* the poller's own flag */
	uint32_t poll_slot;		/* poll(2): index + 1 in the pollfd array */
	uint32_t gen;			/* with kind: the generation met under (io/fd.h) */
};

struct coil__poller {
	const char *name;
	int (*init)(struct coil__compat *c);
	void (*fini)(struct coil__compat *c);
	/* Make sure readiness of fd in dirs (COIL__DIR_* bits; may be 0) is reported.
	 * Edge-triggered pollers register once and ignore dirs; level-
	 * triggered ones must stop watching directions nobody waits on. */
	int (*watch)(struct coil__compat *c, int fd, struct coil__fd_state *st, unsigned dirs);
	/* coil is closing fd: drop what the poller holds for it. */
	void (*forget)(struct coil__compat *c, int fd, struct coil__fd_state *st);
	/* Wait up to timeout_ns (-1: no limit, 0: do not block) and call
	 * coil__compat_fd_ready() for each ready fd. Returns >= 0 or -errno. */
	int (*wait)(struct coil__compat *c, int64_t timeout_ns);
	/* Optional: the poller's own fd, readable (edge-registered fds:
	 * only after new readiness) while wait would report something. */
	int (*pollable_fd)(struct coil__compat *c);
};

struct coil__compat {
	struct coil__io *io;
	const struct coil__poller *poller;
	void *poller_data;

	/* Indexed by fd, in chunks that never move: a pointer to an fd's
	 * state stays valid while an accept in the middle of retrying a wait
	 * list grows the table. */
	struct coil__fd_state **fd_chunks;
	int nchunks;

	int pool_fd;			/* the blocking pool's notify fd, or -1 */
	bool multi;			/* the runtime has several workers (io/fd.h) */
	/* A coil_loop's worker: it hears of closes elsewhere after them, so
	 * it compares generations before it touches an fd (io/fd.h). */
	bool late;
};

/* The poller reports fd ready in dirs (it may report more than asked). */
void coil__compat_fd_ready(struct coil__compat *c, int fd, unsigned dirs);
/* The fd's state, growing the table; NULL if fd is out of range or no
 * memory. The pointer stays valid until the backend ends. */
struct coil__fd_state *coil__compat_fd(struct coil__compat *c, int fd);

#define COIL__FD_CHUNK 256

/* The fd's state if the table has it, else NULL (never grows). */
static inline struct coil__fd_state *coil__compat_fd_if(struct coil__compat *c, int fd)
{
	if (fd < 0 || fd / COIL__FD_CHUNK >= c->nchunks || !c->fd_chunks[fd / COIL__FD_CHUNK])
		return NULL;
	return &c->fd_chunks[fd / COIL__FD_CHUNK][fd % COIL__FD_CHUNK];
}

extern const struct coil__poller coil__poller_epoll;
extern const struct coil__poller coil__poller_poll;
extern const struct coil__poller coil__poller_kqueue;
extern const struct coil__poller coil__poller_wasi; /* wasm32-wasi only */

#endif
