/* Cancel scopes and deadlines. See include/coil/scope.h and sched/scope.h. */
#include "coil/scope.h"

#include <errno.h>

#include "coil/time.h"
#include "sched/fiber.h"
#include "sched/scope.h"
#include "sched/crew.h"
#include "sched/sched.h"

#define SCOPE_MAGIC 0x636f696cu /* "coil" */

_Static_assert(sizeof(struct coil__scope) <= sizeof(coil_scope),
	       "coil_scope must hold struct coil__scope");
_Static_assert(_Alignof(struct coil__scope) <= _Alignof(coil_scope),
	       "coil_scope must be aligned for struct coil__scope");

bool coil__scope_reaches(const struct coil__fiber *f, const struct coil__scope *s)
{
	for (const struct coil__scope *sc = f->scope; sc; sc = sc->parent) {
		if (sc == s)
			return true;
		if (sc->shielded)
			return false;
	}
	return s == NULL;
}

int coil__fiber_may_block_scoped(struct coil__fiber *f, int64_t *deadline)
{
	const struct coil__scope *s = f->scope;
	*deadline = INT64_MAX;
	bool shielded = false;
	for (const struct coil__scope *sc = s; sc; sc = sc->parent) {
		if (__atomic_load_n(&sc->cancelled, __ATOMIC_RELAXED))
			return -ECANCELED;
		if (sc->shielded) {
			shielded = true;
			break;
		}
	}
	if (!shielded && coil__fiber_cancelled(f))
		return -ECANCELED;
	if (s->eff_deadline != INT64_MAX) {
		if (s->eff_deadline <= coil_now())
			return -ETIMEDOUT;
		*deadline = s->eff_deadline;
	}
	return 0;
}

static int enter(coil_scope *cs, int64_t deadline, bool shielded)
{
	struct coil__fiber *f = coil__self();
	if (!f)
		return -EPERM;
	if (!cs)
		return -EINVAL;
	struct coil__scope *s = (struct coil__scope *)cs;
	s->parent = f->scope;
	s->fiber = f;
	s->deadline = deadline;
	s->eff_deadline = deadline;
	if (!shielded && s->parent && s->parent->eff_deadline < deadline)
		s->eff_deadline = s->parent->eff_deadline;
	s->shielded = shielded;
	s->cancelled = false;
	s->magic = SCOPE_MAGIC;
	f->scope = s;
	return 0;
}

void coil__shield_enter(struct coil__scope *s)
{
	struct coil__fiber *f = coil__self();
	*s = (struct coil__scope){.parent = f->scope, .fiber = f, .deadline = INT64_MAX,
				  .eff_deadline = INT64_MAX, .shielded = true};
	f->scope = s;
}

void coil__shield_exit(struct coil__scope *s)
{
	s->fiber->scope = s->parent;
}

int coil_scope_enter(coil_scope *s, int64_t deadline_ns)
{
	return enter(s, deadline_ns, false);
}

int coil_scope_enter_timeout(coil_scope *s, int64_t timeout_ns)
{
	int64_t now = coil_now();
	int64_t d = timeout_ns > INT64_MAX - now ? INT64_MAX : now + (timeout_ns > 0 ? timeout_ns : 0);
	return enter(s, d, false);
}

int coil_scope_enter_shielded(coil_scope *s, int64_t deadline_ns)
{
	return enter(s, deadline_ns, true);
}

int coil_scope_exit(coil_scope *cs)
{
	struct coil__fiber *f = coil__self();
	if (!f)
		return -EPERM;
	struct coil__scope *s = (struct coil__scope *)cs;
	if (!s || f->scope != s || s->magic != SCOPE_MAGIC)
		return -EINVAL;
	f->scope = s->parent;
	s->magic = 0;
	if (__atomic_load_n(&s->cancelled, __ATOMIC_RELAXED))
		return -ECANCELED;
	if (s->deadline != INT64_MAX && coil_now() >= s->deadline)
		return -ETIMEDOUT;
	return 0;
}

void coil__scope_leave(coil_scope *cs)
{
	struct coil__scope *s = (struct coil__scope *)cs;
	s->fiber->scope = s->parent;
	s->magic = 0;
}

int coil_scope_cancel(coil_scope *cs)
{
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	struct coil__scope *s = (struct coil__scope *)cs;
	if (!s || s->magic != SCOPE_MAGIC)
		return -EINVAL;
	if (__atomic_load_n(&s->cancelled, __ATOMIC_RELAXED))
		return 0;
	__atomic_store_n(&s->cancelled, true, __ATOMIC_RELAXED);
	struct coil__fiber *f = s->fiber;
	if (f->home != w) {
		/* Its fiber runs on another worker: that worker interrupts it. */
		coil__table_lock(f->home);
		coil__crew_poke(f);
		coil__table_unlock(f->home);
		return 0;
	}
	if (coil__scope_reaches(f, s))
		coil__fiber_interrupt(f, -ECANCELED);
	return 0;
}
