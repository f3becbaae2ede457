/* wasi-libc's fcntl.h, plus O_TMPFILE (README): WASI has no unnamed
 * files; 0, so a test of it is never true. And O_PATH (below). */
#ifndef COIL_WASI_SHIM_FCNTL_H
#define COIL_WASI_SHIM_FCNTL_H
#include_next <fcntl.h>
#ifndef O_TMPFILE
#define O_TMPFILE 0
#endif
/* Linux's pipe sizes (net/sendfile.c): an fcntl WASI refuses (EINVAL). */
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif
/* O_PATH: a descriptor only to name a directory by; preview 1's nearest
 * is a directory opened for search. */
#ifndef O_PATH
#define O_PATH O_SEARCH
#endif
#endif
