/* Parking and waking: the one way a fiber waits. See park.h. */
#include "sched/park.h"

#include "base/panic.h"
#include "sched/sched.h"
#include "sched/switch.h"
#include "sched/waitq.h"

/* Park; code < 0: end the wait at once with it (p->cancel runs first
 * thing, so it unlinks p the one way it always does). */
static int park(struct coil__park *p, int64_t deadline, int code)
{
	struct coil__worker *w = coil__tls_worker;
	struct coil__fiber *self = w->current;
	p->fiber = self;
	p->result = 0;
	p->cancel_sent = false;
	p->timer.slot = 0;
	self->park = p;
	self->state = COIL__FIBER_PARKED;
	if (code < 0)
		coil__fiber_interrupt(self, code);
	else if (deadline != INT64_MAX && coil__heap_push(&w->timers, &p->timer, deadline) < 0)
		coil__fiber_interrupt(self, -ENOMEM);
	coil__switch_away(w, self, false);
	/* Woken by something else than its deadline: the timer goes here,
	 * not in the wake (the hot path has no timer). Until now it was
	 * harmless: an expiry finds the fiber no longer parked. */
	if (__builtin_expect(p->timer.slot != 0, 0))
		coil__heap_remove(&w->timers, &p->timer);
	self->budget = 0;
	return p->result;
}

int coil__park(struct coil__park *p, int64_t deadline)
{
	return park(p, deadline, 0);
}

int coil__park_checked(struct coil__park *p, int64_t until)
{
	struct coil__fiber *self = coil__self();
	int64_t deadline;
	int r = coil__fiber_may_block(self, &deadline);
	if (until < deadline)
		deadline = until;
	return park(p, deadline, r);
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
