/*
 * The workers of one runtime (its crew) and what crosses between their
 * threads.
 *
 * Each worker owns its fibers, run queue, timers and backend; nothing of
 * another worker's is touched directly except through:
 *
 *   - its inbox: a lock-free LIFO of struct coil__msg that any thread pushes
 *     and only the owner drains (in FIFO order, at the start of each turn,
 *     after its poll, and before a turn starts in place). A message is
 *     embedded in what it is about: a park to wake (WAKE), a fiber spawned
 *     there by another worker (RUN), a fiber to look at because it was
 *     cancelled from elsewhere (POKE), work of another layer (CALL). Nothing
 *     is allocated.
 *   - its sleeping word: set (seq_cst) before it blocks in its poll, after
 *     which it looks at its inbox and the crew's epoch once more. A poster
 *     pushes, then, if the word is set, clears it and kicks: a wake costs a
 *     syscall only when the target sleeps. The kick is IORING_OP_MSG_RING
 *     from the poster's ring to the target's when both are io_uring
 *     workers, else a write to the target's eventfd (plain threads,
 *     readiness backends). A coil_loop's worker also sleeps between ticks
 *     (in its embedder's poll, not in coil's): a kick then makes the
 *     embedder's fd readable.
 *   - its table lock (sched.h): spawn on it, join, detach, cancel its
 *     fibers.
 *
 * Crew-wide state (several workers only): fibers alive anywhere (live), the
 * unfinished non-detached ones besides main (attached), and the stuck word
 * for deadlock detection: low 32 bits the workers that have nothing to do
 * and nothing that could wake them but another worker, high 32 bits the
 * messages posted and not yet handled. All workers stuck and no message in
 * flight is a deadlock: nothing can ever run again. Changes every worker
 * must see (shut down, all done, deadlock, a fatal error) bump the epoch
 * and kick everyone.
 *
 * A runtime with one worker pays nothing for this but a load of its inbox
 * per turn: it has no shared state, its objects take no locks (except
 * channels made for plain threads), and only plain threads post to it.
 */
#ifndef COIL_SCHED_CREW_H
#define COIL_SCHED_CREW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"

enum coil__msg_kind {
	COIL__MSG_WAKE,		/* struct coil__park.msg: wake it with far_result */
	COIL__MSG_RUN,		/* struct coil__fiber.run_msg: make it runnable */
	COIL__MSG_POKE,		/* struct coil__fiber.poke_msg: cancelled? interrupt */
	COIL__MSG_CALL,		/* struct coil__call: run its fn on the worker's thread */
};

/* Work another layer asks of a worker, run on that worker's thread when it
 * drains its inbox (io/fd.c: a close that its ops on the fd must see). fn
 * gets the worker and the call; the call is the caller's to keep alive
 * until fn says it is done (it may be on the asking fiber's stack). */
struct coil__call {
	struct coil__msg msg;
	void (*fn)(struct coil__worker *w, struct coil__call *c);
};

struct coil__crew {
	unsigned n;
	struct coil__worker **workers;
	unsigned place;			/* enum coil_place */
	struct coil__fiber *main;	/* on worker 0, once started */
	bool join_children;
	uint32_t next;			/* rotates the start of the least-loaded scan */
	uint32_t said_fallback;		/* the io_uring fallback line was printed */
	/* Several workers only, atomic: */
	size_t live;			/* fibers alive anywhere, and spawns in flight */
	size_t attached;		/* unfinished non-detached fibers besides main */
	uint64_t stuck;			/* see above */
	uint32_t epoch;			/* bumped on every crew-wide change */
	uint32_t main_done;
	uint32_t shutting_down;
	uint32_t deadlock;
	int error;			/* a worker's fatal poll error: everyone stops */
	/* Workers may spin (coil__crew_spin): not when there are more
	 * workers than CPUs (a spinner would take the CPU of the worker it
	 * waits for). */
	bool may_spin;
	uint32_t outside_posters;	/* plain threads inside coil__crew_post */
	/* io_uring with SQPOLL: the ring whose kernel thread every worker's
	 * ring shares (IORING_SETUP_ATTACH_WQ), its fd + 1 (0: none yet);
	 * set under sqpoll_lock by the first worker that made one. */
	uint32_t sqpoll_lock;
	int sqpoll_fd1;
};

/* Post m (kind set) to worker to's inbox and kick it if it sleeps. Any
 * thread. After it returns, m may already be handled: the caller must not
 * touch what m is embedded in. */
void coil__crew_post(struct coil__worker *to, struct coil__msg *m);

/* Before the crew's memory goes: wait for plain threads still in
 * coil__crew_post (a few instructions and a kick). */
void coil__crew_wait_posters(struct coil__crew *c);

/* Handle w's inbox (w's thread). Returns whether there was anything. */
bool coil__crew_drain(struct coil__worker *w);

static inline bool coil__inbox_empty(struct coil__worker *w)
{
	return __atomic_load_n(&w->inbox, __ATOMIC_RELAXED) == NULL;
}

/* Kick w out of its poll if it sleeps there. */
void coil__crew_kick(struct coil__worker *w);

/* Something every worker must see happened: bump the epoch, kick all. */
void coil__crew_announce(struct coil__crew *c);

/*
 * Before going to sleep with the inbox empty, right after messages came:
 * spin on the inbox for up to COIL__CREW_SPIN_NS (never past deadline).
 * A kick of a sleeping worker costs ~15 us one way here (MSG_RING or
 * eventfd, and the scheduler's wake-up); a post to a spinning worker is
 * a cache-line transfer. Go's spinning Ms and Tokio's searching workers
 * do the same. A spin that finds nothing clears w->spin, so a worker that
 * stopped hearing from others spins once and then sleeps. Only when
 * every worker can have a CPU (crew->may_spin). True if the
 * inbox has messages or the crew's epoch moved. Only a worker with no
 * I/O in flight spins (the inbox is all it watches).
 */
#define COIL__CREW_SPIN_NS 20000
bool coil__crew_spin(struct coil__worker *w, uint32_t seen, int64_t deadline);

/* What a sleeping worker waits in, so what a kick must do. */
#define COIL__SLEEP_POLL 1	/* its backend's poll: write its wake_fd */
#define COIL__SLEEP_EMBEDDER 2	/* coil_loop between ticks: wake_embedder */

/* Before a blocking poll: mark w sleeping; false (and not sleeping) if its
 * inbox has something or the crew's epoch moved past *seen. */
bool coil__crew_sleep_begin(struct coil__worker *w, uint32_t seen);
void coil__crew_sleep_end(struct coil__worker *w);

/* A coil_loop's tick is over: until the next, a message to w must make
 * the embedder's fd readable (its kick calls w->wake_embedder). False (and
 * not marked) if its inbox already has something: the caller signals. */
bool coil__crew_sleep_between_ticks(struct coil__worker *w);

/* Ask f (on another worker, whose table lock the caller holds) to look at
 * its cancellation state: it is interrupted there if it is parked. */
void coil__crew_poke(struct coil__fiber *f);

/* The worker a new fiber goes to under the crew's placement policy, for a
 * spawn from w with no placement asked. */
struct coil__worker *coil__crew_place(struct coil__worker *w, bool detached);

/* Liveness across workers (several workers only). */
void coil__crew_fiber_born(struct coil__worker *w, bool attached);
void coil__crew_fiber_gone(struct coil__worker *w, bool attached);
/* An attached fiber was detached: one fewer for main to wait for. */
void coil__crew_fiber_detached(struct coil__worker *w);

#endif
