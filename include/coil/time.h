/* coil/time.h: the monotonic clock and sleeping. */
#ifndef COIL_TIME_H
#define COIL_TIME_H

#include <stdint.h>
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COIL_NSEC_PER_USEC INT64_C(1000)
#define COIL_NSEC_PER_MSEC INT64_C(1000000)
#define COIL_NSEC_PER_SEC INT64_C(1000000000)

/* CLOCK_MONOTONIC now, in nanoseconds. Callable anywhere. */
COIL_API int64_t coil_now(void);

/*
 * Park the calling fiber for at least ns nanoseconds (ns <= 0 yields): never
 * before now + ns. The sleep is a timer in the worker's timer heap (one per
 * worker, whatever the backend), so many sleepers cost one wait between
 * them; with coil_config.coalesce_sleeps off, each sleep is a kernel timer
 * op of its own on io_uring (IORING_OP_TIMEOUT, for the lab).
 * Returns 0, -ECANCELED (the task or an enclosing scope was cancelled),
 * -ETIMEDOUT (an enclosing scope's deadline came before the sleep's end),
 * -EPERM (outside a runtime).
 */
COIL_API int coil_sleep(int64_t ns);

/* Park the calling fiber until coil_now() >= deadline_ns (a deadline in the
 * past yields). Returns as coil_sleep(). */
COIL_API int coil_sleep_until(int64_t deadline_ns);

#ifdef __cplusplus
}
#endif
#endif
