/*
 * loop_tick: what driving coil from an embedder's loop costs, against
 * coil_run, in one process, through the public API.
 *
 *   run-pingpong    two fibers bounce a value over rendezvous channels
 *                   inside coil_run: ns per round trip
 *   tick-pingpong   the same inside a coil_loop driven by
 *                   coil_loop_tick(l, 0, 0) in a plain loop: each tick runs
 *                   what is ready once, so a round trip is a few ticks
 *   tick-idle       one tick of a loop whose one fiber waits on a socket
 *                   (nothing ready, nothing completes): the embedder's
 *                   per-wake cost of asking coil (io_uring: an
 *                   io_uring_enter and an eventfd read)
 *   post-run        coil_loop_post from the owner thread, then the tick that
 *                   runs it: ns per post
 *   libuv-rtt-B     a libuv loop hosting a coil loop on backend B (uring,
 *                   epoll, poll) as examples/loop_libuv does: libuv's TCP
 *                   client sends 1 byte to a coil echo server and waits for
 *                   it, each step a wake of libuv through coil_loop_fd (the
 *                   poll backend has none: a 1 ms uv_timer). ns per round
 *                   trip; iterations / 100 (poll: / 1000). Built with libuv.
 *
 * Rows "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps" with --tsv.
 *
 *   loop_tick [--iters N] [--reps R] [--tsv]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coil.h>
#ifdef COIL_BENCH_LIBUV
#include <uv.h>
#endif

#include "bench_util.h"

static void check(int e, const char *what)
{
	if (e < 0) {
		fprintf(stderr, "loop_tick: %s: %s\n", what, strerror(-e));
		exit(1);
	}
}

struct pair {
	coil_chan *ab, *ba;
	long n;
	uint64_t t0, t1;
};

static void *ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t v;
	for (long i = 0; i < p->n; i++) {
		check(coil_chan_recv(p->ab, &v), "recv");
		check(coil_chan_send(p->ba, &v), "send");
	}
	return NULL;
}

static void *pinger(void *arg)
{
	struct pair *p = arg;
	uint64_t v = 0;
	p->t0 = bench_now_ns();
	for (long i = 0; i < p->n; i++) {
		check(coil_chan_send(p->ab, &v), "send");
		check(coil_chan_recv(p->ba, &v), "recv");
	}
	p->t1 = bench_now_ns();
	return NULL;
}

static void *run_main(void *arg)
{
	struct pair *p = arg;
	coil_task t;
	check(coil_task_spawn(&t, ponger, p), "spawn");
	pinger(p);
	check(coil_task_join(t, NULL), "join");
	return NULL;
}

static double run_pingpong(long n)
{
	struct pair p = {.n = n};
	check(coil_chan_new(&p.ab, 8, 0), "chan");
	check(coil_chan_new(&p.ba, 8, 0), "chan");
	check(coil_run(NULL, run_main, &p, NULL), "coil_run");
	coil_chan_free(p.ab);
	coil_chan_free(p.ba);
	return (double)(p.t1 - p.t0) / (double)n;
}

static double tick_pingpong(long n)
{
	coil_loop *l;
	check(coil_loop_new(&l, NULL), "coil_loop_new");
	struct pair p = {.n = n};
	check(coil_chan_new(&p.ab, 8, 0), "chan");
	check(coil_chan_new(&p.ba, 8, 0), "chan");
	check(coil_loop_spawn(l, NULL, ponger, &p), "spawn");
	check(coil_loop_spawn(l, NULL, pinger, &p), "spawn");
	int r;
	while ((r = coil_loop_tick(l, 0, 0)) > 0) {
	}
	check(r, "tick");
	check(coil_loop_free(l), "free");
	coil_chan_free(p.ab);
	coil_chan_free(p.ba);
	return (double)(p.t1 - p.t0) / (double)n;
}

static void *wait_read(void *arg)
{
	char c;
	coil_sock_read((int)(intptr_t)arg, &c, 1);
	return NULL;
}

static double tick_idle(long n)
{
	coil_loop *l;
	check(coil_loop_new(&l, NULL), "coil_loop_new");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		check(-errno, "socketpair");
	check(coil_loop_spawn(l, NULL, wait_read, (void *)(intptr_t)sv[0]), "spawn");
	check(coil_loop_tick(l, 0, 0), "tick");
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		check(coil_loop_tick(l, 0, 0), "tick");
	uint64_t t1 = bench_now_ns();
	check(coil_loop_free(l), "free");
	close(sv[0]);
	close(sv[1]);
	return (double)(t1 - t0) / (double)n;
}

static void count(coil_loop *l, void *arg)
{
	(*(long *)arg)++;
}

static double post_run(long n)
{
	coil_loop *l;
	check(coil_loop_new(&l, NULL), "coil_loop_new");
	long ran = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		check(coil_loop_post(l, count, &ran), "post");
		check(coil_loop_tick(l, 0, 0), "tick");
	}
	uint64_t t1 = bench_now_ns();
	check(coil_loop_free(l), "free");
	if (ran != n) {
		fprintf(stderr, "loop_tick: %ld posts ran of %ld\n", ran, n);
		exit(1);
	}
	return (double)(t1 - t0) / (double)n;
}

#ifdef COIL_BENCH_LIBUV
/* ---- libuv-hosted round trips ------------------------------------------- */

struct uvb {
	uv_loop_t uv;
	coil_loop *coil;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_idle_t idle;
	uv_tcp_t client;
	uv_connect_t creq;
	bool have_fd;
	int port;
	long n, done;
	char byte, in;
	uint64_t t0, t1;
};

static void *uvb_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	ssize_t n;
	while ((n = coil_sock_read(fd, buf, sizeof buf)) > 0)
		if (coil_sock_write_all(fd, buf, (size_t)n) < 0)
			break;
	coil_close(fd);
	return NULL;
}

static void *uvb_server(void *arg)
{
	struct uvb *b = arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 4, 0);
	check(lfd, "listen");
	b->port = coil_sock_port(lfd);
	int fd;
	while ((fd = coil_tcp_accept(lfd, NULL, NULL)) >= 0)
		check(coil_task_spawn(NULL, uvb_conn, (void *)(intptr_t)fd), "spawn");
	coil_close(lfd);
	return NULL;
}

static void uvb_tick(struct uvb *b);

static void uvb_on_fd(uv_poll_t *h, int status, int events)
{
	uvb_tick(h->data);
}

static void uvb_on_timer(uv_timer_t *t)
{
	uvb_tick(t->data);
}

static void uvb_tick(struct uvb *b)
{
	check(coil_loop_tick(b->coil, 0, 0), "tick");
	int64_t t = coil_loop_timeout(b->coil);
	if (!b->have_fd && (t < 0 || t > 1000000))
		t = 1000000;
	if (t < 0)
		uv_timer_stop(&b->timer);
	else
		uv_timer_start(&b->timer, uvb_on_timer, (uint64_t)((t + 999999) / 1000000), 0);
}

static void uvb_send(struct uvb *b)
{
	uv_buf_t buf = uv_buf_init(&b->byte, 1);
	/* One byte into an empty socket buffer: never refused. */
	if (uv_try_write((uv_stream_t *)&b->client, &buf, 1) != 1)
		check(-EIO, "uv_try_write");
}

static void uvb_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct uvb *b = h->data;
	*buf = uv_buf_init(&b->in, 1);
}

static void uvb_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct uvb *b = st->data;
	if (n == 0)
		return;
	check(n < 0 ? (int)n : 0, "client read");
	if (++b->done < b->n) {
		uvb_send(b);
		return;
	}
	b->t1 = bench_now_ns();
	uv_read_stop(st);
	uv_close((uv_handle_t *)&b->client, NULL);
	uv_stop(&b->uv);
}

static void uvb_connected(uv_connect_t *req, int status)
{
	struct uvb *b = req->data;
	check(status, "connect");
	b->client.data = b;
	uv_read_start((uv_stream_t *)&b->client, uvb_alloc, uvb_read);
	b->t0 = bench_now_ns();
	uvb_send(b);
}

static void uvb_idle(uv_idle_t *h)
{
	struct uvb *b = h->data;
	if (b->port == 0)
		return;
	uv_idle_stop(h);
	struct sockaddr_in sin;
	uv_ip4_addr("127.0.0.1", b->port, &sin);
	uv_tcp_init(&b->uv, &b->client);
	b->creq.data = b;
	check(uv_tcp_connect(&b->creq, &b->client, (struct sockaddr *)&sin, uvb_connected),
	      "uv_tcp_connect");
}

static double libuv_rtt(const char *backend, long n)
{
	struct uvb *b = calloc(1, sizeof *b);
	b->n = n;
	b->byte = 'x';
	uv_loop_init(&b->uv);
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.backend = backend;
	check(coil_loop_new(&b->coil, &cfg), "coil_loop_new");
	check(coil_loop_spawn(b->coil, NULL, uvb_server, b), "spawn");
	uv_timer_init(&b->uv, &b->timer);
	b->timer.data = b;
	int fd = coil_loop_fd(b->coil);
	if (fd >= 0) {
		b->have_fd = true;
		uv_poll_init(&b->uv, &b->poll, fd);
		b->poll.data = b;
		uv_poll_start(&b->poll, UV_READABLE, uvb_on_fd);
	}
	uv_idle_init(&b->uv, &b->idle);
	b->idle.data = b;
	uv_idle_start(&b->idle, uvb_idle);
	uvb_tick(b);
	uv_run(&b->uv, UV_RUN_DEFAULT);
	if (b->have_fd) {
		uv_poll_stop(&b->poll);
		uv_close((uv_handle_t *)&b->poll, NULL);
	}
	uv_timer_stop(&b->timer);
	uv_close((uv_handle_t *)&b->timer, NULL);
	uv_close((uv_handle_t *)&b->idle, NULL);
	check(coil_loop_free(b->coil), "free");
	uv_run(&b->uv, UV_RUN_DEFAULT);
	uv_loop_close(&b->uv);
	double r = (double)(b->t1 - b->t0) / (double)n;
	free(b);
	return r;
}

static double libuv_rtt_uring(long n)
{
	return libuv_rtt("uring", n);
}

static double libuv_rtt_epoll(long n)
{
	return libuv_rtt("epoll", n);
}

static double libuv_rtt_poll(long n)
{
	return libuv_rtt("poll", n);
}
#endif

int main(int argc, char **argv)
{
	long iters = 200000;
	int reps = 5, tsv = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tsv"))
			tsv = 1;
		else {
			fprintf(stderr, "usage: loop_tick [--iters N] [--reps R] [--tsv]\n");
			return 2;
		}
	}
	if (iters < 1 || reps < 1 || reps > BENCH_MAX_REPS)
		return 2;
	static const struct {
		const char *name, *unit;
		double (*fn)(long);
		long per;	/* iterations / per */
	} v[] = {
		{"run-pingpong", "ns/round trip", run_pingpong, 1},
		{"tick-pingpong", "ns/round trip", tick_pingpong, 1},
		{"tick-idle", "ns/tick", tick_idle, 1},
		{"post-run", "ns/post", post_run, 1},
#ifdef COIL_BENCH_LIBUV
		{"libuv-rtt-uring", "ns/round trip", libuv_rtt_uring, 100},
		{"libuv-rtt-epoll", "ns/round trip", libuv_rtt_epoll, 100},
		{"libuv-rtt-poll", "ns/round trip", libuv_rtt_poll, 1000},
#endif
	};
	if (!tsv)
		printf("%-16s %10s %10s %10s  %s (%ld iterations, %d reps)\n", "variant", "median", "min",
		       "max", "unit", iters, reps);
	for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
		double r[BENCH_MAX_REPS];
		long n = iters / v[k].per + 1;
		v[k].fn(n / 10 + 1);
		for (int i = 0; i < reps; i++)
			r[i] = v[k].fn(n);
		bench_print(tsv, v[k].name, v[k].unit, r, reps, n);
	}
	return 0;
}
