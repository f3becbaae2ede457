/* TCP and Unix stream listeners, accept and connect. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coil/net.h"
#include "io/backend.h"
#include "io/op.h"
#include "net/sock.h"

/* socket + options + bind + listen: none of these block, so they are plain
 * syscalls (they also work before a runtime exists). */
static int listen_on(const struct sockaddr *sa, socklen_t len, int backlog, unsigned flags)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	coil__fd_opened(fd);
	int one = 1;
	if (sa->sa_family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
		goto fail;
	if ((flags & COIL_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
		goto fail;
	if (sa->sa_family == AF_INET6) {
		int v6only = (flags & COIL_LISTEN_V6ONLY) ? 1 : 0;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
			goto fail;
	}
	if (bind(fd, sa, len) != 0 || listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0)
		goto fail;
	return fd;
fail:;
	int err = errno;
	coil__fd_close(fd);
	return -err;
}

int coil_tcp_listen(const char *addr, uint16_t port, int backlog, unsigned flags)
{
	if (flags & ~(COIL_LISTEN_REUSEPORT | COIL_LISTEN_V6ONLY))
		return -EINVAL;
	struct sockaddr_storage ss;
	int len = coil__addr_parse(addr, port, &ss);
	if (len < 0)
		return len;
	if ((flags & COIL_LISTEN_V6ONLY) && ss.ss_family != AF_INET6)
		return -EINVAL;
	return listen_on((struct sockaddr *)&ss, (socklen_t)len, backlog, flags);
}

int coil_tcp_accept(int listen_fd, struct sockaddr *peer, socklen_t *peer_len)
{
	if (listen_fd < 0)
		return -EBADF;
	if ((peer == NULL) != (peer_len == NULL))
		return -EINVAL;
#ifdef __wasi__
	/* The WASI libcoil calls no preview 1 sock_* (wasi/shim/sys/socket.h
	 * says why); said here before the readiness wait an accept on a
	 * blocking fd starts with, which would watch an fd that may be no
	 * socket at all. */
	return -ENOSYS;
#endif
	struct coil__op op = {.code = COIL__OP_ACCEPT, .fd = listen_fd,
			      .flags = SOCK_NONBLOCK | SOCK_CLOEXEC};
	op.u.accept.addr = peer;
	op.u.accept.addrlen = peer_len;
	return coil__op_run(&op);
}

/* Create a socket of sa's family and connect it through an op. */
static int connect_to(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	coil__fd_opened(fd);
	struct coil__op op = {.code = COIL__OP_CONNECT, .fd = fd};
	op.u.connect.addr = sa;
	op.u.connect.addrlen = len;
	int r = coil__op_run(&op);
	if (r < 0) {
		coil__fd_close(fd);
		return r;
	}
	return fd;
}

int coil_tcp_connect(const char *addr, uint16_t port)
{
	if (!addr || !*addr)
		return -EINVAL;
	struct sockaddr_storage ss;
	int len = coil__addr_parse(addr, port, &ss);
	if (len < 0) {
		/* Not numeric: a name, resolved on the blocking pool. */
		socklen_t slen = 0;
		struct coil__op op = {.code = COIL__OP_RESOLVE};
		op.u.resolve.host = addr;
		op.u.resolve.port = port;
		op.u.resolve.socktype = SOCK_STREAM;
		op.u.resolve.addr = &ss;
		op.u.resolve.addrlen = &slen;
		int r = coil__op_run(&op);
		if (r < 0)
			return r;
		len = (int)slen;
	}
	return connect_to((struct sockaddr *)&ss, (socklen_t)len);
}

int coil_tcp_nodelay(int fd, int on)
{
	if (fd < 0)
		return -EBADF;
	int v = on ? 1 : 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) == 0 ? 0 : -errno;
}

int coil_sock_port(int fd)
{
	if (fd < 0)
		return -EBADF;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
#ifdef __wasi__
	/* WASI preview 1 has no Unix domain sockets. */
	(void)path;
	(void)sun;
	return -ENOSYS;
#else
	if (!path || !*path || strlen(path) >= sizeof sun->sun_path)
		return -EINVAL;
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	return 0;
#endif
}

int coil_unix_listen(const char *path, int backlog)
{
	struct sockaddr_un sun;
	int r = unix_addr(path, &sun);
	if (r < 0)
		return r;
	return listen_on((struct sockaddr *)&sun, sizeof sun, backlog, 0);
}

int coil_unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int r = unix_addr(path, &sun);
	if (r < 0)
		return r;
	return connect_to((struct sockaddr *)&sun, sizeof sun);
}
