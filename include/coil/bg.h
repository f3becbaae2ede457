/*
 * coil_bg: a runtime on threads of its own, reached from any other thread
 * (or another language over the C ABI) through two bounded queues:
 * commands in, events out.
 *
 *     coil_bg *bg;
 *     coil_bg_start(&bg, &cfg, 256, node_main, ctx);    // main fiber: node_main(bg, ctx)
 *     coil_bg_submit(bg, CMD_DIAL, 1, addr, len, COIL_NO_DEADLINE);
 *     struct coil_bg_event *ev;
 *     while (coil_bg_next_event(bg, &ev, COIL_NO_DEADLINE) == 0) {
 *         ... ev->kind, ev->result, ev->data/len ...
 *         bool closed = ev->kind == COIL_BG_CLOSED;
 *         coil_bg_event_free(ev);
 *         if (closed) break;
 *     }
 *     coil_bg_stop(bg); coil_bg_free(bg);
 *
 * Inside, the main fiber takes commands with coil_bg_recv and its fibers
 * report with coil_bg_emit. Commands and events carry a kind and an id of
 * the program's choosing and a payload that is copied: each owns its
 * memory, freed by its receiver with one call. Nothing is dropped: a full
 * queue says -EAGAIN (try), waits (blocking) or -ETIMEDOUT (timed); a
 * stopped runtime says -EPIPE. Both queues are bounded: a thread that
 * submits with the blocking form and never takes events can wait forever
 * once the runtime waits for event room; take events on another thread,
 * or use the try or timed forms.
 *
 * Pick coil_bg when the program's threads only need to hand work over and
 * hear back (the swarm-on-a-thread shape); pick coil_loop (coil/loop.h)
 * when one thread must run both the program's loop and coil's fibers.
 */
#ifndef COIL_BG_H
#define COIL_BG_H

#include <stddef.h>
#include <stdint.h>

#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coil_bg coil_bg;

/* A command, as the main fiber receives it. */
struct coil_bg_command {
	int kind;
	uint64_t id;
	void *data;	/* a copy of what was submitted (NULL when len is 0) */
	size_t len;
};

/* The last event of every runtime: its result is what the runtime ended
 * with (0, or coil_run's error); after it, coil_bg_next_event says -EPIPE. */
#define COIL_BG_CLOSED (-1)

/* An event, as the embedder receives it. */
struct coil_bg_event {
	int kind;	/* the program's kinds are >= 0; COIL_BG_CLOSED */
	int result;	/* 0 or -errno: -ECANCELED and -ETIMEDOUT are distinct */
	uint64_t id;
	void *data;	/* a copy of what was emitted (NULL when len is 0) */
	size_t len;
};

typedef void *(*coil_bg_main_fn)(coil_bg *bg, void *arg);

/*
 * Start a runtime (cfg as for coil_run, NULL: defaults; any number of
 * workers) on a thread of its own, with main(bg, arg) as its main fiber.
 * queue_cap bounds each queue (commands waiting, events waiting), 1..2^20.
 * When main returns, the runtime's other fibers are cancelled (whatever
 * cfg->join_children says), the CLOSED event is emitted and the threads
 * end; the handle stays until coil_bg_free.
 * Returns 0 once main has started, or -EINVAL, -ENOMEM, -EAGAIN (no
 * thread), or the runtime's own start error (its backend...).
 */
COIL_API int coil_bg_start(coil_bg **out, const struct coil_config *cfg, size_t queue_cap,
			   coil_bg_main_fn main, void *arg);

/*
 * Submit a command from any thread (or a fiber of another runtime):
 * copies len bytes of data. coil_bg_try_submit never blocks: -EAGAIN when
 * the queue is full. coil_bg_submit waits for room until deadline_ns
 * (CLOCK_MONOTONIC; COIL_NO_DEADLINE: no limit): -ETIMEDOUT then.
 * Both: 0, -EPIPE (stopping or stopped: not queued), -EINVAL (bg NULL,
 * data NULL with len > 0, kind < 0), -ENOMEM.
 */
COIL_API int coil_bg_try_submit(coil_bg *bg, int kind, uint64_t id, const void *data,
				size_t len);
COIL_API int coil_bg_submit(coil_bg *bg, int kind, uint64_t id, const void *data, size_t len,
			    int64_t deadline_ns);

/*
 * Take the next event, in the order emitted. coil_bg_try_next_event never
 * blocks (-EAGAIN: none waiting); coil_bg_next_event waits until
 * deadline_ns (COIL_NO_DEADLINE: no limit; -ETIMEDOUT then). Both: 0 with
 * *out to be freed by coil_bg_event_free, -EPIPE after the CLOSED event was
 * taken, -EINVAL.
 */
COIL_API int coil_bg_try_next_event(coil_bg *bg, struct coil_bg_event **out);
COIL_API int coil_bg_next_event(coil_bg *bg, struct coil_bg_event **out, int64_t deadline_ns);

/* Free an event (NULL: nothing). */
COIL_API void coil_bg_event_free(struct coil_bg_event *ev);

/*
 * An fd readable while events wait, for an embedder that multiplexes; poll
 * it, never read or close it. Each event makes it readable after the event
 * can be taken, so an edge-triggered waiter (epoll ET, Tokio's AsyncFd)
 * sees every one; a level-triggered one may see it readable once with
 * nothing to take (then the next call clears it). Returns the fd or -EINVAL.
 */
COIL_API int coil_bg_event_fd(coil_bg *bg);

/*
 * Stop: new commands are refused (-EPIPE); the main fiber still receives
 * the ones queued, then coil_bg_recv says -EPIPE and main is expected to
 * return; everything else is cancelled, every op completes, the CLOSED
 * event is emitted and the threads are joined. Events not yet taken stay
 * (also those emitted while stopping: never dropped). From a plain thread
 * (-EPERM from any fiber: a join there would hold its worker). Returns
 * what the runtime ended with (0, or coil_run's error), or -EINVAL.
 * Calling it again returns the same.
 */
COIL_API int coil_bg_stop(coil_bg *bg);

/* Stop (if not yet) and free bg with the events still waiting; from a
 * plain thread. */
COIL_API void coil_bg_free(coil_bg *bg);

/* ---- inside the runtime ----------------------------------------------------- */

/*
 * Receive the next command, from a fiber of bg's runtime: parks until one
 * comes. Returns 0 (*out to be freed by coil_bg_command_free), -EPIPE (bg is
 * stopping and every queued command was received), -ECANCELED /
 * -ETIMEDOUT (the fiber or its scope), -EINVAL, -EPERM (not in a fiber).
 */
COIL_API int coil_bg_recv(coil_bg *bg, struct coil_bg_command **out);

/* Free a command (NULL: nothing). */
COIL_API void coil_bg_command_free(struct coil_bg_command *cmd);

/*
 * Emit an event (copies len bytes of data), from a fiber of bg's runtime
 * (parks while the queue is full: backpressure) or any thread (blocks).
 * While bg stops, emitting never waits (the queue takes everything).
 * Returns 0, -ECANCELED (the fiber is cancelled: not emitted), -EPIPE
 * (the runtime has ended), -EINVAL (kind < 0, data NULL with len > 0),
 * -ENOMEM.
 */
COIL_API int coil_bg_emit(coil_bg *bg, int kind, int result, uint64_t id, const void *data,
			  size_t len);

#ifdef __cplusplus
}
#endif

#endif
