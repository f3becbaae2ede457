/*
 * Closing: every fd coil knows is closed here, by coil_close or by coil
 * itself (a failed connect's socket, a race's losing accept). The close is
 * an op, so the backend sees it: the readiness backends fail the fd's
 * waiting ops with -EBADF and drop its registration, io_uring cancels the
 * ops still in flight on it (they complete with -EBADF too) before the
 * close. Every other worker that met the fd, of this runtime or another,
 * does the same first (io/fd.h), but a coil_loop's, which is told and does
 * it at its next turn. Nothing of a closed fd carries over to a new fd of
 * that number.
 */
#include "io/fd.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/spin.h"
#include "coil/fs.h"
#include "io/backend.h"
#include "io/fixed.h"
#include "io/io.h"
#include "io/op.h"
#include "sched/scope.h"
#include "sched/sched.h"

/* Zero pages until touched: 512 KiB of address space, resident only for
 * the fd numbers used. Past them, chunks made on first mark and kept for
 * the process's life (other threads may read them at any time). A chunk
 * that could not be made sets far_lost: from then on a close of an fd in
 * a missing chunk asks every worker. */
uint64_t coil__fd_words[COIL__FD_WORDS_NEAR];
#define FAR_CHUNK COIL__FD_WORDS_NEAR
static uint64_t *far_chunks[COIL__FD_WORDS_MAX / FAR_CHUNK]; /* [0]: the near words */
static bool far_lost;

/* fd's word, fd >= COIL__FD_WORDS_NEAR; NULL: none (made only if make). */
static uint64_t *far_word(int fd, bool make)
{
	if (fd >= COIL__FD_WORDS_MAX)
		return NULL;
	uint64_t **slot = &far_chunks[fd / FAR_CHUNK];
	uint64_t *t = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (!t && make) {
		uint64_t *fresh = calloc(FAR_CHUNK, sizeof *fresh);
		if (!fresh) {
			__atomic_store_n(&far_lost, true, __ATOMIC_RELAXED);
			return NULL;
		}
		if (__atomic_compare_exchange_n(slot, &t, fresh, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			t = fresh;
		else
			free(fresh); /* another thread made it: t is theirs */
	}
	return t ? &t[fd % FAR_CHUNK] : NULL;
}

void coil__fd_met_far(struct coil__worker *w, int fd)
{
	uint64_t *m = fd >= 0 && w->list_bit ? far_word(fd, true) : NULL;
	if (m)
		__atomic_fetch_or(m, (uint64_t)w->list_bit << COIL__FD_MET_SHIFT, __ATOMIC_RELEASE);
}

uint32_t coil__fd_met_gen_far(struct coil__worker *w, int fd)
{
	uint64_t *m = fd >= 0 ? far_word(fd, w->list_bit != 0) : NULL;
	if (!m)
		return 0;
	if (!w->list_bit)
		return (uint32_t)__atomic_load_n(m, __ATOMIC_ACQUIRE);
	return (uint32_t)__atomic_fetch_or(m, (uint64_t)w->list_bit << COIL__FD_MET_SHIFT,
					   __ATOMIC_ACQ_REL);
}

uint32_t coil__fd_gen_far(int fd)
{
	uint64_t *m = far_word(fd, false);
	return m ? (uint32_t)__atomic_load_n(m, __ATOMIC_ACQUIRE) : 0;
}

/* A close's step on fd's word: the next generation, met by no one yet.
 * Returns the bits it took. */
static uint32_t turn_word(uint64_t *m)
{
	uint64_t old = __atomic_load_n(m, __ATOMIC_RELAXED);
	/* The low half plus one: the generation moves on (wrapping), the
	 * bits are 0. */
	while (!__atomic_compare_exchange_n(m, &old, (uint32_t)(old + 1), true, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED)) {
	}
	return (uint32_t)(old >> COIL__FD_MET_SHIFT);
}

static __attribute__((noinline)) uint32_t turn_far(int fd)
{
	uint64_t *m = far_word(fd, false);
	if (m)
		return turn_word(m);
	return fd < COIL__FD_WORDS_MAX && !__atomic_load_n(&far_lost, __ATOMIC_RELAXED)
		       ? 0 /* its chunk was never made: no one met it */
		       : ~UINT32_C(0);
}

/* The generation a close of fd (still open: no other close of it can come
 * in between) ended by its turn: the one before fd's word's. 0 for an fd
 * that has no word (marks under it noted 0). */
static uint32_t ended_gen(int fd)
{
	uint64_t *m = fd < COIL__FD_WORDS_NEAR ? &coil__fd_words[fd] : far_word(fd, false);
	return m ? (uint32_t)__atomic_load_n(m, __ATOMIC_ACQUIRE) - 1 : 0;
}

static inline __attribute__((always_inline)) uint32_t turn(int fd)
{
	if (__builtin_expect(fd < COIL__FD_WORDS_NEAR, 1))
		return turn_word(&coil__fd_words[fd]);
	return turn_far(fd);
}

/* A close that waits for no one took bits it does not act on: they go
 * back, for the next close of the number to reach those workers. */
static __attribute__((noinline)) void turn_back(int fd, uint32_t met)
{
	uint64_t *m = fd < COIL__FD_WORDS_NEAR ? &coil__fd_words[fd] : far_word(fd, false);
	if (m)
		__atomic_fetch_or(m, (uint64_t)met << COIL__FD_MET_SHIFT, __ATOMIC_RELEASE);
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

/* ---- workers nobody waits for (coil_loop's, io/fd.h) ---------------- */

/* On the worker's thread, from its inbox: the closes since the last. */
static void later_run(struct coil__worker *w, struct coil__call *call)
{
	struct coil__fd_later *l = coil__container_of(call, struct coil__fd_later, call);
	struct coil__fd_later got;
	coil__spin_lock(&l->lock);
	got.n = l->n;
	got.overflow = l->overflow;
	memcpy(got.gone, l->gone, l->n * sizeof l->gone[0]);
	l->n = 0;
	l->overflow = false;
	l->posted = false;
	coil__spin_unlock(&l->lock);
	struct coil__io *io = coil__tls_io;
	/* Unbound (the loop's last drain, as it leaves the list): its ops
	 * are over, nothing is left to end. */
	if (!io || io->w != w || !io->backend->fd_closed)
		return;
	if (got.overflow) {
		io->backend->fd_closed(io, -1, 0);
		return;
	}
	for (unsigned i = 0; i < got.n; i++)
		io->backend->fd_closed(io, got.gone[i].fd, got.gone[i].gen);
}

void coil__fd_later_init(struct coil__worker *w, struct coil__fd_later *l)
{
	memset(l, 0, sizeof *l);
	l->call = (struct coil__call){.msg = {.kind = COIL__MSG_CALL}, .fn = later_run};
	w->later = &l->call;
}

/* Tell x (listed, never waited for) that fd's generation gen ended: under
 * the list's lock, so x is still there. */
static void tell_later(struct coil__worker *x, int fd, uint32_t gen)
{
	struct coil__fd_later *l = coil__container_of(x->later, struct coil__fd_later, call);
	coil__spin_lock(&l->lock);
	if (l->n < COIL__FD_LATER_MAX) {
		l->gone[l->n].fd = fd;
		l->gone[l->n].gen = gen;
		l->n++;
	} else {
		l->overflow = true;
	}
	bool post = !l->posted;
	l->posted = true;
	coil__spin_unlock(&l->lock);
	/* Its kick makes the embedder's fd readable between ticks. */
	if (post)
		coil__crew_post(x, &l->call.msg);
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
 * every other listed worker that a bit of met names, in any runtime, lets
 * go of it; those nobody waits for are told. */
static __attribute__((noinline)) void reach_others(struct coil__worker *w, int fd, uint32_t met)
{
	bool fiber = w != NULL;
	uint32_t gen = ended_gen(fd);
	struct coil__fd_gone req;
	struct coil__fd_gone_call calls[GONE_BATCH];
	struct coil__worker *to[GONE_BATCH];
	unsigned i = 0;
	coil__crew_list_lock();
	for (;;) {
		unsigned k = 0, len = coil__crew_list_len();
		for (; i < len && k < GONE_BATCH; i++) {
			struct coil__worker *x = coil__crew_list_at(i);
			if (!x || x == w || !(x->list_bit & met))
				continue;
			if (x->later) {
				tell_later(x, fd, gen);
				continue;
			}
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
	struct coil__worker *w = coil__tls_worker;
	/* The generation moves (a ring's registered slot of fd must not
	 * outlive it: io/fixed.h), and the workers that met fd are taken. */
	uint32_t met = turn(fd);
	int r;
	if (!w || !w->current) {
		/* Outside a runtime: a plain close (it does not block on
		 * sockets, pipes or files without SO_LINGER). A worker's
		 * thread between fibers (its wind-down) waits for no one. */
		if (__builtin_expect(met != 0, 0)) {
			if (!w)
				reach_others(NULL, fd, met);
			else
				turn_back(fd, met);
		}
		r = close(fd) == 0 ? 0 : -errno;
	} else {
		/* Closing is clean-up: it runs shielded, so a cancelled task
		 * or a passed deadline cannot skip it. */
		struct coil__scope shield;
		coil__shield_enter(&shield);
		/* Met by another worker (or by one that shares w's bit). */
		if (__builtin_expect(met & __atomic_load_n(&w->list_others, __ATOMIC_RELAXED), 0))
			reach_others(w, fd, met);
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
