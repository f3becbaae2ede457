/* No raw system calls on WASI (README): syscall() fails with ENOSYS. */
#ifndef COIL_WASI_SHIM_SYS_SYSCALL_H
#define COIL_WASI_SHIM_SYS_SYSCALL_H
#include <errno.h>
#define SYS_futex 202
#define SYS_gettid 186
static inline long syscall(long nr, ...) { (void)nr; errno = ENOSYS; return -1; }
#endif
