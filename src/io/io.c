/* The I/O layer of a worker: backend choice, the poll hook, room under the
 * in-flight bound, the blocking pool. See io.h. */
#include "io/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/backend.h"
#include "io/iobuf.h"
#include "io/pool.h"
#include "sched/crew.h"

__thread struct coil__io *coil__tls_io __attribute__((tls_model("initial-exec")));

static const struct coil__backend *backend_by_name(const char *name)
{
	if (!strcmp(name, "uring") || !strcmp(name, "io_uring"))
		return &coil__backend_uring;
	if (!strcmp(name, "epoll"))
		return &coil__backend_epoll;
	if (!strcmp(name, "poll"))
		return &coil__backend_poll;
	if (!strcmp(name, "kqueue"))
		return &coil__backend_kqueue;
	return NULL;
}

int coil__io_init(struct coil__io *io, struct coil__worker *w, const struct coil__config *cfg)
{
	memset(io, 0, sizeof *io);
	io->w = w;
	io->cfg = cfg;
	const char *want = cfg->pub.backend;
	if (want) {
		const struct coil__backend *b = backend_by_name(want);
		if (!b || !b->init) {
			bool known = b != NULL;
			fprintf(stderr, "coil: %s backend \"%s\"\n",
				known ? "this libcoil has no" : "unknown", want);
			return known ? -ENOTSUP : -EINVAL;
		}
		io->backend = b;
		return b->init(io, cfg);
	}
	io->backend = &coil__backend_uring;
	int r = io->backend->init(io, cfg);
	if (r == 0 || r == -ENOMEM || r == -EMFILE || r == -ENFILE)
		return r;
	/* io_uring is missing, forbidden or too old: same program, readiness
	 * model. */
	const struct coil__backend *fallbacks[] = {&coil__backend_epoll, &coil__backend_poll};
	for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++) {
		io->backend = fallbacks[i];
		if (io->backend->init && io->backend->init(io, cfg) == 0) {
			/* One line per runtime, not per worker. */
			if (!cfg->quiet && !__atomic_exchange_n(&w->crew->said_fallback, 1,
								 __ATOMIC_RELAXED))
				fprintf(stderr, "coil: io_uring unavailable (%s); using %s\n",
					strerror(-r), io->backend->name);
			return 0;
		}
	}
	return r;
}

void coil__io_fini(struct coil__io *io)
{
	/* With ops in flight (only after a fatal backend error) the kernel
	 * may still use the ring and the pool may still run ops: leave them. */
	if (io->inflight)
		return;
	io->backend->fini(io);
	coil__iobuf_fini(io);
	/* sendfile's spare pipes: plain closes, the backend is gone (no op of
	 * coil's ever named them but splices, which have ended). */
	while (io->npipes) {
		io->npipes--;
		close(io->pipes[io->npipes][0]);
		close(io->pipes[io->npipes][1]);
	}
	if (io->pool) {
		coil__pool_fini(io->pool);
		free(io->pool);
		io->pool = NULL;
	}
}

int coil__io_poll(void *ctx, bool block, int64_t deadline)
{
	struct coil__io *io = ctx;
	int r = io->backend->poll(io, block, deadline);
	if (!coil__waitq_empty(&io->room)) {
		/* Wake as many as there is room for (at least one: a backend
		 * that was full has reaped since); each checks again. */
		size_t room = 1;
		if (io->inflight_max && io->inflight < io->inflight_max)
			room = io->inflight_max - io->inflight;
		struct coil__park *p;
		while (room-- > 0 && (p = coil__waitq_pop(&io->room)))
			coil__park_wake(p, 0);
	}
	return r;
}

int coil__io_wait_room(struct coil__io *io, int64_t *deadline)
{
	struct coil__park p = {.cancel = coil__waitq_cancel, .data = &io->room};
	coil__waitq_push(&io->room, &p);
	int r = coil__park(&p, *deadline);
	if (r < 0)
		return r;
	/* Woken to look again: the task or its scope may have ended
	 * meanwhile (waiters are woken each poll, room or not). */
	return coil__fiber_may_block(p.fiber, deadline);
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

const char *coil_backend_name(void)
{
	struct coil__io *io = coil__tls_io;
	return io ? io->backend->name : NULL;
}

unsigned coil_features(void)
{
	struct coil__io *io = coil__tls_io;
	return io ? io->features : 0;
}

static void news_cancel(struct coil__park *p, int code)
{
	struct coil__park **slot = p->data;
	if (*slot == p)
		*slot = NULL;
	coil__park_wake(p, code);
}

int coil__io_wait_news(struct coil__park **slot, int64_t deadline)
{
	struct coil__park p = {.cancel = news_cancel, .data = slot};
	*slot = &p;
	struct coil__worker *w = coil__tls_worker;
	w->pending++;
	int rc = coil__park(&p, deadline);
	w->pending--;
	return rc;
}
