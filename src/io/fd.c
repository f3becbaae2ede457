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
#include <linux/futex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
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
	/* Release: a closer that sees the mark sees this runtime counted
	 * in coil__crews_multi too (reach_others' shortcut). */
	if (m)
		__atomic_fetch_or(m, UINT64_C(1) << (w->index & 63), __ATOMIC_RELEASE);
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
 * (every listed worker drains its inbox each turn, and once more when it
 * leaves the list, so they come). */
static void gone_cancel(struct coil__park *p, int code)
{
	(void)p;
	(void)code;
}

/* Until every asked worker answered: parked (a fiber) or on a futex (a
 * plain thread: the park's thread_woken). */
static void gone_wait(struct coil__fd_gone *req, bool fiber)
{
	if (fiber) {
		/* An answer may come from another runtime, which this one's
		 * deadlock watch cannot see: it is a wait from outside. */
		struct coil__worker *w = coil__tls_worker;
		w->outside_waits++;
		coil__park(&req->park, INT64_MAX);
		w->outside_waits--;
		return;
	}
	while (!__atomic_load_n(&req->park.thread_woken, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &req->park.thread_woken, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

#define GONE_BATCH 8

/* Before fd is closed by w (NULL: a plain thread; a fiber of w else):
 * every other worker that met it, in any runtime of several workers, lets
 * go of it. The workers are found in sched's list of them (crew.h), by
 * their bit (index mod 64: a bit also names the same index in other
 * runtimes, which then get a call that finds nothing). */
static __attribute__((noinline)) void reach_others(struct coil__worker *w, int fd)
{
	uint64_t *m = met_word(fd, false);
	uint64_t mask = m ? __atomic_exchange_n(m, 0, __ATOMIC_ACQ_REL)
		      : fd < COIL__FD_MET_MAX && !__atomic_load_n(&met_lost, __ATOMIC_RELAXED)
			      ? 0 /* its chunk was never made: no one met it */
			      : ~UINT64_C(0);
	if (!mask)
		return;
	/* Only w met it and w's runtime is the only one that marks: the
	 * common case of a close on a worker of several. */
	if (w && w->multi && mask == UINT64_C(1) << (w->index & 63) &&
	    __atomic_load_n(&coil__crews_multi, __ATOMIC_ACQUIRE) == 1)
		return;
	bool fiber = w != NULL;
	struct coil__fd_gone req;
	struct coil__fd_gone_call calls[GONE_BATCH];
	struct coil__worker *to[GONE_BATCH];
	unsigned i = 0;
	coil__crew_list_lock();
	for (;;) {
		unsigned k = 0, len = coil__crew_list_len();
		for (; i < len && k < GONE_BATCH; i++) {
			struct coil__worker *x = coil__crew_list_at(i);
			if (!x || x == w || !((mask >> (x->index & 63)) & 1))
				continue;
			calls[k] = (struct coil__fd_gone_call){
				.call = {.msg = {.kind = COIL__MSG_CALL}, .fn = gone_run},
				.req = &req,
				.fd = fd,
			};
			to[k++] = x;
		}
		if (!k)
			break;
		req = (struct coil__fd_gone){
			.park = {.cancel = gone_cancel, .fiber = fiber ? coil__self() : NULL},
			.left = k,
		};
		/* Posted under the list's lock: a listed worker leaves the list
		 * only after these are in its inbox, and then drains it. */
		for (unsigned j = 0; j < k; j++)
			coil__crew_post(to[j], &calls[j].call.msg);
		coil__crew_list_unlock();
		gone_wait(&req, fiber);
		coil__crew_list_lock();
	}
	coil__crew_list_unlock();
}

int coil__fd_close(int fd)
{
	if (fd < 0)
		return -EBADF;
	/* A ring's registered slot of fd must not outlive it (io/fixed.h). */
	coil__fixed_closing(fd);
	int r;
	struct coil__worker *w = coil__tls_worker;
	/* Runtimes of several workers mark the fds they use: a close anywhere
	 * (a plain thread, another runtime) must reach them. None running:
	 * one load, nothing else. */
	bool reach = __atomic_load_n(&coil__crews_multi, __ATOMIC_RELAXED) != 0;
	if (!w || !w->current) {
		/* Outside a runtime: a plain close (it does not block on
		 * sockets, pipes or files without SO_LINGER). A worker's
		 * thread between fibers (its wind-down) waits for no one. */
		if (__builtin_expect(reach, 0) && !w)
			reach_others(NULL, fd);
		r = close(fd) == 0 ? 0 : -errno;
	} else {
		/* Closing is clean-up: it runs shielded, so a cancelled task
		 * or a passed deadline cannot skip it. */
		struct coil__scope shield;
		coil__shield_enter(&shield);
		if (__builtin_expect(reach, 0))
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
