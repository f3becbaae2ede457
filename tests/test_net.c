/* TCP, UDP and Unix stream sockets, over 127.0.0.1 and ::1 only. */
#define _GNU_SOURCE
#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_BUF (64 * 1024)

/* ---- an echo server ------------------------------------------------------------------ */

/* Echo everything on fd until EOF, then close it. Returns bytes echoed or -errno. */
static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(CONN_BUF);
	ck_assert_ptr_nonnull(buf);
	intptr_t total = 0;
	for (;;) {
		ssize_t r = coil_sock_read(fd, buf, CONN_BUF);
		if (r == 0)
			break;
		if (r < 0) {
			total = r;
			break;
		}
		ssize_t w = coil_sock_write_all(fd, buf, (size_t)r);
		if (w != r) {
			total = w < 0 ? w : -EIO;
			break;
		}
		total += r;
	}
	free(buf);
	ck_assert_int_eq(coil_close(fd), 0);
	return (void *)total;
}

struct server {
	int lfd;
	int nconn; /* accept this many, then stop */
	long bytes;
};

static void *echo_server(void *arg)
{
	struct server *s = arg;
	coil_task *h = calloc((size_t)s->nconn, sizeof *h);
	ck_assert_ptr_nonnull(h);
	for (int i = 0; i < s->nconn; i++) {
		int fd = coil_tcp_accept(s->lfd, NULL, NULL);
		ck_assert_msg(fd >= 0, "accept %d: %d", i, fd);
		ck_assert_int_eq(coil_task_spawn(&h[i], echo_conn, (void *)(intptr_t)fd), 0);
	}
	for (int i = 0; i < s->nconn; i++) {
		void *res;
		ck_assert_int_eq(coil_task_join(h[i], &res), 0);
		ck_assert_msg((intptr_t)res >= 0, "connection %d: %ld", i, (long)(intptr_t)res);
		s->bytes += (intptr_t)res;
	}
	free(h);
	return NULL;
}

/* ---- a client that sends a payload and checks the echo ------------------------------- */

struct client {
	const char *addr;
	uint16_t port;
	const char *unix_path; /* instead of addr/port */
	const unsigned char *payload;
	size_t len;
	int fd;
	ssize_t wrote;
};

static void *client_writer(void *arg)
{
	struct client *c = arg;
	c->wrote = coil_sock_write_all(c->fd, c->payload, c->len);
	if (c->wrote == (ssize_t)c->len)
		ck_assert_int_eq(coil_sock_shutdown(c->fd, SHUT_WR), 0);
	return NULL;
}

static void *echo_client(void *arg)
{
	struct client *c = arg;
	c->fd = c->unix_path ? coil_unix_connect(c->unix_path) : coil_tcp_connect(c->addr, c->port);
	ck_assert_msg(c->fd >= 0, "connect: %d", c->fd);
	coil_task w;
	ck_assert_int_eq(coil_task_spawn(&w, client_writer, c), 0);
	unsigned char *got = malloc(c->len ? c->len : 1);
	ck_assert_ptr_nonnull(got);
	ssize_t r = coil_sock_read_exact(c->fd, got, c->len);
	ck_assert_msg(r == (ssize_t)c->len, "read_exact %zd of %zu", r, c->len);
	ck_assert_msg(memcmp(got, c->payload, c->len) == 0, "echo of %zu bytes differs", c->len);
	unsigned char extra;
	ck_assert_int_eq(coil_sock_read(c->fd, &extra, 1), 0); /* server closed */
	ck_assert_int_eq(coil_task_join(w, NULL), 0);
	ck_assert_int_eq(c->wrote, (ssize_t)c->len);
	ck_assert_int_eq(coil_close(c->fd), 0);
	free(got);
	return NULL;
}

struct echo_run {
	const char *addr;
	int nclients;
	size_t max_len;
	uint64_t seed;
	int skipped;
	long expect_bytes;
	long bytes;
};

static void *echo_run_main(void *arg)
{
	struct echo_run *er = arg;
	int fds_before = coil_test_count_fds();
	int lfd = coil_tcp_listen(er->addr, 0, 0, 0);
	if (strchr(er->addr, ':') && (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT)) {
		coil_test_skip("cannot listen on an IPv6 address here");
		er->skipped = 1;
		return NULL;
	}
	ck_assert_msg(lfd >= 0, "listen on %s: %d", er->addr, lfd);
	int port = coil_sock_port(lfd);
	ck_assert_int_gt(port, 0);

	struct coil_test_rng rng;
	coil_test_rng_init(&rng, er->seed);
	size_t pool_len = 2 * er->max_len;
	unsigned char *pool = malloc(pool_len);
	ck_assert_ptr_nonnull(pool);
	coil_test_rng_fill(&rng, pool, pool_len);

	struct server srv = {lfd, er->nclients, 0};
	coil_task st;
	ck_assert_int_eq(coil_task_spawn(&st, echo_server, &srv), 0);

	struct client *c = calloc((size_t)er->nclients, sizeof *c);
	coil_task *ct = calloc((size_t)er->nclients, sizeof *ct);
	ck_assert(c && ct);
	for (int i = 0; i < er->nclients; i++) {
		c[i].addr = er->addr;
		c[i].port = (uint16_t)port;
		c[i].len = (size_t)coil_test_rng_range(&rng, 1, er->max_len);
		if (i < 3) /* always a few tiny ones */
			c[i].len = (size_t)i + 1;
		c[i].payload = pool + coil_test_rng_range(&rng, 0, pool_len - c[i].len);
		er->expect_bytes += (long)c[i].len;
		ck_assert_int_eq(coil_task_spawn(&ct[i], echo_client, &c[i]), 0);
	}
	for (int i = 0; i < er->nclients; i++)
		ck_assert_int_eq(coil_task_join(ct[i], NULL), 0);
	ck_assert_int_eq(coil_task_join(st, NULL), 0);
	er->bytes = srv.bytes;
	fprintf(stderr, "echoed %ld bytes over %d connections to %s\n", er->bytes,
		er->nclients, er->addr);
	ck_assert_int_eq(coil_close(lfd), 0);
	ck_assert_int_eq(coil_test_count_fds(), fds_before);
	free(c);
	free(ct);
	free(pool);
	return NULL;
}

START_TEST(tcp_echo_200_clients_random_payloads_up_to_1mib)
{
	struct echo_run er = {"127.0.0.1", 200, 1024 * 1024, coil_test_seed("tcp_echo"), 0, 0, 0};
	coil_test_run(echo_run_main, &er);
	ck_assert_int_eq(er.bytes, er.expect_bytes);
}
END_TEST

START_TEST(tcp_echo_over_ipv6_loopback)
{
	struct echo_run er = {"::1", 8, 256 * 1024, coil_test_seed("tcp6_echo"), 0, 0, 0};
	coil_test_run(echo_run_main, &er);
	if (!er.skipped)
		ck_assert_int_eq(er.bytes, er.expect_bytes);
}
END_TEST

/* ---- accept reports the peer; sockets are non-blocking and close-on-exec ------------- */

struct peer_probe {
	int lfd;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
};

static void *accept_peer(void *arg)
{
	struct peer_probe *p = arg;
	p->peer_len = sizeof p->peer;
	p->fd = coil_tcp_accept(p->lfd, (struct sockaddr *)&p->peer, &p->peer_len);
	return NULL;
}

static void check_flags(int fd, const char *what)
{
	int fl = fcntl(fd, F_GETFL);
	int fdfl = fcntl(fd, F_GETFD);
	ck_assert_msg(fl >= 0 && (fl & O_NONBLOCK), "%s fd %d is blocking", what, fd);
	ck_assert_msg(fdfl >= 0 && (fdfl & FD_CLOEXEC), "%s fd %d lacks FD_CLOEXEC", what, fd);
}

static void *peer_main(void *arg)
{
	(void)arg;
	struct peer_probe p = {.fd = -1};
	p.lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(p.lfd, 0);
	check_flags(p.lfd, "listener");
	int port = coil_sock_port(p.lfd);
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	ck_assert_int_eq(getsockname(p.lfd, (struct sockaddr *)&sin, &sl), 0);
	ck_assert_int_eq(port, ntohs(sin.sin_port));
	ck_assert_int_gt(port, 0);

	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, accept_peer, &p), 0);
	int cfd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
	ck_assert_int_ge(cfd, 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_ge(p.fd, 0);
	check_flags(cfd, "connected");
	check_flags(p.fd, "accepted");

	ck_assert_int_eq(p.peer_len, sizeof(struct sockaddr_in));
	struct sockaddr_in *pin = (struct sockaddr_in *)&p.peer;
	ck_assert_int_eq(pin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohl(pin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_int_eq(ntohs(pin->sin_port), coil_sock_port(cfd));

	/* TCP_NODELAY on and off */
	int v = -1;
	socklen_t vl = sizeof v;
	ck_assert_int_eq(coil_tcp_nodelay(cfd, 1), 0);
	ck_assert_int_eq(getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	ck_assert_int_ne(v, 0);
	ck_assert_int_eq(coil_tcp_nodelay(cfd, 0), 0);
	ck_assert_int_eq(getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	ck_assert_int_eq(v, 0);

	ck_assert_int_eq(coil_close(cfd), 0);
	ck_assert_int_eq(coil_close(p.fd), 0);
	ck_assert_int_eq(coil_close(p.lfd), 0);
	return NULL;
}

START_TEST(accept_reports_peer_address_and_sockets_are_nonblocking_cloexec)
{
	coil_test_run(peer_main, NULL);
}
END_TEST

/* ---- short reads, short writes, EOF, half-close ---------------------------------------- */

static const char pieces[] = "0123456789abcdefghij";

static void *dribble_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	int fd = coil_tcp_accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_tcp_nodelay(fd, 1), 0);
	ck_assert_int_eq(coil_sleep(20 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_sock_write_all(fd, pieces, 10), 10);
	ck_assert_int_eq(coil_sleep(40 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_sock_write_all(fd, pieces + 10, 10), 10);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

static void *short_read_main(void *arg)
{
	(void)arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, dribble_server, (void *)(intptr_t)lfd), 0);
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(lfd));
	ck_assert_int_ge(fd, 0);
	char buf[1000];
	memset(buf, 0, sizeof buf);
	ssize_t r = coil_sock_read(fd, buf, sizeof buf);
	ck_assert_msg(r >= 1 && r <= 10, "first read returned %zd, only 10 bytes were sent", r);
	ck_assert(memcmp(buf, pieces, (size_t)r) == 0);
	ssize_t rest = 20 - r;
	ck_assert_int_eq(coil_sock_read_exact(fd, buf + r, (size_t)rest), rest);
	ck_assert(memcmp(buf, pieces, 20) == 0);
	ck_assert_int_eq(coil_sock_read(fd, buf, sizeof buf), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(coil_close(fd), 0);
	ck_assert_int_eq(coil_close(lfd), 0);
	return NULL;
}

START_TEST(read_returns_short_count_when_less_is_available)
{
	coil_test_run(short_read_main, NULL);
}
END_TEST

#define BIG_WRITE (4 * 1024 * 1024)

struct sink {
	int lfd;
	const unsigned char *expect;
	size_t len;
	int ok;
};

static void *slow_sink(void *arg)
{
	struct sink *s = arg;
	int fd = coil_tcp_accept(s->lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_sleep(50 * COIL_NSEC_PER_MSEC), 0); /* let the sender fill up */
	unsigned char *got = malloc(s->len);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(coil_sock_read_exact(fd, got, s->len), (ssize_t)s->len);
	s->ok = memcmp(got, s->expect, s->len) == 0;
	unsigned char b;
	ck_assert_int_eq(coil_sock_read(fd, &b, 1), 0);
	free(got);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

static void *short_write_main(void *arg)
{
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, *(uint64_t *)arg);
	unsigned char *data = malloc(BIG_WRITE);
	ck_assert_ptr_nonnull(data);
	coil_test_rng_fill(&rng, data, BIG_WRITE);
	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	int small = 16 * 1024;
	ck_assert_int_eq(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	struct sink s = {lfd, data, BIG_WRITE, 0};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, slow_sink, &s), 0);
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(lfd));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
	ssize_t w = coil_sock_write(fd, data, BIG_WRITE);
	ck_assert_msg(w > 0 && w <= BIG_WRITE, "write returned %zd", w);
	if (w < BIG_WRITE)
		fprintf(stderr, "short write: %zd of %d\n", w, BIG_WRITE);
	ck_assert_int_eq(coil_sock_write_all(fd, data + w, (size_t)(BIG_WRITE - w)), BIG_WRITE - w);
	ck_assert_int_eq(coil_sock_shutdown(fd, SHUT_WR), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_msg(s.ok, "receiver saw different bytes");
	ck_assert_int_eq(coil_close(fd), 0);
	ck_assert_int_eq(coil_close(lfd), 0);
	free(data);
	return NULL;
}

START_TEST(short_writes_are_tolerated_and_write_all_completes)
{
	uint64_t seed = coil_test_seed("short_write");
	coil_test_run(short_write_main, &seed);
}
END_TEST

struct eof_server_arg {
	int lfd;
	int close_instead; /* close rather than shutdown(SHUT_WR) */
	ssize_t saw_eof;
};

static void *eof_server(void *arg)
{
	struct eof_server_arg *a = arg;
	int fd = coil_tcp_accept(a->lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_sock_write_all(fd, "hello", 5), 5);
	if (a->close_instead) {
		ck_assert_int_eq(coil_close(fd), 0);
		return NULL;
	}
	ck_assert_int_eq(coil_sock_shutdown(fd, SHUT_WR), 0);
	char b;
	a->saw_eof = coil_sock_read(fd, &b, 1); /* until the client is done */
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

static void *eof_main(void *arg)
{
	(void)arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	uint16_t port = (uint16_t)coil_sock_port(lfd);
	for (int close_instead = 0; close_instead < 2; close_instead++) {
		struct eof_server_arg a = {lfd, close_instead, 1};
		coil_task t;
		ck_assert_int_eq(coil_task_spawn(&t, eof_server, &a), 0);
		int fd = coil_tcp_connect("127.0.0.1", port);
		ck_assert_int_ge(fd, 0);
		char buf[100];
		/* read_exact: the short count when the peer closes first */
		ck_assert_int_eq(coil_sock_read_exact(fd, buf, sizeof buf), 5);
		ck_assert(memcmp(buf, "hello", 5) == 0);
		ck_assert_int_eq(coil_sock_read(fd, buf, sizeof buf), 0);
		ck_assert_int_eq(coil_sock_read(fd, buf, sizeof buf), 0); /* and stays so */
		ck_assert_int_eq(coil_sock_read_exact(fd, buf, sizeof buf), 0);
		if (!close_instead) /* our side is still open for writing */
			ck_assert_int_eq(coil_sock_write_all(fd, "x", 1), 1);
		ck_assert_int_eq(coil_sock_shutdown(fd, SHUT_WR), 0);
		ck_assert_int_eq(coil_task_join(t, NULL), 0);
		if (!close_instead)
			ck_assert_int_eq(a.saw_eof, 1); /* it read our "x" first */
		ck_assert_int_eq(coil_close(fd), 0);
	}
	ck_assert_int_eq(coil_close(lfd), 0);
	return NULL;
}

START_TEST(read_returns_zero_at_eof_and_read_exact_the_short_count)
{
	coil_test_run(eof_main, NULL);
}
END_TEST

struct half_close {
	int lfd;
	long echoed;
	ssize_t last;
};

static void *half_close_server(void *arg)
{
	struct half_close *h = arg;
	int fd = coil_tcp_accept(h->lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	void *res = echo_conn((void *)(intptr_t)fd); /* reads to EOF, echoes, closes */
	h->echoed = (long)(intptr_t)res;
	return NULL;
}

static void *half_close_main(void *arg)
{
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, *(uint64_t *)arg);
	enum { N = 48 * 1024 };
	static unsigned char out[N], in[N];
	coil_test_rng_fill(&rng, out, N);
	struct half_close h = {coil_tcp_listen("127.0.0.1", 0, 0, 0), 0, 0};
	ck_assert_int_ge(h.lfd, 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, half_close_server, &h), 0);
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(h.lfd));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_sock_write_all(fd, out, N), N);
	ck_assert_int_eq(coil_sock_shutdown(fd, SHUT_WR), 0);
	/* the read side still works after our write side is shut */
	ck_assert_int_eq(coil_sock_read_exact(fd, in, N), N);
	ck_assert(memcmp(in, out, N) == 0);
	ck_assert_int_eq(coil_sock_read(fd, in, N), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(h.echoed, N);
	ck_assert_int_eq(coil_close(fd), 0);
	ck_assert_int_eq(coil_close(h.lfd), 0);
	return NULL;
}

START_TEST(half_close_server_echoes_everything_then_closes)
{
	uint64_t seed = coil_test_seed("half_close");
	coil_test_run(half_close_main, &seed);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------- */

static void *refused_main(void *arg)
{
	(void)arg;
	/* a bound socket that does not listen reserves the port */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
	socklen_t sl = sizeof sin;
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	int rc = coil_tcp_connect("127.0.0.1", ntohs(sin.sin_port));
	ck_assert_int_eq(rc, -ECONNREFUSED);
	close(s);
	return NULL;
}

START_TEST(connect_to_port_without_listener_is_econnrefused)
{
	coil_test_run(refused_main, NULL);
}
END_TEST

static void *parked_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	return (void *)(intptr_t)coil_tcp_accept(lfd, NULL, NULL);
}

static void *bad_listener_main(void *arg)
{
	(void)arg;
	/* closed listener */
	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(coil_close(lfd), 0);
	ck_assert_int_eq(coil_tcp_accept(lfd, NULL, NULL), -EBADF);

	/* shut down while a fiber is parked in accept, and after */
	lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	coil_task t;
	void *res;
	ck_assert_int_eq(coil_task_spawn(&t, parked_accept, (void *)(intptr_t)lfd), 0);
	ck_assert_int_eq(coil_sleep(10 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_sock_shutdown(lfd, SHUT_RDWR), 0);
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EINVAL);
	ck_assert_int_eq(coil_tcp_accept(lfd, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_close(lfd), 0);

	/* a connected, non-listening socket */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(coil_tcp_accept(sv[0], NULL, NULL), -EINVAL);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

START_TEST(accept_on_closed_or_shut_down_listener_fails_cleanly)
{
	coil_test_run(bad_listener_main, NULL);
}
END_TEST

static void *closing_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	int fd = coil_tcp_accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

static void *epipe_main(void *arg)
{
	(void)arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, closing_server, (void *)(intptr_t)lfd), 0);
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(lfd));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	static char buf[4096];
	ssize_t w = 0;
	for (int i = 0; i < 500; i++) {
		w = coil_sock_write(fd, buf, sizeof buf);
		if (w < 0)
			break;
		ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
	}
	ck_assert_msg(w == -EPIPE || w == -ECONNRESET, "write to a closed peer: %zd", (ssize_t)w);
	w = coil_sock_write_all(fd, buf, sizeof buf);
	ck_assert_msg(w == -EPIPE || w == -ECONNRESET, "write_all to a closed peer: %zd", w);
	/* and the library did not change the SIGPIPE disposition */
	struct sigaction sa;
	ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
	ck_assert(sa.sa_handler == SIG_DFL);
	ck_assert_int_eq(coil_close(fd), 0);
	ck_assert_int_eq(coil_close(lfd), 0);
	return NULL;
}

START_TEST(write_to_closed_peer_is_epipe_without_sigpipe)
{
	signal(SIGPIPE, SIG_DFL); /* SIGPIPE would kill this test */
	coil_test_run(epipe_main, NULL);
}
END_TEST

/* cancelling fibers parked in accept and read */
static void *parked_read(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	return (void *)(intptr_t)coil_sock_read(fd, buf, sizeof buf);
}

static void *cancel_io_main(void *arg)
{
	(void)arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	coil_task ta, tr;
	void *res;
	ck_assert_int_eq(coil_task_spawn(&ta, parked_accept, (void *)(intptr_t)lfd), 0);
	ck_assert_int_eq(coil_sleep(10 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_task_cancel(ta), 0);
	ck_assert_int_eq(coil_task_join(ta, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);

	/* a read on a connection with nothing to read */
	ck_assert_int_eq(coil_task_spawn(&ta, parked_accept, (void *)(intptr_t)lfd), 0);
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(lfd));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_task_join(ta, &res), 0);
	int sfd = (int)(intptr_t)res;
	ck_assert_int_ge(sfd, 0);
	ck_assert_int_eq(coil_task_spawn(&tr, parked_read, (void *)(intptr_t)fd), 0);
	ck_assert_int_eq(coil_sleep(10 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_task_cancel(tr), 0);
	ck_assert_int_eq(coil_task_join(tr, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);
	/* the connection still works afterwards */
	char b = 0;
	ck_assert_int_eq(coil_sock_write_all(sfd, "z", 1), 1);
	ck_assert_int_eq(coil_sock_read(fd, &b, 1), 1);
	ck_assert_int_eq(b, 'z');
	ck_assert_int_eq(coil_close(fd), 0);
	ck_assert_int_eq(coil_close(sfd), 0);
	ck_assert_int_eq(coil_close(lfd), 0);
	return NULL;
}

START_TEST(cancel_parked_accept_and_read_gives_ecanceled)
{
	coil_test_run(cancel_io_main, NULL);
}
END_TEST

/* ---- SO_REUSEPORT ---------------------------------------------------------------------- */

struct counting_acceptor {
	int lfd;
	int *total;
	int fds[16];
	int n;
	int last_rc;
};

static void *accept_until_shutdown(void *arg)
{
	struct counting_acceptor *a = arg;
	for (;;) {
		int fd = coil_tcp_accept(a->lfd, NULL, NULL);
		if (fd < 0) {
			a->last_rc = fd;
			break;
		}
		ck_assert_int_lt(a->n, 16);
		a->fds[a->n++] = fd;
		(*a->total)++;
	}
	return NULL;
}

static void *reuseport_main(void *arg)
{
	(void)arg;
	int l1 = coil_tcp_listen("127.0.0.1", 0, 0, COIL_LISTEN_REUSEPORT);
	ck_assert_int_ge(l1, 0);
	int port = coil_sock_port(l1);
	ck_assert_int_gt(port, 0);
	int l2 = coil_tcp_listen("127.0.0.1", (uint16_t)port, 0, COIL_LISTEN_REUSEPORT);
	ck_assert_msg(l2 >= 0, "second REUSEPORT listener: %d", l2);
	ck_assert_int_eq(coil_sock_port(l2), port);
	ck_assert_int_eq(coil_tcp_listen("127.0.0.1", (uint16_t)port, 0, 0), -EADDRINUSE);

	int total = 0;
	struct counting_acceptor a1 = {.lfd = l1, .total = &total};
	struct counting_acceptor a2 = {.lfd = l2, .total = &total};
	coil_task t1, t2;
	ck_assert_int_eq(coil_task_spawn(&t1, accept_until_shutdown, &a1), 0);
	ck_assert_int_eq(coil_task_spawn(&t2, accept_until_shutdown, &a2), 0);
	int cfd[8];
	for (int i = 0; i < 8; i++) {
		cfd[i] = coil_tcp_connect("127.0.0.1", (uint16_t)port);
		ck_assert_int_ge(cfd[i], 0);
	}
	int64_t give_up = coil_now() + 5 * COIL_NSEC_PER_SEC;
	while (total < 8 && coil_now() < give_up)
		ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(total, 8);
	ck_assert_int_eq(coil_sock_shutdown(l1, SHUT_RDWR), 0);
	ck_assert_int_eq(coil_sock_shutdown(l2, SHUT_RDWR), 0);
	ck_assert_int_eq(coil_task_join(t1, NULL), 0);
	ck_assert_int_eq(coil_task_join(t2, NULL), 0);
	ck_assert_int_lt(a1.last_rc, 0);
	ck_assert_int_lt(a2.last_rc, 0);
	for (int i = 0; i < a1.n; i++)
		ck_assert_int_eq(coil_close(a1.fds[i]), 0);
	for (int i = 0; i < a2.n; i++)
		ck_assert_int_eq(coil_close(a2.fds[i]), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(coil_close(cfd[i]), 0);
	ck_assert_int_eq(coil_close(l1), 0);
	ck_assert_int_eq(coil_close(l2), 0);
	return NULL;
}

START_TEST(reuseport_lets_two_listeners_share_a_port)
{
	coil_test_run(reuseport_main, NULL);
}
END_TEST

/* ---- UDP ------------------------------------------------------------------------------- */

struct udp_rx {
	int fd;
	char buf[64];
	ssize_t n;
	struct sockaddr_storage from;
	socklen_t from_len;
};

static void *udp_receiver(void *arg)
{
	struct udp_rx *r = arg;
	r->from_len = sizeof r->from;
	r->n = coil_udp_recvfrom(r->fd, r->buf, sizeof r->buf, (struct sockaddr *)&r->from,
				 &r->from_len);
	return NULL;
}

static void check_from(const struct udp_rx *r, int port)
{
	ck_assert_int_eq(r->from_len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&r->from;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_int_eq(ntohs(sin->sin_port), port);
}

static void *udp_main(void *arg)
{
	(void)arg;
	int a = coil_udp_bind("127.0.0.1", 0);
	int b = coil_udp_bind("127.0.0.1", 0);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	check_flags(a, "udp");
	int pa = coil_sock_port(a), pb = coil_sock_port(b);
	ck_assert_int_gt(pa, 0);
	ck_assert_int_gt(pb, 0);
	ck_assert_int_ne(pa, pb);

	/* b parks in recvfrom before anything is sent */
	struct udp_rx rb = {.fd = b};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, udp_receiver, &rb), 0);
	ck_assert_int_eq(coil_task_yield(), 0);
	ck_assert_int_eq(coil_udp_sendto(a, "ping", 4, "127.0.0.1", (uint16_t)pb), 4);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(rb.n, 4);
	ck_assert(memcmp(rb.buf, "ping", 4) == 0);
	check_from(&rb, pa);

	/* reply to the address we got */
	struct udp_rx ra = {.fd = a};
	ck_assert_int_eq(coil_task_spawn(&t, udp_receiver, &ra), 0);
	ck_assert_int_eq(coil_udp_sendto_addr(b, "pong!", 5, (struct sockaddr *)&rb.from,
					      rb.from_len),
			 5);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(ra.n, 5);
	ck_assert(memcmp(ra.buf, "pong!", 5) == 0);
	check_from(&ra, pb);

	/* datagrams keep their boundaries */
	ck_assert_int_eq(coil_udp_sendto(a, "one", 3, "127.0.0.1", (uint16_t)pb), 3);
	ck_assert_int_eq(coil_udp_sendto(a, "three", 5, "127.0.0.1", (uint16_t)pb), 5);
	char buf[64];
	ck_assert_int_eq(coil_udp_recvfrom(b, buf, sizeof buf, NULL, NULL), 3);
	ck_assert(memcmp(buf, "one", 3) == 0);
	ck_assert_int_eq(coil_udp_recvfrom(b, buf, sizeof buf, NULL, NULL), 5);
	ck_assert(memcmp(buf, "three", 5) == 0);

	/* too large for one datagram */
	static char huge[70000];
	ck_assert_int_eq(coil_udp_sendto(a, huge, sizeof huge, "127.0.0.1", (uint16_t)pb),
			 -EMSGSIZE);
	ck_assert_int_eq(coil_close(a), 0);
	ck_assert_int_eq(coil_close(b), 0);
	return NULL;
}

/* ---- fd table growth under a waiting accept ----------------------------------------- */

struct accept_many {
	int lfd;
	int want;
	int fds[450];
	int n;
};

static void *accept_many_parked(void *arg)
{
	struct accept_many *am = arg;
	while (am->n < am->want) {
		int fd = coil_tcp_accept(am->lfd, NULL, NULL);
		if (fd < 0)
			return (void *)(intptr_t)fd;
		am->fds[am->n++] = fd;
	}
	return NULL;
}

static void *accept_many_main(void *arg)
{
	(void)arg;
	struct accept_many am = {.want = 450};
	am.lfd = coil_tcp_listen("127.0.0.1", 0, 512, 0);
	ck_assert_int_ge(am.lfd, 0);
	uint16_t port = (uint16_t)coil_sock_port(am.lfd);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, accept_many_parked, &am), 0);
	int clients[450];
	for (int i = 0; i < am.want; i++) {
		/* The acceptor is parked waiting, so each connection is accepted
		 * by the readiness backends while they retry the listener's wait
		 * list; the new fd numbers run past where the fd table must grow
		 * (which once moved the list being retried). */
		coil_task_yield();
		clients[i] = coil_tcp_connect("127.0.0.1", port);
		ck_assert_int_ge(clients[i], 0);
	}
	void *res = (void *)1;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(am.n, am.want);
	/* every accepted connection works */
	for (int i = 0; i < am.want; i++) {
		char c = (char)i, back = 0;
		ck_assert_int_eq(coil_sock_write_all(clients[i], &c, 1), 1);
		ck_assert_int_eq(coil_sock_read_exact(am.fds[i], &back, 1), 1);
		ck_assert_int_eq(back, c);
	}
	for (int i = 0; i < am.want; i++) {
		coil_close(clients[i]);
		coil_close(am.fds[i]);
	}
	coil_close(am.lfd);
	return NULL;
}

START_TEST(accepts_while_waiting_survive_fd_table_growth)
{
	coil_test_run(accept_many_main, NULL);
}
END_TEST

/* ---- connect by name ---------------------------------------------------------------- */

struct by_name {
	int lfd;
	char addr[64];
};

static void *accept_one_echo_byte(void *arg)
{
	int fd = coil_tcp_accept(*(int *)arg, NULL, NULL);
	if (fd < 0)
		return (void *)(intptr_t)fd;
	char c;
	if (coil_sock_read_exact(fd, &c, 1) == 1)
		coil_sock_write_all(fd, &c, 1);
	coil_close(fd);
	return NULL;
}

static void *connect_by_name_main(void *arg)
{
	struct by_name *bn = arg;
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, accept_one_echo_byte, &bn->lfd), 0);
	int fd = coil_tcp_connect("localhost", (uint16_t)coil_sock_port(bn->lfd));
	ck_assert_msg(fd >= 0, "connect(\"localhost\") = %d (listener on %s)", fd, bn->addr);
	char c = 'k', back = 0;
	ck_assert_int_eq(coil_sock_write_all(fd, &c, 1), 1);
	ck_assert_int_eq(coil_sock_read_exact(fd, &back, 1), 1);
	ck_assert_int_eq(back, 'k');
	coil_close(fd);
	void *res = (void *)1;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_null(res);
	coil_close(bn->lfd);
	return NULL;
}

/* "localhost" is resolved (on the blocking pool, on every backend) to the
 * loopback address getaddrinfo gives first: listen exactly there. No other
 * name is looked up: the tests never ask a name server. */
START_TEST(connect_resolves_localhost)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res;
	ck_assert_int_eq(getaddrinfo("localhost", "1", &hints, &res), 0);
	struct by_name bn;
	void *a = res->ai_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
					      : (void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
	ck_assert_ptr_nonnull(inet_ntop(res->ai_family, a, bn.addr, sizeof bn.addr));
	freeaddrinfo(res);
	bn.lfd = coil_tcp_listen(bn.addr, 0, 16, 0);
	ck_assert_msg(bn.lfd >= 0, "listen on %s: %d", bn.addr, bn.lfd);
	coil_test_run(connect_by_name_main, &bn);
}
END_TEST

START_TEST(udp_sendto_recvfrom_round_trip_reports_sender)
{
	coil_test_run(udp_main, NULL);
}
END_TEST

/* ---- Unix stream sockets ------------------------------------------------------------------ */

struct unix_run {
	char dir[128];
	char path[160];
	uint64_t seed;
};

static void *unix_main(void *arg)
{
	struct unix_run *u = arg;
	int lfd = coil_unix_listen(u->path, 16);
	ck_assert_msg(lfd >= 0, "unix_listen(%s): %d", u->path, lfd);
	check_flags(lfd, "unix listener");
	/* the socket file is not removed by a second listen */
	ck_assert_int_eq(coil_unix_listen(u->path, 16), -EADDRINUSE);

	enum { NCLIENTS = 4, LEN = 100 * 1000 };
	static unsigned char payload[NCLIENTS][LEN];
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, u->seed);
	struct server srv = {lfd, NCLIENTS, 0};
	coil_task st, ct[NCLIENTS];
	struct client c[NCLIENTS];
	ck_assert_int_eq(coil_task_spawn(&st, echo_server, &srv), 0);
	for (int i = 0; i < NCLIENTS; i++) {
		coil_test_rng_fill(&rng, payload[i], LEN);
		memset(&c[i], 0, sizeof c[i]);
		c[i].unix_path = u->path;
		c[i].payload = payload[i];
		c[i].len = LEN - (size_t)i * 1000;
		ck_assert_int_eq(coil_task_spawn(&ct[i], echo_client, &c[i]), 0);
	}
	for (int i = 0; i < NCLIENTS; i++)
		ck_assert_int_eq(coil_task_join(ct[i], NULL), 0);
	ck_assert_int_eq(coil_task_join(st, NULL), 0);
	ck_assert_int_eq(coil_close(lfd), 0);

	char missing[200];
	snprintf(missing, sizeof missing, "%s/nothing-here", u->dir);
	ck_assert_int_eq(coil_unix_connect(missing), -ENOENT);
	return NULL;
}

START_TEST(unix_stream_echo)
{
	struct unix_run u;
	coil_test_tmp_dir(u.dir, sizeof u.dir, "unix");
	snprintf(u.path, sizeof u.path, "%s/sock", u.dir);
	u.seed = coil_test_seed("unix_echo");
	coil_test_run(unix_main, &u);
	unlink(u.path);
	rmdir(u.dir);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("tcp_echo");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, tcp_echo_200_clients_random_payloads_up_to_1mib);
	tcase_add_test(tc, tcp_echo_over_ipv6_loopback);
	suite_add_tcase(s, tc);

	tc = tcase_create("tcp");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, accept_reports_peer_address_and_sockets_are_nonblocking_cloexec);
	tcase_add_test(tc, read_returns_short_count_when_less_is_available);
	tcase_add_test(tc, short_writes_are_tolerated_and_write_all_completes);
	tcase_add_test(tc, read_returns_zero_at_eof_and_read_exact_the_short_count);
	tcase_add_test(tc, half_close_server_echoes_everything_then_closes);
	tcase_add_test(tc, connect_to_port_without_listener_is_econnrefused);
	tcase_add_test(tc, accept_on_closed_or_shut_down_listener_fails_cleanly);
	tcase_add_test(tc, write_to_closed_peer_is_epipe_without_sigpipe);
	tcase_add_test(tc, cancel_parked_accept_and_read_gives_ecanceled);
	tcase_add_test(tc, reuseport_lets_two_listeners_share_a_port);
	suite_add_tcase(s, tc);

	tc = tcase_create("udp_unix");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, udp_sendto_recvfrom_round_trip_reports_sender);
	tcase_add_test(tc, unix_stream_echo);
	tcase_add_test(tc, connect_resolves_localhost);
	tcase_add_test(tc, accepts_while_waiting_survive_fd_table_growth);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(net_suite());
}
