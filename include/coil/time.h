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
 * Park the calling fiber for at least ns nanoseconds (ns <= 0 yields).
 * On io_uring this is one IORING_OP_TIMEOUT on an absolute deadline, so the
 * fiber never wakes before now + ns.
 * Returns 0, -ECANCELED (the task was cancelled), -EPERM (outside a runtime).
 */
COIL_API int coil_sleep(int64_t ns);

/* Park the calling fiber until coil_now() >= deadline_ns (a deadline in the
 * past yields). Returns as coil_sleep(). */
COIL_API int coil_sleep_until(int64_t deadline_ns);

#ifdef __cplusplus
}
#endif
#endif
