/*
 * The blocking pool: a few threads that run ops the blocking way, for work
 * no readiness mechanism covers (regular files are never "ready") and that
 * io_uring has no opcode for (host-name resolution, or an op this kernel's
 * io_uring lacks). Its queue and done list are base/list rings of the ops'
 * pool links: a cancel takes a queued op back in O(1).
 *
 * The worker hands an op to the pool and parks the fiber as usual. A pool
 * thread runs coil__op_do_blocking(op) (its op table row's blocking
 * function, io/optable.h), puts the op on the done list and
 * writes to notify_fd (an eventfd, or a pipe where there is none); the
 * worker's backend watches that fd and calls coil__pool_reap(), which
 * completes the finished ops on the worker's thread. Threads start on
 * demand, up to max_threads, and live until the runtime ends.
 *
 * Memory ordering: every hand-over (queue, done list) is under the mutex.
 */
#ifndef COIL_IO_POOL_H
#define COIL_IO_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/list.h"
#include "io/op.h"

struct coil__io;

struct coil__pool {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* signalled when a job is queued */
	struct coil__list queue;	/* ops not yet taken (FIFO) */
	struct coil__list done;		/* finished, not reaped */
	pthread_t *threads;
	unsigned nthreads, max_threads, idle;
	bool stopping;
	int notify_fd;			/* readable when done is not empty */
	int notify_wfd;			/* where pool threads write */
	size_t outstanding;		/* submitted, not reaped: worker only */
};

/* The worker's blocking pool, made on first use (io/setup.c ends it with
 * the worker). Returns 0 or -errno. */
int coil__io_pool(struct coil__io *io, struct coil__pool **out);

/* Returns 0 or -errno. max_threads >= 1. */
int coil__pool_init(struct coil__pool *pool, unsigned max_threads);
/* Stop and join the threads. No op may be outstanding. */
void coil__pool_fini(struct coil__pool *pool);

/* Queue op. Returns 0 or -errno (-EAGAIN or the error pthread_create gave:
 * no thread could be started and none runs; the op's caller gets it). */
int coil__pool_submit(struct coil__pool *pool, struct coil__op *op);
/* If op is still queued, take it back and return true (the caller completes
 * it with -ECANCELED); if a thread runs it, return false: it completes with
 * its real result. */
bool coil__pool_cancel(struct coil__pool *pool, struct coil__op *op);
/* Drain notify_fd and complete every finished op. before_complete, if not
 * NULL, sees each op first (a backend noting an fd that openat returned).
 * Returns how many. */
int coil__pool_reap(struct coil__pool *pool, struct coil__io *io,
		    void (*before_complete)(void *ctx, struct coil__op *op), void *ctx);

#endif
