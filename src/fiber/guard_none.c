/*
 * Stack overflow reporting where there are no signals (wasm32-wasi): there
 * is no guard page to fault on, so nothing to install. An overflowing
 * fiber runs into its Asyncify save area, which fiber/context_asyncify.c
 * checks at every switch.
 */
#include "fiber/guard.h"

int coil__guard_thread_start(coil__guard_lookup_fn lookup, void *ctx)
{
	(void)lookup;
	(void)ctx;
	return 0;
}

void coil__guard_thread_stop(void)
{
}
