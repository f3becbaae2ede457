/*
 * coil/scope.h: cancel scopes with deadlines (Trio's cancel scopes, Zig
 * std.Io's cancelation points).
 *
 * A scope is entered and exited by one fiber, LIFO, around any stretch of
 * code. Every blocking call inside (sleep, I/O, join, channels, locks,
 * select...) observes the innermost scopes:
 *   - once a scope's deadline has passed, blocking calls return -ETIMEDOUT
 *     (a call already parked is interrupted then);
 *   - once a scope is cancelled (coil_scope_cancel, from any fiber of the
 *     runtime), they return -ECANCELED;
 *   - the earliest deadline of the nested scopes wins.
 * Cancelling the task (coil_task_cancel) acts as cancelling its outermost
 * scope. A shielded scope stops what happens outside it: inside, outer
 * deadlines and cancels (the task's too) are not seen, so clean-up code can
 * block; its own deadline still applies.
 *
 * A deadline is a timer in the worker's timer heap (no kernel timer per
 * wait). An I/O operation the kernel is working on when its deadline passes
 * or its scope is cancelled is cancelled (io_uring: IORING_OP_ASYNC_CANCEL;
 * readiness backends: its wait for readiness ends), and the call
 * returns only after the operation's own completion:
 * the kernel never writes into memory that was given back. If the operation
 * completed first, the call returns its real result.
 *
 *     coil_scope s;
 *     coil_scope_enter_timeout(&s, 50 * COIL_NSEC_PER_MSEC);
 *     ssize_t n = coil_sock_read(fd, buf, sizeof buf);  // -ETIMEDOUT after 50 ms
 *     coil_scope_exit(&s);
 */
#ifndef COIL_SCOPE_H
#define COIL_SCOPE_H

#include <stdint.h>
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* No deadline. */
#define COIL_NO_DEADLINE INT64_MAX

/* Storage for a scope, provided by the caller (usually on the stack); its
 * contents are private. It must stay in place from enter to exit. */
typedef struct coil_scope {
	uint64_t opaque_[6];
} coil_scope;

/* Enter a scope with an absolute CLOCK_MONOTONIC deadline (COIL_NO_DEADLINE
 * for none). Returns 0, -EINVAL (s NULL), -EPERM (outside a fiber). */
COIL_API int coil_scope_enter(coil_scope *s, int64_t deadline_ns);

/* Enter a scope whose deadline is timeout_ns from now. */
COIL_API int coil_scope_enter_timeout(coil_scope *s, int64_t timeout_ns);

/* Enter a shielded scope (see above), with its own deadline or
 * COIL_NO_DEADLINE. */
COIL_API int coil_scope_enter_shielded(coil_scope *s, int64_t deadline_ns);

/*
 * Leave s, which must be the calling fiber's innermost scope.
 * Returns 0 if neither its deadline passed nor it was cancelled,
 * -ETIMEDOUT if its own deadline has passed, -ECANCELED if it was
 * cancelled; -EINVAL if s is not the innermost scope of the calling fiber.
 */
COIL_API int coil_scope_exit(coil_scope *s);

/* Cancel s (idempotent). Its fiber's blocking calls inside s return
 * -ECANCELED from now on, and the one it is parked in, if any, is
 * interrupted. Returns 0, -EINVAL (s not an entered scope), -EPERM. */
COIL_API int coil_scope_cancel(coil_scope *s);

#ifdef __cplusplus
}
#endif
#endif
