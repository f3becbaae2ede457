/* coil/group.h: task groups (structured concurrency).
 *
 * A group owns the fibers spawned into it. Its owner waits for all of them
 * (coil_group_wait), or takes them one at a time as they finish
 * (coil_group_wait_next, which hands back each child's result), and may
 * cancel them all. A group cannot be freed while a child runs: free returns
 * -EBUSY (it never blocks), so the owner waits first.
 *
 * The children are not joinable tasks: the group reaps them. Their handles
 * (from coil_group_spawn, and from coil_group_wait_next) name them for
 * coil_task_cancel() while they run and for telling them apart afterwards;
 * coil_task_join() and coil_task_detach() on them return -ESRCH. Like
 * detached tasks, children still running when coil_run()'s main fiber
 * returns are cancelled, not awaited: wait for the group before leaving the
 * fiber that owns it.
 *
 * Threads: a group belongs to one runtime (one thread).
 */
#ifndef COIL_GROUP_H
#define COIL_GROUP_H

#include <stddef.h>
#include "coil/runtime.h"
#include "coil/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coil_group coil_group;

/* Create an empty group (works anywhere). Returns 0, -EINVAL (out NULL),
 * -ENOMEM. */
COIL_API int coil_group_new(coil_group **out);

/*
 * Free a group. Results of finished children not yet taken with
 * coil_group_wait_next are dropped.
 * Returns 0 (also for NULL), or -EBUSY if a child is still running or a
 * fiber is waiting on the group (nothing is freed then).
 */
COIL_API int coil_group_free(coil_group *g);

/*
 * Spawn fn(arg) as a child of g (queued like coil_task_spawn). If out is not
 * NULL it receives the child's handle. If the group was cancelled
 * (coil_group_cancel) the child starts cancelled.
 * Returns 0, -EINVAL (g or fn NULL, bad stack size), -EPERM (outside a
 * runtime), -ENOMEM.
 */
COIL_API int coil_group_spawn(coil_group *g, coil_task *out, coil_fn fn, void *arg);
COIL_API int coil_group_spawn_ex(coil_group *g, coil_task *out,
				 const struct coil_task_opts *opts, coil_fn fn, void *arg);

/*
 * Wait until every child has finished, and drop their results (use
 * coil_group_wait_next to get them). Returns at once if none runs.
 *
 * If the calling task is cancelled, or an enclosing scope's deadline passes
 * (before or while waiting), the group's children are cancelled and the call
 * still waits, shielded, until every one has finished, then returns
 * -ECANCELED or -ETIMEDOUT: when it returns, no child of g runs, whatever
 * the code.
 *
 * Returns 0, -ECANCELED, -ETIMEDOUT, -EPERM (outside a fiber), -EINVAL.
 */
COIL_API int coil_group_wait(coil_group *g);

/*
 * Wait for the next child to finish (children that finished earlier are
 * handed out first, in the order they finished) and take it out of the
 * group: *task (if not NULL) receives its handle (no longer valid for
 * anything but comparison) and *result (if not NULL) its return value.
 * Returns 0, -ECHILD (the group has no child: none running, none finished
 * and untaken), -ECANCELED or -ETIMEDOUT (nothing was taken; the children
 * keep running),
 * -EPERM (outside a fiber), -EINVAL.
 */
COIL_API int coil_group_wait_next(coil_group *g, coil_task *task, void **result);

/* As coil_group_wait_next, without blocking: -EAGAIN when children run but
 * none has finished. Works in a cancelled task. */
COIL_API int coil_group_try_next(coil_group *g, coil_task *task, void **result);

/*
 * Cancel every running child (coil_task_cancel on each), and every child
 * spawned into g from now on. Never blocks; wait afterwards to know they
 * are done. Returns the number of children cancelled now (>= 0), -EINVAL.
 */
COIL_API int coil_group_cancel(coil_group *g);

/* Children running now (>= 0), or -EINVAL. */
COIL_API ptrdiff_t coil_group_running(const coil_group *g);

/* Children finished and not yet taken by coil_group_wait_next (>= 0), or
 * -EINVAL. */
COIL_API ptrdiff_t coil_group_finished(const coil_group *g);

#ifdef __cplusplus
}
#endif
#endif
