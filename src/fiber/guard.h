/*
 * Stack overflow reporting. A fiber that runs into its guard page gets a
 * SIGSEGV; the handler (on an alternate signal stack, since the fiber's own
 * is exhausted) asks the thread's runtime which fiber is running, and if the
 * fault is in that fiber's guard page it prints which fiber overflowed and
 * aborts. Any other fault goes to the handler that was installed before.
 */
#ifndef COIL_FIBER_GUARD_H
#define COIL_FIBER_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "fiber/stack.h"

/* Tells the handler what runs on this thread now: the current fiber's stack
 * (NULL when none) and its task id. Called from the signal handler: it must
 * only read memory. */
typedef bool (*coil__guard_lookup_fn)(void *ctx, const struct coil__stack **stack,
				      uint64_t *task_id);

/* Install the process-wide handler (once) and this thread's alternate signal
 * stack (unless it has one). Returns 0 or -errno. */
int coil__guard_thread_start(coil__guard_lookup_fn lookup, void *ctx);
/* Undo this thread's part of coil__guard_thread_start(). */
void coil__guard_thread_stop(void);

#endif
