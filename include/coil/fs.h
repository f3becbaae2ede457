/* coil/fs.h: files. Close them with coil_close (coil/fd.h, included). */
#ifndef COIL_FS_H
#define COIL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "coil/fd.h"
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What coil_file_stat() reports: the common fields of statx(2). */
struct coil_stat {
	uint64_t size;	  /* bytes */
	uint64_t blocks;  /* 512-byte blocks allocated */
	uint64_t ino;
	uint64_t dev;	  /* makedev(major, minor) of the file system */
	uint32_t mode;	  /* type and permission bits, as st_mode */
	uint32_t nlink;
	uint32_t uid, gid;
	uint32_t blksize; /* preferred I/O size */
	int64_t atime_ns, mtime_ns, ctime_ns; /* since the epoch */
};

/*
 * Open (or create) a file, as openat(AT_FDCWD, path, flags, mode).
 * O_CLOEXEC is always added.
 * Returns the fd, or -EINVAL (path NULL), -ENOENT, -EACCES, -ECANCELED,
 * -EPERM (outside a runtime)...
 */
COIL_API int coil_file_open(const char *path, int flags, mode_t mode);

/*
 * Open (or create) path beneath the directory dirfd, never leaving it.
 * path is relative to dirfd (AT_FDCWD: the working directory); a path
 * that is absolute, or that would go above dirfd through "..", or through
 * a symlink (absolute, or relative and climbing out), fails with -EXDEV
 * instead of opening anything. Symlinks and ".." that stay beneath dirfd
 * are followed; /proc "magic links" never are. The way to open names that
 * come from the network (a file server's request targets). O_CLOEXEC is
 * always added; mode is ignored without O_CREAT or O_TMPFILE.
 * As openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (io_uring's
 * IORING_OP_OPENAT2, or the blocking pool); where the kernel has no
 * openat2 (before 5.6, or a seccomp filter that refuses it with ENOSYS)
 * the pool walks path one component at a time with O_NOFOLLOW, reading
 * each symlink itself, with the same answers. path is a C string: it ends
 * at its first NUL (check names that came with a length first).
 * Returns the fd, or:
 *   -EXDEV    path is absolute, or leads out of dirfd (".." or a symlink)
 *   -ELOOP    too many symlinks (40), O_NOFOLLOW and the last component
 *             is a symlink, or a magic link (the walk reads one as text:
 *             -EXDEV or -ENOENT)
 *   -EINVAL   path NULL, flags unknown to openat2
 *   -EBADF    dirfd is not an open fd (nor AT_FDCWD)
 *   -ENOENT (also for ""), -ENOTDIR, -EACCES, -EISDIR, -EEXIST,
 *   -ENAMETOOLONG, -EMFILE, -EAGAIN (a rename or mount kept racing the
 *   lookup of ".."), -ECANCELED, -EPERM (outside a runtime)...
 */
COIL_API int coil_file_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/*
 * Read up to len bytes at byte offset off (off == -1: at the file position,
 * advancing it, which also suits pipes, eventfds and signalfds). An offset
 * is taken where pread(2) takes one, on every backend: on a pipe, a socket,
 * a tty, an eventfd, signalfd, timerfd or epoll fd it is -ESPIPE and
 * nothing is read (io_uring alone would read them); a character device
 * that takes one (/dev/null, /dev/zero) is read at it. The same holds for
 * every call below that takes an offset. A blocking pipe or tty never
 * blocks the worker thread.
 * Returns the count (0 at end of file) or -EINVAL (buf NULL with len > 0,
 * off < -1), -ESPIPE (an offset where pread(2) takes none), -EBADF,
 * -EISDIR, -ECANCELED, -EPERM...
 */
COIL_API ssize_t coil_file_read(int fd, void *buf, size_t len, int64_t off);

/* Write up to len bytes at off (-1: at the file position). May write fewer.
 * To a pipe or socket whose reader is gone: -EPIPE, never SIGPIPE.
 * Returns the count or -errno, as coil_file_read(). */
COIL_API ssize_t coil_file_write(int fd, const void *buf, size_t len, int64_t off);

/* Write all len bytes at off (-1: at the file position, and the way to
 * write all of a buffer to a pipe or socket), looping over short writes.
 * Returns len or -errno (an unknown prefix may have been written). */
COIL_API ssize_t coil_file_write_all(int fd, const void *buf, size_t len, int64_t off);

/* Scatter read / gather write of iovcnt buffers (1..IOV_MAX) at off (-1: file
 * position). Returns the count or -errno. */
COIL_API ssize_t coil_file_readv(int fd, const struct iovec *iov, int iovcnt,
				 int64_t off);
COIL_API ssize_t coil_file_writev(int fd, const struct iovec *iov, int iovcnt,
				  int64_t off);

/* Flush a file to stable storage (fsync; fdatasync when datasync is true).
 * Returns 0 or -errno. */
COIL_API int coil_file_sync(int fd, bool datasync);

/* Describe an open file. Returns 0 or -errno (-EINVAL if st is NULL). */
COIL_API int coil_file_stat(int fd, struct coil_stat *st);

/* Describe the file at path (following symlinks). Returns 0 or -errno. */
COIL_API int coil_path_stat(const char *path, struct coil_stat *st);

/*
 * I/O buffers: memory for coil_file_read / coil_file_write that io_uring
 * need not map and pin on every call
 * (COIL_FEATURE_FIXED_BUFS: the worker's buffers are one registered
 * region). Page-aligned, so fit for O_DIRECT. Each worker keeps
 * coil_config.io_buffers of coil_config.io_buffer_size bytes, set up at
 * the first allocation; the region is pinned in memory once registered.
 * A call whose buffer lies in the calling worker's region uses it; any
 * other buffer works as before. Free on the worker that allocated (the
 * region goes when coil_run returns).
 */

/* Allocate an I/O buffer of size bytes (at most io_buffer_size). Returns
 * 0 (*out set), or -EINVAL (out is NULL, size 0 or too large), -ENOMEM
 * (none left, or no memory), -EPERM (not on a fiber inside coil_run). */
COIL_API int coil_iobuf_alloc(void **out, size_t size);

/* Give buf back. Returns 0, or -EINVAL (NULL, not an I/O buffer the
 * calling worker allocated, or one given back already), -EPERM (not
 * inside coil_run). */
COIL_API int coil_iobuf_free(void *buf);

#ifdef __cplusplus
}
#endif
#endif
