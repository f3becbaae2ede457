/*
 * Fiber stacks: mmap'ed, with a 64 KiB guard region below, and pooled so
 * that spawning in steady state makes no syscall.
 *
 * One mapping per stack:
 *
 *   map                                                      map + map_size
 *   | guard (64 KiB)         | usable stack, grows down  <-- | struct coil__stack |
 *                            ^ lo                        lo + size ^
 *
 * The descriptor lives in the mapping's last bytes, so a stack needs no
 * allocation besides its mapping. The guard is a MADV_GUARD_INSTALL region
 * (Linux 6.13+): it splits nothing, so live stacks do not count against
 * vm.max_map_count. On older kernels it is mprotect(PROT_NONE), which
 * splits the mapping in two VMAs: then 65530 (the default) allows about
 * 32k live fibers. Each fiber holds its stack from spawn to its end.
 *
 * Stacks are never moved or copied: a parked fiber may have a buffer on its
 * stack that the kernel is reading or writing.
 */
#ifndef COIL_FIBER_STACK_H
#define COIL_FIBER_STACK_H

#include <stddef.h>

#include "base/config.h" /* COIL__STACK_MIN, COIL__STACK_MAX */

struct coil__stack {
	void *lo;	/* lowest usable byte */
	size_t size;	/* usable bytes, from lo up to this descriptor */
	void *map;	/* the whole mapping, guard page included */
	size_t map_size;
	unsigned valgrind_id;
	struct coil__stack *next; /* pool free list */
	struct coil__stack_pool *home; /* the pool it was taken from */
};

/* A worker's pool. Only its thread takes stacks from it; a fiber that ran
 * on another worker (spawned on it from here) gives its stack back through
 * `returned`, so one-way spawns between workers recycle stacks instead of
 * mapping on one side and unmapping on the other (an munmap in a process
 * with several threads is a TLB shootdown: measured here, spawn on another
 * worker + join took 37 us with it, against a few us without). */
struct coil__stack_pool {
	size_t size;	/* the pooled size (the runtime's default) */
	size_t max;	/* idle stacks kept at most */
	size_t idle;
	struct coil__stack *free;
	struct coil__stack *returned; /* atomic LIFO, pushed by other threads */
};


/* Round a requested stack size to what coil__stack_get() will map. */
size_t coil__stack_round(size_t size);

void coil__stack_pool_init(struct coil__stack_pool *pool, size_t size, size_t max);
/* Unmap every idle stack. */
void coil__stack_pool_fini(struct coil__stack_pool *pool);

/* A stack of at least size bytes (already rounded), or NULL (out of memory
 * or mappings). */
struct coil__stack *coil__stack_get(struct coil__stack_pool *pool, size_t size);
/* Give st back, on the thread of pool: to pool if it came from there, else
 * onto its home pool's `returned` list. */
void coil__stack_put(struct coil__stack_pool *pool, struct coil__stack *st);
/* Unmap st now (at teardown, every thread joined). */
void coil__stack_free(struct coil__stack *st);

/* Give the kernel back the pages of st below the caller's frame, which
 * must run on st: pages a deep call (a TLS handshake) touched stay
 * resident for the fiber's life otherwise; they read as zeros when touched
 * again. Nothing below the caller's stack pointer may be live (no buffer
 * of a parked op there: the caller is the innermost frame). Returns the
 * bytes released, 0 when there were none or the stack pointer is not in
 * st, or -ENOSYS where the call is not built (no inline syscall for the
 * machine, WASI). About a microsecond and the faults of touching them
 * again: call it when a fiber goes idle after deep work, not per wait. */
long coil__stack_trim(struct coil__stack *st);

#endif
