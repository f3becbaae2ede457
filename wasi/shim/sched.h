/* wasi-libc's sched.h, plus CPU sets (README): WASI has no affinity, so
 * sched_getaffinity fails with ENOSYS and coil uses one CPU's worth; no CPU
 * is known to sched_getcpu either. */
#ifndef COIL_WASI_SHIM_SCHED_H
#define COIL_WASI_SHIM_SCHED_H
#include_next <sched.h>
#include <errno.h>
#include <string.h>
#define CPU_SETSIZE 64
typedef struct { unsigned long long bits; } cpu_set_t;
#define CPU_ZERO(s) ((s)->bits = 0)
#define CPU_SET(c, s) ((s)->bits |= 1ull << (c))
#define CPU_ISSET(c, s) (((s)->bits >> (c)) & 1)
#define CPU_COUNT(s) __builtin_popcountll((s)->bits)
static inline int sched_getaffinity(int pid, unsigned long size, cpu_set_t *set)
{ (void)pid; (void)size; (void)set; errno = ENOSYS; return -1; }
static inline int sched_getcpu(void)
{ errno = ENOSYS; return -1; }
#endif
