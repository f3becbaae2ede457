/*
 * coil_loop: a runtime driven by the embedder's own loop (libuv, GLib, a
 * game loop, a poll() loop) instead of taking a thread (coil_run).
 *
 *     coil_loop *l;
 *     coil_loop_new(&l, NULL);
 *     coil_loop_spawn(l, NULL, serve, ctx);
 *     int fd = coil_loop_fd(l);              // poll it for POLLIN
 *     for (;;) {
 *         int64_t t = coil_loop_timeout(l);  // ns; 0: work ready; -1: no timer
 *         poll_with(fd, other_fds, t);       // the embedder's own wait
 *         coil_loop_tick(l, 0, 0);           // run what is ready, never block
 *     }
 *     coil_loop_free(l);                     // cancels what is left, waits for the kernel
 *
 * The loop is one worker on the thread that made it (the owner): its
 * fibers run only inside coil_loop_tick on that thread, with every coil
 * call they can make in coil_run. Between ticks the thread is the
 * embedder's. Other threads reach the loop through coil_loop_post and
 * through COIL_CHAN_THREADS channels.
 *
 * The fd is level-triggered: readable whenever the loop has work (a fiber
 * ready to run, also one another thread woke, an I/O completion, a post)
 * and not otherwise, so a loop that waits on it (with coil_loop_timeout's
 * timeout for timers) neither misses work nor spins while coil is idle.
 * Work that arrives after coil_loop_timeout was read and before the
 * embedder's poll starts makes the fd readable, so the poll returns.
 *
 * A coil_close of an fd on another thread (plain, or a fiber of another
 * runtime) never waits for a loop: it tells the loop and makes its fd
 * readable, and at the next tick the loop's fibers parked on that fd end
 * with -EBADF. Until then none of them reads or writes a new fd that took
 * the number.
 *
 * While a loop lives, its owner thread has SIGPIPE blocked (a write to a
 * closed pipe fails with EPIPE instead: no coil call raises a signal) and
 * a timer slack of 1 ns; both are given back by coil_loop_free.
 */
#ifndef COIL_LOOP_H
#define COIL_LOOP_H

#include <stdint.h>

#include "coil/runtime.h"
#include "coil/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coil_loop coil_loop;

/*
 * Make a loop owned by the calling thread. cfg may be NULL (defaults);
 * cfg->workers must be 1 (or left at its default): a loop is one worker
 * (a background runtime with several is coil_bg). The backend is chosen as
 * for coil_run, with the same fallback.
 * Returns 0, or -EINVAL (bad config), -EBUSY (the calling thread runs a
 * coil fiber: a loop is made outside any runtime), -ENOMEM, or the
 * backend's error.
 */
COIL_API int coil_loop_new(coil_loop **out, const struct coil_config *cfg);

/*
 * Spawn fn(arg) as a fiber of the loop; it first runs at the next tick.
 * From the owner thread: between ticks, from a posted function, or from a
 * fiber of the loop (the same as coil_task_spawn there). With out NULL the
 * fiber is detached; otherwise *out can be joined by a fiber of the loop.
 * Returns 0, -EINVAL (l or fn NULL), -EPERM (not the owner thread, or a
 * fiber of another runtime), -ENOMEM.
 */
COIL_API int coil_loop_spawn(coil_loop *l, coil_task *out, coil_fn fn, void *arg);

/*
 * Run one turn: the posted functions, then every fiber ready at its start
 * (at most budget of them; 0: no limit), then the I/O completions and
 * timers. With timeout_ns 0 it never blocks; > 0 or -1 (no limit) it waits
 * that long for something to do when nothing is ready (a completion, a
 * timer, a post).
 * Returns 1 when the loop still has fibers (ready or waiting), 0 when it
 * has none (it stays usable: spawn or post more), or -EINVAL (l NULL),
 * -EPERM (not the owner thread), -EBUSY (called from inside a coil fiber:
 * a tick never runs inside another), or a fatal backend error.
 */
COIL_API int coil_loop_tick(coil_loop *l, int64_t timeout_ns, unsigned budget);

/*
 * How long the embedder may wait before the next tick, in ns: 0 when work
 * is ready now (a fiber, a post), the time to the earliest timer, or -1
 * when there is no timer (wait on coil_loop_fd alone). Owner thread; -1
 * for l NULL.
 */
COIL_API int64_t coil_loop_timeout(coil_loop *l);

/*
 * The fd to poll for POLLIN (never read or close it): readable while the
 * loop has work. On io_uring an eventfd registered with the ring
 * (IORING_REGISTER_EVENTFD; a loop's ring is not DEFER_TASKRUN, under
 * which the kernel signals it late); on epoll the epoll fd; on kqueue the
 * kqueue fd.
 * Returns the fd, -EINVAL (l NULL), or -EOPNOTSUPP on the poll backend
 * (poll(2) has no fd of its own: tick on coil_loop_timeout alone there).
 */
COIL_API int coil_loop_fd(coil_loop *l);

/* A function posted to a loop: runs on the owner thread inside a tick,
 * outside any fiber (so it must not block; it may spawn: coil_loop_spawn,
 * and use try forms of channel calls). */
typedef void (*coil_loop_fn)(coil_loop *l, void *arg);

/*
 * Run fn(l, arg) on the loop at its next tick, from any thread. Posts run
 * in the order each thread posted them. The queue holds
 * coil_config.loop_posts functions (default 1024).
 * Returns 0, -EINVAL (l or fn NULL), -EAGAIN (the queue is full: nothing
 * was queued), -EPIPE (the loop is being freed: nothing was queued).
 * A post that returned 0 runs exactly once, also when the loop is freed
 * first (coil_loop_free runs what is queued).
 */
COIL_API int coil_loop_post(coil_loop *l, coil_loop_fn fn, void *arg);

/*
 * Free the loop on its owner thread: refuse new posts (-EPIPE), run the
 * posts already queued (fibers they spawn are cancelled with the rest),
 * cancel every fiber left (their blocking calls
 * return -ECANCELED) and tick until all have ended and every op in flight
 * has completed (the kernel writes into no fiber's memory afterwards);
 * then close the loop's fds and give the thread's signal mask and timer
 * slack back. Returns 0, -EINVAL (l NULL), -EPERM (not the owner thread:
 * nothing done), -EBUSY (from inside a coil fiber: nothing done).
 */
COIL_API int coil_loop_free(coil_loop *l);

#ifdef __cplusplus
}
#endif

#endif
