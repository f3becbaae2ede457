/*
 * Scopes, inside sched: what a blocking call must check, and whether a
 * cancel reaches a fiber (parked fibers are interrupted through park.h). See include/coil/scope.h for the semantics.
 */
#ifndef COIL_SCHED_SCOPE_H
#define COIL_SCHED_SCOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "coil/scope.h"

struct coil__fiber;
struct coil__worker;

struct coil__scope {
	struct coil__scope *parent;	/* the next scope out, NULL at the top */
	struct coil__fiber *fiber;
	int64_t deadline;		/* its own, INT64_MAX: none */
	int64_t eff_deadline;		/* earliest of it and its parents, up to a shield */
	uint32_t magic;
	bool shielded;
	bool cancelled;
};

/*
 * The check every blocking call makes before it starts (and every park
 * after it wakes): 0 if it may block, with *deadline the effective deadline
 * (INT64_MAX: none); -ECANCELED if a scope that applies (or the task) is
 * cancelled; -ETIMEDOUT if the effective deadline has passed.
 */
int coil__fiber_may_block_scoped(struct coil__fiber *f, int64_t *deadline);
/* coil__fiber_may_block(f, deadline): inline in sched/sched.h, taking the
 * fast path when f has no scope. */

/* A shield for coil's own waits that must finish whatever the caller's
 * scopes say (a mutex re-lock, a group waiting for its cancelled children,
 * a close or a reader waiting for the kernel to let go): on the fiber's
 * scope chain as coil_scope_enter_shielded(s, COIL_NO_DEADLINE) would put
 * it, so a cancel of the task or of an outer scope does not reach the wait
 * (and is seen at the next blocking call after it), without borrowing the
 * public call. On a fiber; exits in the order entered. */
void coil__shield_enter(struct coil__scope *s);
void coil__shield_exit(struct coil__scope *s);

/* coil_scope_exit for coil's own scopes, whose callers learn the outcome
 * from the call made inside and ignore the exit's verdict: the same
 * unlinking, without the clock read that verdict needs (a few per HTTP
 * request). s must be the fiber's innermost scope, as for the public call. */
void coil__scope_leave(coil_scope *s);

/* Whether cancelling at scope s (NULL: the task itself) reaches f's current
 * blocking call, i.e. no shield stands between. */
bool coil__scope_reaches(const struct coil__fiber *f, const struct coil__scope *s);

#endif
