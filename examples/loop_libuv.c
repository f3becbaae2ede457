/*
 * loop_libuv: coil inside a libuv program, on one thread.
 *
 * libuv owns the thread and its loop. coil's loop is driven from it: a
 * uv_poll on coil_loop_fd() ticks coil when it has work, and a uv_timer set
 * from coil_loop_timeout() ticks it for its timers. coil fibers run a TCP
 * echo server on 127.0.0.1; libuv's own TCP client (uv_tcp_t) connects to
 * it, sends N messages one at a time and checks each echo, while a uv_timer
 * counts libuv ticks. Both sides' I/O interleave on the one thread.
 *
 *   loop_libuv [--rounds N]
 *
 * Prints "loop_libuv: ok, N round trips" and exits 0, or says what failed
 * and exits 1. On the poll backend coil has no fd to watch: a 1 ms uv_timer
 * ticks it instead (correct, if wasteful).
 */
#include <coil.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct app {
	uv_loop_t *uv;
	coil_loop *coil;
	uv_poll_t coil_poll;
	uv_timer_t coil_timer;
	bool have_poll;
	uv_tcp_t client;
	uv_connect_t connect_req;
	int port;		/* coil's listener, once it is up */
	long rounds, done;
	char expect[32];
	size_t got;
	char inbuf[64];
	int failed;
	int stopping;
};

static void fail(struct app *a, const char *what, int err)
{
	fprintf(stderr, "loop_libuv: %s: %s\n", what, err < 0 ? strerror(-err) : "unexpected");
	a->failed = 1;
	uv_stop(a->uv);
}

/* ---- coil's side: an echo server in fibers -------------------------------- */

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[256];
	ssize_t n;
	while ((n = coil_sock_read(fd, buf, sizeof buf)) > 0)
		if (coil_sock_write_all(fd, buf, (size_t)n) < 0)
			break;
	coil_close(fd);
	return NULL;
}

static void *echo_server(void *arg)
{
	struct app *a = arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	if (lfd < 0) {
		a->port = lfd;
		return NULL;
	}
	a->port = coil_sock_port(lfd);
	for (;;) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd < 0)
			break; /* -ECANCELED when the loop is freed */
		if (coil_task_spawn(NULL, echo_conn, (void *)(intptr_t)fd) < 0)
			coil_close(fd);
	}
	coil_close(lfd);
	return NULL;
}

/* ---- driving coil from libuv --------------------------------------------------- */

static void coil_tick(struct app *a);

static void on_coil_fd(uv_poll_t *h, int status, int events)
{
	coil_tick(h->data);
}

static void on_coil_timer(uv_timer_t *t)
{
	coil_tick(t->data);
}

/* Tick coil, then set the uv_timer to coil's next deadline. */
static void coil_tick(struct app *a)
{
	int r = coil_loop_tick(a->coil, 0, 0);
	if (r < 0) {
		fail(a, "coil_loop_tick", r);
		return;
	}
	int64_t t = coil_loop_timeout(a->coil);
	if (!a->have_poll && (t < 0 || t > 1000000))
		t = 1000000; /* no fd: look again in 1 ms */
	if (t < 0) {
		uv_timer_stop(&a->coil_timer);
		return;
	}
	/* uv timers are in ms: round up, a deadline is never early */
	uv_timer_start(&a->coil_timer, on_coil_timer, (uint64_t)((t + 999999) / 1000000), 0);
}

/* ---- libuv's side: a client of coil's server ------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct app *a = h->data;
	*buf = uv_buf_init(a->inbuf, sizeof a->inbuf);
}

static void send_next(struct app *a);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct app *a = s->data;
	if (n < 0) {
		fail(a, "client read", (int)n);
		return;
	}
	size_t want = strlen(a->expect);
	if (a->got + (size_t)n > want || memcmp(buf->base, a->expect + a->got, (size_t)n)) {
		fail(a, "echo differs", 0);
		return;
	}
	a->got += (size_t)n;
	if (a->got < want)
		return;
	if (++a->done == a->rounds) {
		uv_read_stop(s);
		uv_close((uv_handle_t *)&a->client, NULL);
		a->stopping = 1;
		uv_stop(a->uv);
		return;
	}
	send_next(a);
}

static void on_write(uv_write_t *req, int status)
{
	struct app *a = req->data;
	free(req);
	if (status < 0)
		fail(a, "client write", status);
}

static void send_next(struct app *a)
{
	snprintf(a->expect, sizeof a->expect, "ping %ld\n", a->done);
	a->got = 0;
	uv_write_t *req = malloc(sizeof *req);
	req->data = a;
	uv_buf_t b = uv_buf_init(a->expect, (unsigned)strlen(a->expect));
	int r = uv_write(req, (uv_stream_t *)&a->client, &b, 1, on_write);
	if (r < 0) {
		free(req);
		fail(a, "uv_write", r);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	struct app *a = req->data;
	if (status < 0) {
		fail(a, "connect", status);
		return;
	}
	a->client.data = a;
	uv_read_start((uv_stream_t *)&a->client, on_alloc, on_read);
	send_next(a);
}

/* Once coil's server listens (a tick in), connect to it. An idle handle
 * (libuv polls without blocking while one is active) until then. */
static void on_idle(uv_idle_t *c)
{
	struct app *a = c->data;
	if (a->port == 0)
		return;
	uv_idle_stop(c);
	if (a->port < 0) {
		fail(a, "coil listen", a->port);
		return;
	}
	struct sockaddr_in sin;
	uv_ip4_addr("127.0.0.1", a->port, &sin);
	uv_tcp_init(a->uv, &a->client);
	a->connect_req.data = a;
	int r = uv_tcp_connect(&a->connect_req, &a->client, (struct sockaddr *)&sin, on_connect);
	if (r < 0)
		fail(a, "uv_tcp_connect", r);
}

int main(int argc, char **argv)
{
	struct app a = {.rounds = 1000};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			a.rounds = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: loop_libuv [--rounds N]\n");
			return 2;
		}
	}
	if (a.rounds < 1)
		return 2;
	a.uv = uv_default_loop();
	int r = coil_loop_new(&a.coil, NULL);
	if (r < 0) {
		fprintf(stderr, "loop_libuv: coil_loop_new: %s\n", strerror(-r));
		return 1;
	}
	r = coil_loop_spawn(a.coil, NULL, echo_server, &a);
	if (r < 0) {
		fprintf(stderr, "loop_libuv: coil_loop_spawn: %s\n", strerror(-r));
		return 1;
	}
	uv_timer_init(a.uv, &a.coil_timer);
	a.coil_timer.data = &a;
	int fd = coil_loop_fd(a.coil);
	if (fd >= 0) {
		a.have_poll = true;
		uv_poll_init(a.uv, &a.coil_poll, fd);
		a.coil_poll.data = &a;
		uv_poll_start(&a.coil_poll, UV_READABLE, on_coil_fd);
	} else if (fd != -EOPNOTSUPP) {
		fprintf(stderr, "loop_libuv: coil_loop_fd: %s\n", strerror(-fd));
		return 1;
	}
	uv_idle_t idle;
	uv_idle_init(a.uv, &idle);
	idle.data = &a;
	uv_idle_start(&idle, on_idle);
	coil_tick(&a); /* the first tick: the fd is readable anyway, but be explicit */
	uv_run(a.uv, UV_RUN_DEFAULT);

	/* Done (or failed): coil's fibers are cancelled and waited for. */
	if (a.have_poll)
		uv_poll_stop(&a.coil_poll);
	uv_timer_stop(&a.coil_timer);
	uv_close((uv_handle_t *)&a.coil_timer, NULL);
	if (a.have_poll)
		uv_close((uv_handle_t *)&a.coil_poll, NULL);
	uv_close((uv_handle_t *)&idle, NULL);
	r = coil_loop_free(a.coil);
	uv_run(a.uv, UV_RUN_DEFAULT); /* let the handles close */
	uv_loop_close(a.uv);
	if (r < 0 || a.failed) {
		fprintf(stderr, "loop_libuv: failed\n");
		return 1;
	}
	printf("loop_libuv: ok, %ld round trips\n", a.done);
	return 0;
}
