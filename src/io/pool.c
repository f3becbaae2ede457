/* The blocking pool. See pool.h; the ops it runs are io/blocking.c's. */
#include "io/pool.h"

#include <errno.h>
#include <fcntl.h>
#ifndef __wasi__
#include <signal.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "io/backend.h"
#include "io/io.h"
#include "io/optable.h"

/* ---- the pool ------------------------------------------------------------ */

static void notify(struct coil__pool *pool)
{
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(pool->notify_wfd, &one, pool->notify_wfd == pool->notify_fd ? 8 : 1);
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter or pipe is full, so it is readable already. */
}

/* Unused on WASI (one thread: see coil__pool_submit). */
static __attribute__((unused)) void *pool_thread(void *arg)
{
	struct coil__pool *pool = arg;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (coil__list_empty(&pool->queue) && !pool->stopping) {
			pool->idle++;
			pthread_cond_wait(&pool->work, &pool->lock);
			pool->idle--;
		}
		struct coil__list *n = coil__list_pop_front(&pool->queue);
		if (!n)
			break; /* stopping, nothing left */
		struct coil__op *op = coil__container_of(n, struct coil__op, pool.link);
		op->pool.state = 2; /* running: no longer cancellable */
		pthread_mutex_unlock(&pool->lock);

		int res = coil__op_do_blocking(op);

		pthread_mutex_lock(&pool->lock);
		op->res = res;
		bool first = coil__list_empty(&pool->done);
		coil__list_push_back(&pool->done, &op->pool.link);
		pthread_mutex_unlock(&pool->lock);
		if (first)
			notify(pool);
		pthread_mutex_lock(&pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

int coil__pool_init(struct coil__pool *pool, unsigned max_threads)
{
	memset(pool, 0, sizeof *pool);
	coil__list_init(&pool->queue);
	coil__list_init(&pool->done);
	pool->max_threads = max_threads ? max_threads : 1;
	pool->threads = calloc(pool->max_threads, sizeof *pool->threads);
	if (!pool->threads)
		return -ENOMEM;
#ifdef __linux__
	pool->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->notify_fd < 0) {
		int err = errno;
		free(pool->threads);
		return -err;
	}
	pool->notify_wfd = pool->notify_fd;
#else
	int p[2];
	if (pipe(p) != 0) {
		int err = errno;
		free(pool->threads);
		return -err;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
		fcntl(p[i], F_SETFD, FD_CLOEXEC);
	}
	pool->notify_fd = p[0];
	pool->notify_wfd = p[1];
#endif
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	return 0;
}

void coil__pool_fini(struct coil__pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool->threads);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work);
	close(pool->notify_fd);
	if (pool->notify_wfd != pool->notify_fd)
		close(pool->notify_wfd);
}

int coil__pool_submit(struct coil__pool *pool, struct coil__op *op)
{
	pthread_mutex_lock(&pool->lock);
	if (pool->idle == 0 && pool->nthreads < pool->max_threads) {
#ifdef __wasi__
		/* One thread: the readiness backend runs these ops inline
		 * there (io/compat/readiness.c) and never gets here. */
		int r = ENOTSUP;
#else
		/* Pool threads must not take the process's signals. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int r = pthread_create(&pool->threads[pool->nthreads], NULL, pool_thread, pool);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
		if (r == 0)
			pool->nthreads++;
		else if (pool->nthreads == 0) {
			pthread_mutex_unlock(&pool->lock);
			return -r;
		}
	}
	op->pool.state = 1; /* queued */
	coil__list_push_back(&pool->queue, &op->pool.link);
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	pool->outstanding++;
	return 0;
}

bool coil__pool_cancel(struct coil__pool *pool, struct coil__op *op)
{
	bool taken = false;
	pthread_mutex_lock(&pool->lock);
	if (op->pool.state == 1) {
		coil__list_remove(&op->pool.link);
		op->pool.state = 0;
		taken = true;
	}
	pthread_mutex_unlock(&pool->lock);
	if (taken)
		pool->outstanding--;
	return taken;
}

int coil__pool_reap(struct coil__pool *pool, struct coil__io *io,
		    void (*before_complete)(void *ctx, struct coil__op *op), void *ctx)
{
	uint64_t buf;
	while (read(pool->notify_fd, &buf, sizeof buf) > 0) {
	}
	struct coil__list done;
	coil__list_init(&done);
	pthread_mutex_lock(&pool->lock);
	coil__list_splice_back(&done, &pool->done);
	pthread_mutex_unlock(&pool->lock);
	int n = 0;
	struct coil__list *node;
	while ((node = coil__list_pop_front(&done)) != NULL) {
		struct coil__op *op = coil__container_of(node, struct coil__op, pool.link);
		pool->outstanding--;
		if (before_complete)
			before_complete(ctx, op);
		coil__op_complete(io, op, op->res);
		n++;
	}
	return n;
}

int coil__io_pool(struct coil__io *io, struct coil__pool **out)
{
	if (!io->pool) {
		struct coil__pool *pool = malloc(sizeof *pool);
		if (!pool)
			return -ENOMEM;
		int r = coil__pool_init(pool, io->cfg->pub.pool_threads);
		if (r < 0) {
			free(pool);
			return r;
		}
		io->pool = pool;
	}
	*out = io->pool;
	return 0;
}
