/* Reading and writing connected sockets. */
#include <errno.h>
#include <sys/socket.h>

#include "coil/net.h"
#include "io/op.h"
#include "sched/waitq.h"
#include "net/sock.h"

static ssize_t sock_io(int code, int fd, void *buf, size_t len, unsigned flags)
{
	if (fd < 0)
		return -EBADF;
	if (!buf && len > 0)
		return -EINVAL;
	struct coil__op op;
	coil__op_init(&op, (uint8_t)code, fd, flags, -1);
	op.u.rw.buf = buf;
	op.u.rw.len = len > COIL__IO_MAX ? COIL__IO_MAX : len;
	return coil__op_run(&op);
}

ssize_t coil_sock_read(int fd, void *buf, size_t len)
{
	/* Nothing to read into: 0 at once, as read(2) does, rather than a
	 * receive that waits for data it cannot take. Still a cancellation
	 * point. */
	if (len == 0 && fd >= 0)
		return coil__checkpoint();
	return sock_io(COIL__OP_RECV, fd, buf, len, 0);
}

ssize_t coil_sock_write(int fd, const void *buf, size_t len)
{
	/* MSG_NOSIGNAL: a closed peer is -EPIPE, not a process-killing signal. */
	return sock_io(COIL__OP_SEND, fd, (void *)buf, len, MSG_NOSIGNAL);
}

ssize_t coil_sock_read_exact(int fd, void *buf, size_t len)
{
	if (fd < 0)
		return -EBADF;
	if (!buf && len > 0)
		return -EINVAL;
	size_t done = 0;
	while (done < len) {
		ssize_t n = coil_sock_read(fd, (char *)buf + done, len - done);
		if (n < 0)
			return n;
		if (n == 0)
			break; /* end of file: the short count tells */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t coil_sock_write_all(int fd, const void *buf, size_t len)
{
	if (fd < 0)
		return -EBADF;
	if (!buf && len > 0)
		return -EINVAL;
	size_t done = 0;
	while (done < len) {
		ssize_t n = coil_sock_write(fd, (const char *)buf + done, len - done);
		if (n < 0)
			return n;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int coil_sock_shutdown(int fd, int how)
{
	if (fd < 0)
		return -EBADF;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	struct coil__op op = {.code = COIL__OP_SHUTDOWN, .fd = fd, .flags = (uint32_t)how};
	return coil__op_run(&op);
}
