/*
 * The readiness backends (epoll, poll, kqueue): completions emulated on top
 * of readiness, shared by all three. A poller (one small vtable per
 * mechanism) only watches fds and reports which are ready; everything else
 * is here and in readiness.c:
 *
 *   submit: try the syscall at once (non-blocking). Done -> the op finishes
 *           at submit. EAGAIN -> the op joins its fd's wait list for that
 *           direction, and the poller watches the fd.
 *   ready:  retry the fd's waiters in order until one gets EAGAIN again;
 *           each retried call's result completes its op.
 *   timers: a min-heap of timeout ops sets the poller's wait timeout.
 *   files:  regular files are never "ready": their ops, and fsync, open,
 *           statx and name lookups, go to the blocking pool (core/pool.h).
 *
 * The per-fd state machine: one wait list per fd and direction, shared by
 * all its waiters (FIFO); one poller registration per fd; both directions
 * may wait at once; an op is on at most one list and completes exactly once
 * (when it leaves that list). coil_close of an fd fails its waiters with
 * -EBADF and bumps the fd's generation, so nothing of a closed fd (its
 * registration, its kind) carries over to a new fd with the same number.
 */
#ifndef COIL_COMPAT_COMPAT_H
#define COIL_COMPAT_COMPAT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/op.h"

struct coil__worker;
struct compat;

enum {
	DIR_READ = 1,
	DIR_WRITE = 2,
};

enum fd_kind {
	KIND_UNKNOWN = 0,
	KIND_FILE,		/* regular file, block device, directory: pool */
	KIND_NONBLOCK,		/* O_NONBLOCK stream/socket: try first */
	KIND_BLOCKING,		/* blocking pipe, tty...: check readiness first */
};

struct fd_state {
	struct coil__op *rd_head, *rd_tail;	/* waiting to read (FIFO) */
	struct coil__op *wr_head, *wr_tail;	/* waiting to write */
	uint32_t gen;
	uint8_t kind;			/* enum fd_kind */
	uint8_t registered;		/* the poller's own flag */
	uint32_t poll_slot;		/* poll(2): index + 1 in the pollfd array */
};

struct coil__poller {
	const char *name;
	int (*init)(struct compat *c);
	void (*fini)(struct compat *c);
	/* Make sure readiness of fd in dirs (DIR_* bits; may be 0) is reported.
	 * Edge-triggered pollers register once and ignore dirs; level-
	 * triggered ones must stop watching directions nobody waits on. */
	int (*watch)(struct compat *c, int fd, struct fd_state *st, unsigned dirs);
	/* coil is closing fd: drop what the poller holds for it. */
	void (*forget)(struct compat *c, int fd, struct fd_state *st);
	/* Wait up to timeout_ns (-1: no limit, 0: do not block) and call
	 * compat_fd_ready() for each ready fd. Returns >= 0 or -errno. */
	int (*wait)(struct compat *c, int64_t timeout_ns);
};

struct compat {
	struct coil__worker *w;
	const struct coil__poller *poller;
	void *poller_data;

	/* Indexed by fd, in chunks that never move: a pointer to an fd's
	 * state stays valid while an accept in the middle of retrying a wait
	 * list grows the table. */
	struct fd_state **fd_chunks;
	int nchunks;

	struct coil__op **timers;	/* min-heap on u.timeout.deadline */
	uint32_t ntimers, timers_cap;

	int pool_fd;			/* the blocking pool's notify fd, or -1 */
};

/* The poller reports fd ready in dirs (it may report more than asked). */
void compat_fd_ready(struct compat *c, int fd, unsigned dirs);
/* The fd's state, growing the table; NULL if fd is out of range or no
 * memory. The pointer stays valid until the backend ends. */
struct fd_state *compat_fd(struct compat *c, int fd);

#define FD_CHUNK 256

/* The fd's state if the table has it, else NULL (never grows). */
static inline struct fd_state *compat_fd_if(struct compat *c, int fd)
{
	if (fd < 0 || fd / FD_CHUNK >= c->nchunks || !c->fd_chunks[fd / FD_CHUNK])
		return NULL;
	return &c->fd_chunks[fd / FD_CHUNK][fd % FD_CHUNK];
}

extern const struct coil__poller coil__poller_epoll;
extern const struct coil__poller coil__poller_poll;
extern const struct coil__poller coil__poller_kqueue;

#endif
