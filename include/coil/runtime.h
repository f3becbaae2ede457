/* coil/runtime.h: running a coil runtime, and what runs it. Its settings
 * (struct coil_config) are in coil/config.h, included here. */
#ifndef COIL_RUNTIME_H
#define COIL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "coil/api.h"
#include "coil/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The body of a fiber: takes the argument given at spawn, returns a result
 * that a join hands back. */
typedef void *(*coil_fn)(void *arg);

/*
 * Run fn(arg) as the main fiber of a new runtime on the calling thread, and
 * return when it is done (see join_children). cfg may be NULL for defaults.
 * If result is not NULL, the main fiber's return value is stored there.
 *
 * One runtime runs per thread at a time; runtimes on different threads are
 * independent (no process-global state besides one SIGSEGV handler that
 * reports fiber stack overflows): their fibers may share channels made
 * with COIL_CHAN_THREADS, nothing else. With several workers (cfg.workers),
 * every worker thread is set up as the calling one. While it runs, the calling thread blocks
 * SIGPIPE (no coil call raises it: a write to a closed pipe or socket is
 * -EPIPE; a SIGPIPE that became pending meanwhile is dropped) and its timer
 * slack is 1 ns (so that waits end when timers are due); both are restored
 * when coil_run returns.
 *
 * Returns 0, or:
 *   -EINVAL  fn is NULL or a cfg field is out of range
 *   -EBUSY   a runtime is already running on this thread
 *   -ENOMEM  no memory for the runtime or the main fiber's stack
 *   -ENOTSUP the backend asked for is not built into this libcoil, or
 *            cfg.workers (or $COIL_WORKERS) asks for more than one worker
 *            on wasm32-wasi, which has no threads
 *   -EDEADLK every fiber of every worker is parked on something that no
 *            event can wake (for example two fibers joining each other;
 *            a fiber waiting on a COIL_CHAN_THREADS channel never counts:
 *            a plain thread may still use it); they are left
 *            unfinished, each unlinked first from what it waited on (so
 *            events, channels, locks and groups can be used, destroyed or
 *            freed later, also by another runtime; a mutex such a fiber
 *            held stays locked), and the runtime is torn down
 *   other    the error the kernel gave when setting up io_uring
 */
COIL_API int coil_run(const struct coil_config *cfg, coil_fn fn, void *arg,
		      void **result);

/* The index of the worker running the calling fiber (0 .. count - 1), or
 * -EPERM outside a runtime. */
COIL_API int coil_worker_index(void);

/* The number of workers of the runtime running on this thread, or -EPERM
 * outside a runtime. */
COIL_API int coil_worker_count(void);

/* The name of the I/O backend of the runtime running on this thread
 * ("io_uring", "epoll", "poll" or "kqueue"), or NULL outside a runtime. */
COIL_API const char *coil_backend_name(void);

/* The enum coil_feature bits the calling fiber's worker uses now (a
 * feature set up on first use, such as COIL_FEATURE_BUF_RING at the first
 * coil_reader_open, shows from then on); 0 outside a runtime. */
COIL_API unsigned coil_features(void);

#ifdef __cplusplus
}
#endif
#endif
