/*
 * A spin lock in one 32-bit word (0: free), for the short critical sections
 * of objects that fibers on several workers, or plain threads, touch: a
 * channel's queues, a lock's waiters, a worker's fiber table. Nothing that
 * holds one parks, calls into the kernel, or takes another one except in
 * the documented orders (select takes its channels' locks sorted by address).
 * A holder that the kernel preempts makes the others yield their CPU after
 * a short spin rather than burn it.
 */
#ifndef COIL_BASE_SPIN_H
#define COIL_BASE_SPIN_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

static inline void coil__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

static inline void coil__spin_lock(uint32_t *l)
{
	if (__builtin_expect(!__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE), 1))
		return;
	for (unsigned spins = 0;; spins++) {
		if (!__atomic_load_n(l, __ATOMIC_RELAXED) &&
		    !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
			return;
		if (spins < 64)
			coil__cpu_relax();
		else
			sched_yield();
	}
}

static inline void coil__spin_unlock(uint32_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Lock only when on: objects that cannot cross threads skip the atomics. */
static inline void coil__spin_lock_if(uint32_t *l, bool on)
{
	if (on)
		coil__spin_lock(l);
}

static inline void coil__spin_unlock_if(uint32_t *l, bool on)
{
	if (on)
		coil__spin_unlock(l);
}

#endif
