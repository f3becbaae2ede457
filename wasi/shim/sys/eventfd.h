/* No eventfd on WASI (README): one thread, nothing to wake it from. */
#ifndef COIL_WASI_SHIM_SYS_EVENTFD_H
#define COIL_WASI_SHIM_SYS_EVENTFD_H
#include <errno.h>
#include <stdint.h>
typedef uint64_t eventfd_t;
#define EFD_SEMAPHORE 1
#define EFD_CLOEXEC 0x80000
#define EFD_NONBLOCK 0x800
static inline int eventfd(unsigned initval, int flags) { (void)initval; (void)flags; errno = ENOSYS; return -1; }
#endif
