/* What crosses between the workers of a runtime. See crew.h. */
#include "sched/crew.h"

#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/panic.h"
#include "coil/time.h"
#include "coil/runtime.h"
#include "sched/fiber.h"
#include "sched/switch.h"

void coil__crew_kick(struct coil__worker *to)
{
	/* The caller's post or epoch bump (a seq_cst read-modify-write)
	 * comes before this seq_cst load in the single total order, on
	 * AArch64 too (STLXR/CASAL then LDAR): see coil__crew_sleep_begin. */
	uint32_t s = __atomic_load_n(&to->sleeping, __ATOMIC_SEQ_CST);
	if (!s || !(s = __atomic_exchange_n(&to->sleeping, 0, __ATOMIC_SEQ_CST)))
		return;
	if (s == COIL__SLEEP_EMBEDDER) {
		to->wake_embedder(to);
		return;
	}
	if (s == COIL__SLEEP_QUIET) {
		syscall(SYS_futex, &to->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		return;
	}
	struct coil__worker *me = coil__tls_worker;
	if (me && me != to && me->crew == to->crew && me->kick_from && me->kick_from(me, to))
		return;
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(to->wake_fd, &one, sizeof one);
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter is full, so the fd is readable: woken anyway. */
}

void coil__crew_post(struct coil__worker *to, struct coil__msg *m)
{
	struct coil__crew *c = to->crew;
	struct coil__worker *me = coil__tls_worker;
	/* A poster outside the crew (a plain thread) is counted until its
	 * kick is done: once m is pushed, the fiber may run and the runtime
	 * end, and its memory must wait for the kick to leave `to`. */
	bool outside = !me || me->crew != c;
	if (outside)
		__atomic_add_fetch(&c->outside_posters, 1, __ATOMIC_SEQ_CST);
	struct coil__msg *head = __atomic_load_n(&to->inbox, __ATOMIC_RELAXED);
	do
		m->next = head;
	while (!__atomic_compare_exchange_n(&to->inbox, &head, m, true, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED));
	/* It has work now: no longer a spinner that keeps others from
	 * spinning (it clears the mark itself too, once it sees m). */
	if (__atomic_load_n(&to->spinning, __ATOMIC_RELAXED))
		__atomic_store_n(&to->spinning, 0, __ATOMIC_RELAXED);
	coil__crew_kick(to);
	if (outside)
		__atomic_sub_fetch(&c->outside_posters, 1, __ATOMIC_RELEASE);
}

void coil__crew_wait_posters(struct coil__crew *c)
{
	while (__atomic_load_n(&c->outside_posters, __ATOMIC_ACQUIRE) != 0)
		sched_yield();
}

void coil__park_wake_far(struct coil__park *p, int result)
{
	struct coil__fiber *f = p->fiber;
	if (!f) {
		/* A plain thread's park: it may return (and its park go) as
		 * soon as it sees the store, so the futex call uses only the
		 * address. */
		p->result = result;
		__atomic_store_n(&p->thread_woken, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &p->thread_woken, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		return;
	}
	p->far_result = result;
	p->msg.kind = COIL__MSG_WAKE;
	coil__crew_post(f->home, &p->msg);
}

void coil__crew_poke(struct coil__fiber *f)
{
	f->poke_gen = f->gen;
	if (__atomic_exchange_n(&f->poke_queued, 1, __ATOMIC_ACQ_REL))
		return; /* already on its way; it reads poke_gen when handled */
	f->poke_msg.kind = COIL__MSG_POKE;
	coil__crew_post(f->home, &f->poke_msg);
}

static void poked(struct coil__worker *w, struct coil__fiber *f)
{
	coil__table_lock(w);
	__atomic_store_n(&f->poke_queued, 0, __ATOMIC_RELEASE);
	bool same = f->poke_gen == f->gen;
	coil__table_unlock(w);
	if (!same || f->state != COIL__FIBER_PARKED)
		return; /* gone, or running: its next blocking call sees it */
	int64_t deadline;
	int r = coil__fiber_may_block(f, &deadline);
	if (r == -ECANCELED)
		coil__fiber_interrupt(f, r);
}

static void handle(struct coil__worker *w, struct coil__msg *m)
{
	switch (m->kind) {
	case COIL__MSG_WAKE: {
		struct coil__park *p = coil__container_of(m, struct coil__park, msg);
		coil__park_wake_here(w, p, p->far_result);
		break;
	}
	case COIL__MSG_RUN: {
		struct coil__fiber *f = coil__container_of(m, struct coil__fiber, run_msg);
		/* Spawned before the crew began to shut down but arriving
		 * after this worker wound down: it starts cancelled, like
		 * everything else here (else it would run, e.g. sleep, and
		 * hold coil_run up). */
		if (w->shutting_down)
			__atomic_store_n(&f->cancelled, true, __ATOMIC_RELAXED);
		coil__make_runnable(w, f);
		break;
	}
	case COIL__MSG_POKE:
		poked(w, coil__container_of(m, struct coil__fiber, poke_msg));
		break;
	case COIL__MSG_CALL: {
		struct coil__call *c = coil__container_of(m, struct coil__call, msg);
		c->fn(w, c);
		break;
	}
	default:
		coil__panic("inbox: unknown message %u", m->kind);
	}
}

bool coil__crew_drain(struct coil__worker *w)
{
	struct coil__msg *m = __atomic_exchange_n(&w->inbox, NULL, __ATOMIC_ACQUIRE);
	if (!m)
		return false;
	/* Pushed newest first: reverse, so each poster's messages are
	 * handled in the order it posted them. */
	struct coil__msg *fifo = NULL;
	while (m) {
		struct coil__msg *next = m->next;
		m->next = fifo;
		fifo = m;
		m = next;
	}
	while (fifo) {
		struct coil__msg *next = fifo->next;
		handle(w, fifo); /* may free fifo's owner's memory: next first */
		fifo = next;
	}
	return true;
}

void coil__crew_announce(struct coil__crew *c)
{
	__atomic_add_fetch(&c->epoch, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < c->n; i++)
		coil__crew_kick(c->workers[i]);
}

/* Whether a worker other than w spins now. */
static bool other_spins(struct coil__worker *w)
{
	struct coil__crew *c = w->crew;
	for (unsigned i = 0; i < c->n; i++) {
		struct coil__worker *o = c->workers[i];
		if (o != w && __atomic_load_n(&o->spinning, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

bool coil__crew_spin(struct coil__worker *w, uint32_t seen, int64_t end)
{
	struct coil__crew *c = w->crew;
	/* This spin's mark, also when it is refused: the last one's would
	 * teach a refused spin a preemption (coil__crew_expect_spin). */
	w->spin_cut = false;
	if (!c->may_spin || other_spins(w))
		return false;
	__atomic_store_n(&w->spinning, 1, __ATOMIC_RELAXED);
	bool got = false;
	/* No PAUSE in the loop: in a VM a vCPU that keeps pausing is taken
	 * off its CPU (pause-loop exiting): measured here, a cross-worker
	 * ping-pong then took 2.7 us a round trip instead of 0.58. The clock
	 * read every 64 loads is the backoff. */
	int64_t last = coil_now();
	while (!got) {
		for (int i = 0; i < 64 && !got; i++) {
			got = !coil__inbox_empty(w) ||
			      __atomic_load_n(&c->epoch, __ATOMIC_RELAXED) != seen;
		}
		if (got)
			break;
		int64_t now = coil_now();
		if (now >= end)
			break;
		if (now - last > COIL__CREW_PREEMPTED_NS) {
			/* 64 loads took that long: the kernel gave our CPU
			 * to someone else. The machine is busy: a spin only
			 * takes CPU from whoever would send. */
			w->spin_cut = true;
			break;
		}
		last = now;
	}
	__atomic_store_n(&w->spinning, 0, __ATOMIC_RELAXED);
	return got;
}

/* Timers of other workers further away than this are not waited for
 * awake: rare enough that a kick's cost does not matter. */
#define EXPECT_HORIZON_NS 100000000
/* After that many expectation spins in a row that got nothing, the next
 * 2^that - 1 chances are let go. */
#define EXPECT_FAILS_MAX 6

/* Lateness samples above this are capped: see coil__crew_late_sample. */
#define LATE_CAP_NS 200000

void coil__crew_late_sample(struct coil__worker *w, int64_t late)
{
	if (late > LATE_CAP_NS)
		late = LATE_CAP_NS;
	int64_t est = w->late_ns; /* only w writes it */
	est += late > est ? (late - est) / 4 : -((est - late) / 64);
	__atomic_store_n(&w->late_ns, est, __ATOMIC_RELAXED);
}

int64_t coil__crew_expect(struct coil__worker *w, int64_t now, int64_t deadline)
{
	struct coil__crew *c = w->crew;
	if (!c->may_spin)
		return INT64_MAX;
	/* The rest of a window that w's own timer cut (coil__crew_expect_spin):
	 * the same chance, not a new one. Its timer has passed, so the scan
	 * below would not see it. */
	int64_t lead = coil__crew_expect_lead(w);
	int64_t cut = w->expect_cut;
	w->expect_cut = 0;
	if (cut && cut <= now && now < cut + w->expect_after && cut - lead < deadline)
		return cut;
	int cpu = sched_getcpu();
	int64_t best = INT64_MAX, best_late = 0;
	for (unsigned i = 0; i < c->n; i++) {
		struct coil__worker *o = c->workers[i];
		if (o == w)
			continue;
		int64_t t = __atomic_load_n(&o->next_timer, __ATOMIC_RELAXED);
		if (t <= now || t >= best)
			continue;
		/* It sleeps on this CPU: awake here, this worker would keep it
		 * from running (the kernel put both threads on one CPU). */
		if (cpu >= 0 && __atomic_load_n(&o->sleep_cpu, __ATOMIC_RELAXED) == cpu)
			continue;
		best = t;
		best_late = __atomic_load_n(&o->late_ns, __ATOMIC_RELAXED);
	}
	/* No chance this turn: nothing to wait for, or w's own timer comes
	 * first (it wakes for that one, and the next turn has the chance).
	 * A chance let go is counted only where there was one, so the
	 * back-off lasts the chances it says, however many turns pass
	 * between them. */
	if (best - now > EXPECT_HORIZON_NS || best - lead >= deadline)
		return INT64_MAX;
	if (w->expect_skip) {
		w->expect_skip--;
		return INT64_MAX;
	}
	/* It runs that late after its timer; a quarter more for the spread. */
	best_late += best_late / 4;
	w->expect_after = best_late > COIL__CREW_EXPECT_AFTER_NS ? best_late : COIL__CREW_EXPECT_AFTER_NS;
	return best;
}

bool coil__crew_expect_spin(struct coil__worker *w, uint32_t seen, int64_t expect,
			    int64_t deadline)
{
	int64_t full = expect + w->expect_after;
	int64_t end = full < deadline ? full : deadline;
	bool got = coil__crew_spin(w, seen, end);
	/*
	 * What a spin tells about whether waiting awake for this timer pays:
	 *   - a post came: yes, a kick was saved, whoever posted;
	 *   - the whole window passed with nothing (a refused spin too, when
	 *     w woke past it), or the spin was preempted (the machine is
	 *     busy: a spinner takes the sender's CPU): no, let the next
	 *     chances go, twice as many each time in a row;
	 *   - nothing else. Not the epoch alone: the crew is ending (shut
	 *     down, all done, deadlock, an error), which is no post of the
	 *     other worker's. Not a spin refused because another worker
	 *     spins. Not a spin that w's own timer cut: it did not wait the
	 *     window (the other runs up to expect_after past its timer), so w
	 *     waits the rest once its own timer has run (coil__crew_expect)
	 *     and that spin tells. Counted as a failure, a cut let the next
	 *     chance go (the same timer's, when w's came before it), so a
	 *     worker whose timers fall near the other's stopped waiting for
	 *     it; counted as nothing without the rest, a worker whose timers
	 *     always do would spin for each and never learn.
	 */
	if (got) {
		if (!coil__inbox_empty(w))
			w->expect_fails = 0;
	} else if (w->spin_cut || (end == full && coil_now() >= end)) {
		if (w->expect_fails < EXPECT_FAILS_MAX)
			w->expect_fails++;
		w->expect_skip = (uint8_t)((1u << w->expect_fails) - 1);
	} else if (coil_now() >= end) {
		w->expect_cut = expect;
	}
	return got;
}

bool coil__crew_sleep_begin(struct coil__worker *w, uint32_t seen, uint32_t how)
{
	/* Dekker with coil__crew_post (push, then load sleeping): the store
	 * must be visible before the inbox is read. A relaxed load after a
	 * seq_cst store may pass it on AArch64 (STLR then LDR): a post and
	 * this check then miss each other and the wake is lost (seen under
	 * qemu-aarch64). The store is a seq_cst read-modify-write, a full
	 * barrier everywhere (qemu-user on x86 too, where STLR then LDAR was
	 * still reordered); not a fence, which TSan does not model. */
	__atomic_exchange_n(&w->sleeping, how, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->inbox, __ATOMIC_SEQ_CST) == NULL &&
	    __atomic_load_n(&w->crew->epoch, __ATOMIC_SEQ_CST) == seen)
		return true;
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_SEQ_CST);
	return false;
}

int coil__crew_sleep_quiet(struct coil__worker *w, int64_t until)
{
	/* A kicker clears the word before it wakes us: once it is not
	 * QUIET, the kick happened (FUTEX_WAIT then returns at once with
	 * EAGAIN). A timeout or a signal ends the wait too; the caller's
	 * turn looks at its inbox and timers after it either way. */
	while (__atomic_load_n(&w->sleeping, __ATOMIC_SEQ_CST) == COIL__SLEEP_QUIET) {
		struct timespec ts, *tsp = NULL;
		if (until != INT64_MAX) {
			if (until <= coil_now())
				break;
			ts.tv_sec = (time_t)(until / COIL_NSEC_PER_SEC);
			ts.tv_nsec = (long)(until % COIL_NSEC_PER_SEC);
			tsp = &ts;
		}
		/* BITSET: an absolute CLOCK_MONOTONIC deadline, coil_now's
		 * clock, so spurious returns do not stretch the wait. */
		long r = syscall(SYS_futex, &w->sleeping, FUTEX_WAIT_BITSET_PRIVATE,
				 COIL__SLEEP_QUIET, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
		if (r < 0 && errno == ETIMEDOUT)
			break;
	}
	return 0;
}

bool coil__crew_sleep_between_ticks(struct coil__worker *w)
{
	/* The same Dekker as coil__crew_sleep_begin. */
	__atomic_exchange_n(&w->sleeping, COIL__SLEEP_EMBEDDER, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->inbox, __ATOMIC_SEQ_CST) == NULL)
		return true;
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_SEQ_CST);
	return false;
}

void coil__crew_sleep_end(struct coil__worker *w)
{
	/* A kicker that already cleared it has kicked (or will): the kick is
	 * then absorbed by a later poll, a wake-up for nothing. */
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_SEQ_CST);
}

struct coil__worker *coil__crew_place(struct coil__worker *w, bool detached)
{
	struct coil__crew *c = w->crew;
	if (c->place != COIL_PLACE_SPREAD || !detached || c->n == 1)
		return w;
	/* The worker with the fewest live fibers, this one on a tie; the scan
	 * starts at a rotating index so ties elsewhere spread. */
	struct coil__worker *best = w;
	size_t best_live = __atomic_load_n(&w->live, __ATOMIC_RELAXED);
	unsigned start = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
	for (unsigned k = 0; k < c->n && best_live > 0; k++) {
		struct coil__worker *o = c->workers[(start + k) % c->n];
		size_t live = __atomic_load_n(&o->live, __ATOMIC_RELAXED);
		if (live < best_live) {
			best = o;
			best_live = live;
		}
	}
	return best;
}

void coil__crew_fiber_born(struct coil__worker *w, bool attached)
{
	struct coil__crew *c = w->crew;
	__atomic_add_fetch(&c->live, 1, __ATOMIC_SEQ_CST);
	if (attached)
		__atomic_add_fetch(&c->attached, 1, __ATOMIC_SEQ_CST);
}

void coil__crew_fiber_gone(struct coil__worker *w, bool attached)
{
	struct coil__crew *c = w->crew;
	bool news = false;
	if (attached && __atomic_sub_fetch(&c->attached, 1, __ATOMIC_SEQ_CST) == 0)
		news = __atomic_load_n(&c->main_done, __ATOMIC_SEQ_CST);
	if (__atomic_sub_fetch(&c->live, 1, __ATOMIC_SEQ_CST) == 0)
		news = true;
	if (news)
		coil__crew_announce(c);
}

void coil__crew_fiber_detached(struct coil__worker *w)
{
	struct coil__crew *c = w->crew;
	if (__atomic_sub_fetch(&c->attached, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&c->main_done, __ATOMIC_SEQ_CST))
		coil__crew_announce(c);
}

/* ---- every runtime's workers (crew.h) ---------------------------------- */

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static struct coil__worker **list;
static unsigned list_len, list_cap, list_reserved;

void coil__crew_list_lock(void)
{
	pthread_mutex_lock(&list_mu);
}

void coil__crew_list_unlock(void)
{
	pthread_mutex_unlock(&list_mu);
}

unsigned coil__crew_list_len(void)
{
	return list_len;
}

struct coil__worker *coil__crew_list_at(unsigned i)
{
	return i < list_len ? list[i] : NULL;
}

int coil__crew_list_reserve(unsigned n)
{
	pthread_mutex_lock(&list_mu);
	int r = 0;
	if (list_reserved + n > list_cap) {
		unsigned cap = list_cap ? list_cap : 16;
		while (cap < list_reserved + n)
			cap *= 2;
		struct coil__worker **t = realloc(list, cap * sizeof *t);
		if (t) {
			list = t;
			list_cap = cap;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0)
		list_reserved += n;
	pthread_mutex_unlock(&list_mu);
	return r;
}

void coil__crew_list_release(unsigned n)
{
	pthread_mutex_lock(&list_mu);
	list_reserved -= n;
	pthread_mutex_unlock(&list_mu);
}

void coil__crew_list_add(struct coil__worker *w)
{
	pthread_mutex_lock(&list_mu);
	/* Listed workers <= reserved <= capacity: a free place is there. */
	unsigned i = 0;
	while (i < list_len && list[i])
		i++;
	list[i] = w;
	if (i == list_len)
		list_len++;
	uint32_t bit = UINT32_C(1) << (i % COIL__LIST_BITS);
	uint32_t others = ~bit;
	for (unsigned j = 0; j < list_len; j++) {
		struct coil__worker *x = list[j];
		if (x && x != w && x->list_bit == bit) {
			__atomic_store_n(&x->list_others, ~UINT32_C(0), __ATOMIC_RELAXED);
			others = ~UINT32_C(0);
		}
	}
	w->list_bit = bit;
	__atomic_store_n(&w->list_others, others, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&list_mu);
}

void coil__crew_list_remove(struct coil__worker *w)
{
	pthread_mutex_lock(&list_mu);
	for (unsigned i = 0; i < list_len; i++)
		if (list[i] == w)
			list[i] = NULL;
	while (list_len && !list[list_len - 1])
		list_len--;
	w->list_bit = 0;
	__atomic_store_n(&w->list_others, ~UINT32_C(0), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&list_mu);
	/* What was posted while it was listed: answered now (its ops are
	 * over, so a call finds nothing in flight and answers at once). */
	coil__crew_drain(w);
}
