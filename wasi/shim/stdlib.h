/* wasi-libc's stdlib.h, which declares system() but has none (README):
 * WASI starts no processes, so it fails (-1, ENOSYS). */
#ifndef COIL_WASI_SHIM_STDLIB_H
#define COIL_WASI_SHIM_STDLIB_H
#include_next <stdlib.h>
#include <errno.h>
static inline int coil_wasi_shim_system(const char *cmd)
{
	(void)cmd;
	errno = ENOSYS;
	return -1;
}
#define system(cmd) coil_wasi_shim_system(cmd)
#endif
