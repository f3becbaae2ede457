/*
 * The worker: one per thread running a runtime. It owns the run queue, the
 * fibers, the stack pool and one backend instance, and runs the loop
 *
 *     run every fiber that is runnable at the start of the turn
 *       -> backend poll: submit the turn's ops in one syscall, wait if idle
 *       -> completions make fibers runnable -> next turn.
 *
 * Fibers switch straight to the next runnable fiber of the turn when they
 * park; only when the turn's batch is used up does control go back to the
 * scheduler context (the thread's own stack), which polls the backend. So a
 * turn costs one switch per fiber plus one, and fibers that keep yielding
 * cannot starve I/O: what becomes runnable during a turn runs in the next.
 */
#ifndef COIL_CORE_WORKER_H
#define COIL_CORE_WORKER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coil/runtime.h"
#include "core/backend.h"
#include "core/op.h"
#include "core/scope.h"
#include "core/wait.h"
#include "fiber/exec.h"
#include "fiber/stack.h"

enum coil__fiber_state {
	COIL__FIBER_FREE,	/* in the free list */
	COIL__FIBER_RUNNABLE,	/* in the run queue (maybe not started yet) */
	COIL__FIBER_RUNNING,
	COIL__FIBER_PARKED,	/* waiting: see wait */
	COIL__FIBER_DONE,	/* finished, result kept until joined */
};

enum coil__wait {
	COIL__WAIT_NONE,
	COIL__WAIT_OP,		/* wait_op is in flight */
	COIL__WAIT_RACE,	/* race: several ops in flight (core/race.c) */
	COIL__WAIT_ROOM,	/* in w->room_waiters: the backend had no room */
	COIL__WAIT_WAITER,	/* wait_waiter: parked on a core object (wait.h);
				 * joins are one of these */
};

struct coil__fiber {
	struct coil__exec exec;
	struct coil__fiber *next;	/* run queue, free list, room waiters */
	struct coil__stack *stack;	/* NULL until first run and after finish */
	size_t stack_size;		/* rounded request */
	coil_fn fn;
	void *arg;
	void *result;
	uint32_t index;			/* slot in the fiber table */
	uint32_t gen;			/* bumped when the slot is reused */
	uint8_t state;			/* enum coil__fiber_state */
	uint8_t wait;			/* enum coil__wait */
	bool detached;
	bool cancelled;
	bool no_stack;			/* finished without running: no stack */
	bool started;
	uint8_t inline_streak;		/* ops finished at submit since it last parked */
	bool op_cancel_sent;		/* the backend was asked to cancel wait_op */
	struct coil__race *race;	/* COIL__WAIT_RACE */
	struct coil__join_case *join_case; /* who waits for this one to finish */
	struct coil__op *wait_op;	/* COIL__WAIT_OP */
	struct coil__waiter *wait_waiter; /* COIL__WAIT_WAITER */
	int wait_result;		/* COIL__WAIT_ROOM: set when interrupted */
	struct coil__scope *scope;	/* innermost cancel scope, NULL: none */
	int64_t park_deadline;		/* core timer while parked (not on an op) */
	uint32_t timer_slot;		/* index + 1 in w->timers, 0: none */
};

/* A fiber waiting for a task to finish: the plain join, or a select case. */
struct coil__join_case {
	struct coil__waiter *wt;
	/* Called when the task finishes; target->join_case stays pointing at
	 * jc until the joiner releases the target. NULL:
	 * coil__waiter_wake(wt, 0). */
	void (*fire)(struct coil__join_case *jc, int result);
	struct coil__fiber *target;
	void *data;
};

#define COIL__FIBER_CHUNK 256

struct coil__fiber_queue {
	struct coil__fiber *head, *tail;
	size_t len;
};

struct coil__worker {
	struct coil__exec sched;	/* the scheduler: the thread's own stack */
	struct coil__fiber *current;	/* the running fiber, NULL in the scheduler */
	struct coil__fiber_queue runq;
	size_t batch;			/* fibers of this turn still to run from runq */
	struct coil__fiber_queue room_waiters;

	/* Fiber table: slots in chunks that never move, so handles can be
	 * checked (index, gen) and pointers stay valid. */
	struct coil__fiber **chunks;
	size_t nchunks, chunk_cap;
	struct coil__fiber *free_fibers;
	size_t live;			/* fibers spawned and not yet finished */
	size_t attached_live;		/* unfinished non-detached fibers, main aside */

	struct coil__stack_pool stacks;
	struct coil__fiber *main;
	struct coil__fiber *finished;	/* a fiber whose stack the scheduler frees */

	const struct coil__backend *backend;
	void *backend_data;
	struct coil__pool *pool;	/* the blocking pool, made on first use */
	size_t inflight;		/* ops submitted and not completed */
	size_t inflight_max;		/* 0: no limit */
	uint16_t op_gen;

	/* Deadlines of fibers parked on core objects (channels, locks, joins,
	 * room): a min-heap on park_deadline. I/O ops carry their deadline to
	 * the backend instead (io_uring: linked timeouts). */
	struct coil__fiber **timers;
	uint32_t ntimers, timers_cap;

	struct coil_config cfg;
	bool shutting_down;		/* main is done: cancel what is left */
};

/* The worker running on this thread, or NULL. initial-exec: one
 * %fs-relative load even in libcoil.so, instead of a __tls_get_addr call. */
extern __thread struct coil__worker *coil__tls_worker
	__attribute__((tls_model("initial-exec")));

/* The current fiber, or NULL outside a fiber. */
static inline struct coil__fiber *coil__self(void)
{
	struct coil__worker *w = coil__tls_worker;
	return w ? w->current : NULL;
}

/* See core/scope.h. Inline: most fibers have no scope, and every blocking
 * call asks. */
static inline int coil__fiber_may_block(struct coil__fiber *f, int64_t *deadline)
{
	if (__builtin_expect(f->scope == NULL, 1)) {
		*deadline = INT64_MAX;
		return f->cancelled ? -ECANCELED : 0;
	}
	return coil__fiber_may_block_scoped(f, deadline);
}

/* Park the current fiber (its wait fields already set) and run something
 * else; returns when it is made runnable again. */
void coil__park(struct coil__worker *w);
/* The same for a current fiber already put back in the run queue (yield). */
void coil__park_queued(struct coil__worker *w);

/* A task's handle: (gen << 32) | index; gen is never 0, so neither is it. */
uint64_t coil__task_id(const struct coil__fiber *f);

/* The fiber a task handle names, or NULL (stale, unknown, freed). */
struct coil__fiber *coil__task_lookup(struct coil__worker *w, uint64_t t);

/* Fiber table and spawning, in task.c */
int coil__spawn_fiber(struct coil__worker *w, size_t stack_size, coil_fn fn, void *arg,
		      bool detached, struct coil__fiber **out);
struct coil__fiber *coil__fiber_alloc(struct coil__worker *w);
void coil__fiber_release(struct coil__worker *w, struct coil__fiber *f);
void coil__fibers_free_all(struct coil__worker *w);
/* Entry of every fiber, on its own stack. */
void coil__fiber_entry(void *fiber);
/* Cancel f: mark it and interrupt what it waits on. */
void coil__fiber_cancel(struct coil__worker *w, struct coil__fiber *f);

/* Arm / disarm the core timer of the current fiber for a park. */
int coil__timer_add(struct coil__worker *w, struct coil__fiber *f, int64_t deadline);
void coil__timer_del(struct coil__worker *w, struct coil__fiber *f);

static inline void coil__queue_push(struct coil__fiber_queue *q, struct coil__fiber *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->len++;
}

static inline struct coil__fiber *coil__queue_pop(struct coil__fiber_queue *q)
{
	struct coil__fiber *f = q->head;
	if (f) {
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
		f->next = NULL;
	}
	return f;
}

/* Make a parked (or new) fiber runnable: append it to the run queue. */
static inline void coil__wake(struct coil__worker *w, struct coil__fiber *f)
{
	f->state = COIL__FIBER_RUNNABLE;
	coil__queue_push(&w->runq, f);
}

/* Remove f from q (O(n); only for cancelling a room waiter). */
bool coil__queue_remove(struct coil__fiber_queue *q, struct coil__fiber *f);

/* The worker's blocking pool, made on first use. Returns 0 or -errno. */
struct coil__pool;
int coil__worker_pool(struct coil__worker *w, struct coil__pool **out);

/* Abort with a message: a broken internal invariant, never an I/O error. */
_Noreturn void coil__panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
