/*
 * The HTTP/2 client (coil/http.h with cfg.http2, src/http/h2_client.c)
 * against coil's own h2 server over 127.0.0.1: requests multiplexed on one
 * connection (100 fibers, MAX_CONCURRENT_STREAMS 10), 4 MiB each way
 * through the flow control, a GOAWAY mid-flight (the server's
 * max_requests) whose unprocessed requests go to a new connection, a
 * stream the server resets, a cancelled request; a server of raw frames
 * that resets the connection while the client writes (the answer it sent
 * first still counts), servers of raw frames that stop answering PINGs
 * or reading, or answer PINGs, or close with a request waiting for their
 * one stream slot; 50 fibers on a server allowing 2 streams (white-box: nghttp2
 * never holds more), servers that speak no HTTP/2 (garbage, an
 * immediate close), and h2 over TLS by ALPN (a server picking http/1.1
 * gets the request over HTTP/1.1: test_https_client.c tests that in
 * full; a connection that ends well sends a close_notify); an answer
 * before the whole body, a server refusing every connection's request
 * (GOAWAY 0), a listener whose backlog is full (connects that time out,
 * a free while one connects), the free refused (a thread that is no
 * fiber, an exchange not ended); then against nghttpd (Debian's
 * nghttp2-server), when it is installed; and each allocation of nghttp2's
 * failing in turn (white-box: h2_fail.h), in a whole GET and while an
 * answer is read (-ENOMEM, never -EPROTO).
 */
#define _GNU_SOURCE
#include "h2_fail.h"
#include "http_harness.h"
#include "http/h2_client.h" /* white-box: coil__http_client_h2_peak */

#include <errno.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define FOUR_MIB (4u << 20)

static bool target_is(coil_http_request *req, const char *t)
{
	struct coil_http_str s = coil_http_request_target(req);
	return s.len == strlen(t) && memcmp(s.ptr, t, s.len) == 0;
}

/* The handlers' state: a request held until the test lets it go. */
static coil_sem entered, go;
static int held_result;
static unsigned active, max_active;

static int handler(coil_http_request *req, coil_http_response *res, void *ctx)
{
	if (target_is(req, "/hello"))
		return coil_http_respond(res, 200, "text/plain", "Hello, World!", 13);
	if (target_is(req, "/count")) {
		/* How many run at once: the client honours the server's
		 * MAX_CONCURRENT_STREAMS. */
		unsigned now = __atomic_add_fetch(&active, 1, __ATOMIC_RELAXED);
		unsigned m = __atomic_load_n(&max_active, __ATOMIC_RELAXED);
		while (now > m && !__atomic_compare_exchange_n(&max_active, &m, now, false,
							       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
		for (int i = 0; i < 5; i++)
			coil_task_yield();
		__atomic_sub_fetch(&active, 1, __ATOMIC_RELAXED);
		return coil_http_respond(res, 200, NULL, "counted", 7);
	}
	if (target_is(req, "/info")) {
		struct coil_http_str x = {"-", 1}, m = coil_http_request_method(req);
		coil_http_request_header(req, "x-test", &x);
		char out[256];
		int n = snprintf(out, sizeof out, "%.*s %d %.*s", (int)m.len, m.ptr,
				 coil_http_request_version(req), (int)x.len, x.ptr);
		coil_http_response_header(res, "X-Reply", "yes");
		return coil_http_respond(res, 201, "text/plain", out, (size_t)n);
	}
	if (target_is(req, "/sum")) { /* the body's length and byte sum */
		coil_http_request_limit(req, 64u << 20);
		static __thread char buf[65536];
		uint64_t len = 0, sum = 0;
		ssize_t n;
		while ((n = coil_http_request_read(req, buf, sizeof buf)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				sum += (unsigned char)buf[i];
			len += (uint64_t)n;
		}
		if (n < 0)
			return (int)n;
		char out[64];
		int k = snprintf(out, sizeof out, "%llu %llu", (unsigned long long)len,
				 (unsigned long long)sum);
		return coil_http_respond(res, 200, NULL, out, (size_t)k);
	}
	if (target_is(req, "/big")) { /* 4 MiB of i % 251 */
		static __thread char block[65536];
		coil_http_response_length(res, FOUR_MIB);
		for (uint32_t off = 0; off < FOUR_MIB; off += sizeof block) {
			for (size_t i = 0; i < sizeof block; i++)
				block[i] = (char)((off + i) % 251);
			if (coil_http_response_write(res, block, sizeof block) < 0)
				return -EIO;
		}
		return 0;
	}
	if (target_is(req, "/reset")) { /* a part, then a failure: RST_STREAM */
		if (coil_http_response_write(res, "part", 4) != 4)
			return -EIO;
		return -EIO;
	}
	if (target_is(req, "/hold")) { /* until the test lets it go */
		coil_sem_release(&entered);
		coil_sem_acquire(&go);
		held_result = coil_http_respond(res, 200, NULL, "late", 4);
		coil_sem_release(&entered);
		return 0;
	}
	return coil_http_respond(res, 404, NULL, "no", 2);
}

static coil_http_client *client_new(void)
{
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	ck_assert_int_eq(cfg.http2, 0);
	cfg.http2 = 1;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), 0);
	return cl;
}

static int get(coil_http_client *cl, int port, const char *target,
	       struct coil_http_client_response *res)
{
	struct coil_http_client_request rq = {
		.host = "127.0.0.1", .port = (uint16_t)port, .target = target};
	return coil_http_client_send(cl, &rq, res);
}

static void get_hello(coil_http_client *cl, int port)
{
	struct coil_http_client_response res;
	ck_assert_int_eq(get(cl, port, "/hello", &res), 0);
	ck_assert_int_eq(res.status, 200);
	ck_assert_int_eq(res.version, 20);
	ck_assert_str_eq(res.body, "Hello, World!");
	coil_http_client_response_free(&res);
}

/* ---- requests ---------------------------------------------------------------- */

static void *basics_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct http_srv sv;
	http_srv_start(&sv, NULL, handler, NULL);
	coil_http_client *cl = client_new();
	get_hello(cl, sv.port);

	struct coil_http_client_request rq = {.method = "POST",
					      .host = "127.0.0.1",
					      .port = (uint16_t)sv.port,
					      .target = "/info",
					      .headers =
						      "X-Test: one\r\nConnection: keep-alive\r\n",
					      .body = "abc",
					      .body_len = 3};
	struct coil_http_client_response res;
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
	ck_assert_int_eq(res.status, 201);
	ck_assert_str_eq(res.body, "POST 20 one");
	struct coil_http_str v;
	ck_assert_int_eq(coil_http_client_response_header(&res, "x-reply", &v), 0);
	ck_assert_int_eq((int)v.len, 3);
	ck_assert_int_eq(memcmp(v.ptr, "yes", 3), 0);
	ck_assert_int_eq(strncmp(res.head, "HTTP/2 201\r\n", 12), 0);
	coil_http_client_response_free(&res);

	/* Streamed request body, streamed response. */
	coil_http_exchange *x;
	rq = (struct coil_http_client_request){.method = "PUT",
					       .host = "127.0.0.1",
					       .port = (uint16_t)sv.port,
					       .target = "/sum",
					       .body_len = COIL_HTTP_BODY_CHUNKED};
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	ck_assert_int_eq(coil_http_exchange_write(x, "\x01\x02", 2), 2);
	ck_assert_int_eq(coil_http_exchange_write(x, "\x03", 1), 1);
	ck_assert_int_eq(coil_http_exchange_response(x), 200);
	ck_assert_int_eq(coil_http_exchange_version(x), 20);
	ck_assert_int_eq(coil_http_exchange_content_length(x), 3);
	char buf[64];
	ssize_t n = coil_http_exchange_read(x, buf, sizeof buf);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(memcmp(buf, "3 6", 3), 0);
	ck_assert_int_eq(coil_http_exchange_read(x, buf, sizeof buf), 0);
	coil_http_exchange_end(x);

	/* A length announced and not met: -EMSGSIZE, the stream reset. */
	rq.body_len = 10;
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	ck_assert_int_eq(coil_http_exchange_write(x, "abc", 3), 3);
	ck_assert_int_eq(coil_http_exchange_write(x, "toolongforit", 12), -EMSGSIZE);
	ck_assert_int_eq(coil_http_exchange_response(x), -EMSGSIZE);
	coil_http_exchange_end(x);

	get_hello(cl, sv.port);
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	coil_http_client_free(cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(requests_and_exchanges_over_h2c)
{
	coil_test_run(basics_main, NULL);
}
END_TEST

/* ---- 100 fibers on one connection, 10 streams at a time ------------------------- */

struct many {
	coil_http_client *cl;
	int port;
	unsigned ok;
};

static void *one_count(void *arg)
{
	struct many *m = arg;
	struct coil_http_client_response res;
	int r = get(m->cl, m->port, "/count", &res);
	if (r == 0 && res.status == 200 && !strcmp(res.body, "counted"))
		__atomic_add_fetch(&m->ok, 1, __ATOMIC_RELAXED);
	else
		fprintf(stderr, "one_count: %d %d\n", r, res.status);
	coil_http_client_response_free(&res);
	return NULL;
}

static void *many_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.h2_max_streams = 10;
	struct http_srv sv;
	http_srv_start(&sv, &cfg, handler, NULL);
	struct many m = {.cl = client_new(), .port = sv.port};
	get_hello(m.cl, sv.port); /* the connection and its SETTINGS first */
	active = max_active = 0;
	coil_task t[100];
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], one_count, &m), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_uint_eq(m.ok, 100);
	ck_assert_uint_eq(coil_http_client_connections(m.cl), 1);
	ck_assert_uint_le(max_active, 10);
	ck_assert_uint_gt(max_active, 1); /* they did run side by side */
	coil_http_client_free(m.cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(a_hundred_fibers_share_one_connection_within_max_concurrent_streams)
{
	coil_test_run(many_main, NULL);
}
END_TEST

/* ---- flow control: 4 MiB each way ------------------------------------------------- */

static void *big_main(void *arg)
{
	struct http_srv sv;
	http_srv_start(&sv, NULL, handler, NULL);
	coil_http_client *cl = client_new();
	char *body = malloc(FOUR_MIB);
	ck_assert_ptr_nonnull(body);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < FOUR_MIB; i++) {
		body[i] = (char)(i * 7);
		sum += (unsigned char)body[i];
	}
	/* Up, whole. */
	struct coil_http_client_request rq = {.method = "PUT",
					      .host = "127.0.0.1",
					      .port = (uint16_t)sv.port,
					      .target = "/sum",
					      .body = body,
					      .body_len = FOUR_MIB};
	struct coil_http_client_response res;
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
	char want[64];
	snprintf(want, sizeof want, "%u %llu", FOUR_MIB, (unsigned long long)sum);
	ck_assert_str_eq(res.body, want);
	coil_http_client_response_free(&res);
	/* Up, streamed in pieces of 100 KiB. */
	coil_http_exchange *x;
	rq.body = NULL;
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	for (uint32_t off = 0; off < FOUR_MIB; off += 100 * 1024) {
		size_t n = FOUR_MIB - off < 100 * 1024 ? FOUR_MIB - off : 100 * 1024;
		ck_assert_int_eq(coil_http_exchange_write(x, body + off, n), (ssize_t)n);
	}
	ck_assert_int_eq(coil_http_exchange_response(x), 200);
	char buf[64] = {0};
	ck_assert_int_gt(coil_http_exchange_read(x, buf, sizeof buf - 1), 0);
	ck_assert_str_eq(buf, want);
	coil_http_exchange_end(x);
	/* Down. */
	ck_assert_int_eq(get(cl, sv.port, "/big", &res), 0);
	ck_assert_int_eq(res.status, 200);
	ck_assert_uint_eq(res.body_len, FOUR_MIB);
	for (uint32_t i = 0; i < FOUR_MIB; i++)
		if ((unsigned char)res.body[i] != i % 251)
			ck_abort_msg("byte %u", i);
	coil_http_client_response_free(&res);
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	free(body);
	coil_http_client_free(cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(four_mib_each_way_through_the_flow_control)
{
	coil_test_run(big_main, NULL);
}
END_TEST

/* ---- GOAWAY mid-flight -------------------------------------------------------------- */

static void *one_hello(void *arg)
{
	struct many *m = arg;
	struct coil_http_client_response res;
	int r = get(m->cl, m->port, "/hello", &res);
	if (r == 0 && res.status == 200)
		__atomic_add_fetch(&m->ok, 1, __ATOMIC_RELAXED);
	else
		fprintf(stderr, "one_hello: %d\n", r);
	coil_http_client_response_free(&res);
	return NULL;
}

static void *goaway_main(void *arg)
{
	/* Each connection serves 5 requests, then GOAWAY: of 40 requests
	 * sent at once, those past the 5th of each connection were not
	 * processed and go to a new one. */
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.max_requests = 5;
	struct http_srv sv;
	http_srv_start(&sv, &cfg, handler, NULL);
	struct many m = {.cl = client_new(), .port = sv.port};
	coil_task t[40];
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], one_hello, &m), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_uint_eq(m.ok, 40);
	ck_assert_uint_ge(coil_http_client_connections(m.cl), 8);
	coil_http_client_free(m.cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(goaway_mid_flight_sends_unprocessed_requests_again)
{
	coil_test_run(goaway_main, NULL);
}
END_TEST

/* ---- a write that fails with an answer already received ---------------------------- */

/*
 * A server of raw frames: it opens the windows wide, reads until it has
 * the client's SETTINGS ACK and the HEADERS of streams 1 (a GET) and 3 (a
 * POST of 16 MiB), then stops reading, answers stream 1, sends GOAWAY
 * (last stream 1) and closes with the body unread: a reset. The client's
 * owner is still writing the body (the socket buffers hold far less), so
 * its write fails while the answer and the GOAWAY wait unread in its
 * socket: they count, whatever the order of events.
 */
struct rst_srv {
	int lfd;
	coil_sem first; /* stream 1's HEADERS came */
};

static void *rst_server(void *arg)
{
	struct rst_srv *sv = arg;
	int fd = coil_tcp_accept(sv->lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	static const unsigned char open_wide[] = {
		0,    0,    6, 4, 0, 0, 0, 0, 0, 0,    4,    0x7f, 0xff,
		0xff, 0xff,					      /* INITIAL_WINDOW_SIZE */
		0,    0,    4, 8, 0, 0, 0, 0, 0, 0x7f, 0xff, 0,	   0, /* WINDOW_UPDATE 0 */
	};
	ck_assert_int_eq(coil_sock_write_all(fd, open_wide, sizeof open_wide), sizeof open_wide);
	/* Frame heads, byte by byte; payloads skipped (the preface first). */
	static unsigned char buf[16384];
	unsigned char hd[9];
	size_t skip = 24, hd_len = 0;
	bool ack = false, h1 = false, h3 = false;
	while (!(ack && h1 && h3)) {
		ssize_t n = coil_sock_read(fd, buf, sizeof buf);
		ck_assert_int_gt(n, 0);
		for (size_t i = 0; i < (size_t)n;) {
			if (skip) {
				size_t k = skip < (size_t)n - i ? skip : (size_t)n - i;
				skip -= k;
				i += k;
				continue;
			}
			hd[hd_len++] = buf[i++];
			if (hd_len < 9)
				continue;
			hd_len = 0;
			skip = (size_t)hd[0] << 16 | (size_t)hd[1] << 8 | hd[2];
			unsigned type = hd[3], flags = hd[4], id = hd[8] | (unsigned)hd[7] << 8;
			if (type == 4 && (flags & 1))
				ack = true;
			if (type == 1 && id == 1 && !h1) {
				h1 = true;
				coil_sem_release(&sv->first);
			}
			if (type == 1 && id == 3)
				h3 = true;
		}
	}
	static const unsigned char answer[] = {
		0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88,			/* HEADERS :status 200 */
		0, 0, 2, 0, 1, 0, 0, 0, 1, 'o',	 'k',			/* DATA "ok", END_STREAM */
		0, 0, 8, 7, 0, 0, 0, 0, 0, 0,	 0,   0, 1, 0, 0, 0, 0, /* GOAWAY 1 NO_ERROR */
	};
	ck_assert_int_eq(coil_sock_write_all(fd, answer, sizeof answer), sizeof answer);
	/* Every byte at the client before the reset. */
	int queued;
	while (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0)
		coil_task_yield();
	coil_close(fd); /* the body unread: RST */
	return NULL;
}

struct one_req {
	coil_http_client *cl;
	int port;
	char *body;
	int result;
};

static void *post_big(void *arg)
{
	struct one_req *p = arg;
	struct coil_http_client_request rq = {.method = "POST",
					      .host = "127.0.0.1",
					      .port = (uint16_t)p->port,
					      .target = "/sum",
					      .body = p->body,
					      .body_len = 16u << 20};
	struct coil_http_client_response res;
	p->result = coil_http_client_send(p->cl, &rq, &res);
	coil_http_client_response_free(&res);
	return NULL;
}

static void *get_ok(void *arg)
{
	struct one_req *p = arg;
	struct coil_http_client_response res;
	p->result = get(p->cl, p->port, "/a", &res);
	if (p->result == 0) {
		ck_assert_int_eq(res.status, 200);
		ck_assert_str_eq(res.body, "ok");
	}
	coil_http_client_response_free(&res);
	return NULL;
}

static void *write_fails_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct rst_srv sv;
	sv.lfd = coil_tcp_listen("127.0.0.1", 0, 4, 0);
	ck_assert_int_ge(sv.lfd, 0);
	int small = 16384; /* the accepted socket's too: the body fills it soon */
	ck_assert_int_eq(setsockopt(sv.lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	coil_sem_init(&sv.first, 0);
	coil_task srv, tg, tp;
	ck_assert_int_eq(coil_task_spawn(&srv, rst_server, &sv), 0);
	coil_http_client *cl = client_new();
	int port = coil_sock_port(sv.lfd);
	struct one_req g = {.cl = cl, .port = port};
	struct one_req p = {.cl = cl, .port = port, .body = calloc(1, 16u << 20)};
	ck_assert_ptr_nonnull(p.body);
	ck_assert_int_eq(coil_task_spawn(&tg, get_ok, &g), 0);
	ck_assert_int_eq(coil_sem_acquire(&sv.first), 0); /* the GET is stream 1 */
	ck_assert_int_eq(coil_task_spawn(&tp, post_big, &p), 0);
	ck_assert_int_eq(coil_task_join(tg, NULL), 0);
	ck_assert_int_eq(coil_task_join(tp, NULL), 0);
	ck_assert_int_eq(g.result, 0);		 /* answered before the reset */
	ck_assert_int_eq(p.result, -ECONNRESET); /* past GOAWAY's last, not idempotent */
	ck_assert_int_eq(coil_task_join(srv, NULL), 0);
	coil_http_client_free(cl);
	free(p.body);
	coil_sem_destroy(&sv.first);
	coil_close(sv.lfd);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_answer_received_before_a_failed_write_still_counts)
{
	coil_test_run(write_fails_main, NULL);
}
END_TEST

/* ---- servers of raw frames: PING, streams waiting for a slot ------------------------ */

/*
 * A server of raw frames, a fiber per connection: SETTINGS (with
 * MAX_CONCURRENT_STREAMS when max_streams is set), every SETTINGS and
 * PING acknowledged, each request answered "ok" once its END_STREAM came.
 * Its first connection ends as `first` says; the others serve.
 */
enum raw_end {
	RAW_SERVE,	    /* serve until the client closes */
	RAW_GOAWAY_EACH,    /* every connection: GOAWAY(0) at each request's HEADERS */
	RAW_MUTE_AT_REQ2,   /* at the second request's HEADERS: read on, answer
			     * nothing, PINGs included (at_end: one came) */
	RAW_SILENT_AT_REQ2, /* at the second request's HEADERS: read and answer no more */
	RAW_CLOSE_AT_REQ2,  /* at the second request's HEADERS: close */
};

struct raw {
	int lfd;
	uint32_t max_streams;
	bool wide; /* windows open wide: a big body fills the socket */
	enum raw_end first;
	coil_task acceptor, conns[8];
	unsigned nconns;
	coil_sem ping;	 /* released at each PING received */
	coil_sem at_end; /* the first connection reached its end */
	coil_sem go;	 /* the test lets it go: it closes */
};

struct raw_conn {
	struct raw *sv;
	int fd;
	bool first;
};

static void raw_answer(int fd, uint32_t id)
{
	unsigned char a[] = {
		0, 0, 1, 1, 4, 0, 0, 0, 0, 0x88,      /* HEADERS :status 200 */
		0, 0, 2, 0, 1, 0, 0, 0, 0, 'o',	 'k', /* DATA "ok", END_STREAM */
	};
	for (int i = 0; i < 4; i++) /* the stream id of both */
		a[5 + i] = a[15 + i] = (unsigned char)(id >> (24 - 8 * i));
	coil_sock_write_all(fd, a, sizeof a);
}

static void *raw_conn_main(void *arg)
{
	struct raw_conn *c = arg;
	struct raw *sv = c->sv;
	int fd = c->fd;
	enum raw_end end = c->first || sv->first == RAW_GOAWAY_EACH ? sv->first : RAW_SERVE;
	free(c);
	uint32_t m = sv->max_streams;
	unsigned char settings[15] = {0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3}; /* MAX_CONCURRENT */
	for (int i = 0; i < 4; i++)
		settings[11 + i] = (unsigned char)(m >> (24 - 8 * i));
	if (!m)
		settings[2] = 0; /* empty */
	coil_sock_write_all(fd, settings, m ? sizeof settings : 9);
	static const unsigned char wide[] = {
		0,    0,    6, 4, 0, 0, 0, 0, 0, 0,    4,    0x7f, 0xff,
		0xff, 0xff,					      /* INITIAL_WINDOW_SIZE */
		0,    0,    4, 8, 0, 0, 0, 0, 0, 0x7f, 0xff, 0,	   0, /* WINDOW_UPDATE 0 */
	};
	if (sv->wide)
		coil_sock_write_all(fd, wide, sizeof wide);
	size_t cap = 65536, have = 0, at = 0;
	unsigned char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	bool preface = false, mute = false, pinged = false;
	unsigned requests = 0;
	for (;;) {
		ssize_t n = coil_sock_read(fd, buf + have, cap - have);
		if (n <= 0)
			goto done;
		have += (size_t)n;
		if (!preface) {
			if (have < 24)
				continue;
			at = 24;
			preface = true;
		}
		while (have - at >= 9) {
			unsigned char *f = buf + at;
			size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
			if (have - at < 9 + len)
				break;
			unsigned type = f[3], flags = f[4];
			uint32_t id = (uint32_t)(f[5] & 0x7f) << 24 | (uint32_t)f[6] << 16 |
				      (uint32_t)f[7] << 8 | f[8];
			at += 9 + len;
			if (mute) {
				if (type == 6 && !(flags & 1) && !pinged) {
					pinged = true; /* and left unanswered */
					coil_sem_release(&sv->at_end);
				}
				continue;
			}
			if (type == 4 && !(flags & 1)) {
				static const unsigned char ack[] = {0, 0, 0, 4, 1, 0, 0, 0, 0};
				coil_sock_write_all(fd, ack, sizeof ack);
			} else if (type == 6 && !(flags & 1)) {
				coil_sem_release(&sv->ping);
				f[4] = 1; /* the same frame, as its ACK */
				coil_sock_write_all(fd, f, 9 + len);
			} else if (type == 1 && end == RAW_GOAWAY_EACH) {
				static const unsigned char goaway[] = {
					0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				}; /* last stream 0: none processed */
				coil_sock_write_all(fd, goaway, sizeof goaway);
			} else if (type == 1) {
				if (++requests == 2 && end == RAW_MUTE_AT_REQ2) {
					mute = true;
					continue;
				}
				if (requests == 2 && end >= RAW_SILENT_AT_REQ2)
					goto the_end;
				if (flags & 1)
					raw_answer(fd, id);
			} else if (type == 0 && (flags & 1)) {
				raw_answer(fd, id);
			}
		}
		memmove(buf, buf + at, have - at);
		have -= at;
		at = 0;
	}
the_end:
	coil_sem_release(&sv->at_end);
	ck_assert_int_eq(coil_sem_acquire(&sv->go), 0);
done:
	coil_close(fd);
	free(buf);
	return NULL;
}

static void *raw_acceptor(void *arg)
{
	struct raw *sv = arg;
	for (;;) {
		int fd = coil_tcp_accept(sv->lfd, NULL, NULL);
		if (fd < 0)
			return NULL; /* cancelled: the test is done */
		struct raw_conn *c = malloc(sizeof *c);
		ck_assert_ptr_nonnull(c);
		*c = (struct raw_conn){sv, fd, sv->nconns == 0};
		ck_assert_uint_lt(sv->nconns, 8);
		ck_assert_int_eq(coil_task_spawn(&sv->conns[sv->nconns++], raw_conn_main, c), 0);
	}
}

static void raw_start(struct raw *sv, uint32_t max_streams, enum raw_end first, bool wide)
{
	*sv = (struct raw){.max_streams = max_streams, .first = first, .wide = wide};
	sv->lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(sv->lfd, 0);
	coil_sem_init(&sv->ping, 0);
	coil_sem_init(&sv->at_end, 0);
	coil_sem_init(&sv->go, 0);
	ck_assert_int_eq(coil_task_spawn(&sv->acceptor, raw_acceptor, sv), 0);
}

/* After the client is freed: the connections end, the first let go.
 * Returns how many were accepted. */
static unsigned raw_stop(struct raw *sv)
{
	ck_assert_int_eq(coil_task_cancel(sv->acceptor), 0);
	ck_assert_int_eq(coil_task_join(sv->acceptor, NULL), 0);
	coil_sem_release(&sv->go);
	for (unsigned i = 0; i < sv->nconns; i++)
		ck_assert_int_eq(coil_task_join(sv->conns[i], NULL), 0);
	coil_close(sv->lfd);
	coil_sem_destroy(&sv->ping);
	coil_sem_destroy(&sv->at_end);
	coil_sem_destroy(&sv->go);
	return sv->nconns;
}

/* Wait for s, bounded: a PING that never comes fails the test, not its
 * timeout. */
static int acquire_within(coil_sem *s, int64_t ns)
{
	coil_scope sc;
	ck_assert_int_eq(coil_scope_enter_timeout(&sc, http_test_timeout(ns)), 0);
	int r = coil_sem_acquire(s);
	coil_scope_exit(&sc);
	return r;
}

static coil_http_client *ping_client(int64_t interval, int64_t timeout)
{
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	ck_assert_int_eq(cfg.h2_ping_interval, 15 * COIL_NSEC_PER_SEC);
	ck_assert_int_eq(cfg.h2_ping_timeout, 15 * COIL_NSEC_PER_SEC);
	cfg.http2 = 1;
	cfg.h2_ping_interval = interval;
	cfg.h2_ping_timeout = timeout;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), 0);
	return cl;
}

static int raw_post(coil_http_client *cl, int port, const char *target)
{
	struct coil_http_client_request rq = {.method = "POST",
					      .host = "127.0.0.1",
					      .port = (uint16_t)port,
					      .target = target,
					      .body = "abc",
					      .body_len = 3};
	struct coil_http_client_response res;
	int r = coil_http_client_send(cl, &rq, &res);
	if (r == 0) {
		ck_assert_int_eq(res.status, 200);
		ck_assert_str_eq(res.body, "ok");
	}
	coil_http_client_response_free(&res);
	return r;
}

/*
 * A server that stops answering (the second request's HEADERS) but reads
 * on: the request it took waits, and once nothing came for 20 ms the
 * client's PING goes unanswered. A request started then waits for the
 * ACK, unsent. When the ACK is ping_timeout late the connection is lost:
 * the sent request fails with -ETIMEDOUT, long before its 60 s, and the
 * waiting one (a POST too) goes to a new connection. One ping_timeout is
 * waited for both: 1 s, times CK_TIMEOUT_MULTIPLIER, for the PINGs of the
 * answered requests, whose ACKs a loaded machine may delay.
 */
struct timed_req {
	coil_http_client *cl;
	int port;
	int result;
	coil_sem done;
};

static void *timed_get(void *arg)
{
	struct timed_req *t = arg;
	struct coil_http_client_response res;
	t->result = get(t->cl, t->port, "/two", &res);
	coil_http_client_response_free(&res);
	coil_sem_release(&t->done);
	return NULL;
}

static void *ping_lost_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct raw sv;
	raw_start(&sv, 0, RAW_MUTE_AT_REQ2, false);
	struct timed_req t = {.port = coil_sock_port(sv.lfd)};
	t.cl = ping_client(20 * COIL_NSEC_PER_MSEC, http_test_timeout(COIL_NSEC_PER_SEC));
	coil_sem_init(&t.done, 0);
	ck_assert_int_eq(raw_post(t.cl, t.port, "/one"), 0);
	coil_task task;
	ck_assert_int_eq(coil_task_spawn(&task, timed_get, &t), 0);
	ck_assert_int_eq(acquire_within(&sv.at_end, 10 * COIL_NSEC_PER_SEC), 0);
	ck_assert_int_eq(raw_post(t.cl, t.port, "/three"), 0);
	ck_assert_int_eq(acquire_within(&t.done, 20 * COIL_NSEC_PER_SEC), 0);
	ck_assert_int_eq(coil_task_join(task, NULL), 0);
	ck_assert_int_eq(t.result, -ETIMEDOUT);
	ck_assert_uint_eq(coil_http_client_connections(t.cl), 2);
	coil_http_client_free(t.cl);
	ck_assert_uint_eq(raw_stop(&sv), 2);
	coil_sem_destroy(&t.done);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_unanswered_ping_fails_the_sent_requests_and_moves_the_waiting_ones)
{
	coil_test_run(ping_lost_main, NULL);
}
END_TEST

/*
 * A server that stops reading (the second request's HEADERS, its windows
 * open wide): a 16 MiB POST fills the sockets, and the write that takes
 * nothing for ping_timeout loses the connection (-ETIMEDOUT, not after the
 * 60 s). No PING is ever due (an interval of 60 s): the write's bound alone
 * ends it, so ping_timeout can be short, 100 ms (times
 * CK_TIMEOUT_MULTIPLIER): the other writes find room in the socket at once.
 * The next request goes to a new connection.
 */
static void *timed_post_big(void *arg)
{
	struct timed_req *t = arg;
	size_t len = 16u << 20;
	char *body = calloc(1, len);
	ck_assert_ptr_nonnull(body);
	struct coil_http_client_request rq = {.method = "POST",
					      .host = "127.0.0.1",
					      .port = (uint16_t)t->port,
					      .target = "/two",
					      .body = body,
					      .body_len = len};
	struct coil_http_client_response res;
	t->result = coil_http_client_send(t->cl, &rq, &res);
	coil_http_client_response_free(&res);
	free(body);
	coil_sem_release(&t->done);
	return NULL;
}

static void *write_stalled_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct raw sv;
	raw_start(&sv, 0, RAW_SILENT_AT_REQ2, true);
	int small = 16384; /* the accepted sockets' too: the body fills them soon */
	ck_assert_int_eq(setsockopt(sv.lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	struct timed_req t = {.port = coil_sock_port(sv.lfd)};
	t.cl = ping_client(60 * COIL_NSEC_PER_SEC, http_test_timeout(100 * COIL_NSEC_PER_MSEC));
	coil_sem_init(&t.done, 0);
	struct coil_http_client_response res;
	ck_assert_int_eq(get(t.cl, t.port, "/one", &res), 0);
	coil_http_client_response_free(&res);
	coil_task task;
	ck_assert_int_eq(coil_task_spawn(&task, timed_post_big, &t), 0);
	ck_assert_int_eq(acquire_within(&t.done, 20 * COIL_NSEC_PER_SEC), 0);
	ck_assert_int_eq(coil_task_join(task, NULL), 0);
	ck_assert_int_eq(t.result, -ETIMEDOUT);
	ck_assert_int_eq(coil_sem_acquire(&sv.at_end), 0);
	ck_assert_int_eq(get(t.cl, t.port, "/three", &res), 0);
	coil_http_client_response_free(&res);
	coil_http_client_free(t.cl);
	ck_assert_uint_eq(raw_stop(&sv), 2);
	coil_sem_destroy(&t.done);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_upload_fails_fast_when_its_connection_takes_nothing)
{
	coil_test_run(write_stalled_main, NULL);
}
END_TEST

static void *ping_kept_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct raw sv;
	raw_start(&sv, 0, RAW_SERVE, false);
	int port = coil_sock_port(sv.lfd);
	coil_http_client *cl = ping_client(20 * COIL_NSEC_PER_MSEC, 0);
	ck_assert_int_eq(raw_post(cl, port, "/one"), 0);
	for (int i = 0; i < 3; i++) /* idle, pinged, answered */
		ck_assert_int_eq(acquire_within(&sv.ping, 10 * COIL_NSEC_PER_SEC), 0);
	ck_assert_int_eq(raw_post(cl, port, "/two"), 0);
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	coil_http_client_free(cl);
	ck_assert_uint_eq(raw_stop(&sv), 1);
	/* Off: no PING in as long as three came in. */
	raw_start(&sv, 0, RAW_SERVE, false);
	port = coil_sock_port(sv.lfd);
	cl = ping_client(-1, 0);
	ck_assert_int_eq(raw_post(cl, port, "/one"), 0);
	coil_sleep(100 * COIL_NSEC_PER_MSEC);
	ck_assert_int_eq(raw_post(cl, port, "/two"), 0);
	ck_assert_int_eq(coil_sem_try_acquire(&sv.ping), -EAGAIN);
	coil_http_client_free(cl);
	ck_assert_uint_eq(raw_stop(&sv), 1);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_connection_that_answers_pings_is_kept)
{
	coil_test_run(ping_kept_main, NULL);
}
END_TEST

START_TEST(a_ping_timeout_below_zero_is_einval)
{
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	cfg.http2 = 1;
	cfg.h2_ping_timeout = -1;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), -EINVAL);
}
END_TEST

/* ---- streams wait on the connection for a slot, not in nghttp2 -------------------- */

static void *bound_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.h2_max_streams = 2;
	struct http_srv sv;
	http_srv_start(&sv, &cfg, handler, NULL);
	struct many m = {.cl = client_new(), .port = sv.port};
	get_hello(m.cl, sv.port); /* the server's SETTINGS first */
	active = max_active = 0;
	coil_task t[50];
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], one_count, &m), 0);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_uint_eq(m.ok, 50);
	ck_assert_uint_eq(coil_http_client_connections(m.cl), 1);
	ck_assert_uint_le(max_active, 2);
	/* White-box: nghttp2 never held more than the server's 2 (the
	 * others waited on the connection). */
	ck_assert_uint_le(coil__http_client_h2_peak(m.cl), 2);
	ck_assert_uint_ge(coil__http_client_h2_peak(m.cl), 1);
	coil_http_client_free(m.cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(streams_past_max_concurrent_wait_on_the_connection_not_in_nghttp2)
{
	coil_test_run(bound_main, NULL);
}
END_TEST

/* ---- a request never sent, on a connection that ends without GOAWAY ---------------- */

static void *unsent_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct raw sv;
	raw_start(&sv, 1, RAW_CLOSE_AT_REQ2, false); /* one stream at a time */
	int port = coil_sock_port(sv.lfd);
	coil_http_client *cl = ping_client(-1, 0);
	struct coil_http_client_response res;
	ck_assert_int_eq(get(cl, port, "/", &res), 0); /* its SETTINGS known */
	coil_http_client_response_free(&res);
	struct coil_http_client_request rq = {.method = "POST",
					      .host = "127.0.0.1",
					      .port = (uint16_t)port,
					      .target = "/a",
					      .body = "abc",
					      .body_len = 3};
	coil_http_exchange *a, *b;
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &a), 0);
	ck_assert_int_eq(coil_sem_acquire(&sv.at_end), 0); /* a was sent */
	rq.target = "/b";
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &b), 0);    /* waits for a's slot */
	coil_sem_release(&sv.go);				       /* the server closes */
	ck_assert_int_eq(coil_http_exchange_response(a), -ECONNRESET); /* sent: maybe processed */
	ck_assert_int_eq(coil_http_exchange_response(b), 200);	       /* never sent: again */
	char buf[8];
	ck_assert_int_eq(coil_http_exchange_read(b, buf, sizeof buf), 2);
	ck_assert_int_eq(memcmp(buf, "ok", 2), 0);
	coil_http_exchange_end(a);
	coil_http_exchange_end(b);
	ck_assert_uint_eq(coil_http_client_connections(cl), 2);
	coil_http_client_free(cl);
	ck_assert_uint_eq(raw_stop(&sv), 2);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_request_never_sent_goes_to_a_new_connection_after_a_reset)
{
	coil_test_run(unsent_main, NULL);
}
END_TEST

/* ---- an answer before the whole body ------------------------------------------------- */

static void *early_answer_main(void *arg)
{
	struct http_srv sv;
	http_srv_start(&sv, NULL, handler, NULL);
	coil_http_client *cl = client_new();
	/* /hello answers without reading the body, and the server resets
	 * the stream with NO_ERROR (RFC 9113 8.1: the rest is not wanted).
	 * The writes stop with -EALREADY, and the answer is read, as over
	 * HTTP/1.1; not -ECONNRESET with the answer lost. */
	struct coil_http_client_request rq = {.method = "PUT",
					      .host = "127.0.0.1",
					      .port = (uint16_t)sv.port,
					      .target = "/hello",
					      .body_len = 4u << 20};
	coil_http_exchange *x;
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	static char piece[16384];
	ssize_t w;
	size_t sent = 0;
	while ((w = coil_http_exchange_write(x, piece, sizeof piece)) > 0)
		sent += (size_t)w;
	ck_assert_int_eq(w, -EALREADY);
	ck_assert_uint_lt(sent, rq.body_len);
	ck_assert_int_eq(coil_http_exchange_write(x, piece, sizeof piece), -EALREADY);
	ck_assert_int_eq(coil_http_exchange_response(x), 200);
	char buf[32];
	ck_assert_int_eq(coil_http_exchange_read(x, buf, sizeof buf), 13);
	ck_assert_int_eq(memcmp(buf, "Hello, World!", 13), 0);
	ck_assert_int_eq(coil_http_exchange_read(x, buf, sizeof buf), 0);
	coil_http_exchange_end(x);
	get_hello(cl, sv.port); /* the connection goes on */
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	coil_http_client_free(cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(an_answer_before_the_whole_body_stops_the_writes_and_is_read)
{
	coil_test_run(early_answer_main, NULL);
}
END_TEST

/* ---- a server refusing every request ------------------------------------------------ */

static void *goaway_each_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct raw sv;
	raw_start(&sv, 0, RAW_GOAWAY_EACH, false);
	int port = coil_sock_port(sv.lfd);
	coil_http_client *cl = ping_client(-1, 0);
	/* Each connection refuses the GET (GOAWAY, last stream 0): it moves
	 * to a new one three times, then fails, instead of connecting in a
	 * loop until its timeout. */
	struct coil_http_client_response res;
	ck_assert_int_eq(get(cl, port, "/", &res), -ECONNRESET);
	ck_assert_uint_eq(coil_http_client_connections(cl), 4);
	coil_http_client_free(cl);
	ck_assert_uint_eq(raw_stop(&sv), 4);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_request_every_connection_refuses_fails_after_three_moves)
{
	coil_test_run(goaway_each_main, NULL);
}
END_TEST

/* ---- a connect that never completes ------------------------------------------------- */

/* A listener that completes no connect: its backlog (1) is filled with
 * connections never accepted, so the kernel drops a new SYN and a connect
 * waits. Returns its fd; the filling ones go to fill[0 .. *n). */
static int full_listener(int fill[4], int *n)
{
	int lfd = coil_tcp_listen("127.0.0.1", 0, 1, 0);
	ck_assert_int_ge(lfd, 0);
	for (*n = 0; *n < 4;) {
		coil_scope s;
		ck_assert_int_eq(coil_scope_enter_timeout(&s, 100 * COIL_NSEC_PER_MSEC), 0);
		int fd = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(lfd));
		coil_scope_exit(&s);
		if (fd < 0) {
			ck_assert_int_eq(fd, -ETIMEDOUT); /* full */
			break;
		}
		fill[(*n)++] = fd;
	}
	ck_assert_int_lt(*n, 4);
	return lfd;
}

static void full_listener_close(int lfd, const int fill[4], int n)
{
	for (int i = 0; i < n; i++)
		coil_close(fill[i]);
	coil_close(lfd);
}

static void *connect_timeout_main(void *arg)
{
	int fds = coil_test_count_fds();
	int fill[4], nfill;
	int lfd = full_listener(fill, &nfill);
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	cfg.http2 = 1;
	cfg.timeout = http_test_timeout(300 * COIL_NSEC_PER_MSEC);
	struct timed_req a = {.port = coil_sock_port(lfd)};
	ck_assert_int_eq(coil_http_client_new(&a.cl, &cfg), 0);
	coil_sem_init(&a.done, 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, timed_get, &a), 0);
	/* b comes while a's connection connects: that connect's timeout
	 * passes before b's own, and b must still see -ETIMEDOUT, as over
	 * HTTP/1.1 (the connect timed out), not a reset. */
	ck_assert_int_eq(coil_sleep(50 * COIL_NSEC_PER_MSEC), 0);
	struct coil_http_client_response res;
	ck_assert_int_eq(get(a.cl, a.port, "/", &res), -ETIMEDOUT);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(a.result, -ETIMEDOUT);
	ck_assert_uint_eq(coil_http_client_connections(a.cl), 0);
	ck_assert_int_eq(coil_http_client_free(a.cl), 0);
	coil_sem_destroy(&a.done);
	full_listener_close(lfd, fill, nfill);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_connect_that_times_out_fails_every_request_with_etimedout)
{
	coil_test_run(connect_timeout_main, NULL);
}
END_TEST

static void *free_connecting_main(void *arg)
{
	int fds = coil_test_count_fds();
	int fill[4], nfill;
	int lfd = full_listener(fill, &nfill);
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	cfg.http2 = 1;
	cfg.timeout = 120 * COIL_NSEC_PER_SEC;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), 0);
	/* The request gives up (its caller's scope); its connection's owner
	 * still connects. The free tells it to end, and it does at once,
	 * not at the connect's 120 s. */
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, 100 * COIL_NSEC_PER_MSEC), 0);
	struct coil_http_client_response res;
	ck_assert_int_eq(get(cl, coil_sock_port(lfd), "/", &res), -ETIMEDOUT);
	coil_scope_exit(&s);
	int64_t t0 = coil_now();
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	ck_assert_int_lt(coil_now() - t0, http_test_timeout(10 * COIL_NSEC_PER_SEC));
	full_listener_close(lfd, fill, nfill);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_client_freed_while_its_connection_connects_ends_it_at_once)
{
	coil_test_run(free_connecting_main, NULL);
}
END_TEST

/* ---- the free, from a thread that is no fiber ---------------------------------------- */

struct free_try {
	coil_http_client *cl;
	int result;
};

static void *free_from_thread(void *arg)
{
	struct free_try *f = arg;
	f->result = coil_http_client_free(f->cl);
	return NULL;
}

static void *free_thread_main(void *arg)
{
	struct http_srv sv;
	http_srv_start(&sv, NULL, handler, NULL);
	coil_http_client *cl = client_new();
	get_hello(cl, sv.port); /* its connection stays, its owner runs */
	/* No fiber can wait for the owner: refused, nothing freed (freeing
	 * the pool under the running owner was a use after free). */
	struct free_try f = {.cl = cl};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, free_from_thread, &f), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.result, -EPERM);
	get_hello(cl, sv.port);
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(the_free_with_a_connection_open_is_eperm_from_a_thread_that_is_no_fiber)
{
	coil_test_run(free_thread_main, NULL);
}
END_TEST

static void *free_open_main(void *arg)
{
	struct http_srv sv;
	http_srv_start(&sv, NULL, handler, NULL);
	for (int http2 = 0; http2 < 2; http2++) {
		struct coil_http_client_config cfg;
		coil_http_client_config_init(&cfg);
		cfg.http2 = http2;
		coil_http_client *cl;
		ck_assert_int_eq(coil_http_client_new(&cl, &cfg), 0);
		struct coil_http_client_request rq = {
			.host = "127.0.0.1", .port = (uint16_t)sv.port, .target = "/hello"};
		coil_http_exchange *x;
		ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
		ck_assert_int_eq(coil_http_exchange_response(x), 200);
		/* x still uses the client: refused, nothing freed (x's end
		 * would use what was). */
		ck_assert_int_eq(coil_http_client_free(cl), -EBUSY);
		coil_http_exchange_end(x);
		ck_assert_int_eq(coil_http_client_free(cl), 0);
	}
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(the_free_with_an_exchange_not_ended_is_ebusy)
{
	coil_test_run(free_open_main, NULL);
}
END_TEST

/* ---- a stream reset by the server; a cancelled request ------------------------------- */

static void *reset_main(void *arg)
{
	struct http_srv sv;
	http_srv_start(&sv, NULL, handler, NULL);
	coil_http_client *cl = client_new();
	get_hello(cl, sv.port);
	struct coil_http_client_response res;
	ck_assert_int_eq(get(cl, sv.port, "/reset", &res), -ECONNRESET);
	get_hello(cl, sv.port); /* the connection goes on */
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	coil_http_client_free(cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(a_stream_the_server_resets_fails_alone)
{
	coil_test_run(reset_main, NULL);
}
END_TEST

struct held {
	coil_http_client *cl;
	int port;
	int result;
};

static void *hold_request(void *arg)
{
	struct held *h = arg;
	struct coil_http_client_response res;
	h->result = get(h->cl, h->port, "/hold", &res);
	coil_http_client_response_free(&res);
	return NULL;
}

static void *cancel_main(void *arg)
{
	struct http_srv sv;
	coil_sem_init(&entered, 0);
	coil_sem_init(&go, 0);
	http_srv_start(&sv, NULL, handler, NULL);
	coil_http_client *cl = client_new();
	struct held h = {.cl = cl, .port = sv.port};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, hold_request, &h), 0);
	ck_assert_int_eq(coil_sem_acquire(&entered), 0); /* its handler runs */
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(h.result, -ECANCELED);
	/* The RST_STREAM went before this request's HEADERS: once it is
	 * answered, the server knows the held stream is gone. */
	get_hello(cl, sv.port);
	coil_sem_release(&go);
	ck_assert_int_eq(coil_sem_acquire(&entered), 0);
	ck_assert_int_lt(held_result, 0); /* its answer had nowhere to go */
	get_hello(cl, sv.port);
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	coil_http_client_free(cl);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	coil_sem_destroy(&entered);
	coil_sem_destroy(&go);
	return NULL;
}

START_TEST(a_cancelled_request_resets_its_stream_and_only_it)
{
	coil_test_run(cancel_main, NULL);
}
END_TEST

/* ---- servers that speak no HTTP/2 ------------------------------------------------------ */

struct bad {
	int lfd;
	const char *say; /* NULL: close at once */
	size_t len;
};

static void *bad_server(void *arg)
{
	struct bad *b = arg;
	int fd = coil_tcp_accept(b->lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	if (b->say) {
		char buf[256];
		coil_sock_read(fd, buf, sizeof buf); /* the preface */
		coil_sock_write_all(fd, b->say, b->len);
		coil_sock_shutdown(fd, SHUT_WR);
		while (coil_sock_read(fd, buf, sizeof buf) > 0)
			; /* until the client's close */
	}
	coil_close(fd);
	return NULL;
}

static int against(const char *say, size_t len)
{
	struct bad b = {.say = say, .len = len};
	b.lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(b.lfd, 0);
	int port = coil_sock_port(b.lfd);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, bad_server, &b), 0);
	coil_http_client *cl = client_new();
	struct coil_http_client_response res;
	int r = get(cl, port, "/", &res);
	coil_http_client_response_free(&res);
	coil_http_client_free(cl);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	coil_close(b.lfd);
	return r;
}

static void *bad_main(void *arg)
{
	int fds = coil_test_count_fds();
	static const char h1[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	ck_assert_int_eq(against(h1, sizeof h1 - 1), -EPROTO);
	/* A SETTINGS frame of 5 bytes (a multiple of 6 is due), then junk. */
	static const char bad_settings[] = "\x00\x00\x05\x04\x00\x00\x00\x00\x00"
					   "\x01\x02\x03\x04\x05garbage garbage";
	ck_assert_int_eq(against(bad_settings, sizeof bad_settings - 1), -EPROTO);
	/* A CONTINUATION out of nowhere after a good SETTINGS. */
	static const char stray[] = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
				    "\x00\x00\x04\x09\x04\x00\x00\x00\x01junk";
	ck_assert_int_eq(against(stray, sizeof stray - 1), -EPROTO);
	ck_assert_int_eq(against(NULL, 0), -ECONNRESET);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_server_speaking_no_http2_fails_with_a_clear_error)
{
	coil_test_run(bad_main, NULL);
}
END_TEST

/* ---- h2 over TLS, by ALPN ----------------------------------------------------------------- */

static char certs[256];

static void *tls_main(void *arg)
{
	char pem[320], key[320], ca[320];
	snprintf(pem, sizeof pem, "%s/server.pem", certs);
	snprintf(key, sizeof key, "%s/server.key", certs);
	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	static const char *const h2_h1[] = {"h2", "http/1.1"}, *const h1[] = {"http/1.1"};
	for (int round = 0; round < 2; round++) {
		coil_tls_ctx *sctx, *cctx;
		ck_assert_int_eq(coil_tls_ctx_server(&sctx, pem, key), 0);
		ck_assert_int_eq(
			coil_tls_ctx_set_alpn(sctx, round == 0 ? h2_h1 : h1, round == 0 ? 2 : 1),
			0);
		ck_assert_int_eq(coil_tls_ctx_client(&cctx, ca), 0);
		ck_assert_int_eq(coil_tls_ctx_set_alpn(cctx, h2_h1, 1), 0); /* "h2" */
		struct coil_http_config cfg;
		coil_http_config_init(&cfg);
		cfg.tls = sctx;
		struct http_srv sv;
		http_srv_start(&sv, &cfg, handler, NULL);
		struct coil_http_client_config ccfg;
		coil_http_client_config_init(&ccfg);
		ccfg.http2 = 1;
		ccfg.tls = cctx;
		coil_http_client *cl;
		ck_assert_int_eq(coil_http_client_new(&cl, &ccfg), 0);
		struct coil_http_client_request rq = {
			.host = "localhost", .port = (uint16_t)sv.port, .target = "/hello"};
		struct coil_http_client_response res;
		int r = coil_http_client_send(cl, &rq, &res);
		if (round == 0) { /* the server picks h2 */
			ck_assert_int_eq(r, 0);
			ck_assert_int_eq(res.version, 20);
			ck_assert_str_eq(res.body, "Hello, World!");
		} else { /* it picks http/1.1: the request goes over HTTP/1.1 */
			ck_assert_int_eq(r, 0);
			ck_assert_int_eq(res.version, 11);
			ck_assert_str_eq(res.body, "Hello, World!");
		}
		coil_http_client_response_free(&res);
		coil_http_client_free(cl);
		http_srv_wait_no_connections(&sv);
		http_srv_stop(&sv);
		coil_tls_ctx_free(cctx);
		coil_tls_ctx_free(sctx);
	}
	return NULL;
}

/* A server of raw frames over TLS for one connection: SETTINGS, each
 * request answered "ok"; *end gets how the client's side ended: 0 for a
 * close_notify, else coil_tls_read's error. */
struct tls_raw {
	int lfd;
	coil_tls_ctx *ctx;
	ssize_t end;
};

static void *tls_raw_main(void *arg)
{
	struct tls_raw *r = arg;
	int fd = coil_tcp_accept(r->lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	coil_tls *t;
	ck_assert_int_eq(coil_tls_open(&t, r->ctx, fd, NULL), 0);
	ck_assert_int_eq(coil_tls_handshake(t), 0);
	static const unsigned char settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
	ck_assert_int_eq(coil_tls_write_all(t, settings, sizeof settings), sizeof settings);
	unsigned char buf[16384];
	size_t have = 0, at = 24; /* past the preface */
	for (;;) {
		ssize_t n = coil_tls_read(t, buf + have, sizeof buf - have);
		if (n <= 0) {
			r->end = n;
			break;
		}
		have += (size_t)n;
		while (have >= at + 9) {
			unsigned char *f = buf + at;
			size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
			if (have < at + 9 + len)
				break;
			if (f[3] == 4 && !(f[4] & 1)) {
				static const unsigned char ack[] = {0, 0, 0, 4, 1, 0, 0, 0, 0};
				coil_tls_write_all(t, ack, sizeof ack);
			} else if (f[3] == 1 && (f[4] & 1)) {
				unsigned char a[] = {0, 0, 1, 1, 4, 0, 0, 0, 0,	  0x88, 0,
						     0, 2, 0, 1, 0, 0, 0, 0, 'o', 'k'};
				memcpy(a + 5, f + 5, 4);
				memcpy(a + 15, f + 5, 4);
				coil_tls_write_all(t, a, sizeof a);
			}
			at += 9 + len;
		}
		memmove(buf, buf + at, have - at);
		have -= at;
		at = 0;
	}
	coil_tls_free(t);
	coil_close(fd);
	return NULL;
}

static void *tls_close_main(void *arg)
{
	char pem[320], key[320], ca[320];
	snprintf(pem, sizeof pem, "%s/server.pem", certs);
	snprintf(key, sizeof key, "%s/server.key", certs);
	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	static const char *const h2[] = {"h2"};
	struct tls_raw r = {.end = 1};
	coil_tls_ctx *cctx;
	ck_assert_int_eq(coil_tls_ctx_server(&r.ctx, pem, key), 0);
	ck_assert_int_eq(coil_tls_ctx_set_alpn(r.ctx, h2, 1), 0);
	ck_assert_int_eq(coil_tls_ctx_client(&cctx, ca), 0);
	ck_assert_int_eq(coil_tls_ctx_set_alpn(cctx, h2, 1), 0);
	r.lfd = coil_tcp_listen("127.0.0.1", 0, 4, 0);
	ck_assert_int_ge(r.lfd, 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, tls_raw_main, &r), 0);
	struct coil_http_client_config ccfg;
	coil_http_client_config_init(&ccfg);
	ccfg.http2 = 1;
	ccfg.tls = cctx;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &ccfg), 0);
	struct coil_http_client_request rq = {.host = "localhost",
					      .port = (uint16_t)coil_sock_port(r.lfd)};
	struct coil_http_client_response res;
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
	ck_assert_str_eq(res.body, "ok");
	coil_http_client_response_free(&res);
	/* The connection ended well: a close_notify, as over HTTP/1.1. */
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(r.end, 0);
	coil_close(r.lfd);
	coil_tls_ctx_free(cctx);
	coil_tls_ctx_free(r.ctx);
	return NULL;
}

START_TEST(h2_over_tls_by_alpn)
{
	coil_test_tmp_dir(certs, sizeof certs, "h2c-tls");
	char cmd[600];
	snprintf(cmd, sizeof cmd, "sh %s %s >/dev/null 2>&1", COIL_TLS_CERTS_SH, certs);
	ck_assert_int_eq(system(cmd), 0);
	coil_test_run(tls_main, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
	(void)!system(cmd);
}
END_TEST

START_TEST(an_h2_connection_over_tls_ends_with_a_close_notify)
{
	coil_test_tmp_dir(certs, sizeof certs, "h2c-tls");
	char cmd[600];
	snprintf(cmd, sizeof cmd, "sh %s %s >/dev/null 2>&1", COIL_TLS_CERTS_SH, certs);
	ck_assert_int_eq(system(cmd), 0);
	coil_test_run(tls_close_main, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
	(void)!system(cmd);
}
END_TEST

/* ---- against nghttpd (nghttp2-server: scripts/install-deps) ---------------------------- */

extern char **environ;
static char docroot[256];

struct nghttpd_many {
	coil_http_client *cl;
	int port;
	unsigned ok;
};

static void *nghttpd_get(void *arg)
{
	struct nghttpd_many *m = arg;
	struct coil_http_client_response res;
	if (get(m->cl, m->port, "/hello.txt", &res) == 0 && res.status == 200 &&
	    !strcmp(res.body, "hello from nghttpd\n"))
		__atomic_add_fetch(&m->ok, 1, __ATOMIC_RELAXED);
	coil_http_client_response_free(&res);
	return NULL;
}

static void *nghttpd_main(void *arg)
{
	int port = *(int *)arg;
	coil_http_client *cl = client_new();
	/* Until it listens: connect, bounded (it starts in a few ms). */
	int64_t until = coil_now() + 20 * COIL_NSEC_PER_SEC;
	for (;;) {
		int fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
		if (fd >= 0) {
			coil_close(fd);
			break;
		}
		ck_assert_msg(coil_now() < until, "nghttpd does not listen: %d", fd);
		coil_sleep(10 * COIL_NSEC_PER_MSEC);
	}
	struct coil_http_client_response res;
	ck_assert_int_eq(get(cl, port, "/blob", &res), 0);
	ck_assert_int_eq(res.status, 200);
	ck_assert_int_eq(res.version, 20);
	ck_assert_uint_eq(res.body_len, 1u << 20);
	for (size_t i = 0; i < res.body_len; i++)
		if ((unsigned char)res.body[i] != (i * 13) % 256)
			ck_abort_msg("byte %zu", i);
	coil_http_client_response_free(&res);
	ck_assert_int_eq(get(cl, port, "/none", &res), 0);
	ck_assert_int_eq(res.status, 404);
	coil_http_client_response_free(&res);
	struct nghttpd_many m = {.cl = cl, .port = port};
	coil_task t[50];
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], nghttpd_get, &m), 0);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_uint_eq(m.ok, 50);
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	coil_http_client_free(cl);
	return NULL;
}

START_TEST(against_nghttpd)
{
	coil_test_tmp_dir(docroot, sizeof docroot, "h2c-nghttpd");
	char path[320];
	snprintf(path, sizeof path, "%s/hello.txt", docroot);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("hello from nghttpd\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/blob", docroot);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < (1u << 20); i++)
		fputc((int)((i * 13) % 256), f);
	fclose(f);
	/* A free port: bound, then let go (nghttpd takes no port 0). */
	int lfd = coil_tcp_listen("127.0.0.1", 0, 1, 0);
	ck_assert_int_ge(lfd, 0);
	int port = coil_sock_port(lfd);
	coil_close(lfd);
	char port_s[16];
	snprintf(port_s, sizeof port_s, "%d", port);
	char *argv[] = {"nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot, port_s, NULL};
	pid_t pid;
	int r = posix_spawnp(&pid, "nghttpd", NULL, NULL, argv, environ);
	if (r != 0) {
		fprintf(stderr, "against_nghttpd: no nghttpd (nghttp2-server), skipped\n");
	} else {
		coil_test_run(nghttpd_main, &port);
		kill(pid, SIGTERM);
		int status;
		waitpid(pid, &status, 0);
	}
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", docroot);
	(void)!system(cmd);
}
END_TEST

/* ---- nghttp2 out of memory (white-box: h2_fail.h) ------------------------------
 * Each allocation of the client's session failing once, in turn: at the
 * connection's set-up (the session, its SETTINGS, its window) and past
 * it. The request gets its answer or an error, never a wait; nothing is
 * left behind (the fds; the heap under ASan's leak checker, which the run
 * of this test ends with). The server allocates as usual. */

/* A GET of /hello on a client of its own, under a deadline: 0 (answered)
 * or the request's error. */
static int oom_get(int port)
{
	coil_http_client *cl = client_new();
	struct coil_http_client_response res;
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, http_test_timeout(10 * COIL_NSEC_PER_SEC)),
			 0);
	int r = get(cl, port, "/hello", &res);
	coil_scope_exit(&s);
	ck_assert_msg(r != -ETIMEDOUT && r != -ECANCELED, "the request waited: %d", r);
	if (r == 0) {
		ck_assert_int_eq(res.status, 200);
		ck_assert_str_eq(res.body, "Hello, World!");
		coil_http_client_response_free(&res);
	}
	coil_http_client_free(cl);
	return r;
}

static void *oom_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct http_srv sv;
	http_srv_start(&sv, NULL, handler, NULL);
	h2_fail_route(false);
	long setup = h2_fail_setup(false);
	h2_fail_arm(-1);
	ck_assert_int_eq(oom_get(sv.port), 0);
	http_srv_wait_no_connections(&sv);
	long n = h2_fail_count();
	ck_assert_int_gt(n, setup);
	for (long k = 0; k < n; k++) {
		h2_fail_arm(k);
		int r = oom_get(sv.port);
		/* The set-up's failures fail the request, as a failed connect
		 * would; the others answer it, or fail it as out of memory. */
		ck_assert_msg(k >= setup || r == -ENOMEM, "allocation %ld of the set-up failed: %d",
			      k, r);
		ck_assert_msg(r == 0 || r == -ENOMEM, "allocation %ld failed: %d", k, r);
		http_srv_wait_no_connections(&sv);
	}
	h2_fail_unroute();
	ck_assert_int_eq(oom_get(sv.port), 0);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(each_nghttp2_allocation_failing_ends_the_request_and_leaks_nothing)
{
	coil_test_run(oom_main, NULL);
}
END_TEST

/*
 * The same while the answer is read: a server of raw frames that sends
 * nothing (not even its SETTINGS) until the client's request has come,
 * then arms the failure and answers. The client's owner is parked in its
 * read by then, so each allocation counted is one nghttp2_session_mem_recv
 * makes taking the answer in (the ACKs of the SETTINGS and the PING, the
 * fields kept in the HPACK table...), before the answer's end. The request
 * fails with -ENOMEM, never -EPROTO: the server broke no protocol.
 */
struct late {
	int lfd;
	long k; /* the allocation to fail once the request came (atomic) */
};

static void *late_server_main(void *arg)
{
	struct late *l = arg;
	/* Frames that make the client allocate: the SETTINGS and the PING
	 * it acknowledges, header fields it keeps in its HPACK table. */
	static const unsigned char
		answer
			[] =
				{
					0,    0,   6,	4,   0,	  0,   0,   0,	 0,   0,
					3,    0,   0,	0,   100, /* SETTINGS MAX_CONCURRENT 100 */
					0,    0,   0,	4,   1,	  0,   0,   0,	 0, /* SETTINGS ACK */
					0,    0,   8,	6,   0,	  0,   0,   0,	 0,   1,
					2,    3,   4,	5,   6,	  7,   8,	    /* PING */
					0,    0,   25,	1,   4,	  0,   0,   0,	 1, /* HEADERS, stream 1 */
					0x88, /* :status 200 */
					0x40, 6,   'x', '-', 't', 'e', 's', 't', 3,   'y',
					'e',  's', /* x-test: yes, kept */
					0x5f, 10,  't', 'e', 'x', 't', '/', 'p', 'l', 'a',
					'i',  'n', /* content-type */
					0,    0,   13,	0,   1,	  0,   0,   0,	 1, /* DATA, END_STREAM */
					'H',  'e', 'l', 'l', 'o', ',', ' ', 'W', 'o', 'r',
					'l',  'd', '!',
				};
	unsigned char buf[4096];
	for (;;) {
		int fd = coil_tcp_accept(l->lfd, NULL, NULL);
		if (fd < 0)
			return NULL; /* cancelled: the test is done */
		/* The preface, then frames up to the request's HEADERS (with
		 * END_STREAM: a GET). */
		size_t have = 0, at = 24;
		bool request = false;
		while (!request) {
			ssize_t n = coil_sock_read(fd, buf + have, sizeof buf - have);
			ck_assert_int_gt(n, 0);
			have += (size_t)n;
			while (!request && have >= at + 9) {
				size_t len = (size_t)buf[at] << 16 | (size_t)buf[at + 1] << 8 |
					     buf[at + 2];
				if (have < at + 9 + len)
					break;
				request = buf[at + 3] == 1 && (buf[at + 4] & 1);
				at += 9 + len;
			}
		}
		h2_fail_arm(__atomic_load_n(&l->k, __ATOMIC_RELAXED));
		ck_assert_int_eq(coil_sock_write_all(fd, answer, sizeof answer),
				 (ssize_t)sizeof answer);
		while (coil_sock_read(fd, buf, sizeof buf) > 0) /* until the client's close */
			;
		coil_close(fd);
	}
}

static void *late_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct late l = {.k = -1};
	l.lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(l.lfd, 0);
	int port = coil_sock_port(l.lfd);
	coil_task server;
	ck_assert_int_eq(coil_task_spawn(&server, late_server_main, &l), 0);
	h2_fail_route(false);
	ck_assert_int_eq(oom_get(port), 0);
	long n = h2_fail_count();
	ck_assert_int_gt(n, 0);
	for (long k = 0; k < n; k++) {
		__atomic_store_n(&l.k, k, __ATOMIC_RELAXED);
		int r = oom_get(port);
		ck_assert_msg(h2_fail_count() > k, "allocation %ld was not made", k);
		ck_assert_msg(r == -ENOMEM, "allocation %ld of the answer's failed: %d", k, r);
		h2_fail_arm(-1);
	}
	h2_fail_unroute();
	ck_assert_int_eq(coil_task_cancel(server), 0);
	ck_assert_int_eq(coil_task_join(server, NULL), 0);
	coil_close(l.lfd);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_allocation_failing_as_the_answer_is_read_is_enomem)
{
	coil_test_run(late_main, NULL);
}
END_TEST

START_TEST(bad_client_settings_are_einval)
{
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	coil_http_client *cl;
	cfg.http2 = 2;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), -EINVAL);
	cfg.tls = (coil_tls_ctx *)&cfg; /* never used: refused first */
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("h2_client");
	TCase *tc = tcase_create("h2_client");
	tcase_add_test(tc, requests_and_exchanges_over_h2c);
	tcase_add_test(tc, a_hundred_fibers_share_one_connection_within_max_concurrent_streams);
	tcase_add_test(tc, four_mib_each_way_through_the_flow_control);
	tcase_add_test(tc, goaway_mid_flight_sends_unprocessed_requests_again);
	tcase_add_test(tc, an_answer_received_before_a_failed_write_still_counts);
	tcase_add_test(tc, an_unanswered_ping_fails_the_sent_requests_and_moves_the_waiting_ones);
	tcase_add_test(tc, an_upload_fails_fast_when_its_connection_takes_nothing);
	tcase_add_test(tc, a_connection_that_answers_pings_is_kept);
	tcase_add_test(tc, a_ping_timeout_below_zero_is_einval);
	tcase_add_test(tc, streams_past_max_concurrent_wait_on_the_connection_not_in_nghttp2);
	tcase_add_test(tc, a_request_never_sent_goes_to_a_new_connection_after_a_reset);
	tcase_add_test(tc, an_answer_before_the_whole_body_stops_the_writes_and_is_read);
	tcase_add_test(tc, a_request_every_connection_refuses_fails_after_three_moves);
	tcase_add_test(tc, a_connect_that_times_out_fails_every_request_with_etimedout);
	tcase_add_test(tc, a_client_freed_while_its_connection_connects_ends_it_at_once);
	tcase_add_test(tc, the_free_with_a_connection_open_is_eperm_from_a_thread_that_is_no_fiber);
	tcase_add_test(tc, the_free_with_an_exchange_not_ended_is_ebusy);
	tcase_add_test(tc, a_stream_the_server_resets_fails_alone);
	tcase_add_test(tc, a_cancelled_request_resets_its_stream_and_only_it);
	tcase_add_test(tc, a_server_speaking_no_http2_fails_with_a_clear_error);
	tcase_add_test(tc, h2_over_tls_by_alpn);
	tcase_add_test(tc, an_h2_connection_over_tls_ends_with_a_close_notify);
	tcase_add_test(tc, against_nghttpd);
	tcase_add_test(tc, each_nghttp2_allocation_failing_ends_the_request_and_leaks_nothing);
	tcase_add_test(tc, an_allocation_failing_as_the_answer_is_read_is_enomem);
	tcase_add_test(tc, bad_client_settings_are_einval);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
