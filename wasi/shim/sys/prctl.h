/* No prctl on WASI (README): timer slack is the host's. */
#ifndef COIL_WASI_SHIM_SYS_PRCTL_H
#define COIL_WASI_SHIM_SYS_PRCTL_H
#include <errno.h>
#define PR_SET_TIMERSLACK 29
#define PR_GET_TIMERSLACK 30
#define PR_SET_NAME 15
static inline int prctl(int op, ...) { (void)op; errno = ENOSYS; return -1; }
#endif
