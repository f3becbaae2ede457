/*
 * Select: see coil/select.h (semantics) and sync/chan.h (how the channel
 * cases hook into channels).
 *
 *   1. One pass over the cases validates them all and collects the ready
 *      ones (coil__chan_*_ready; a JOIN target that is DONE). Nothing fires
 *      before every case has been checked, so a bad case means no effect.
 *   2. Some ready: pick one uniformly at random and do it now
 *      (coil__chan_*_now, or release the finished task).
 *   3. None ready: every case becomes a struct coil__chan_case or
 *      struct coil__join_case (on this fiber's stack) sharing one waiter,
 *      all linked without a switch in between, then the fiber parks. The
 *      first peer to complete a case calls its fire callback, which unlinks
 *      all the other cases before anything else can run, records which case
 *      and how, and wakes the waiter. A cancel or deadline instead runs the
 *      waiter's cancel callback, which unlinks every case: nothing fired.
 */
#include "coil/select.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coil/scope.h"
#include "coil/time.h"
#include "sync/chan.h"
#include "sched/fiber.h"
#include "sched/park.h"
#include "base/panic.h"
#include "base/spin.h"
#include "sched/crew.h"
#include "sched/sched.h"

/* ---- randomness: xorshift64*, one state per thread ---------------------------- */

static __thread uint64_t rng_state;

static __attribute__((noinline)) uint64_t rng_seed(void)
{
	/* splitmix64 of the clock and this thread's state address */
	uint64_t z = (uint64_t)coil_now() ^ ((uint64_t)(uintptr_t)&rng_state << 16);
	z += 0x9e3779b97f4a7c15u;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	z ^= z >> 31;
	return z ? z : 0x2545f4914f6cdd1du;
}

/* A number in [0, n). */
static inline uint32_t rng_below(uint32_t n)
{
	uint64_t x = rng_state;
	if (__builtin_expect(x == 0, 0))
		x = rng_seed();
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	uint32_t r = (uint32_t)((x * 0x2545f4914f6cdd1du) >> 32);
	return (uint32_t)(((uint64_t)r * n) >> 32);
}

/* ---- locks ---------------------------------------------------------------------- */

/* The locks a select holds while it scans and links: those of its channels
 * that lock (coil__chan_locking) and the table locks of its JOIN targets'
 * workers (several workers), each once, taken in address order so that two
 * selects never wait on each other. */
struct locks {
	uint32_t *l[COIL_SELECT_MAX];
	int n;
};

static void locks_add(struct locks *ls, uint32_t *l)
{
	for (int i = 0; i < ls->n; i++)
		if (ls->l[i] == l)
			return;
	int i = ls->n++;
	while (i > 0 && ls->l[i - 1] > l) {
		ls->l[i] = ls->l[i - 1];
		i--;
	}
	ls->l[i] = l;
}

static void locks_take(struct locks *ls)
{
	for (int i = 0; i < ls->n; i++)
		coil__spin_lock(ls->l[i]);
}

static void locks_drop(struct locks *ls)
{
	for (int i = ls->n - 1; i >= 0; i--)
		coil__spin_unlock(ls->l[i]);
}

/* ---- validation ------------------------------------------------------------------ */

/* The JOIN case i's target (its worker's table lock held), or an error (the
 * rules of coil_task_join, plus "one JOIN case per task"). */
static int join_target(struct coil__worker *w, const struct coil_select_case *cases, int i,
		       struct coil__fiber **out)
{
	coil_task t = cases[i].task;
	struct coil__fiber *f = coil__task_lookup(coil__task_worker(w, t), t);
	if (f == w->current)
		return -EDEADLK;
	if (!f || f->detached || f == w->crew->main)
		return -ESRCH;
	if (f->join_case)
		return -EBUSY;
	for (int j = 0; j < i; j++)
		if (cases[j].kind == COIL_SELECT_JOIN && cases[j].task == t)
			return -EINVAL;
	*out = f;
	return 0;
}

/* ---- waiting on all the cases ------------------------------------------------------ */

struct sel;

struct slot {
	union {
		struct coil__chan_case cc;
		struct coil__join_case jc;
	} u;
	struct sel *sel;
	int idx;
	int kind;
};

struct sel {
	struct coil__park wt;
	struct slot *slots;
	int n;
	uint32_t claimed;	/* 1: a case fired, or the wait was cancelled */
	int fired;		/* the index of the case that fired, -1: none */
	int res;		/* its result */
	void *join_result;	/* a fired JOIN: the task's return value */
};

/* Unlink one case, under its own lock (one at a time: no order needed). */
static void unlink_slot(struct slot *s)
{
	if (s->kind == COIL_SELECT_JOIN) {
		struct coil__fiber *f = s->u.jc.target;
		coil__table_lock(f->home);
		if (f->join_case == &s->u.jc)
			f->join_case = NULL;
		coil__table_unlock(f->home);
	} else {
		struct coil_chan *ch = s->u.cc.ch;
		bool lk = coil__chan_locking(ch);
		coil__spin_lock_if(coil__chan_lock_word(ch), lk);
		coil__chan_case_dequeue(&s->u.cc);
		coil__spin_unlock_if(coil__chan_lock_word(ch), lk);
	}
}

static void unlink_all_but(struct sel *sel, int keep)
{
	for (int i = 0; i < sel->n; i++)
		if (i != keep)
			unlink_slot(&sel->slots[i]);
}

static bool sel_claim(struct sel *sel)
{
	uint32_t zero = 0;
	return __atomic_compare_exchange_n(&sel->claimed, &zero, 1, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

/* The waiter's cancel: cancelled or timed out while parked (or before). A
 * case that already won keeps its win (its wake is on the way). */
static void sel_cancel(struct coil__park *wt, int code)
{
	struct sel *sel = wt->data;
	if (!sel_claim(sel))
		return;
	unlink_all_but(sel, -1);
	coil__park_wake(wt, code);
}

/* A case won (its claim is taken): record it and wake the select, which
 * unlinks the others itself. Runs under the firing object's lock. */
static void fired(struct sel *sel, int idx, int result)
{
	sel->fired = idx;
	sel->res = result;
	coil__park_wake(&sel->wt, 0);
}

/* A channel completed this case: the value is already copied (or the
 * channel is closed: -EPIPE), the case unlinked and claimed. */
static void chan_fire(struct coil__chan_case *c, int result)
{
	struct slot *s = (struct slot *)((char *)c - offsetof(struct slot, u.cc));
	fired(s->sel, s->idx, result);
}

/* The target finished (under its table lock): this case wins unless
 * another one did; the target then stays joinable (the select unhooks it). */
static void join_fire(struct coil__join_case *jc, int result)
{
	struct slot *s = (struct slot *)((char *)jc - offsetof(struct slot, u.jc));
	struct sel *sel = s->sel;
	if (!sel_claim(sel))
		return;
	sel->join_result = jc->target->result;
	fired(sel, s->idx, result);
}

/* Nothing is ready: link every case (the locks are held: nothing can have
 * become ready since the scan), drop the locks, park. A separate function
 * so that the fast path does not reserve the slots' stack space. */
static __attribute__((noinline)) int block(struct coil__worker *w,
					   struct coil_select_case *cases, int n,
					   int64_t deadline_ns, struct locks *ls)
{
	struct slot slots[n];
	struct sel sel = {.wt = {.cancel = sel_cancel, .fiber = w->current},
			  .slots = slots, .n = n, .fired = -1};
	sel.wt.data = &sel;
	bool outside = false;
	for (int i = 0; i < n; i++) {
		struct coil_select_case *c = &cases[i];
		struct slot *s = &slots[i];
		s->sel = &sel;
		s->idx = i;
		s->kind = c->kind;
		if (c->kind == COIL_SELECT_JOIN) {
			struct coil__fiber *f =
				coil__task_lookup(coil__task_worker(w, c->task), c->task);
			s->u.jc = (struct coil__join_case){
				.park = &sel.wt, .fire = join_fire, .target = f, .data = &sel};
			f->join_case = &s->u.jc;
		} else {
			/* field by field: enqueue sets the link and ch */
			struct coil__chan_case *cc = &s->u.cc;
			cc->buf = c->buf;
			cc->wt = &sel.wt;
			cc->fire = chan_fire;
			cc->data = &sel;
			cc->claim = &sel.claimed;
			cc->dir = c->kind == COIL_SELECT_SEND ? COIL__CHAN_SEND : COIL__CHAN_RECV;
			coil__chan_case_enqueue(c->chan, cc);
			outside |= coil__chan_threads(c->chan);
		}
	}
	locks_drop(ls);

	if (outside)
		w->outside_waits++;
	/* A case that fires before the deadline wins over it. */
	int r = coil__park_checked(&sel.wt, deadline_ns);
	if (outside)
		w->outside_waits--;
	if (r < 0)
		return r; /* cancelled or timed out: sel_cancel unlinked every case */
	if (sel.fired < 0)
		coil__panic("select woken without a case firing");
	unlink_all_but(&sel, sel.fired);

	struct coil_select_case *c = &cases[sel.fired];
	c->res = sel.res;
	if (c->kind == COIL_SELECT_JOIN) {
		if (c->result)
			*c->result = sel.join_result;
		/* Release the handle as coil_task_join does: the target still
		 * points at our case, so nobody else joined it meanwhile. */
		struct coil__fiber *f = slots[sel.fired].u.jc.target;
		coil__table_lock(f->home);
		coil__fiber_release_locked(f->home, f);
		coil__table_unlock(f->home);
	}
	return sel.fired;
}

/* ---- the call ---------------------------------------------------------------------- */

static inline int bad_case(struct coil_select_case *c, int code)
{
	c->res = code;
	return code;
}

/* Check each case's fields, and collect the locks to take. */
static int check_cases(struct coil__worker *w, struct coil_select_case *cases, int n,
		       struct locks *ls)
{
	for (int i = 0; i < n; i++) {
		struct coil_select_case *c = &cases[i];
		switch (c->kind) {
		case COIL_SELECT_SEND:
		case COIL_SELECT_RECV:
			if (!c->chan || (!c->buf && coil__chan_elem_size(c->chan)))
				return bad_case(c, -EINVAL);
			if (coil__chan_locking(c->chan))
				locks_add(ls, coil__chan_lock_word(c->chan));
			break;
		case COIL_SELECT_JOIN: {
			struct coil__worker *tw = coil__task_worker(w, c->task);
			if (tw && tw->multi)
				locks_add(ls, &tw->table_lock);
			break;
		}
		default:
			return bad_case(c, -EINVAL);
		}
	}
	return 0;
}

int coil_select(struct coil_select_case *cases, int n, int64_t deadline_ns, unsigned flags)
{
	struct coil__worker *w = coil__tls_worker;
	struct coil__fiber *self = w ? w->current : NULL;
	if (!self)
		return -EPERM;
	if (!cases || n <= 0 || n > COIL_SELECT_MAX || (flags & ~COIL_SELECT_NONBLOCK))
		return -EINVAL;
	struct locks ls = {.n = 0};
	int r = check_cases(w, cases, n, &ls);
	if (r < 0)
		return r;
	locks_take(&ls);

	/* 1. Validate everything and note what is ready. */
	uint8_t ready[COIL_SELECT_MAX];
	int nready = 0;
	for (int i = 0; i < n; i++) {
		struct coil_select_case *c = &cases[i];
		bool rdy;
		if (c->kind == COIL_SELECT_SEND) {
			rdy = coil__chan_send_ready(c->chan);
		} else if (c->kind == COIL_SELECT_RECV) {
			rdy = coil__chan_recv_ready(c->chan);
		} else {
			struct coil__fiber *f;
			r = join_target(w, cases, i, &f);
			if (r < 0) {
				locks_drop(&ls);
				return bad_case(c, r);
			}
			rdy = f->life == COIL__FIBER_DONE;
		}
		if (rdy)
			ready[nready++] = (uint8_t)i;
	}

	/* A blocking select is a cancellation point even when a case is
	 * ready: a cancelled task's blocking call does nothing. */
	bool nonblock = flags & COIL_SELECT_NONBLOCK;
	if (!nonblock) {
		int64_t scope_deadline;
		r = coil__fiber_may_block(self, &scope_deadline);
		if (r < 0) {
			locks_drop(&ls);
			return r;
		}
	}

	/* 2. Do one of the ready cases, chosen at random. */
	if (nready > 0) {
		int i = ready[nready == 1 ? 0 : rng_below((uint32_t)nready)];
		struct coil_select_case *c = &cases[i];
		switch (c->kind) {
		case COIL_SELECT_SEND:
			r = coil__chan_send_now(c->chan, c->buf);
			break;
		case COIL_SELECT_RECV:
			r = coil__chan_recv_now(c->chan, c->buf);
			break;
		default: {
			struct coil__worker *tw = coil__task_worker(w, c->task);
			struct coil__fiber *f = coil__task_lookup(tw, c->task);
			if (c->result)
				*c->result = f->result;
			r = 0;
			coil__fiber_release_locked(tw, f);
			break;
		}
		}
		locks_drop(&ls);
		if (r == -EAGAIN)
			coil__panic("select: a ready channel case would block");
		c->res = r;
		return i;
	}

	/* 3. Wait for one. */
	if (nonblock || (deadline_ns != COIL_NO_DEADLINE && deadline_ns <= coil_now())) {
		locks_drop(&ls);
		return nonblock ? -EAGAIN : -ETIMEDOUT;
	}
	return block(w, cases, n, deadline_ns, &ls);
}
