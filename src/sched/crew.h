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
 *     syscall only when the target sleeps. A worker with nothing in the
 *     kernel sleeps on a futex (COIL__SLEEP_QUIET, below): the kick is a
 *     FUTEX_WAKE. One with I/O in flight sleeps in its poll: the kick is
 *     IORING_OP_MSG_RING from the poster's ring to the target's when both
 *     are io_uring workers, else a write to the target's eventfd (plain
 *     threads, readiness backends). A coil_loop's worker also sleeps between ticks
 *     (in its embedder's poll, not in coil's): a kick then makes the
 *     embedder's fd readable.
 *   - its table lock (sched.h): spawn on it, join, detach, cancel its
 *     fibers.
 *
 * Crew-wide state (several workers only): fibers alive anywhere (live), the
 * unfinished non-detached ones besides main (attached), and the stuck word
 * for deadlock detection: low 32 bits the workers that have nothing to do
 * and nothing that could wake them but another worker, high 32 bits a
 * count of entries into that state. All workers stuck and every inbox
 * empty is a deadlock: nothing can ever run again. The worker whose entry
 * makes them all stuck looks at every inbox, then at the stuck word again:
 * unchanged, nobody left or came in between, so no message was drained
 * behind its back (a worker drains only after it left). A post thus
 * touches no crew-wide word: only the target's inbox line. Changes every
 * worker must see (shut down, all done, deadlock, a fatal error) bump the
 * epoch and kick everyone.
 *
 * A runtime with one worker pays nothing for this but a load of its inbox
 * per turn: it has no shared state, its objects take no locks (except
 * channels made for plain threads), and only threads outside it post to
 * it (a plain thread's wake, a close in another runtime: see below).
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
	/* What the I/O layers of the crew's workers share, which sched does
	 * not look into (io/io.h: struct coil__io_shared); the runtime owns
	 * it. */
	void *io;
	/* Workers may spin (coil__crew_spin): not when there are more
	 * workers than CPUs (a spinner would take the CPU of the worker it
	 * waits for). */
	bool may_spin;
	/* Several workers only, atomic. Apart from what changes often (the
	 * pads: 64 bytes, a cache line, whatever the allocation's
	 * alignment), so a spinner's loads of the epoch stay in its cache
	 * while others spawn and finish fibers. */
	char pad_read[64];
	uint32_t epoch;			/* bumped on every crew-wide change */
	uint32_t main_done;
	uint32_t shutting_down;
	uint32_t deadlock;
	int error;			/* a worker's fatal poll error: everyone stops */
	char pad_write[64];
	size_t live;			/* fibers alive anywhere, and spawns in flight */
	size_t attached;		/* unfinished non-detached fibers besides main */
	uint64_t stuck;			/* see above */
	uint32_t outside_posters;	/* plain threads inside coil__crew_post */
	char pad_end[64];
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
 * Not sleeping when work is about to come. A kick that reaches a sleeping
 * worker costs ~10-15 us one way here (MSG_RING or eventfd, and the
 * kernel's wake-up of the thread); a post to a worker that is awake is a
 * cache-line transfer. Go's idle Ms spin before they sleep and sleep no
 * longer than the earliest timer of any P; Tokio's workers search before
 * they park. A fiber here stays on its worker, so a worker can only be
 * awake for what others send it:
 *
 *   - right after messages came (w->spin), it spins on its inbox for up
 *     to COIL__CREW_SPIN_NS before sleeping; a spin that finds nothing
 *     clears w->spin, so a worker that stopped hearing from others spins
 *     once and then sleeps;
 *   - when another worker sleeps towards a timer (its next_timer), what
 *     it does then often sends work here (a ticker, a timeout that
 *     hands over): this worker sleeps until a lead before that timer and
 *     spins until a while past it. Both come from what was measured, as
 *     each worker learns how late its own timed sleeps end (late_ns,
 *     below): the lead is this worker's lateness (it wakes in time), the
 *     while past is the other's (when it will really run), each at least
 *     COIL__CREW_EXPECT_LEAD_NS and COIL__CREW_EXPECT_AFTER_NS. Timers
 *     end late by 1-5 us on bare metal and by 20-40 us in this VM (its
 *     idle vCPUs wake slowly; fixed margins of 10 and 40 us missed most
 *     expected posts here). A spin that got nothing backs off: the next
 *     1, 3, 7 ... 63 chances are let go, so a ticker that never talks to
 *     this worker costs it next to nothing. A spin that this worker's
 *     own timer cuts counts neither way: the rest of the window is
 *     waited once that timer has run, and that tells. A worker that went
 *     to sleep on this worker's CPU is not waited for awake: a spinner
 *     would only keep it from running.
 *
 * Bounded: only when every worker can have a CPU (crew->may_spin), only a
 * worker with no I/O in flight (the inbox is all it watches), never on
 * past a preemption (the machine may be busy: a spinner then takes the
 * CPU of whoever would send; a preempted spin counts as one that got
 * nothing), and only while no other worker spins (a poster clears the
 * spinning mark of the worker it posts to, so a hand-off leaves the
 * sender free to spin for the answer). No PAUSE in the loop (see crew.c).
 */
#define COIL__CREW_SPIN_NS 20000
#define COIL__CREW_EXPECT_LEAD_NS 10000
#define COIL__CREW_EXPECT_AFTER_NS 40000
/* A spin whose clock reads are further apart than this was preempted: it
 * stops (w->spin_cut). */
#define COIL__CREW_PREEMPTED_NS 20000

/*
 * How late w's timed sleeps end: a worker with several others (w->multi)
 * that woke at now from a sleep bounded by wake_at, begun before wake_at
 * and with nothing else having woken it, tells how late it was (a sleep
 * begun past wake_at, after a fiber ran past the timer, tells nothing
 * about timers). w->late_ns follows the samples
 * up quickly and down slowly, so it stays near the high end of recent
 * lateness: what a worker that waits for w's timer must cover. Samples are
 * capped (a descheduled thread's seconds teach nothing about timers).
 */
void coil__crew_late_sample(struct coil__worker *w, int64_t late);

/* Spin on w's inbox until end (CLOCK_MONOTONIC ns); true if the inbox has
 * messages or the crew's epoch moved past seen. False at once if w may
 * not spin now. */
bool coil__crew_spin(struct coil__worker *w, uint32_t seen, int64_t end);

/* The timer of another worker that w, about to sleep at now with no I/O
 * in flight until deadline (its own next timer) at most, should be awake
 * for (INT64_MAX: none, also when w must wake for its own timer before
 * it would for that one); sets w->expect_after from that worker's
 * lateness. A timer whose spin w's own timer cut (coil__crew_expect_spin)
 * is returned again, past as it is, until its window ends. The caller
 * sleeps until coil__crew_expect_lead(w) before it at most, then calls
 * coil__crew_expect_spin. */
int64_t coil__crew_expect(struct coil__worker *w, int64_t now, int64_t deadline);

/* How long before an expected timer w must end its sleep to be awake for
 * it: its own lateness, at least COIL__CREW_EXPECT_LEAD_NS. */
static inline int64_t coil__crew_expect_lead(const struct coil__worker *w)
{
	return w->late_ns > COIL__CREW_EXPECT_LEAD_NS ? w->late_ns : COIL__CREW_EXPECT_LEAD_NS;
}

/* After such a sleep ended with w's inbox empty: spin until
 * w->expect_after past expect (never past deadline, w's own next timer),
 * and learn from what came (crew.c says what counts). True if the inbox
 * has messages or the epoch moved. */
bool coil__crew_expect_spin(struct coil__worker *w, uint32_t seen, int64_t expect,
			    int64_t deadline);

/* What a sleeping worker waits in, so what a kick must do. */
#define COIL__SLEEP_POLL 1	/* its backend's poll: write its wake_fd */
#define COIL__SLEEP_EMBEDDER 2	/* coil_loop between ticks: wake_embedder */
#define COIL__SLEEP_QUIET 3	/* a futex wait on its sleeping word */

/*
 * A worker with nothing in the kernel (no op in flight, no fiber waiting
 * for a multishot request's news: w->pending == 0) has nothing to hear from
 * its backend but kicks, so it sleeps on a futex on its sleeping word
 * (COIL__SLEEP_QUIET) rather than in its poll: a FUTEX_WAKE is the
 * cheapest way into a sleeping thread (waking a fiber on an idle worker:
 * p50 11.9 us against 12.7 us by MSG_RING into a DEFER_TASKRUN ring, and
 * 11.8 us against 15.1 us by an eventfd from a plain thread; most of it is
 * the VM waking an idle vCPU: docs/workers.md). Go's idle Ms and Tokio's
 * parked workers sleep on a futex too. A worker with I/O in flight waits
 * in its poll, which a kick ends with MSG_RING or its eventfd. SQEs queued
 * for nothing a fiber waits on (a reader's multishot arm with no reader
 * waiting) go to the kernel at the next poll.
 */

/* Before a blocking poll (how: COIL__SLEEP_POLL) or a quiet sleep
 * (COIL__SLEEP_QUIET): mark w sleeping; false (and not sleeping) if its
 * inbox has something or the crew's epoch moved past *seen. */
bool coil__crew_sleep_begin(struct coil__worker *w, uint32_t seen, uint32_t how);
void coil__crew_sleep_end(struct coil__worker *w);

/* Between coil__crew_sleep_begin(.., COIL__SLEEP_QUIET) and
 * coil__crew_sleep_end: wait until a kick or until (CLOCK_MONOTONIC ns;
 * INT64_MAX: no end). Returns 0. */
int coil__crew_sleep_quiet(struct coil__worker *w, int64_t until);

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

/*
 * The workers of every running runtime, for what must reach them from
 * outside their crew (io/fd.c: a close on a plain thread or in another
 * runtime must end the fd's ops on them too). coil_run lists each of its
 * workers, one or several, for its turns (coil__crew_list_add before,
 * coil__crew_list_remove after). A coil_loop lists its worker for its
 * life, with w->later set: between ticks its thread is the embedder's,
 * which nobody may wait for (the embedder may be the one waiting, or the
 * closer itself), so what is posted to it is never waited for.
 *
 * A listed worker is named by a bit (w->list_bit: 1 << its place mod
 * COIL__LIST_BITS) in masks that other layers keep (io/fd.c: which
 * workers met an fd). A place is the lowest free one, so while at most
 * COIL__LIST_BITS workers are listed each has a bit of its own; past that
 * a bit names several, and the lister that made a bit shared adds it to
 * list_others of every worker it names. A remove takes the list lock,
 * so a poster that found the worker listed (and posts under the lock)
 * has posted by then, and the worker drains its inbox after: a call
 * posted to it is always answered.
 */
#define COIL__LIST_BITS 32
/* A runtime of n workers starts (room made for its workers in the list:
 * -ENOMEM if there is none) / has stopped. */
int coil__crew_list_reserve(unsigned n);
void coil__crew_list_release(unsigned n);
void coil__crew_list_add(struct coil__worker *w);
void coil__crew_list_remove(struct coil__worker *w);
/* The list, under its lock: entries 0..coil__crew_list_len()-1, each a
 * worker or NULL (a freed place; entries never move while listed). */
void coil__crew_list_lock(void);
void coil__crew_list_unlock(void);
unsigned coil__crew_list_len(void);
struct coil__worker *coil__crew_list_at(unsigned i);

/* Liveness across workers (several workers only). */
void coil__crew_fiber_born(struct coil__worker *w, bool attached);
void coil__crew_fiber_gone(struct coil__worker *w, bool attached);
/* An attached fiber was detached: one fewer for main to wait for. */
void coil__crew_fiber_detached(struct coil__worker *w);

#endif
