#include "fiber/stack.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#ifdef __wasi__
#include <stdlib.h>
#else
#include <sys/mman.h>
#include <sys/syscall.h>
#endif

#include "fiber/sanitizer.h"

static size_t page_size(void)
{
	static size_t cached; /* idempotent: every thread computes the same */
	size_t page = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (!page) {
		page = (size_t)sysconf(_SC_PAGESIZE);
		__atomic_store_n(&cached, page, __ATOMIC_RELAXED);
	}
	return page;
}

size_t coil__stack_round(size_t size)
{
	size_t page = page_size();
	return (size + page - 1) & ~(page - 1);
}

void coil__stack_pool_init(struct coil__stack_pool *pool, size_t size, size_t max)
{
	pool->size = coil__stack_round(size);
	pool->max = max;
	pool->idle = 0;
	pool->free = NULL;
	pool->returned = NULL;
}

static void map_release(void *map, size_t map_size)
{
#ifdef __wasi__
	(void)map_size;
	free(map);
#else
	munmap(map, map_size);
#endif
}

static void stack_unmap(struct coil__stack *st)
{
	void *map = st->map;
	size_t map_size = st->map_size;
	COIL__VALGRIND_STACK_DEREGISTER(st->valgrind_id);
	/* ASan keeps shadow poison for unmapped memory; a later mapping at
	 * the same address would inherit the dead fiber's frame poison. */
	COIL__ASAN_UNPOISON(map, map_size);
	map_release(map, map_size);
}

void coil__stack_free(struct coil__stack *st)
{
	stack_unmap(st);
}

/* Take what other threads gave back (the pool's thread). */
static void take_returned(struct coil__stack_pool *pool)
{
	struct coil__stack *st = __atomic_exchange_n(&pool->returned, NULL, __ATOMIC_ACQUIRE);
	while (st) {
		struct coil__stack *next = st->next;
		st->next = pool->free;
		pool->free = st;
		pool->idle++;
		st = next;
	}
}

void coil__stack_pool_fini(struct coil__stack_pool *pool)
{
	take_returned(pool);
	while (pool->free) {
		struct coil__stack *st = pool->free;
		pool->free = st->next;
		stack_unmap(st);
	}
	pool->idle = 0;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; glibc 2.36 does not name it */
#endif

#ifdef __wasi__
/* WebAssembly's linear memory has no protection: no guard (mmap is
 * wasi-libc's emulation, memory from malloc). The Asyncify context keeps
 * its save buffer at the bottom of the stack, where an overflow runs
 * first, and checks it (fiber/context_asyncify.c). */
#define GUARD_SIZE ((size_t)0)

static int install_guard(char *map)
{
	(void)map;
	return 0;
}
#else
/* The guard below each stack: large, so that a frame bigger than a page
 * (a big local array) cannot step over it into the next stack; code built
 * with -fstack-clash-protection probes every page of a big frame, which
 * catches even larger ones. */
#define GUARD_SIZE ((size_t)64 * 1024)

/* 1: MADV_GUARD_INSTALL works (a guard region inside the mapping: no VMA
 * split, so stacks do not eat vm.max_map_count), 0: it does not
 * (mprotect, one split per stack), -1: not tried yet. Every thread finds
 * the same answer. */
static int guard_install_works = -1;

static int install_guard(char *map)
{
	if (__atomic_load_n(&guard_install_works, __ATOMIC_RELAXED) != 0) {
		if (madvise(map, GUARD_SIZE, MADV_GUARD_INSTALL) == 0) {
			__atomic_store_n(&guard_install_works, 1, __ATOMIC_RELAXED);
			return 0;
		}
		__atomic_store_n(&guard_install_works, 0, __ATOMIC_RELAXED);
	}
	return mprotect(map, GUARD_SIZE, PROT_NONE);
}
#endif

static size_t map_size_for(size_t size)
{
	/* guard + usable size + one page that holds the descriptor */
	return GUARD_SIZE + size + page_size();
}

static struct coil__stack *stack_map(size_t size)
{
	size_t map_size = map_size_for(size);
#ifdef __wasi__
	/* Linear memory: nothing to map or reserve, nothing to protect. */
	char *map = aligned_alloc(16, map_size);
	if (!map)
		return NULL;
#else
	char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
#endif
	if (install_guard(map) != 0) {
		map_release(map, map_size);
		return NULL;
	}
	struct coil__stack *st =
		(struct coil__stack *)(map + map_size - sizeof(struct coil__stack));
	st->map = map;
	st->map_size = map_size;
	st->lo = map + GUARD_SIZE;
	/* The usable stack ends where the descriptor begins, 16-aligned. */
	st->size = ((uintptr_t)st & ~(uintptr_t)15) - (uintptr_t)st->lo;
	st->valgrind_id = COIL__VALGRIND_STACK_REGISTER(st->lo, (char *)st->lo + st->size);
	st->next = NULL;
	return st;
}

struct coil__stack *coil__stack_get(struct coil__stack_pool *pool, size_t size)
{
	if (size == pool->size) {
		if (!pool->free && __atomic_load_n(&pool->returned, __ATOMIC_RELAXED))
			take_returned(pool);
		if (pool->free) {
			struct coil__stack *st = pool->free;
			pool->free = st->next;
			pool->idle--;
			/* Frames of the fiber that used it last may have left
			 * ASan poison behind; the new fiber starts from clean
			 * memory. */
			COIL__ASAN_UNPOISON(st->lo, st->size);
			st->home = pool;
			return st;
		}
	}
	struct coil__stack *st = stack_map(size);
	if (st)
		st->home = pool;
	return st;
}

void coil__stack_put(struct coil__stack_pool *pool, struct coil__stack *st)
{
	struct coil__stack_pool *home = st->home;
	if (home != pool && st->map_size == map_size_for(home->size)) {
		/* Its pool's thread takes it when its free list runs dry. */
		struct coil__stack *head = __atomic_load_n(&home->returned, __ATOMIC_RELAXED);
		do
			st->next = head;
		while (!__atomic_compare_exchange_n(&home->returned, &head, st, true,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
		return;
	}
	if (st->map_size == map_size_for(pool->size) && pool->idle < pool->max) {
		st->next = pool->free;
		pool->free = st;
		pool->idle++;
		return;
	}
	stack_unmap(st);
}

/* The syscall is made inline, without a call: a libc (or sanitizer) wrapper
 * would put its frame in the pages being released. */
long coil__stack_trim(struct coil__stack *st)
{
#if !defined(__wasi__) && (defined(__x86_64__) || defined(__aarch64__))
	uintptr_t sp;
#if defined(__x86_64__)
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#else
	__asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
	uintptr_t lo = (uintptr_t)st->lo;
	if (sp <= lo || sp > lo + st->size)
		return 0;
	/* Keep the x86-64 red zone and this frame's spills below sp. */
	uintptr_t end = (sp - 512) & ~(uintptr_t)(page_size() - 1);
	if (end <= lo)
		return 0;
	long len = (long)(end - lo), r;
#if defined(__x86_64__)
	register long rax __asm__("rax") = SYS_madvise;
	register long rdi __asm__("rdi") = (long)lo;
	register long rsi __asm__("rsi") = len;
	register long rdx __asm__("rdx") = MADV_DONTNEED;
	__asm__ volatile("syscall"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(rdx)
			 : "rcx", "r11", "memory");
	r = rax;
#else
	register long x8 __asm__("x8") = SYS_madvise;
	register long x0 __asm__("x0") = (long)lo;
	register long x1 __asm__("x1") = len;
	register long x2 __asm__("x2") = MADV_DONTNEED;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	r = x0;
#endif
	return r < 0 ? r : len;
#else
	(void)st;
	return -ENOSYS;
#endif
}
