/* uv_echo: a libuv TCP echo server (Debian libuv1-dev), one loop, one thread.
 *
 *   uv_echo --port N [--exit-after N]
 *
 * --port 0 picks a free port; prints "listening on 127.0.0.1:PORT" (flushed).
 * --exit-after N: exit 0 after N connections have closed (for valgrind).
 * SIGINT/SIGTERM (uv_signal): exit 0.
 *
 * Per connection: uv_read_start into the connection's 16 KiB buffer; in the
 * read callback uv_try_write (the usual fast path: one write syscall, no
 * request); if the socket cannot take it all, the rest goes out with uv_write
 * from a copy and reading pauses until it is written. uv_tcp_nodelay on each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BUF_SIZE (16 * 1024)

struct conn {
	uv_tcp_t tcp;
	uv_write_t wreq;
	char *pending;
	char buf[BUF_SIZE];
};

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sig_int, sig_term;
static long long exit_after = -1, closed;

static void on_close(uv_handle_t *h)
{
	struct conn *c = (struct conn *)h;
	free(c->pending);
	free(c);
	if (exit_after >= 0 && ++closed >= exit_after)
		uv_stop(loop);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)hint;
	struct conn *c = (struct conn *)h;
	*buf = uv_buf_init(c->buf, BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	free(c->pending);
	c->pending = NULL;
	if (status < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_close);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)s;
	if (n == 0)
		return;
	if (n < 0) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
	int w = uv_try_write(s, &b, 1);
	if (w == n)
		return;
	if (w < 0 && w != UV_EAGAIN) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	if (w < 0)
		w = 0;
	size_t rest = (size_t)n - (size_t)w;
	c->pending = malloc(rest);
	if (!c->pending) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	memcpy(c->pending, buf->base + w, rest);
	uv_read_stop(s);
	b = uv_buf_init(c->pending, (unsigned)rest);
	c->wreq.data = c;
	if (uv_write(&c->wreq, s, &b, 1, on_write) < 0)
		uv_close((uv_handle_t *)s, on_close);
}

static void on_conn(uv_stream_t *srv, int status)
{
	if (status < 0)
		return;
	struct conn *c = malloc(sizeof *c);
	if (!c)
		return;
	c->pending = NULL;
	uv_tcp_init(loop, &c->tcp);
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_close);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	(void)signum;
	uv_stop(loop);
}

int main(int argc, char **argv)
{
	int port = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--exit-after") && i + 1 < argc)
			exit_after = atoll(argv[++i]);
		else
			port = -2;
	}
	if (port < 0 || port > 65535) {
		fprintf(stderr, "usage: uv_echo --port N [--exit-after N]\n");
		return 2;
	}
	loop = uv_default_loop();
	uv_tcp_init(loop, &server);
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", port, &addr);
	int r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&server, 4096, on_conn);
	if (r) {
		fprintf(stderr, "uv_echo: listen: %s\n", uv_strerror(r));
		return 1;
	}
	int alen = sizeof addr;
	uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &alen);
	uv_signal_init(loop, &sig_int);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_unref((uv_handle_t *)&sig_int);
	uv_unref((uv_handle_t *)&sig_term);
	printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
	fflush(stdout);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0; /* connections are left to the OS at exit */
}
