/* openat2's argument (README); coil's beneath walk stands in on WASI,
 * whose path_open already refuses to leave a preopened directory. */
#ifndef COIL_WASI_SHIM_LINUX_OPENAT2_H
#define COIL_WASI_SHIM_LINUX_OPENAT2_H
#include <stdint.h>
struct open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#define RESOLVE_CACHED 0x20
#endif
