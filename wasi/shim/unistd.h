/* wasi-libc's unistd.h, plus pipe() and pipe2() (README): preview 1 makes
 * no pipes (a WASI program gets them from its host, as stdio), ENOSYS. */
#ifndef COIL_WASI_SHIM_UNISTD_H
#define COIL_WASI_SHIM_UNISTD_H
#include_next <unistd.h>
#include <errno.h>
static inline int pipe(int fds[2]) { (void)fds; errno = ENOSYS; return -1; }
static inline int pipe2(int fds[2], int flags) { (void)fds; (void)flags; errno = ENOSYS; return -1; }
#endif
