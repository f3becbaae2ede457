/*
 * Closing: every fd coil knows is closed here, by coil_close or by coil
 * itself (a failed connect's socket, a race's losing accept). The close is
 * an op, so the backend sees it: the readiness backends fail the fd's
 * waiting ops with -EBADF and drop its registration, io_uring cancels the
 * ops still in flight on it (they complete with -EBADF too) before the
 * close. With several workers, every other worker that met the fd does the
 * same first (io/fd.h). Nothing of a closed fd carries over to a new fd of
 * that number.
 */
#include "io/fd.h"

#include <errno.h>
#include <unistd.h>

#include "coil/fs.h"
#include "coil/scope.h"
#include "io/backend.h"
#include "io/fixed.h"
#include "io/io.h"
#include "io/op.h"
#include "sched/sched.h"

/* Per fd number: the workers (bit index mod 64) that met it since its last
 * close. Zero pages until touched: resident only for the numbers used. */
static uint64_t met[COIL__FD_MET_MAX];

void coil__fd_met(struct coil__worker *w, int fd)
{
	if (fd >= 0 && fd < COIL__FD_MET_MAX)
		__atomic_fetch_or(&met[fd], UINT64_C(1) << (w->index & 63), __ATOMIC_RELAXED);
}

/* The closing fiber waits here for the workers it asked. */
struct coil__fd_gone {
	struct coil__park park;
	uint32_t left;
};

void coil__fd_gone_done(struct coil__fd_gone_call *c)
{
	struct coil__fd_gone *req = c->req;
	if (__atomic_sub_fetch(&req->left, 1, __ATOMIC_ACQ_REL) == 0)
		coil__park_wake(&req->park, 0);
}

/* On the asked worker's thread, from its inbox. */
static void gone_run(struct coil__worker *w, struct coil__call *call)
{
	struct coil__fd_gone_call *c = coil__container_of(call, struct coil__fd_gone_call, call);
	struct coil__io *io = coil__tls_io;
	if (io && io->w == w && io->backend->fd_gone)
		io->backend->fd_gone(io, c);
	else
		coil__fd_gone_done(c);
}

/* The wait runs shielded and without a deadline: only the answers end it
 * (every worker drains its inbox each turn, so they come). */
static void gone_cancel(struct coil__park *p, int code)
{
	(void)p;
	(void)code;
}

#define GONE_BATCH 8

/* Before w closes fd: every other worker that met it lets go of it. */
static __attribute__((noinline)) void reach_others(struct coil__worker *w, int fd)
{
	uint64_t mask = fd < COIL__FD_MET_MAX ? __atomic_exchange_n(&met[fd], 0, __ATOMIC_ACQ_REL)
					      : ~UINT64_C(0);
	if (!mask || mask == UINT64_C(1) << (w->index & 63))
		return; /* no one else met it: the common case */
	struct coil__crew *crew = w->crew;
	struct coil__fd_gone req;
	struct coil__fd_gone_call calls[GONE_BATCH];
	struct coil__worker *to[GONE_BATCH];
	unsigned j = 0;
	while (j < crew->n) {
		unsigned k = 0;
		for (; j < crew->n && k < GONE_BATCH; j++) {
			if (j == w->index || !((mask >> (j & 63)) & 1))
				continue;
			calls[k] = (struct coil__fd_gone_call){
				.call = {.msg = {.kind = COIL__MSG_CALL}, .fn = gone_run},
				.req = &req,
				.fd = fd,
			};
			to[k++] = crew->workers[j];
		}
		if (!k)
			break;
		req = (struct coil__fd_gone){
			.park = {.cancel = gone_cancel, .fiber = coil__self()},
			.left = k,
		};
		for (unsigned i = 0; i < k; i++)
			coil__crew_post(to[i], &calls[i].call.msg);
		coil__park(&req.park, INT64_MAX);
	}
}

int coil__fd_close(int fd)
{
	if (fd < 0)
		return -EBADF;
	/* A ring's registered slot of fd must not outlive it (io/fixed.h). */
	coil__fixed_closing(fd);
	int r;
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current) {
		/* Outside a runtime: a plain close (it does not block on
		 * sockets, pipes or files without SO_LINGER). */
		r = close(fd) == 0 ? 0 : -errno;
	} else {
		/* Closing is clean-up: it runs shielded, so a cancelled task
		 * or a passed deadline cannot skip it. */
		coil_scope shield;
		coil_scope_enter_shielded(&shield, COIL_NO_DEADLINE);
		if (__builtin_expect(w->multi, 0))
			reach_others(w, fd);
		struct coil__op op = {.code = COIL__OP_CLOSE, .fd = fd};
		r = coil__op_run(&op);
		coil_scope_exit(&shield);
	}
	coil__fixed_closed(fd);
	return r;
}

int coil_close(int fd)
{
	return coil__fd_close(fd);
}
