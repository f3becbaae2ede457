/* One non-blocking attempt of each op, for the readiness backends. See
 * try.h. */
#include "io/try.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#endif

static int neg(long r)
{
	return r < 0 ? -errno : (int)r;
}

static int again(int r)
{
	return r == -EWOULDBLOCK ? -EAGAIN : r;
}

/* A blocking fd would block the worker: call it only when poll says ready. */
static bool ready_now(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, 0) > 0;
}

/* Whether a read of a blocking fd would not block. */
static bool readable_now(int fd, uint8_t *mode)
{
#ifdef __wasi__
	/* A zero-timeout poll_oneoff may answer with its clock alone while
	 * data waits (Node's uvwasi does, every time): what the poller has
	 * just reported stands in for it, once. */
	if (*mode & COIL__FD_READABLE) {
		*mode &= (uint8_t)~COIL__FD_READABLE;
		return true;
	}
#else
	(void)mode;
#endif
	return ready_now(fd, POLLIN);
}

int coil__try_nop(struct coil__op *op, uint8_t *mode)
{
	(void)op;
	(void)mode;
	return 0;
}

int coil__try_accept(struct coil__op *op, uint8_t *mode)
{
	if ((*mode & COIL__FD_BLOCKING) && !readable_now(op->fd, mode))
		return -EAGAIN;
	return again(neg(accept4(op->fd, op->u.accept.addr, op->u.accept.addrlen, (int)op->flags)));
}

int coil__try_connect(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	int r = neg(connect(op->fd, op->u.connect.addr, op->u.connect.addrlen));
	if (!(op->be.compat.state & COIL__TRY_STARTED)) {
		if (r == -EINPROGRESS || r == -EAGAIN) {
			op->be.compat.state |= COIL__TRY_STARTED;
			return -EAGAIN;
		}
		return r;
	}
	/* A second connect() tells how the first one ended. */
	if (r == -EISCONN)
		return 0;
	if (r == -EALREADY || r == -EINPROGRESS)
		return -EAGAIN;
	return r;
}

int coil__try_recv(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	return again(neg(recv(op->fd, op->u.rw.buf, op->u.rw.len, (int)op->flags | MSG_DONTWAIT)));
}

int coil__try_send(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	return again(neg(send(op->fd, op->u.rw.buf, op->u.rw.len, (int)op->flags | MSG_DONTWAIT)));
}

int coil__try_recvmsg(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	return again(neg(recvmsg(op->fd, op->u.msg.msg, (int)op->flags | MSG_DONTWAIT)));
}

int coil__try_sendmsg(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	return again(neg(sendmsg(op->fd, op->u.msg.msg, (int)op->flags | MSG_DONTWAIT)));
}

/* The read/write family as one call on a stream, with RWF_* flags (0: a
 * plain readv or writev), at op->off when it is >= 0 (a device that takes
 * offsets: try.h). */
static int stream_call(struct coil__op *op, bool rd, int rwf)
{
	struct iovec one = {op->u.rw.buf, op->u.rw.len};
	bool vec = op->code == COIL__OP_READV || op->code == COIL__OP_WRITEV;
	const struct iovec *iov = vec ? op->u.vec.iov : &one;
	int cnt = vec ? op->u.vec.iovcnt : 1;
	off_t off = op->off >= 0 ? (off_t)op->off : -1;
#ifdef RWF_NOWAIT
	if (rwf)
		return neg(rd ? preadv2(op->fd, iov, cnt, off, rwf) : pwritev2(op->fd, iov, cnt, off, rwf));
#endif
	(void)rwf;
	if (off >= 0)
		return neg(rd ? preadv(op->fd, iov, cnt, off) : pwritev(op->fd, iov, cnt, off));
	return neg(rd ? readv(op->fd, iov, cnt) : writev(op->fd, iov, cnt));
}

/* An O_NONBLOCK fd is simply tried. A blocking one must never block the
 * worker: RWF_NOWAIT makes one call non-blocking (a 4 MiB write into a
 * pipe writes what fits and returns); where the fd does not support it,
 * a read waits for readiness first, and a write (which may block however
 * ready the fd is) goes to the blocking pool. */
int coil__try_stream(struct coil__op *op, uint8_t *mode)
{
	bool rd = op->code == COIL__OP_READ || op->code == COIL__OP_READV;
	if (*mode & COIL__FD_BLOCKING) {
#ifdef RWF_NOWAIT
		if (!(*mode & COIL__FD_NO_NOWAIT)) {
			int r = stream_call(op, rd, RWF_NOWAIT);
			if (r != -EOPNOTSUPP && r != -EINVAL)
				return again(r);
			*mode |= COIL__FD_NO_NOWAIT;
		}
#endif
#ifdef __wasi__
		/* No pool thread to block instead of the worker. A WASI host
		 * says "blocking" of stdio it runs non-blocking underneath
		 * (Node's pipes answer EAGAIN when full): try, and wait for
		 * room on EAGAIN; a truly blocking fd holds the worker. */
		if (!rd)
			return again(stream_call(op, rd, 0));
#else
		if (!rd)
			return COIL__TRY_POOL;
#endif
		if (!readable_now(op->fd, mode))
			return -EAGAIN;
	}
	return again(stream_call(op, rd, 0));
}

int coil__try_close(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	return neg(close(op->fd));
}

int coil__try_shutdown(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	return neg(shutdown(op->fd, (int)op->flags));
}

/* sendfile(2) to a non-blocking socket: -EAGAIN waits for room; a blocking
 * one may block however writable it is: the blocking pool sends. */
int coil__try_sendfile(struct coil__op *op, uint8_t *mode)
{
#ifdef __linux__
	if (*mode & COIL__FD_BLOCKING)
		return COIL__TRY_POOL;
	off_t off = (off_t)op->off;
	return again(neg(sendfile(op->fd, op->u.sendfile.fd_in, &off, op->u.sendfile.len)));
#else
	(void)op;
	(void)mode;
	return -ENOSYS;
#endif
}

/* A splice between non-blocking fds (one of them a pipe): never waits. */
int coil__try_splice(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
#ifdef __linux__
	loff_t off = (loff_t)op->off;
	return again(neg(splice(op->fd, op->off >= 0 ? &off : NULL, op->u.splice.fd_out, NULL,
				op->u.splice.len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE)));
#else
	(void)op;
	return -ENOSYS;
#endif
}

/* Room to write: 0 once the fd is writable (or has an error to report on
 * the next call), -EAGAIN to wait for it. */
int coil__try_poll_out(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
	return ready_now(op->fd, POLLOUT) ? 0 : -EAGAIN;
}

#ifdef __linux__
/* openat2 with RESOLVE_CACHED: the answer when every component of the
 * path is in the dentry cache; when the kernel would have to read a
 * directory (-EAGAIN), or cannot do this (-EINVAL, -ENOSYS: no openat2,
 * no RESOLVE_CACHED before 5.12, flags openat2 refuses where openat
 * ignores them, O_CREAT or O_TRUNC), the pool does the whole call. */
static int open_cached(int dirfd, const char *path, struct open_how how)
{
#if defined(SYS_openat2) && defined(RESOLVE_CACHED)
	how.resolve |= RESOLVE_CACHED;
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	if (fd >= 0)
		return (int)fd;
	if (errno == EAGAIN || errno == EINVAL || errno == ENOSYS || errno == EPERM)
		return COIL__TRY_POOL;
	return -errno;
#else
	(void)dirfd;
	(void)path;
	(void)how;
	return COIL__TRY_POOL;
#endif
}
#endif

int coil__try_openat(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
#ifdef __linux__
	int flags = (int)op->flags;
	struct open_how how = {.flags = (uint64_t)(unsigned)flags};
	if (flags & (O_CREAT | __O_TMPFILE))
		how.mode = op->u.open.mode;
	return open_cached(op->fd, op->u.open.path, how);
#else
	(void)op;
	return COIL__TRY_POOL;
#endif
}

int coil__try_openat2(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
#ifdef __linux__
	return open_cached(op->fd, op->u.open2.path, *op->u.open2.how);
#else
	(void)op;
	return COIL__TRY_POOL;
#endif
}

/* The stat of an open fd (AT_EMPTY_PATH, path "") reads its inode, which
 * the kernel has; a path would be looked up, maybe from the disk. */
int coil__try_statx(struct coil__op *op, uint8_t *mode)
{
	(void)mode;
#ifdef __linux__
	if ((op->flags & AT_EMPTY_PATH) && op->u.statx.path && op->u.statx.path[0] == '\0')
		return neg(statx(op->fd, "", (int)op->flags, op->u.statx.mask, op->u.statx.buf));
#endif
	(void)op;
	return COIL__TRY_POOL;
}
