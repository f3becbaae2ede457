/*
 * tls_peer: a coil TLS endpoint for the interop test (tests/tls_interop.py).
 *   tls_peer server CERT KEY N        print "port P", serve N connections
 *                                     (ALPN h2, http/1.1), each an echo
 *                                     until close_notify; print one line
 *                                     per connection: "conn <result> <alpn>"
 *   tls_peer client PORT HOST CA SEND EXPECT
 *                                     send SEND, read until EXPECT came,
 *                                     send "bye\n", close_notify; print
 *                                     "alpn <p>" or the error; exit 0 / 1
 */
#define _GNU_SOURCE
#include <coil.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **args;
static coil_tls_ctx *ctx;

static void *conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	coil_tls *t;
	long total = 0;
	int r = coil_tls_open(&t, ctx, fd, NULL);
	if (r == 0) {
		char buf[16384];
		for (;;) {
			ssize_t n = coil_tls_read(t, buf, sizeof buf);
			if (n <= 0) {
				r = (int)n;
				break;
			}
			if ((r = (int)coil_tls_write_all(t, buf, (size_t)n)) < 0)
				break;
			total += n;
		}
		if (r == 0)
			r = coil_tls_shutdown(t);
		const char *a = coil_tls_alpn(t);
		printf("conn %s %ld %s resumed=%d %s\n", r == 0 ? "ok" : strerror(-r), total,
		       a ? a : "-", coil_tls_resumed(t), coil_tls_error(t));
		fflush(stdout);
		coil_tls_free(t);
	}
	coil_close(fd);
	return NULL;
}

static void *server(void *arg)
{
	const char *const alpn[] = {"h2", "http/1.1"};
	int r = coil_tls_ctx_server(&ctx, args[2], args[3]);
	if (r == 0)
		r = coil_tls_ctx_set_alpn(ctx, alpn, 2);
	int lfd = r < 0 ? r : coil_tcp_listen("127.0.0.1", 0, 16, 0);
	if (lfd < 0) {
		fprintf(stderr, "tls_peer: %s\n", strerror(-lfd));
		return (void *)1;
	}
	printf("port %d\n", coil_sock_port(lfd));
	fflush(stdout);
	int n = atoi(args[4]);
	coil_task *tasks = calloc((size_t)n, sizeof *tasks);
	for (int i = 0; i < n; i++) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd < 0 || coil_task_spawn(&tasks[i], conn, (void *)(intptr_t)fd) < 0)
			return (void *)1;
	}
	for (int i = 0; i < n; i++)
		coil_task_join(tasks[i], NULL);
	free(tasks);
	coil_close(lfd);
	coil_tls_ctx_free(ctx);
	return NULL;
}

static void *client(void *arg)
{
	const char *const alpn[] = {"http/1.1"};
	const char *host = args[3], *send = args[5], *expect = args[6];
	int r = coil_tls_ctx_client(&ctx, args[4]);
	if (r == 0)
		r = coil_tls_ctx_set_alpn(ctx, alpn, 1);
	int fd = r < 0 ? r : coil_tcp_connect("127.0.0.1", (uint16_t)atoi(args[2]));
	if (fd < 0) {
		fprintf(stderr, "tls_peer: %s\n", strerror(-fd));
		return (void *)1;
	}
	coil_tls *t;
	char got[4096];
	size_t len = 0;
	if ((r = coil_tls_open(&t, ctx, fd, host)) < 0)
		goto out;
	if ((r = (int)coil_tls_write_all(t, send, strlen(send))) < 0)
		goto fail;
	while (!memmem(got, len, expect, strlen(expect)) && len < sizeof got) {
		ssize_t n = coil_tls_read(t, got + len, sizeof got - len);
		if (n <= 0) {
			r = n == 0 ? -ENODATA : (int)n;
			goto fail;
		}
		len += (size_t)n;
	}
	if ((r = (int)coil_tls_write_all(t, "bye\n", 4)) < 0 || (r = coil_tls_shutdown(t)) < 0)
		goto fail;
	const char *a = coil_tls_alpn(t);
	printf("alpn %s\n", a ? a : "-");
fail:
	if (r < 0)
		fprintf(stderr, "tls_peer: %s (%s; verify: %s)\n", strerror(-r), coil_tls_error(t),
			coil_tls_verify_error(t));
	coil_tls_free(t);
out:
	coil_close(fd);
	coil_tls_ctx_free(ctx);
	return r < 0 ? (void *)1 : NULL;
}

int main(int argc, char **argv)
{
	args = argv;
	void *res = (void *)1;
	int r;
	if (argc == 5 && strcmp(argv[1], "server") == 0)
		r = coil_run(NULL, server, NULL, &res);
	else if (argc == 7 && strcmp(argv[1], "client") == 0)
		r = coil_run(NULL, client, NULL, &res);
	else {
		fprintf(stderr, "usage: tls_peer server CERT KEY N | client PORT HOST CA SEND EXPECT\n");
		return 2;
	}
	return r == 0 && res == NULL ? 0 : 1;
}
