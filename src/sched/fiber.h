/*
 * The fiber table (sched/fiber.c): task handles, spawning, finishing,
 * cancelling, and giving slots back.
 */
#ifndef COIL_SCHED_FIBER_H
#define COIL_SCHED_FIBER_H

#include "sched/sched.h"

/* A task's handle: gen << 32 | worker << 24 | index; gen is never 0, so
 * neither is it. */
uint64_t coil__task_id(const struct coil__fiber *f);

/* The worker a task handle names (NULL: none of w's crew). */
struct coil__worker *coil__task_worker(struct coil__worker *w, uint64_t t);

/* The fiber a task handle names on its worker tw (coil__task_worker), or
 * NULL (stale, unknown, freed). With more than one worker the caller holds
 * tw->table_lock (coil__table_lock). */
struct coil__fiber *coil__task_lookup(struct coil__worker *tw, uint64_t t);

/* The table lock of tw, taken only when the crew has several workers. */
static inline void coil__table_lock(struct coil__worker *tw)
{
	if (tw->multi)
		coil__spin_lock(&tw->table_lock);
}

static inline void coil__table_unlock(struct coil__worker *tw)
{
	if (tw->multi)
		coil__spin_unlock(&tw->table_lock);
}

/* Spawn fn(arg) on w from w's thread, in or outside a fiber (coil_loop):
 * *out gets the handle, or NULL out: detached. Returns 0 or -ENOMEM. */
int coil__spawn_task(struct coil__worker *w, coil_fn fn, void *arg, coil_task *out);

/* Spawn a fiber on worker `on` (w itself, or another of its crew), from w's
 * thread: it gets its stack now (from w's pool), so a spawn that cannot
 * have one fails (-ENOMEM) while the caller can still clean up. */
int coil__spawn_fiber(struct coil__worker *w, struct coil__worker *on, size_t stack_size,
		      coil_fn fn, void *arg, bool detached, struct coil__fiber **out);
/* Give f's slot back (under its home's table lock with several workers). */
void coil__fiber_release(struct coil__worker *home, struct coil__fiber *f);
/* The same, with home's table lock held (coil__table_lock). */
void coil__fiber_release_locked(struct coil__worker *home, struct coil__fiber *f);
void coil__fibers_free_all(struct coil__worker *w);
/* The fiber finished: wake its joiner. */
void coil__fiber_finished(struct coil__worker *w, struct coil__fiber *f);
/* Cancel f: mark it and interrupt what it waits on (f on another worker:
 * that worker does, through its inbox; the caller holds f's home's table
 * lock then). */
void coil__fiber_cancel(struct coil__worker *w, struct coil__fiber *f);

#endif
