/* The I/O layer of a worker, as it runs: the poll hook, room under the
 * in-flight bound, waits for a multishot request's news. See io.h; its
 * set-up (the backend choice) is io/setup.c. */
#include "io/io.h"

#include "io/backend.h"

__thread struct coil__io *coil__tls_io __attribute__((tls_model("initial-exec")));

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
