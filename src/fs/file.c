/* Files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "coil/fs.h"
#include "io/op.h"

int coil_file_open(const char *path, int flags, mode_t mode)
{
	if (!path)
		return -EINVAL;
	struct coil__op op = {.code = COIL__OP_OPENAT, .fd = AT_FDCWD,
			      .flags = (uint32_t)(flags | O_CLOEXEC)};
	op.u.open.path = path;
	op.u.open.mode = mode;
	return coil__op_run(&op);
}

/* openat2 says -EAGAIN when a rename or mount raced its check of "..":
 * worth a few more tries, not an endless loop an attacker could keep up. */
#define BENEATH_TRIES 4

int coil_file_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	if (!path)
		return -EINVAL;
	if (dirfd < 0 && dirfd != AT_FDCWD)
		return -EBADF;
	/* openat2 refuses a mode that open(2) would ignore. */
	if (!(flags & O_CREAT) && (flags & O_TMPFILE) != O_TMPFILE)
		mode = 0;
	struct open_how how = {.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
			       .mode = mode,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int r = -EAGAIN;
	for (int i = 0; i < BENEATH_TRIES && r == -EAGAIN; i++) {
		struct coil__op op = {.code = COIL__OP_OPENAT2, .fd = dirfd};
		op.u.open2.path = path;
		op.u.open2.how = &how;
		r = coil__op_run(&op);
	}
	return r;
}

static ssize_t file_io(int code, int fd, void *buf, size_t len, int64_t off)
{
	if (fd < 0)
		return -EBADF;
	if ((!buf && len > 0) || off < -1)
		return -EINVAL;
	struct coil__op op;
	coil__op_init(&op, (uint8_t)code, fd, 0, off);
	op.u.rw.buf = buf;
	op.u.rw.len = len > COIL__IO_MAX ? COIL__IO_MAX : len;
	return coil__op_run(&op);
}

ssize_t coil_file_read(int fd, void *buf, size_t len, int64_t off)
{
	return file_io(COIL__OP_READ, fd, buf, len, off);
}

ssize_t coil_file_write(int fd, const void *buf, size_t len, int64_t off)
{
	return file_io(COIL__OP_WRITE, fd, (void *)buf, len, off);
}

ssize_t coil_file_write_all(int fd, const void *buf, size_t len, int64_t off)
{
	if (fd < 0)
		return -EBADF;
	if ((!buf && len > 0) || off < -1)
		return -EINVAL;
	size_t done = 0;
	while (done < len) {
		ssize_t n = coil_file_write(fd, (const char *)buf + done, len - done,
					    off < 0 ? -1 : off + (int64_t)done);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO; /* no progress: do not spin */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t file_iov(int code, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	if (fd < 0)
		return -EBADF;
	if (!iov || iovcnt <= 0 || iovcnt > IOV_MAX || off < -1)
		return -EINVAL;
	struct coil__op op;
	coil__op_init(&op, (uint8_t)code, fd, 0, off);
	op.u.vec.iov = iov;
	op.u.vec.iovcnt = iovcnt;
	return coil__op_run(&op);
}

ssize_t coil_file_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	return file_iov(COIL__OP_READV, fd, iov, iovcnt, off);
}

ssize_t coil_file_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
	return file_iov(COIL__OP_WRITEV, fd, iov, iovcnt, off);
}

int coil_file_sync(int fd, bool datasync)
{
	if (fd < 0)
		return -EBADF;
	struct coil__op op = {.code = COIL__OP_FSYNC, .fd = fd,
			      .flags = datasync ? COIL__FSYNC_DATASYNC : 0};
	return coil__op_run(&op);
}

static void stat_from_statx(struct coil_stat *st, const struct statx *sx)
{
	memset(st, 0, sizeof *st);
	st->size = sx->stx_size;
	st->blocks = sx->stx_blocks;
	st->ino = sx->stx_ino;
	st->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	st->mode = sx->stx_mode;
	st->nlink = sx->stx_nlink;
	st->uid = sx->stx_uid;
	st->gid = sx->stx_gid;
	st->blksize = sx->stx_blksize;
	st->atime_ns = sx->stx_atime.tv_sec * 1000000000LL + sx->stx_atime.tv_nsec;
	st->mtime_ns = sx->stx_mtime.tv_sec * 1000000000LL + sx->stx_mtime.tv_nsec;
	st->ctime_ns = sx->stx_ctime.tv_sec * 1000000000LL + sx->stx_ctime.tv_nsec;
}

static int do_statx(int dirfd, const char *path, int flags, struct coil_stat *st)
{
	struct statx sx;
	struct coil__op op = {.code = COIL__OP_STATX, .fd = dirfd, .flags = (uint32_t)flags};
	op.u.statx.path = path;
	op.u.statx.mask = STATX_BASIC_STATS;
	op.u.statx.buf = &sx;
	int r = coil__op_run(&op);
	if (r < 0)
		return r;
	stat_from_statx(st, &sx);
	return 0;
}

int coil_file_stat(int fd, struct coil_stat *st)
{
	if (fd < 0)
		return -EBADF;
	if (!st)
		return -EINVAL;
	return do_statx(fd, "", AT_EMPTY_PATH, st);
}

int coil_path_stat(const char *path, struct coil_stat *st)
{
	if (!path || !st)
		return -EINVAL;
	return do_statx(AT_FDCWD, path, 0, st);
}
