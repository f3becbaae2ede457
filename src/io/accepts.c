/* A listener's standing multishot accept. See io/accepts.h. */
#include "io/accepts.h"

#include <errno.h>
#include <stdlib.h>

#include "base/panic.h"
#include "io/backend.h"
#include "io/io.h"
#include "sched/scope.h"
#include "sched/switch.h"
#include "sched/turn.h"

/* Connections queued before the request is stopped (the rest wait in the
 * listen backlog). The queue's capacity is a power of two: indexes are
 * masked. */
#define QUEUE_HIGH 16

static void wake(struct coil__accepts *a)
{
	struct coil__park *p = a->waiter;
	if (p) {
		a->waiter = NULL;
		coil__park_wake(p, 0);
	}
}

static void stop(struct coil__accepts *a)
{
	if (a->armed && !a->stopping) {
		a->stopping = true;
		a->io->backend->multi_stop(a->io, a, COIL__MULTI_ACCEPT, a->gen);
	}
}

static bool push(struct coil__accepts *a, int fd)
{
	if (a->qlen == a->qcap) {
		/* Grows only while a stop is on its way. */
		uint32_t cap = a->qcap ? a->qcap * 2 : QUEUE_HIGH * 2;
		int *q = malloc(sizeof *q * cap);
		if (!q)
			return false;
		for (uint32_t i = 0; i < a->qlen; i++)
			q[i] = a->q[(a->qhead + i) & (a->qcap - 1)];
		free(a->q);
		a->q = q;
		a->qhead = 0;
		a->qcap = cap;
	}
	a->q[(a->qhead + a->qlen) & (a->qcap - 1)] = fd;
	a->qlen++;
	return true;
}

void coil__accepts_cqe(struct coil__io *io, struct coil__accepts *a, uint16_t gen, int res,
		       bool more)
{
	(void)io;
	if (gen != a->gen)
		coil__panic("accepts %p: stale completion (gen %u, cqe gen %u)", (void *)a, a->gen,
			    gen);
	if (res >= 0) {
		if (!push(a, res)) {
			coil__fd_close(res); /* no memory to keep it: the client sees a reset */
			if (!a->error)
				a->error = -ENOMEM;
		}
	} else if (res != -ECANCELED || !a->stopping) {
		/* -ECANCELED not asked for: coil_close of the listener. */
		if (!a->error)
			a->error = res == -ECANCELED ? -EBADF : res;
	}
	if (!more) {
		a->armed = false;
		a->stopping = false;
	} else if (a->qlen >= QUEUE_HIGH) {
		stop(a);
	}
	wake(a);
}

int coil__accepts_start(struct coil__accepts *a, int listen_fd)
{
	struct coil__io *io = coil__tls_io;
	if (!io || !(io->features & COIL_FEATURE_ACCEPT_MULTI))
		return -ENOTSUP;
	*a = (struct coil__accepts){.io = io, .fd = listen_fd};
	return 0;
}

/* Park until a's request has news. */
static int wait_news(struct coil__accepts *a, int64_t deadline)
{
	return coil__io_wait_news(&a->waiter, deadline);
}

int coil__accepts_next(struct coil__accepts *a)
{
	struct coil__fiber *self = coil__self();
	int64_t deadline;
	int rc = coil__fiber_may_block(self, &deadline);
	if (rc < 0)
		return rc;
	for (;;) {
		if (a->qlen) {
			int fd = a->q[a->qhead];
			a->qhead = (a->qhead + 1) & (a->qcap - 1);
			a->qlen--;
			if (coil__sched_budget(self))
				coil__yield(coil__tls_worker);
			return fd;
		}
		if (a->error) {
			rc = a->error;
			a->error = 0;
			return rc;
		}
		if (!a->armed) {
			a->gen = ++a->io->op_gen;
			rc = a->io->backend->multi_arm(a->io, a, COIL__MULTI_ACCEPT, a->fd, a->gen);
			if (rc < 0)
				return rc;
			if (rc == COIL__SUBMIT_FULL) {
				if ((rc = coil__io_wait_room(a->io, &deadline)) < 0)
					return rc;
				continue;
			}
			a->armed = true;
		}
		if ((rc = wait_news(a, deadline)) < 0)
			return rc;
	}
}

void coil__accepts_stop(struct coil__accepts *a)
{
	if (a->armed) {
		struct coil__scope shield;
		coil__shield_enter(&shield);
		stop(a);
		while (a->armed)
			(void)wait_news(a, INT64_MAX);
		coil__shield_exit(&shield);
	}
	while (a->qlen) {
		coil__fd_close(a->q[a->qhead]);
		a->qhead = (a->qhead + 1) & (a->qcap - 1);
		a->qlen--;
	}
	free(a->q);
	a->q = NULL;
	a->qcap = 0;
}
