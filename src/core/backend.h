/*
 * The backend interface: the only thing core knows about how I/O is done.
 *
 * A backend turns struct coil__op into work for the kernel and reports each
 * op's result exactly once through coil__op_complete(). io_uring implements
 * it with SQEs and CQEs (src/uring); the readiness backends (src/compat) with
 * a try / wait-for-readiness / retry loop, a timer heap and a thread pool.
 *
 * Rules for a backend:
 *   - submit() never blocks. It may finish the op at once (a readiness
 *     backend whose first try succeeded: no wait, no switch) and say so with
 *     COIL__SUBMIT_DONE; otherwise the completion comes from poll().
 *   - cancel() only asks; the op still completes exactly once, through its
 *     own completion, with -ECANCELED or its real result if that came first.
 *   - poll() is the only place the worker blocks.
 */
#ifndef COIL_CORE_BACKEND_H
#define COIL_CORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "core/op.h"

struct coil__worker;
struct coil_config;

struct coil__backend {
	const char *name;
	/* Set up w->backend_data. May set w->inflight_max (default: no limit).
	 * Returns 0 or -errno (then nothing is left to clean up). */
	int (*init)(struct coil__worker *w, const struct coil_config *cfg);
	/* Tear down. Called only when no op is in flight. */
	void (*fini)(struct coil__worker *w);
	/* Start op (op->gen is set; op->link_deadline is the scope deadline,
	 * INT64_MAX for none: past it the op must complete with -ETIMEDOUT,
	 * unless it completed first). 0: in flight, it completes through
	 * coil__op_complete() later; COIL__SUBMIT_DONE: finished now, op->res
	 * holds the result; -EAGAIN: no room right now (core parks the fiber
	 * and tries again after a poll()). */
	int (*submit)(struct coil__worker *w, struct coil__op *op);
	/* Ask op, which is in flight, to finish early with -ECANCELED. */
	void (*cancel)(struct coil__worker *w, struct coil__op *op);
	/* Push pending work to the kernel and report what completed. With
	 * block, wait until at least one op completes or, if deadline is not
	 * INT64_MAX, until that CLOCK_MONOTONIC time (core's own timers).
	 * Returns the number of ops completed, or -errno: -EINTR and -ETIME
	 * are harmless, anything else is fatal for the runtime. */
	int (*poll)(struct coil__worker *w, bool block, int64_t deadline);
	/* Optional: coil made fd (a socket) outside any op; forget whatever
	 * was known of an earlier fd with the same number. */
	void (*fd_opened)(struct coil__worker *w, int fd);
};

/* Tell the running worker's backend that coil made fd (no-op outside a
 * runtime or when the backend keeps no per-fd state). */
void coil__fd_opened(int fd);

#define COIL__SUBMIT_DONE 1

/* The backend reports op's result; core makes its fiber runnable. */
void coil__op_complete(struct coil__worker *w, struct coil__op *op, int res);

extern const struct coil__backend coil__backend_uring;
extern const struct coil__backend coil__backend_epoll;
extern const struct coil__backend coil__backend_poll;
extern const struct coil__backend coil__backend_kqueue;

#endif
