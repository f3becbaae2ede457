/* Parking and waking: the one way a fiber waits. See park.h. */
#include "sched/park.h"

#include "base/panic.h"
#include "coil/time.h"
#include "sched/sched.h"
#include "sched/switch.h"
#include "sched/waitq.h"

int coil__park(struct coil__park *p, int64_t deadline)
{
	return coil__park_inline(p, deadline, 0);
}

int coil__park_checked(struct coil__park *p, int64_t until)
{
	struct coil__fiber *self = coil__self();
	int64_t deadline;
	int r = coil__fiber_may_block(self, &deadline);
	if (until < deadline) {
		deadline = until;
		/* Past it already: over at once, as a scope's would be. */
		if (r == 0 && until <= coil_now())
			r = -ETIMEDOUT;
	}
	return coil__park_inline(p, deadline, r);
}

_Noreturn void coil__park_wake_bad(void)
{
	coil__panic("waking a park its fiber does not wait on");
}

void coil__fiber_interrupt(struct coil__fiber *f, int code)
{
	struct coil__park *p = f->park;
	if (f->state != COIL__FIBER_PARKED || !p || p->cancel_sent)
		return;
	p->cancel_sent = true;
	p->cancel(p, code);
}

void coil__waitq_cancel(struct coil__park *p, int code)
{
	coil__waitq_remove(p->data, p);
	coil__park_wake(p, code);
}

int coil__waitq_wait(struct coil__waitq *q, int64_t until)
{
	struct coil__park p = {.cancel = coil__waitq_cancel, .data = q};
	coil__waitq_push(q, &p);
	return coil__park_checked(&p, until);
}

void coil__lockq_cancel(struct coil__park *p, int code)
{
	struct coil__lockq *lq = p->data;
	bool lk = coil__lockq_on();
	coil__spin_lock_if(&lq->lock, lk);
	bool linked = coil__waitq_linked(&lq->q, p);
	if (linked)
		coil__waitq_remove(&lq->q, p);
	coil__spin_unlock_if(&lq->lock, lk);
	if (linked)
		coil__park_wake(p, code);
}

int coil__lockq_wait(struct coil__lockq *lq, bool lk, int64_t until)
{
	struct coil__park p = {.cancel = coil__lockq_cancel, .data = lq, .fiber = coil__self()};
	coil__waitq_push(&lq->q, &p);
	coil__spin_unlock_if(&lq->lock, lk);
	return coil__park_checked(&p, until);
}
