/* Setting up a worker's I/O layer: the backend choice, and the tear-down
 * of what the layer owns (the backend, the blocking pool, the registered
 * buffers, sendfile's spare pipes). See setup.h. */
#include "io/setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/backend.h"
#include "io/iobuf.h"
#include "io/pool.h"
#include "sched/crew.h"

static const struct coil__backend *backend_by_name(const char *name)
{
#ifdef __wasi__
	/* The one backend of a wasm32-wasi libcoil; the others are not in it. */
	if (!strcmp(name, "wasi"))
		return &coil__backend_wasi;
	if (!strcmp(name, "uring") || !strcmp(name, "io_uring") || !strcmp(name, "epoll") ||
	    !strcmp(name, "poll") || !strcmp(name, "kqueue"))
		return &coil__backend_none;
	return NULL;
#else
	if (!strcmp(name, "wasi"))
		return &coil__backend_wasi;
	if (!strcmp(name, "uring") || !strcmp(name, "io_uring"))
		return &coil__backend_uring;
	if (!strcmp(name, "epoll"))
		return &coil__backend_epoll;
	if (!strcmp(name, "poll"))
		return &coil__backend_poll;
	if (!strcmp(name, "kqueue"))
		return &coil__backend_kqueue;
	return NULL;
#endif
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
#ifdef __wasi__
	io->backend = &coil__backend_wasi;
	return io->backend->init(io, cfg);
#else
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
			if (!cfg->quiet && !__atomic_exchange_n(&coil__io_shared(io)->said_fallback, 1,
								 __ATOMIC_RELAXED))
				fprintf(stderr, "coil: io_uring unavailable (%s); using %s\n",
					strerror(-r), io->backend->name);
			return 0;
		}
	}
	return r;
#endif
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

