/*
 * Telling ASan, TSan and Valgrind about stacks that are switched by hand. Without
 * this, ASan reports false stack-buffer errors after a switch and Valgrind
 * takes a stack switch for a huge stack-pointer jump. All of it compiles to
 * nothing in normal builds (Valgrind's client requests are a few no-op
 * instructions when not running under it).
 */
#ifndef COIL_FIBER_SANITIZER_H
#define COIL_FIBER_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define COIL__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COIL__ASAN 1
#endif
#endif

#ifdef COIL__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define COIL__ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define COIL__ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__SANITIZE_THREAD__)
#define COIL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COIL__TSAN 1
#endif
#endif

/* ThreadSanitizer must be told which fiber runs: each has a TSan context
 * of its own, or TSan takes the switches for one thread's stack jumping
 * around (and the happens-before of the wrong fiber). */
#ifdef COIL__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#ifdef COIL_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#define COIL__VALGRIND_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER((lo), (hi))
#define COIL__VALGRIND_STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#else
#define COIL__VALGRIND_STACK_REGISTER(lo, hi) ((void)(lo), (void)(hi), 0u)
#define COIL__VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#endif
