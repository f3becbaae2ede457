/* UDP sockets. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coil/net.h"
#include "io/backend.h"
#include "io/op.h"
#include "net/sock.h"

int coil_udp_bind(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	int len = coil__addr_parse(addr, port, &ss);
	if (len < 0)
		return len;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	coil__fd_opened(fd);
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) != 0) {
		int err = errno;
		coil__fd_close(fd);
		return -err;
	}
	return fd;
}

ssize_t coil_udp_sendto_addr(int fd, const void *buf, size_t len, const struct sockaddr *to,
			     socklen_t to_len)
{
	if (fd < 0)
		return -EBADF;
	if ((!buf && len > 0) || !to || to_len == 0)
		return -EINVAL;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_name = (void *)to, .msg_namelen = to_len,
			     .msg_iov = &iov, .msg_iovlen = 1};
	struct coil__op op = {.code = COIL__OP_SENDMSG, .fd = fd, .flags = MSG_NOSIGNAL};
	op.u.msg.msg = &msg;
	return coil__op_run(&op);
}

ssize_t coil_udp_sendto(int fd, const void *buf, size_t len, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	int alen = coil__addr_parse(addr, port, &ss);
	if (alen < 0)
		return alen;
	return coil_udp_sendto_addr(fd, buf, len, (struct sockaddr *)&ss, (socklen_t)alen);
}

ssize_t coil_udp_recvfrom(int fd, void *buf, size_t len, struct sockaddr *from,
			  socklen_t *from_len)
{
	if (fd < 0)
		return -EBADF;
	if ((!buf && len > 0) || ((from == NULL) != (from_len == NULL)))
		return -EINVAL;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_name = from, .msg_namelen = from ? *from_len : 0,
			     .msg_iov = &iov, .msg_iovlen = 1};
	struct coil__op op = {.code = COIL__OP_RECVMSG, .fd = fd};
	op.u.msg.msg = &msg;
	ssize_t r = coil__op_run(&op);
	if (r >= 0 && from)
		*from_len = msg.msg_namelen;
	return r;
}
