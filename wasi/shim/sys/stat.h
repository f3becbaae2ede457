/* wasi-libc's sys/stat.h, plus Linux's struct statx (README), which coil's
 * file calls report from; src/io/blocking.c fills it from fstatat. */
#ifndef COIL_WASI_SHIM_SYS_STAT_H
#define COIL_WASI_SHIM_SYS_STAT_H
#include_next <sys/stat.h>
#include <stdint.h>
struct statx_timestamp {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t reserved;
};
struct statx {
	uint32_t stx_mask, stx_blksize;
	uint64_t stx_attributes;
	uint32_t stx_nlink, stx_uid, stx_gid;
	uint16_t stx_mode;
	uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
	struct statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
	uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
};
#define STATX_BASIC_STATS 0x7ffu
#include <errno.h>
/* No permission bits in preview 1. */
static inline int fchmod(int fd, mode_t mode) { (void)fd; (void)mode; errno = ENOSYS; return -1; }
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#endif
