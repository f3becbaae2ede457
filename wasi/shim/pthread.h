/* One thread: see README. Locks are no-ops (nothing else can hold them); a
 * wait on a condition would wait forever, so it fails; no thread starts. */
#ifndef COIL_WASI_SHIM_PTHREAD_H
#define COIL_WASI_SHIM_PTHREAD_H
#include <errno.h>
#include "sched.h" /* this folder's: cpu_set_t */
#include <time.h>
/* wasi-libc's own definitions of the types, as its sys/types.h gives them. */
#define __NEED_pthread_t
#define __NEED_pthread_once_t
#define __NEED_pthread_attr_t
#define __NEED_pthread_mutex_t
#define __NEED_pthread_mutexattr_t
#define __NEED_pthread_cond_t
#define __NEED_pthread_condattr_t
#include <bits/alltypes.h>
#define PTHREAD_MUTEX_INITIALIZER {{{0}}}
#define PTHREAD_COND_INITIALIZER {{{0}}}
#define PTHREAD_ONCE_INIT 0

static inline pthread_t pthread_self(void) { return (pthread_t)1; }
static inline int pthread_equal(pthread_t a, pthread_t b) { return a == b; }
static inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{ (void)t; (void)a; (void)fn; (void)arg; return ENOTSUP; }
static inline int pthread_join(pthread_t t, void **res) { (void)t; (void)res; return ESRCH; }
static inline int pthread_detach(pthread_t t) { (void)t; return ESRCH; }
static inline int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) { (void)m; (void)a; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_trylock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; return EDEADLK; }
static inline int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{ (void)c; (void)m; (void)t; return EDEADLK; }
static inline int pthread_once(pthread_once_t *o, void (*fn)(void))
{ if (!*o) { *o = 1; fn(); } return 0; }
static inline int pthread_setaffinity_np(pthread_t t, unsigned long size, const cpu_set_t *set)
{ (void)t; (void)size; (void)set; return ENOSYS; }
#endif
