/* coil/task.h: fibers (tasks): spawn, join, detach, yield, cancel. */
#ifndef COIL_TASK_H
#define COIL_TASK_H

#include <stddef.h>
#include <stdint.h>
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A task handle. It names one fiber of the current runtime and carries a
 * generation, so a handle kept after its task was joined or detached is
 * rejected with -ESRCH rather than naming some later task. 0 is never a valid
 * handle.
 */
typedef uint64_t coil_task;

/* Options for coil_task_spawn_ex(). Zero-initialise, then set fields. */
struct coil_task_opts {
	/* Stack size in bytes for this fiber; 0 means the runtime's default.
	 * Rounded up to whole pages; minimum 16 KiB. */
	size_t stack_size;
	/* COIL_TASK_ON_WORKER: run it on worker `worker`. */
	unsigned flags;
	unsigned worker;
};

#define COIL_TASK_ON_WORKER 1u

/*
 * Spawn a fiber running fn(arg). It is queued, not run at once: it first runs
 * when the caller parks or yields. If out is NULL the task is detached (it
 * cannot be joined and is reclaimed when it finishes); otherwise *out receives
 * its handle, which must be joined or detached.
 *
 * The fiber gets its stack now (from the runtime's cache, else a new
 * mapping), so a task that was spawned always runs; when no stack can be
 * had (memory, vm.max_map_count) the spawn fails with -ENOMEM and nothing
 * was started: the caller still owns whatever it meant to hand over.
 * Stacks have a 64 KiB guard below them; build fiber code with
 * -fstack-clash-protection so that a larger frame cannot step over it.
 *
 * Returns 0, -EINVAL (fn NULL, stack size out of range), -EPERM (not inside
 * a runtime), -ENOMEM (no fiber slot or no stack).
 */
COIL_API int coil_task_spawn(coil_task *out, coil_fn fn, void *arg);
COIL_API int coil_task_spawn_ex(coil_task *out, const struct coil_task_opts *opts,
				coil_fn fn, void *arg);

/*
 * Spawn fn(arg) on worker `worker` (0 .. coil_worker_count() - 1) of the
 * calling fiber's runtime; otherwise as coil_task_spawn. It starts there at
 * the worker's next turn (a sleeping worker is woken) and stays there; the
 * handle can be joined, detached and cancelled from any worker.
 * Spawns that name no worker put the fiber on the caller's worker (see
 * coil_config.place). Returns as coil_task_spawn, and -EINVAL for a worker
 * out of range.
 */
COIL_API int coil_task_spawn_on(unsigned worker, coil_task *out, coil_fn fn, void *arg);

/*
 * Wait for task t to finish; store its return value in *result (if result is
 * not NULL) and release the handle. t may run on any worker of the runtime.
 *
 * The main fiber (the one coil_run() started) is joined by coil_run() itself:
 * joining it returns -ESRCH (or -EDEADLK from main itself).
 *
 * Returns 0, or:
 *   -ESRCH     t is not a joinable task of this runtime (never was, already
 *              joined, detached, or the main fiber)
 *   -EDEADLK   t is the calling task
 *   -EBUSY     another fiber is already joining t
 *   -ECANCELED the calling task (or an enclosing scope) was cancelled while
 *              waiting; t stays joinable
 *   -ETIMEDOUT an enclosing scope's deadline passed; t stays joinable
 *   -EPERM     not inside a runtime
 */
COIL_API int coil_task_join(coil_task t, void **result);

/* Let t run on without a joiner; it is reclaimed when it finishes.
 * Returns 0, -ESRCH (not a joinable task, or the main fiber), -EBUSY (a
 * fiber is joining t), -EPERM (not inside a runtime). */
COIL_API int coil_task_detach(coil_task t);

/*
 * Ask task t to stop. From now on every blocking call it makes (sleep, I/O,
 * join) returns -ECANCELED, and the one it is parked in, if any, is
 * cancelled. A cancelled I/O operation still completes exactly once: the call
 * returns only when the kernel is done with its buffer, with either its real
 * result (if it completed first) or -ECANCELED. A fiber cannot ignore
 * cancellation for blocking calls, but the code in between runs as written:
 * the task decides how to wind down.
 * Returns 0, -ESRCH, -EPERM.
 */
COIL_API int coil_task_cancel(coil_task t);

/* Whether the calling task has been cancelled (1) or not (0); -EPERM outside
 * a runtime. */
COIL_API int coil_task_cancelled(void);

/* Requeue the calling fiber behind every fiber that is runnable now.
 * Returns 0, or -EPERM outside a runtime. */
COIL_API int coil_task_yield(void);

/* The calling fiber's handle, or 0 outside a runtime. */
COIL_API coil_task coil_task_current(void);

#ifdef __cplusplus
}
#endif
#endif
