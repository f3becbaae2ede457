/* The monotonic clock every deadline in coil is measured on. */
#include "coil/time.h"

#include <time.h>

int64_t coil_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * COIL_NSEC_PER_SEC + ts.tv_nsec;
}
