/* Task groups: see coil/group.h.
 *
 * Each child is a detached task running child_main, which calls the user's
 * function and then, before the fiber ends (with no switch in between),
 * moves the child's record from the group's running list to its finished
 * FIFO and wakes the group's waiters. The group never joins its children:
 * their handles go stale when they end, so a group that outlives a runtime
 * holds nothing that a later runtime could confuse with its own tasks.
 * A child that was spawned always runs child_main: its stack comes with the
 * spawn, and a spawn that cannot have one fails (coil_group_spawn returns
 * -ENOMEM, no record is left running).
 *
 * Children may run on any worker (coil_task_opts.worker, the spread
 * placement): with several workers every look at the group is made under
 * its lock (waiters.lock). Cancelling children is done outside it: a
 * child's park may belong to an object whose cancel takes a lock.
 */
#include "coil/group.h"
#include "coil/task.h"

#include <errno.h>
#include <stdlib.h>

#include "base/list.h"
#include "base/spin.h"
#include "sched/scope.h"
#include "sched/waitq.h"
#include "sched/sched.h"

struct child {
	struct coil__list link;		/* running list, finished FIFO or free list */
	struct coil_group *g;
	coil_fn fn;
	void *arg;
	void *result;
	coil_task task;
};

struct coil_group {
	struct coil__list running, finished;
	struct coil__list free;		/* records kept for reuse */
	size_t nrunning, nfinished;
	unsigned users;			/* fibers inside a wait call */
	bool cancelled;
	struct coil__lockq waiters;	/* and the lock of everything here */
};

#define LOCK(g, lk) coil__spin_lock_if(&(g)->waiters.lock, lk)
#define UNLOCK(g, lk) coil__spin_unlock_if(&(g)->waiters.lock, lk)

static struct child *child_of(struct coil__list *n)
{
	return coil__container_of(n, struct child, link);
}

int coil_group_new(coil_group **out)
{
	if (!out)
		return -EINVAL;
	struct coil_group *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	coil__list_init(&g->running);
	coil__list_init(&g->finished);
	coil__list_init(&g->free);
	*out = g;
	return 0;
}

static void free_all(struct coil__list *l)
{
	struct coil__list *n;
	while ((n = coil__list_pop_front(l)) != NULL)
		free(child_of(n));
}

int coil_group_free(coil_group *g)
{
	if (!g)
		return 0;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	bool busy = g->nrunning || g->users || !coil__waitq_empty(&g->waiters.q);
	UNLOCK(g, lk);
	if (busy)
		return -EBUSY;
	free_all(&g->finished);
	free_all(&g->free);
	free(g);
	return 0;
}

static void *child_main(void *arg)
{
	struct child *c = arg;
	c->result = c->fn(c->arg);
	struct coil_group *g = c->g;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	coil__list_remove(&c->link);
	g->nrunning--;
	coil__list_push_back(&g->finished, &c->link);
	g->nfinished++;
	/* Each waiter re-checks what it waits for (next, or all). */
	coil__waitq_wake_all(&g->waiters.q, 0);
	UNLOCK(g, lk);
	return NULL;
}

int coil_group_spawn_ex(coil_group *g, coil_task *out, const struct coil_task_opts *opts,
			coil_fn fn, void *arg)
{
	if (!g || !fn)
		return -EINVAL;
	if (!coil__self())
		return -EPERM;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	struct coil__list *n = coil__list_pop_front(&g->free);
	struct child *c = n ? child_of(n) : malloc(sizeof *c);
	if (!c) {
		UNLOCK(g, lk);
		return -ENOMEM;
	}
	c->g = g;
	c->fn = fn;
	c->arg = arg;
	c->result = NULL;
	/* Linked before the spawn, the handle set before the lock drops: a
	 * child on another worker may finish at once, and needs both. */
	coil__list_push_back(&g->running, &c->link);
	g->nrunning++;
	coil_task t;
	int r = coil_task_spawn_ex(&t, opts, child_main, c);
	if (r < 0) {
		coil__list_remove(&c->link);
		g->nrunning--;
		coil__list_push_back(&g->free, &c->link);
		UNLOCK(g, lk);
		return r;
	}
	c->task = t;
	bool cancel = g->cancelled;
	UNLOCK(g, lk);
	/* The child reaps itself; if it already finished, this releases it. */
	coil_task_detach(t);
	if (cancel)
		coil_task_cancel(t);
	if (out)
		*out = t;
	return 0;
}

int coil_group_spawn(coil_group *g, coil_task *out, coil_fn fn, void *arg)
{
	return coil_group_spawn_ex(g, out, NULL, fn, arg);
}

/* Cancel the running children; returns how many. Their handles are taken
 * under the lock and cancelled outside it (a stale one is -ESRCH). */
static int cancel_running(struct coil_group *g)
{
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	size_t k = 0, cap = g->nrunning;
	coil_task *ts = cap ? malloc(cap * sizeof *ts) : NULL;
	struct coil__list *pos, *tmp;
	if (ts)
		coil__list_for_each_safe(pos, tmp, &g->running)
			ts[k++] = child_of(pos)->task;
	int n = 0;
	if (!ts && cap) {
		/* No memory for the list: cancel under the lock. */
		coil__list_for_each_safe(pos, tmp, &g->running)
			if (coil_task_cancel(child_of(pos)->task) == 0)
				n++;
	}
	UNLOCK(g, lk);
	for (size_t i = 0; i < k; i++)
		if (coil_task_cancel(ts[i]) == 0)
			n++;
	free(ts);
	return n;
}

int coil_group_cancel(coil_group *g)
{
	if (!g)
		return -EINVAL;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	g->cancelled = true;
	UNLOCK(g, lk);
	if (!coil__self())
		return 0; /* no runtime: no child can be running */
	return cancel_running(g);
}

static void recycle(struct coil_group *g, struct child *c)
{
	coil__list_push_back(&g->free, &c->link);
}

static void take(struct coil_group *g, coil_task *task, void **result)
{
	struct child *c = child_of(coil__list_pop_front(&g->finished));
	g->nfinished--;
	if (task)
		*task = c->task;
	if (result)
		*result = c->result;
	recycle(g, c);
}

static void drop_finished(struct coil_group *g)
{
	while (!coil__list_empty(&g->finished))
		take(g, NULL, NULL);
}

/* With the lock held (if lk): park until a child finishes (0), or the park
 * fails (< 0, unlinked); the lock is held again on return. */
static int park_on(struct coil_group *g, bool lk)
{
	int r = coil__lockq_wait(&g->waiters, lk, INT64_MAX);
	LOCK(g, lk);
	return r;
}

int coil_group_wait(coil_group *g)
{
	if (!g)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r == -EPERM)
		return r;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	g->users++;
	while (r == 0 && g->nrunning > 0)
		r = park_on(g, lk);
	if (r < 0) {
		/* Cancelled or timed out: the children go too, and the caller
		 * still leaves only once they are done (a shielded wait: the
		 * group cannot be left while its children run). */
		UNLOCK(g, lk);
		cancel_running(g);
		struct coil__scope shield;
		coil__shield_enter(&shield);
		LOCK(g, lk);
		while (g->nrunning > 0)
			park_on(g, lk);
		coil__shield_exit(&shield);
	}
	drop_finished(g);
	g->users--;
	UNLOCK(g, lk);
	return r;
}

static int try_next_locked(struct coil_group *g, coil_task *task, void **result)
{
	if (g->nfinished) {
		take(g, task, result);
		return 0;
	}
	return g->nrunning ? -EAGAIN : -ECHILD;
}

int coil_group_try_next(coil_group *g, coil_task *task, void **result)
{
	if (!g)
		return -EINVAL;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	int r = try_next_locked(g, task, result);
	UNLOCK(g, lk);
	return r;
}

int coil_group_wait_next(coil_group *g, coil_task *task, void **result)
{
	if (!g)
		return -EINVAL;
	int r = coil__checkpoint();
	if (r < 0)
		return r;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	g->users++;
	for (;;) {
		r = try_next_locked(g, task, result);
		if (r != -EAGAIN)
			break;
		r = park_on(g, lk);
		if (r < 0)
			break;
	}
	g->users--;
	UNLOCK(g, lk);
	return r;
}

static ptrdiff_t count_of(const coil_group *cg, bool finished)
{
	if (!cg)
		return -EINVAL;
	struct coil_group *g = (struct coil_group *)cg;
	bool lk = coil__lockq_on();
	LOCK(g, lk);
	size_t n = finished ? g->nfinished : g->nrunning;
	UNLOCK(g, lk);
	return (ptrdiff_t)n;
}

ptrdiff_t coil_group_running(const coil_group *g)
{
	return count_of(g, false);
}

ptrdiff_t coil_group_finished(const coil_group *g)
{
	return count_of(g, true);
}
