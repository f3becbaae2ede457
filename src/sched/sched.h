/*
 * The scheduler of one worker (one thread): its state (the fiber table, the
 * run queue, the stack pool, the timers) and the inline hot paths
 * every layer calls (self, may-block, make runnable, wake a park).
 *
 * The turn that runs them is sched/turn.h's.
 *
 * sched knows nothing of ops or backends: I/O is the poll hook, and the
 * count of things that will wake a fiber from outside (pending).
 *
 * A runtime has one or more workers (its crew, sched/crew.h), one per
 * thread. A fiber lives on one worker (home) from spawn to end and only
 * that worker's thread runs it, touches its state or links it in a queue;
 * other threads reach it through the home's inbox.
 */
#ifndef COIL_SCHED_SCHED_H
#define COIL_SCHED_SCHED_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/timers.h"
#include "base/list.h"
#include "base/spin.h"
#include "coil/runtime.h"
#include "coil/task.h"
#include "fiber/exec.h"
#include "fiber/stack.h"
#include "sched/park.h"
#include "sched/scope.h"

enum coil__fiber_state {
	COIL__FIBER_FREE,	/* in the free list */
	COIL__FIBER_RUNNABLE,	/* in the run queue (maybe not started yet) */
	COIL__FIBER_RUNNING,
	COIL__FIBER_PARKED,	/* waiting on park */
	COIL__FIBER_DONE,	/* finished, result kept until joined */
};

struct coil__worker;

struct coil__fiber {
	struct coil__exec exec;
	struct coil__list link;		/* run queue or free list */
	struct coil__park *park;	/* what it waits on while PARKED */
	struct coil__worker *home;	/* the worker that runs it, for its life */
	struct coil__stack *stack;	/* from spawn until the fiber ends */
	coil_fn fn;
	void *arg;
	void *result;
	uint32_t index;			/* slot in the fiber table */
	uint32_t gen;			/* bumped when the slot is reused */
	uint8_t state;			/* enum coil__fiber_state: its worker's own */
	/* What other workers may look at, under the home's table lock:
	 * FREE, DONE, or RUNNABLE for anything in between. */
	uint8_t life;
	uint8_t budget;			/* calls done without parking (coil__sched_budget) */
	bool detached;
	bool cancelled;			/* another worker may set it: atomic access */
	bool started;			/* its context was made */
	uint8_t poke_queued;		/* poke_msg is in home's inbox (atomic) */
	uint32_t poke_gen;		/* the gen the queued poke is for */
	struct coil__msg run_msg;	/* spawned from another worker: "run it" */
	struct coil__msg poke_msg;	/* cancelled from another thread: "look" */
	struct coil__join_case *join_case; /* who waits for this one to finish */
	struct coil__scope *scope;	/* innermost cancel scope, NULL: none */
};

/* A fiber waiting for a task to finish: the plain join, or a select case. */
struct coil__join_case {
	struct coil__park *park;
	/* Called when the task finishes; target->join_case stays pointing at
	 * jc until the joiner releases the target. NULL:
	 * coil__park_wake(park, 0). */
	void (*fire)(struct coil__join_case *jc, int result);
	struct coil__fiber *target;
	void *data;
	bool fired;	/* the target finished and fire ran (under its table lock) */
};

#define COIL__FIBER_CHUNK 256
/* A task handle is gen << 32 | worker << 24 | index. */
#define COIL__INDEX_BITS 24
#define COIL__WORKERS_MAX 256
#define COIL__CHUNKS_MAX (((size_t)1 << COIL__INDEX_BITS) / COIL__FIBER_CHUNK)

/* The I/O hook: submit, wait (block: until something completes or, if
 * deadline is not INT64_MAX, until that CLOCK_MONOTONIC time), reap.
 * Returns >= 0, or -errno: -EINTR is harmless, anything else ends the
 * runtime. */
typedef int coil__poll_fn(void *ctx, bool block, int64_t deadline);

struct coil__crew;
struct coil__call;

struct coil__worker {
	struct coil__exec sched;	/* the scheduler: the thread's own stack */
	struct coil__crew *crew;	/* the runtime's workers */
	unsigned index;			/* in crew */
	bool multi;			/* crew has more than one worker */
	struct coil__fiber *current;	/* the running fiber, NULL in the scheduler */
	struct coil__list runq;
	size_t runq_len;
	size_t batch;			/* fibers of this turn still to run from runq */

	/* Fiber table: slots in chunks that never move, so handles can be
	 * checked (index, gen) and pointers stay valid. The chunk array has
	 * room for every chunk from the start, so another worker can read it
	 * (under table_lock) while this one grows it. */
	struct coil__fiber **chunks;
	size_t nchunks;
	/* With more than one worker: the fiber table, free list, join cases and
	 * detach state are shared with the other workers (spawn_on, join,
	 * cancel of a fiber of this worker), under this lock. */
	uint32_t table_lock;
	struct coil__list free_fibers;
	size_t live;			/* its fibers not yet finished (others read it) */
	size_t attached_live;		/* one worker: unfinished non-detached fibers, main aside */

	struct coil__stack_pool stacks;
	struct coil__fiber *finished;	/* a fiber whose stack the next to run frees */

	/* Deadlines of parked fibers, and coalesced sleeps. */
	struct coil__timers timers;

	/* Fibers that something outside sched will wake (ops in flight):
	 * kept by the I/O layer. While it is 0 the turn need not poll. */
	size_t pending;
	coil__poll_fn *poll;
	void *poll_ctx;

	bool join_children;
	bool shutting_down;		/* main is done: cancel what is left */
	bool embedded;			/* a coil_loop's: each tick returns */

	/* Cross-thread (sched/crew.h). What other threads write or read
	 * often, between pads (64 bytes: a cache line, whatever the
	 * allocation's alignment): a post then costs the one line it must
	 * move, not the lines this worker's turn reads. */
	char pad_far[64];
	struct coil__msg *inbox;	/* LIFO pushed by others, drained here */
	uint32_t sleeping;		/* COIL__SLEEP_*: see crew.h; 0: awake */
	uint32_t spinning;		/* 1: spinning on inbox (a poster clears it) */
	int64_t next_timer;		/* the first timer of its heap when it last slept */
	int64_t late_ns;		/* how late its timed sleeps end: crew.h */
	int sleep_cpu;			/* the CPU its last sleep began on */
	char pad_near[64];
	bool spin;			/* messages came last turn: spin before sleeping */
	uint8_t expect_fails;		/* expectation spins in a row that got nothing */
	uint8_t expect_skip;		/* chances to let go before the next one */
	bool spin_cut;			/* the last spin stopped: it was preempted */
	int64_t expect_after;		/* how long past the expected timer to spin */
	int64_t expect_cut;		/* expected timer whose spin its own cut (0: none) */
	int wake_fd;			/* eventfd: a kick from a plain thread */
	/* Kick `to` (asleep in its poll) from this worker by the I/O layer's
	 * own means, which may look at to->poll_ctx (io_uring: a MSG_RING
	 * into to's ring); false: use to->wake_fd. Set by the I/O layer;
	 * NULL: none. */
	bool (*kick_from)(struct coil__worker *self, struct coil__worker *to);
	/* coil_loop: make the embedder's fd readable (a kick of a worker
	 * that sleeps between ticks, COIL__SLEEP_EMBEDDER). */
	void (*wake_embedder)(struct coil__worker *w);
	size_t outside_waits;		/* fibers parked where a plain thread can wake them */
	/* While in the list of every runtime's workers (sched/crew.h): its
	 * bit among them (0 unlisted), and the bits that may name other
	 * workers: all but list_bit while no other listed worker has it, else
	 * all (atomic: another lister sets it). */
	uint32_t list_bit;
	uint32_t list_others;
	/* Listed but never waited for (a coil_loop's: between ticks its
	 * thread is the embedder's): what another layer posts it instead of
	 * a call it would wait for (io/fd.h: the closes it must hear of).
	 * NULL: a worker that answers while others wait. */
	struct coil__call *later;
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

/* Whether f was cancelled (another worker may set the flag). */
static inline bool coil__fiber_cancelled(const struct coil__fiber *f)
{
	return __atomic_load_n(&f->cancelled, __ATOMIC_RELAXED);
}

/* See sched/scope.h. Inline: most fibers have no scope, and every blocking
 * call asks. */
static inline int coil__fiber_may_block(struct coil__fiber *f, int64_t *deadline)
{
	if (__builtin_expect(f->scope == NULL, 1)) {
		*deadline = INT64_MAX;
		return coil__fiber_cancelled(f) ? -ECANCELED : 0;
	}
	return coil__fiber_may_block_scoped(f, deadline);
}

/* Cooperative budget: a fiber whose calls complete without parking must
 * still let others run. Returns true (and resets it) when the caller should
 * yield now (after 64 such calls; Tokio uses 128 ops). */
static inline bool coil__sched_budget(struct coil__fiber *f)
{
	if (__builtin_expect(++f->budget < 64, 1))
		return false;
	f->budget = 0;
	return true;
}

/* Make a fiber runnable (append it to the run queue). Only for a fiber
 * that is PARKED (through coil__park_wake) or new. */
static inline void coil__make_runnable(struct coil__worker *w, struct coil__fiber *f)
{
	f->state = COIL__FIBER_RUNNABLE;
	coil__list_push_back(&w->runq, &f->link);
	w->runq_len++;
}

_Noreturn void coil__park_wake_bad(void);

/* Wake p's fiber, on this thread's worker. */
static inline void coil__park_wake_here(struct coil__worker *w, struct coil__park *p, int result)
{
	struct coil__fiber *f = p->fiber;
	if (__builtin_expect(f->park != p || f->state != COIL__FIBER_PARKED, 0))
		coil__park_wake_bad();
	p->result = result;
	f->park = NULL;
	coil__make_runnable(w, f);
}

/* The wake of a park whose fiber lives on another worker, or of a plain
 * thread's park: sched/crew.c. */
void coil__park_wake_far(struct coil__park *p, int result);

static inline void coil__park_wake(struct coil__park *p, int result)
{
	struct coil__worker *w = coil__tls_worker;
	struct coil__fiber *f = p->fiber;
	if (__builtin_expect(f != NULL && w != NULL && f->home == w, 1))
		coil__park_wake_here(w, p, result);
	else
		coil__park_wake_far(p, result);
}

/* The turn (init, tick, yield...): sched/turn.h. The fiber table and
 * spawns: sched/fiber.h. Leaving the current fiber for the next:
 * sched/switch.h. */

#endif
