/*
 * loop_libuv: coil inside a libuv program, on one thread.
 *
 * libuv owns the thread and its loop. coil's loop is driven from it: a
 * uv_poll on coil_loop_fd() ticks coil when it has work, and a uv_timer set
 * from coil_loop_timeout() ticks it for its timers. coil fibers run a TCP
 * echo server on 127.0.0.1; libuv's own TCP client (uv_tcp_t) connects to
 * it, sends N messages one at a time and checks each echo. Both sides' I/O
 * interleave on the one thread, so each round trip is two wakes of libuv
 * through coil's fd (the server's read, then the client's).
 *
 *   loop_libuv [--rounds N] [--against-epoll RATIO]
 *
 * --against-epoll runs a second coil loop on the epoll backend beside the
 * first (its own server and client, in the same libuv loop, at the same
 * time) and fails when the first's median round trip is more than RATIO
 * times the epoll one's: a wake through coil's fd must cost about the
 * same on every backend that has one (io_uring once took ~16 ms a wake).
 * A ratio of medians from the same run, so a busy machine slows both.
 *
 * Prints "loop_libuv: ok, N round trips, median ..." and exits 0, or says
 * what failed and exits 1. On the poll backend coil has no fd to watch: a
 * 1 ms uv_timer ticks it instead (correct, if wasteful; not compared).
 */
#include <coil.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct app;

/* One coil loop with its echo server, and libuv's client of it. */
struct side {
	struct app *app;
	const char *backend;	/* NULL: coil's choice ($COIL_BACKEND) */
	coil_loop *coil;
	uv_poll_t coil_poll;
	uv_timer_t coil_timer;
	bool have_poll;
	uv_tcp_t client;
	uv_connect_t connect_req;
	bool connecting;
	int port;		/* coil's listener, once it is up */
	long done;
	char expect[32];
	size_t got;
	char inbuf[64];
	uint64_t sent_at;	/* uv_hrtime() of this round's send */
	uint64_t *rtt;		/* ns, one per round */
};

struct app {
	uv_loop_t *uv;
	long rounds;
	int failed;
	int nsides, running;
	struct side side[2];
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
	struct side *s = arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	if (lfd < 0) {
		s->port = lfd;
		return NULL;
	}
	s->port = coil_sock_port(lfd);
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

static void coil_tick(struct side *s);

static void on_coil_fd(uv_poll_t *h, int status, int events)
{
	coil_tick(h->data);
}

static void on_coil_timer(uv_timer_t *t)
{
	coil_tick(t->data);
}

/* Tick coil, then set the uv_timer to coil's next deadline. */
static void coil_tick(struct side *s)
{
	int r = coil_loop_tick(s->coil, 0, 0);
	if (r < 0) {
		fail(s->app, "coil_loop_tick", r);
		return;
	}
	int64_t t = coil_loop_timeout(s->coil);
	if (!s->have_poll && (t < 0 || t > 1000000))
		t = 1000000; /* no fd: look again in 1 ms */
	if (t < 0) {
		uv_timer_stop(&s->coil_timer);
		return;
	}
	/* uv timers are in ms: round up, a deadline is never early */
	uv_timer_start(&s->coil_timer, on_coil_timer, (uint64_t)((t + 999999) / 1000000), 0);
}

static int side_start(struct app *a, struct side *s)
{
	s->app = a;
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.backend = s->backend;
	int r = coil_loop_new(&s->coil, &cfg);
	if (r < 0) {
		fprintf(stderr, "loop_libuv: coil_loop_new: %s\n", strerror(-r));
		return r;
	}
	s->rtt = calloc((size_t)a->rounds, sizeof *s->rtt);
	if (!s->rtt)
		return -ENOMEM;
	r = coil_loop_spawn(s->coil, NULL, echo_server, s);
	if (r < 0) {
		fprintf(stderr, "loop_libuv: coil_loop_spawn: %s\n", strerror(-r));
		return r;
	}
	uv_timer_init(a->uv, &s->coil_timer);
	s->coil_timer.data = s;
	int fd = coil_loop_fd(s->coil);
	if (fd >= 0) {
		s->have_poll = true;
		uv_poll_init(a->uv, &s->coil_poll, fd);
		s->coil_poll.data = s;
		uv_poll_start(&s->coil_poll, UV_READABLE, on_coil_fd);
	} else if (fd != -EOPNOTSUPP) {
		fprintf(stderr, "loop_libuv: coil_loop_fd: %s\n", strerror(-fd));
		return fd;
	}
	coil_tick(s); /* the first tick: the fd is readable anyway, but be explicit */
	return 0;
}

/* Done (or failed): coil's fibers are cancelled and waited for. */
static int side_stop(struct side *s)
{
	if (!s->coil)
		return 0;
	if (s->have_poll) {
		uv_poll_stop(&s->coil_poll);
		uv_close((uv_handle_t *)&s->coil_poll, NULL);
	}
	uv_timer_stop(&s->coil_timer);
	uv_close((uv_handle_t *)&s->coil_timer, NULL);
	return coil_loop_free(s->coil);
}

/* ---- libuv's side: a client of coil's server ------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct side *s = h->data;
	*buf = uv_buf_init(s->inbuf, sizeof s->inbuf);
}

static void send_next(struct side *s);

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct side *s = st->data;
	struct app *a = s->app;
	if (n < 0) {
		fail(a, "client read", (int)n);
		return;
	}
	size_t want = strlen(s->expect);
	if (s->got + (size_t)n > want || memcmp(buf->base, s->expect + s->got, (size_t)n)) {
		fail(a, "echo differs", 0);
		return;
	}
	s->got += (size_t)n;
	if (s->got < want)
		return;
	s->rtt[s->done] = uv_hrtime() - s->sent_at;
	if (++s->done == a->rounds) {
		uv_read_stop(st);
		uv_close((uv_handle_t *)&s->client, NULL);
		if (--a->running == 0)
			uv_stop(a->uv);
		return;
	}
	send_next(s);
}

static void on_write(uv_write_t *req, int status)
{
	struct side *s = req->data;
	free(req);
	if (status < 0)
		fail(s->app, "client write", status);
}

static void send_next(struct side *s)
{
	snprintf(s->expect, sizeof s->expect, "ping %ld\n", s->done);
	s->got = 0;
	uv_write_t *req = malloc(sizeof *req);
	req->data = s;
	uv_buf_t b = uv_buf_init(s->expect, (unsigned)strlen(s->expect));
	s->sent_at = uv_hrtime();
	int r = uv_write(req, (uv_stream_t *)&s->client, &b, 1, on_write);
	if (r < 0) {
		free(req);
		fail(s->app, "uv_write", r);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	struct side *s = req->data;
	if (status < 0) {
		fail(s->app, "connect", status);
		return;
	}
	s->client.data = s;
	uv_read_start((uv_stream_t *)&s->client, on_alloc, on_read);
	send_next(s);
}

/* Once coil's servers listen (a tick in), connect to them. An idle handle
 * (libuv polls without blocking while one is active) until then. */
static void on_idle(uv_idle_t *c)
{
	struct app *a = c->data;
	int waiting = 0;
	for (int i = 0; i < a->nsides; i++) {
		struct side *s = &a->side[i];
		if (s->connecting)
			continue;
		if (s->port == 0) {
			waiting++;
			continue;
		}
		if (s->port < 0) {
			fail(a, "coil listen", s->port);
			return;
		}
		struct sockaddr_in sin;
		uv_ip4_addr("127.0.0.1", s->port, &sin);
		uv_tcp_init(a->uv, &s->client);
		s->connect_req.data = s;
		s->connecting = true;
		int r = uv_tcp_connect(&s->connect_req, &s->client, (struct sockaddr *)&sin,
				       on_connect);
		if (r < 0) {
			fail(a, "uv_tcp_connect", r);
			return;
		}
	}
	if (!waiting)
		uv_idle_stop(c);
}

/* ---- the report ------------------------------------------------------------------ */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

static double median_us(struct side *s, long n)
{
	qsort(s->rtt, (size_t)n, sizeof *s->rtt, cmp_u64);
	return (double)s->rtt[n / 2] / 1000.0;
}

int main(int argc, char **argv)
{
	struct app a = {.rounds = 1000};
	double max_ratio = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			a.rounds = atol(argv[++i]);
		else if (!strcmp(argv[i], "--against-epoll") && i + 1 < argc)
			max_ratio = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: loop_libuv [--rounds N] [--against-epoll RATIO]\n");
			return 2;
		}
	}
	if (a.rounds < 1 || max_ratio < 0)
		return 2;
	a.uv = uv_default_loop();
	a.nsides = max_ratio > 0 ? 2 : 1;
	a.side[1].backend = "epoll";
	for (int i = 0; i < a.nsides; i++)
		if (side_start(&a, &a.side[i]) < 0)
			return 1;
	a.running = a.nsides;
	uv_idle_t idle;
	uv_idle_init(a.uv, &idle);
	idle.data = &a;
	uv_idle_start(&idle, on_idle);
	uv_run(a.uv, UV_RUN_DEFAULT);

	int r = 0;
	for (int i = 0; i < a.nsides; i++) {
		int f = side_stop(&a.side[i]);
		if (f < 0)
			r = f;
	}
	uv_close((uv_handle_t *)&idle, NULL);
	uv_run(a.uv, UV_RUN_DEFAULT); /* let the handles close */
	uv_loop_close(a.uv);
	if (r < 0 || a.failed) {
		fprintf(stderr, "loop_libuv: failed\n");
		return 1;
	}
	struct side *s = &a.side[0];
	double med = median_us(s, a.rounds);
	printf("loop_libuv: ok, %ld round trips, median %.1f us", s->done, med);
	int ret = 0;
	if (a.nsides == 2) {
		double ref = median_us(&a.side[1], a.rounds);
		printf(", epoll beside %.1f us (%.2fx)", ref, med / ref);
		if (!s->have_poll)
			printf(", not compared: no fd on this backend");
		else if (med > max_ratio * ref)
			ret = 1;
	}
	printf("\n");
	if (ret)
		fprintf(stderr, "loop_libuv: a round trip costs more than %.1f times epoll's\n",
			max_ratio);
	free(a.side[0].rtt);
	free(a.side[1].rtt);
	return ret;
}
