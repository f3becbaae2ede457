/* wasi-libc's errno.h, plus ETIME (README): io_uring's timeout result,
 * which no WASI call returns; Linux's number. */
#ifndef COIL_WASI_SHIM_ERRNO_H
#define COIL_WASI_SHIM_ERRNO_H
#include_next <errno.h>
#ifndef ETIME
#define ETIME 62
#endif
#endif
