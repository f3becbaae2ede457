/* Ops done the blocking way, for the blocking pool. See blocking.h. */
#include "io/blocking.h"

#include <errno.h>
#include <fcntl.h>
#ifndef __wasi__
#include <netdb.h>
#endif
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif
#if defined(__linux__) || defined(__wasi__)
#include "io/beneath.h"
#endif

static int neg_errno(long r)
{
	return r < 0 ? -errno : (int)r;
}

int coil__blocking_nop(struct coil__op *op)
{
	(void)op;
	return 0;
}

int coil__blocking_read(struct coil__op *op)
{
	return op->off < 0 ? neg_errno(read(op->fd, op->u.rw.buf, op->u.rw.len))
			   : neg_errno(pread(op->fd, op->u.rw.buf, op->u.rw.len, op->off));
}

int coil__blocking_write(struct coil__op *op)
{
	return op->off < 0 ? neg_errno(write(op->fd, op->u.rw.buf, op->u.rw.len))
			   : neg_errno(pwrite(op->fd, op->u.rw.buf, op->u.rw.len, op->off));
}

int coil__blocking_readv(struct coil__op *op)
{
	return op->off < 0 ? neg_errno(readv(op->fd, op->u.vec.iov, op->u.vec.iovcnt))
			   : neg_errno(preadv(op->fd, op->u.vec.iov, op->u.vec.iovcnt, op->off));
}

int coil__blocking_writev(struct coil__op *op)
{
	return op->off < 0 ? neg_errno(writev(op->fd, op->u.vec.iov, op->u.vec.iovcnt))
			   : neg_errno(pwritev(op->fd, op->u.vec.iov, op->u.vec.iovcnt, op->off));
}

int coil__blocking_openat(struct coil__op *op)
{
	return neg_errno(openat(op->fd, op->u.open.path, (int)op->flags, op->u.open.mode));
}

int coil__blocking_openat2(struct coil__op *op)
{
	return coil__open_beneath_blocking(op->fd, op->u.open2.path, op->u.open2.how);
}

int coil__blocking_fsync(struct coil__op *op)
{
	return neg_errno((op->flags & COIL__FSYNC_DATASYNC) ? fdatasync(op->fd) : fsync(op->fd));
}

int coil__blocking_statx(struct coil__op *op)
{
#ifdef __linux__
	return neg_errno(statx(op->fd, op->u.statx.path, (int)op->flags, op->u.statx.mask,
			       op->u.statx.buf));
#elif defined(__wasi__)
	/* No statx in WASI: its fields from fstatat (or fstat for "" with
	 * AT_EMPTY_PATH), the ones coil_stat reports. */
	struct stat sb;
	int r = (op->flags & AT_EMPTY_PATH) && !op->u.statx.path[0]
			? fstat(op->fd, &sb)
			: fstatat(op->fd, op->u.statx.path, &sb, (int)op->flags & ~AT_EMPTY_PATH);
	if (r != 0)
		return -errno;
	struct statx *sx = op->u.statx.buf;
	memset(sx, 0, sizeof *sx);
	sx->stx_mask = STATX_BASIC_STATS;
	sx->stx_mode = (uint16_t)sb.st_mode;
	sx->stx_nlink = (uint32_t)sb.st_nlink;
	sx->stx_ino = sb.st_ino;
	sx->stx_size = (uint64_t)sb.st_size;
	sx->stx_blocks = (uint64_t)sb.st_blocks;
	sx->stx_blksize = (uint32_t)sb.st_blksize;
	sx->stx_atime.tv_sec = sb.st_atim.tv_sec;
	sx->stx_atime.tv_nsec = (uint32_t)sb.st_atim.tv_nsec;
	sx->stx_mtime.tv_sec = sb.st_mtim.tv_sec;
	sx->stx_mtime.tv_nsec = (uint32_t)sb.st_mtim.tv_nsec;
	sx->stx_ctime.tv_sec = sb.st_ctim.tv_sec;
	sx->stx_ctime.tv_nsec = (uint32_t)sb.st_ctim.tv_nsec;
	return 0;
#else
	(void)op;
	return -ENOSYS;
#endif
}

int coil__blocking_close(struct coil__op *op)
{
	return neg_errno(close(op->fd));
}

int coil__blocking_resolve(struct coil__op *op)
{
#ifdef __wasi__
	/* WASI preview 1 has no name resolution. */
	(void)op;
	return -ENOSYS;
#else
	char port[8];
	snprintf(port, sizeof port, "%u", (unsigned)op->u.resolve.port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = op->u.resolve.socktype;
	hints.ai_flags = AI_ADDRCONFIG;
	int r = getaddrinfo(op->u.resolve.host, port, &hints, &res);
	if (r != 0) {
		switch (r) {
		case EAI_NONAME:
#ifdef EAI_NODATA
		case EAI_NODATA:
#endif
			return -ENOENT;
		case EAI_AGAIN:
			return -EAGAIN;
		case EAI_MEMORY:
			return -ENOMEM;
		case EAI_SYSTEM:
			return -errno;
		default:
			return -EINVAL;
		}
	}
	/* The first answer, in getaddrinfo's (RFC 6724) order. */
	memcpy(op->u.resolve.addr, res->ai_addr, res->ai_addrlen);
	*op->u.resolve.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
#endif
}

int coil__blocking_sendfile(struct coil__op *op)
{
#ifdef __linux__
	off_t off = (off_t)op->off;
	return neg_errno(sendfile(op->fd, op->u.sendfile.fd_in, &off, op->u.sendfile.len));
#else
	(void)op;
	return -ENOSYS;
#endif
}
