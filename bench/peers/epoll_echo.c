/* epoll_echo: a hand-written, single-threaded, raw epoll TCP echo server: the
 * readiness-model counterpart of raw_uring_echo.c (no runtime, no fibers).
 *
 *   epoll_echo --port N [--exit-after N]
 *
 * --port 0 picks a free port; prints "listening on 127.0.0.1:PORT" (flushed)
 * when it accepts. --exit-after N: exit 0 after N connections have closed (for
 * valgrind). SIGINT/SIGTERM: exit 0.
 *
 * Level-triggered epoll, non-blocking sockets, a 16 KiB buffer per connection.
 * On EPOLLIN: one read(); write() what came at once; only if the socket cannot
 * take it all is EPOLLOUT armed (and reading paused) until the rest is sent.
 * The listener drains accept4() until EAGAIN. TCP_NODELAY is set on the
 * listener (inherited by accepted sockets).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (16 * 1024)

struct conn {
	int fd;
	unsigned len, off; /* pending bytes to write: buf[off..len) */
	unsigned char buf[BUF_SIZE];
};

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void die(const char *what)
{
	fprintf(stderr, "epoll_echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	int port = -1;
	long long exit_after = -1, closed = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--exit-after") && i + 1 < argc)
			exit_after = atoll(argv[++i]);
		else {
			fprintf(stderr, "usage: epoll_echo --port N [--exit-after N]\n");
			return 2;
		}
	}
	if (port < 0 || port > 65535) {
		fprintf(stderr, "usage: epoll_echo --port N [--exit-after N]\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("bind");
	if (listen(lfd, 4096) < 0)
		die("listen");
	socklen_t alen = sizeof addr;
	getsockname(lfd, (struct sockaddr *)&addr, &alen);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL }; /* NULL: listener */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");
	printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
	fflush(stdout);

	struct epoll_event evs[512];
	while (!stop_flag && (exit_after < 0 || closed < exit_after)) {
		int n = epoll_wait(ep, evs, 512, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				for (;;) {
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break; /* EAGAIN, or this client's error */
					struct conn *nc = malloc(sizeof *nc);
					if (!nc) {
						close(fd);
						continue;
					}
					nc->fd = fd;
					nc->len = nc->off = 0;
					struct epoll_event e = { .events = EPOLLIN, .data.ptr = nc };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
						close(fd);
						free(nc);
					}
				}
				continue;
			}
			ssize_t r;
			if (c->off < c->len) { /* EPOLLOUT: finish the pending write */
				r = write(c->fd, c->buf + c->off, c->len - c->off);
				if (r < 0 && errno == EAGAIN)
					continue;
				if (r < 0)
					goto drop;
				c->off += (unsigned)r;
				if (c->off < c->len)
					continue;
				struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
				continue;
			}
			r = read(c->fd, c->buf, BUF_SIZE);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0)
				goto drop;
			c->len = (unsigned)r;
			c->off = 0;
			r = write(c->fd, c->buf, c->len);
			if (r < 0 && errno != EAGAIN)
				goto drop;
			if (r > 0)
				c->off = (unsigned)r;
			if (c->off < c->len) { /* socket full: wait for EPOLLOUT */
				struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
			} else {
				c->len = c->off = 0;
			}
			continue;
		drop:
			close(c->fd); /* also removes it from the epoll set */
			free(c);
			closed++;
		}
	}
	close(ep);
	close(lfd);
	return 0;
}
