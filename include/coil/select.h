/*
 * coil/select.h: wait on several channel sends, channel receives and task
 * joins at once, and do exactly one of them (Go's select, Tokio's select!).
 *
 *     int64_t v; struct msg m; void *res;
 *     struct coil_select_case cs[] = {
 *             COIL_SELECT_RECV_CASE(numbers, &v),
 *             COIL_SELECT_SEND_CASE(out, &m),
 *             COIL_SELECT_JOIN_CASE(worker_task, &res),
 *     };
 *     int i = coil_select(cs, 3, coil_now() + 10 * COIL_NSEC_PER_MSEC, 0);
 *     if (i >= 0 && cs[i].res == 0) ... case i happened ...
 *
 * Exactly one case fires; the others have no effect at all: nothing was sent
 * on them, nothing consumed from them, their tasks are still joinable.
 *
 * Fairness: when several cases are ready at the call, one of them is chosen
 * uniformly at random (a per-thread xorshift), so an always-ready case cannot
 * starve the others. When none is ready, the fiber waits on all of them; the
 * first to become possible fires (its peer completes it on the spot, as for a
 * plain blocking send or receive: a value is handed over exactly once).
 *
 * Deadlines and cancellation: a blocking select is a cancellation point like
 * every blocking call (coil/scope.h). If the task or an enclosing scope is
 * cancelled, or a scope's deadline (or the select's own deadline_ns) passes,
 * before or while it waits, it returns -ECANCELED or -ETIMEDOUT and no case
 * fired. Cases that are ready at the call fire even if deadline_ns has
 * already passed (a deadline only bounds the waiting); an enclosing scope's
 * passed deadline, as for any blocking call, stops the select before it
 * looks at the cases.
 *
 * Same threading rules as channels (coil/chan.h): one runtime, one thread,
 * and only from a fiber.
 */
#ifndef COIL_SELECT_H
#define COIL_SELECT_H

#include <stdint.h>
#include "coil/runtime.h"
#include "coil/chan.h"
#include "coil/task.h"
#include "coil/scope.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of case (0 is not a kind: a zeroed case is refused). */
enum {
	COIL_SELECT_SEND = 1,	/* send the value at buf on chan */
	COIL_SELECT_RECV = 2,	/* receive a value from chan into buf */
	COIL_SELECT_JOIN = 3,	/* join task (its return value into *result) */
};

/* The most cases one select takes. */
#define COIL_SELECT_MAX 64

/* flags for coil_select() */
#define COIL_SELECT_NONBLOCK 1u	/* never wait: Go's "default:" case */

struct coil_select_case {
	int kind;		/* COIL_SELECT_SEND, _RECV or _JOIN */
	coil_chan *chan;	/* SEND, RECV */
	/* SEND: the elem_size bytes to send; RECV: where the value is copied
	 * (elem_size bytes). May be NULL when elem_size is 0. Must stay valid
	 * until coil_select returns. */
	void *buf;
	coil_task task;		/* JOIN */
	void **result;		/* JOIN: the task's return value, if not NULL */
	/*
	 * Out, written only for the case that fired (and for the offending case
	 * when the call fails with -EINVAL, -ESRCH, -EDEADLK or -EBUSY):
	 *   0        the case happened: sent, received, or joined (the task
	 *            handle is released, as by coil_task_join)
	 *   -EPIPE   SEND/RECV: the channel is closed (a send did not send; a
	 *            receive found it closed and drained)
	 *   -ENOMEM  SEND on an unbounded channel: no memory (nothing sent)
	 */
	int res;
};

/* Initialisers for one case. */
#define COIL_SELECT_SEND_CASE(ch, elem) \
	((struct coil_select_case){.kind = COIL_SELECT_SEND, .chan = (ch), .buf = (void *)(elem)})
#define COIL_SELECT_RECV_CASE(ch, out) \
	((struct coil_select_case){.kind = COIL_SELECT_RECV, .chan = (ch), .buf = (out)})
#define COIL_SELECT_JOIN_CASE(t, resultp) \
	((struct coil_select_case){.kind = COIL_SELECT_JOIN, .task = (t), .result = (resultp)})

/*
 * Do exactly one of cases[0..n-1]: one that is possible now (chosen at
 * random among those), else the first to become possible while waiting.
 * deadline_ns is an absolute CLOCK_MONOTONIC time (coil_now()) after which
 * the select stops waiting, or COIL_NO_DEADLINE. flags: 0, or
 * COIL_SELECT_NONBLOCK to return -EAGAIN instead of waiting (deadline_ns is
 * then ignored; like the try_ forms of channels, a non-blocking select is not
 * a cancellation point and works in a cancelled task).
 *
 * A channel may appear in several cases (a send and a receive on one
 * rendezvous channel never meet each other: only other fibers complete
 * them). A task may appear in one JOIN case only.
 *
 * Returns the index of the case that fired (its .res says how), or:
 *   -EAGAIN     COIL_SELECT_NONBLOCK and no case was possible
 *   -ETIMEDOUT  deadline_ns, or an enclosing scope's deadline, passed first
 *   -ECANCELED  the calling task (or an enclosing scope) is cancelled
 *   -EINVAL     cases NULL, n <= 0 or n > COIL_SELECT_MAX, unknown flags;
 *               a case with a bad kind, chan NULL, buf NULL with
 *               elem_size > 0, or a task in two JOIN cases
 *   -ESRCH      a JOIN case's task is not joinable (never was, already
 *               joined, detached, or the main fiber)
 *   -EDEADLK    a JOIN case names the calling task
 *   -EBUSY      another fiber is already joining a JOIN case's task
 *   -EPERM      not inside a fiber
 * On every error, no case fired; for the per-case errors (-EINVAL for a bad
 * case, -ESRCH, -EDEADLK, -EBUSY) the first offending case's .res holds the
 * same code.
 */
COIL_API int coil_select(struct coil_select_case *cases, int n, int64_t deadline_ns,
			 unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
