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
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "coil/fs.h"
#include "io/backend.h"
#include "io/fixed.h"
#include "io/io.h"
#include "io/op.h"
#include "sched/scope.h"
#include "sched/sched.h"

/* Per fd number: the workers (bit index mod 64) that met it since its last
 * close, in chunks made on first use and kept for the process's life (zero
 * pages until touched: resident only for the numbers used). A chunk that
 * could not be made sets met_lost: from then on a close of an fd in a
 * missing chunk asks every worker. */
#define MET_CHUNK 65536
static uint64_t *met_chunks[COIL__FD_MET_MAX / MET_CHUNK];
static bool met_lost;

static uint64_t *met_word(int fd, bool make)
{
	if (fd < 0 || fd >= COIL__FD_MET_MAX)
		return NULL;
	uint64_t **slot = &met_chunks[fd / MET_CHUNK];
	uint64_t *t = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (!t && make) {
		uint64_t *fresh = calloc(MET_CHUNK, sizeof *fresh);
		if (!fresh) {
			__atomic_store_n(&met_lost, true, __ATOMIC_RELAXED);
			return NULL;
		}
		if (__atomic_compare_exchange_n(slot, &t, fresh, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			t = fresh;
		else
			free(fresh); /* another worker made it: t is theirs */
	}
	return t ? &t[fd % MET_CHUNK] : NULL;
}

void coil__fd_met(struct coil__worker *w, int fd)
{
	uint64_t *m = met_word(fd, true);
	if (m)
		__atomic_fetch_or(m, UINT64_C(1) << (w->index & 63), __ATOMIC_RELAXED);
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
	uint64_t *m = met_word(fd, false);
	uint64_t mask = m ? __atomic_exchange_n(m, 0, __ATOMIC_ACQ_REL)
		      : fd < COIL__FD_MET_MAX && !__atomic_load_n(&met_lost, __ATOMIC_RELAXED)
			      ? 0 /* its chunk was never made: no one met it */
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
		struct coil__scope shield;
		coil__shield_enter(&shield);
		if (__builtin_expect(w->multi, 0))
			reach_others(w, fd);
		struct coil__op op = {.code = COIL__OP_CLOSE, .fd = fd};
		r = coil__op_run(&op);
		coil__shield_exit(&shield);
	}
	coil__fixed_closed(fd);
	return r;
}

int coil_close(int fd)
{
	return coil__fd_close(fd);
}
