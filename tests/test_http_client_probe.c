/*
 * The HTTP client (coil/http.h, src/http/client.c and h2_client.c) against
 * hostile or broken upstreams over 127.0.0.1: a server of canned HTTP/1.1
 * answers (kept connections that go bad, bad or odd framing, a head one
 * byte per write, an answer that never comes, a read cancelled mid-body),
 * fibers of two workers sharing one client, and a server of raw HTTP/2
 * frames (a window that never opens, streams refused or cut by GOAWAY).
 * Every wait is for an event: a deadline only where the deadline is what
 * is tested, or as the bound of a failure.
 */
#define _GNU_SOURCE
#include "http_harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- a server of canned HTTP/1.1 answers ----------------------------------------- */

enum how {
	KEEP,	  /* write the answer, read the next request */
	CLOSE,	  /* write the answer (may be empty), close */
	SILENT,	  /* never answer: wait for the client's end, then close */
	BYTEWISE, /* the answer one byte per write, then as KEEP */
	LATER,	  /* the answer, then on the test's cue `later`, then as KEEP
		   * (or close when later_close) */
};

struct answer {
	const char *text;
	enum how how;
	const char *later;
	bool later_close;
};

struct canned {
	int lfd;
	coil_task acceptor;
	coil_task conns[16];
	unsigned nconns;
	const struct answer *answers;
	unsigned nanswers;
	unsigned requests; /* read so far, on every connection */
	char methods[16][8];
	coil_sem cue;	/* LATER: the test lets the later bytes go */
	coil_sem cued;	/* LATER: they went */
	coil_sem ended; /* a connection saw the client's end (EOF or a reset) */
};

struct canned_conn {
	struct canned *sv;
	int fd;
};

/* Read one request (head byte by byte, then a Content-Length body) from fd.
 * Returns 1, 0 (the end before a byte), or -1 (the end or an error
 * mid-request). */
static int read_request(int fd, char *method, size_t mcap)
{
	char head[8192];
	size_t have = 0;
	while (have < 4 || memcmp(head + have - 4, "\r\n\r\n", 4) != 0) {
		ck_assert_uint_lt(have, sizeof head - 1);
		ssize_t n = coil_sock_read(fd, head + have, 1);
		if (n <= 0)
			return have == 0 && n == 0 ? 0 : -1;
		have++;
	}
	head[have] = 0;
	size_t m = strcspn(head, " ");
	snprintf(method, mcap, "%.*s", (int)m, head);
	const char *cl = strcasestr(head, "\r\ncontent-length:");
	size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
	char buf[4096];
	while (body) {
		ssize_t n = coil_sock_read(fd, buf, body < sizeof buf ? body : sizeof buf);
		if (n <= 0)
			return -1;
		body -= (size_t)n;
	}
	return 1;
}

static bool write_text(int fd, const char *s)
{
	size_t n = strlen(s);
	return n == 0 || coil_sock_write_all(fd, s, n) == (ssize_t)n;
}

/* Until the client ends the connection. */
static void wait_end(int fd)
{
	char buf[256];
	while (coil_sock_read(fd, buf, sizeof buf) > 0)
		;
}

static void *canned_conn_main(void *arg)
{
	struct canned_conn *c = arg;
	struct canned *sv = c->sv;
	int fd = c->fd;
	free(c);
	for (;;) {
		char method[8];
		int r = read_request(fd, method, sizeof method);
		if (r <= 0) {
			coil_sem_release(&sv->ended);
			break;
		}
		unsigned i = sv->requests++;
		ck_assert_uint_lt(i, sv->nanswers);
		memcpy(sv->methods[i], method, sizeof method);
		const struct answer *a = &sv->answers[i];
		if (a->how == SILENT) {
			wait_end(fd);
			coil_sem_release(&sv->ended);
			break;
		}
		if (a->how == BYTEWISE) {
			for (const char *p = a->text; *p; p++) {
				if (coil_sock_write_all(fd, p, 1) != 1)
					break;
				coil_task_yield();
			}
			continue;
		}
		write_text(fd, a->text);
		if (a->how == CLOSE)
			break;
		if (a->how == LATER) {
			ck_assert_int_eq(coil_sem_acquire(&sv->cue), 0);
			write_text(fd, a->later);
			if (a->later_close) {
				coil_close(fd);
				fd = -1;
			}
			coil_sem_release(&sv->cued);
			if (fd < 0)
				return NULL;
		}
	}
	coil_close(fd);
	return NULL;
}

static void *canned_acceptor(void *arg)
{
	struct canned *sv = arg;
	for (;;) {
		int fd = coil_tcp_accept(sv->lfd, NULL, NULL);
		if (fd < 0)
			return NULL; /* cancelled: the test is done */
		struct canned_conn *c = malloc(sizeof *c);
		ck_assert_ptr_nonnull(c);
		*c = (struct canned_conn){sv, fd};
		ck_assert_uint_lt(sv->nconns, 16);
		ck_assert_int_eq(coil_task_spawn(&sv->conns[sv->nconns++], canned_conn_main, c), 0);
	}
}

static void canned_start(struct canned *sv, const struct answer *answers, unsigned n)
{
	*sv = (struct canned){.answers = answers, .nanswers = n};
	sv->lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(sv->lfd, 0);
	coil_sem_init(&sv->cue, 0);
	coil_sem_init(&sv->cued, 0);
	coil_sem_init(&sv->ended, 0);
	ck_assert_int_eq(coil_task_spawn(&sv->acceptor, canned_acceptor, sv), 0);
}

/* After the client is freed (its connections closed): every connection's
 * fiber ends. Returns how many connections were accepted. */
static unsigned canned_stop(struct canned *sv)
{
	ck_assert_int_eq(coil_task_cancel(sv->acceptor), 0);
	ck_assert_int_eq(coil_task_join(sv->acceptor, NULL), 0);
	for (unsigned i = 0; i < sv->nconns; i++)
		ck_assert_int_eq(coil_task_join(sv->conns[i], NULL), 0);
	coil_close(sv->lfd);
	coil_sem_destroy(&sv->cue);
	coil_sem_destroy(&sv->cued);
	coil_sem_destroy(&sv->ended);
	return sv->nconns;
}

static int canned_send(coil_http_client *cl, struct canned *sv, const char *method,
		       const char *body, struct coil_http_client_response *res)
{
	struct coil_http_client_request rq = {.method = method,
					      .host = "127.0.0.1",
					      .port = (uint16_t)coil_sock_port(sv->lfd),
					      .body = body,
					      .body_len = body ? strlen(body) : 0};
	return coil_http_client_send(cl, &rq, res);
}

static coil_http_client *client_new(void)
{
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, NULL), 0);
	return cl;
}

#define OK_KEEP "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

static void expect_ok(int r, struct coil_http_client_response *res)
{
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(res->status, 200);
	ck_assert_str_eq(res->body, "ok");
	coil_http_client_response_free(res);
}

/* ---- a kept connection closed as it is reused ------------------------------------ */

/* The server reads the second request on the kept connection and closes
 * without a byte of answer: the GET goes once more, on a new connection;
 * then it does so to a POST, which is never sent again (the server saw it
 * once). */
static void *reuse_race_main(void *arg)
{
	(void)arg;
	int fds = coil_test_count_fds();
	static const struct answer answers[] = {
		{.text = OK_KEEP, .how = KEEP}, {.text = "", .how = CLOSE},
		{.text = OK_KEEP, .how = KEEP}, {.text = "", .how = CLOSE},
		{.text = OK_KEEP, .how = KEEP},
	};
	struct canned sv;
	canned_start(&sv, answers, 5);
	coil_http_client *cl = client_new();
	struct coil_http_client_response res;
	expect_ok(canned_send(cl, &sv, "GET", NULL, &res), &res);
	expect_ok(canned_send(cl, &sv, "GET", NULL, &res), &res);
	ck_assert_uint_eq(coil_http_client_connections(cl), 2);
	ck_assert_int_eq(canned_send(cl, &sv, "POST", "x", &res), -ECONNRESET);
	ck_assert_uint_eq(coil_http_client_connections(cl), 2); /* not sent again */
	ck_assert_uint_eq(sv.requests, 4);
	ck_assert_str_eq(sv.methods[3], "POST");
	expect_ok(canned_send(cl, &sv, "POST", "x", &res), &res); /* anew, a new one */
	ck_assert_uint_eq(coil_http_client_connections(cl), 3);
	coil_http_client_free(cl);
	ck_assert_uint_eq(canned_stop(&sv), 3);
	ck_assert_uint_eq(sv.requests, 5);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_kept_connection_closed_as_it_is_reused_resends_a_get_never_a_post)
{
	coil_test_run(reuse_race_main, NULL);
}
END_TEST

/* ---- bytes on an idle kept connection --------------------------------------------- */

/* After an answer the client kept the connection; then, while it is idle,
 * the server sends more: a 408 and its close (what nginx and others send
 * to an idle connection they drop), or bytes past the Content-Length it
 * announced. Neither is the answer to the next request, which must go on
 * a new connection (and be answered there), not get the 408 or -EPROTO. */
static void idle_bytes(const char *later, bool later_close)
{
	int fds = coil_test_count_fds();
	const struct answer answers[] = {
		{.text = OK_KEEP, .how = LATER, .later = later, .later_close = later_close},
		{.text = OK_KEEP, .how = KEEP},
	};
	struct canned sv;
	canned_start(&sv, answers, 2);
	coil_http_client *cl = client_new();
	struct coil_http_client_response res;
	expect_ok(canned_send(cl, &sv, "GET", NULL, &res), &res); /* kept */
	coil_sem_release(&sv.cue);
	ck_assert_int_eq(coil_sem_acquire(&sv.cued), 0);
	expect_ok(canned_send(cl, &sv, "GET", NULL, &res), &res);
	ck_assert_uint_eq(coil_http_client_connections(cl), 2);
	ck_assert_uint_eq(sv.requests, 2); /* nothing went on the first */
	coil_http_client_free(cl);
	ck_assert_uint_eq(canned_stop(&sv), 2);
	ck_assert_int_eq(coil_test_count_fds(), fds);
}

static void *idle_408_main(void *arg)
{
	(void)arg;
	idle_bytes("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		   true);
	return NULL;
}

START_TEST(a_408_on_an_idle_kept_connection_is_not_the_next_answer)
{
	coil_test_run(idle_408_main, NULL);
}
END_TEST

static void *idle_extra_main(void *arg)
{
	(void)arg;
	idle_bytes("garbage past the length", false);
	return NULL;
}

START_TEST(bytes_past_the_length_on_an_idle_kept_connection_are_not_the_next_answer)
{
	coil_test_run(idle_extra_main, NULL);
}
END_TEST

/* ---- framing -------------------------------------------------------------------- */

/* One answer per connection; r the result expected, then (r 0) the status,
 * body, and whether the connection was kept. */
struct framing_case {
	const char *name;
	struct answer a;
	int r;
	int status;
	const char *body;
	bool kept;
};

#define FAILS(name_, text_, how_, r_)                                             \
	{                                                                         \
		.name = (name_), .a = {.text = (text_), .how = (how_)}, .r = (r_) \
	}
#define GIVES(name_, text_, how_, status_, body_, kept_)                                     \
	{                                                                                    \
		.name = (name_), .a = {.text = (text_), .how = (how_)}, .status = (status_), \
		.body = (body_), .kept = (kept_)                                             \
	}

static void *framing_main(void *arg)
{
	(void)arg;
	int fds = coil_test_count_fds();
	static const struct framing_case cases[] = {
		FAILS("length and chunked",
		      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "2\r\nok\r\n0\r\n\r\n",
		      KEEP, -EPROTO),
		FAILS("two lengths",
		      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", KEEP,
		      -EPROTO),
		FAILS("a list of lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
		      KEEP, -EPROTO),
		FAILS("a bad chunk size",
		      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", KEEP, -EPROTO),
		FAILS("a bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok", KEEP, -EPROTO),
		FAILS("a four-digit status", "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
		      KEEP, -EPROTO),
		FAILS("HTTP/2.0 in an HTTP/1 head",
		      "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", KEEP, -EPROTO),
		FAILS("a chunked body cut",
		      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", CLOSE,
		      -ECONNRESET),
		FAILS("a length body cut", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", CLOSE,
		      -ECONNRESET),
		FAILS("a head cut", "HTTP/1.1 200 OK\r\nContent-Le", CLOSE, -ECONNRESET),
		GIVES("a body past its length",
		      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", KEEP,
		      200, "ok", false),
		GIVES("1xx before the answer",
		      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: "
		      "</a>\r\n\r\n" OK_KEEP,
		      KEEP, 200, "ok", true),
		GIVES("a 204 with a body",
		      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", KEEP, 204, "",
		      false),
		GIVES("a 304 with a chunked body",
		      "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: "
		      "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		      KEEP, 304, "", false),
		GIVES("a 304 with the length a GET would get",
		      "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", KEEP, 304, "",
		      true),
		GIVES("a 103 with a length before the answer",
		      "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n" OK_KEEP, KEEP, 200,
		      "ok", true),
		GIVES("a 204 without a body", "HTTP/1.1 204 No Content\r\n\r\n", KEEP, 204, "",
		      true),
		GIVES("a head one byte per write",
		      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: b\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		      BYTEWISE, 200, "ok", true),
		GIVES("a body ending with the connection", "HTTP/1.1 200 OK\r\n\r\nok", CLOSE, 200,
		      "ok", false),
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct framing_case *c = &cases[i];
		struct answer answers[2] = {c->a, {.text = OK_KEEP, .how = KEEP}};
		struct canned sv;
		canned_start(&sv, answers, 2);
		/* A bound for a client that would wait for a body that is not
		 * coming: the failure is then -ETIMEDOUT, not a hang. */
		struct coil_http_client_config ccfg;
		coil_http_client_config_init(&ccfg);
		ccfg.timeout = http_test_timeout(10 * COIL_NSEC_PER_SEC);
		coil_http_client *cl;
		ck_assert_int_eq(coil_http_client_new(&cl, &ccfg), 0);
		struct coil_http_client_response res;
		int r = canned_send(cl, &sv, "GET", NULL, &res);
		ck_assert_msg(r == c->r, "%s: %d, not %d", c->name, r, c->r);
		if (r == 0) {
			ck_assert_msg(res.status == c->status, "%s: status %d", c->name,
				      res.status);
			ck_assert_msg(!strcmp(res.body, c->body), "%s: body %s", c->name, res.body);
			struct coil_http_str v;
			ck_assert_int_eq(coil_http_client_response_header(&res, "link", &v),
					 -ENOENT);
			coil_http_client_response_free(&res);
		}
		/* The next request: on the same connection only if it was kept. */
		expect_ok(canned_send(cl, &sv, "GET", NULL, &res), &res);
		ck_assert_msg(coil_http_client_connections(cl) == (c->kept ? 1u : 2u),
			      "%s: %llu connections", c->name,
			      (unsigned long long)coil_http_client_connections(cl));
		coil_http_client_free(cl);
		canned_stop(&sv);
	}
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(bad_framing_fails_clearly_and_an_odd_answer_is_never_kept)
{
	coil_test_run(framing_main, NULL);
}
END_TEST

/* ---- an answer that never comes -------------------------------------------------- */

/* The second request, on the kept connection, is never answered: the
 * caller's scope ends it with -ETIMEDOUT, the connection is closed (the
 * server sees its end), not kept, and the next request opens another. */
static void *silent_main(void *arg)
{
	(void)arg;
	int fds = coil_test_count_fds();
	static const struct answer answers[] = {
		{.text = OK_KEEP, .how = KEEP}, {.how = SILENT}, {.text = OK_KEEP, .how = KEEP}};
	struct canned sv;
	canned_start(&sv, answers, 3);
	coil_http_client *cl = client_new();
	struct coil_http_client_response res;
	expect_ok(canned_send(cl, &sv, "GET", NULL, &res), &res);
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, 100 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(canned_send(cl, &sv, "GET", NULL, &res), -ETIMEDOUT);
	coil_scope_exit(&s);
	ck_assert_int_eq(coil_sem_acquire(&sv.ended), 0); /* closed, not kept */
	expect_ok(canned_send(cl, &sv, "GET", NULL, &res), &res);
	ck_assert_uint_eq(coil_http_client_connections(cl), 2);
	coil_http_client_free(cl);
	ck_assert_uint_eq(canned_stop(&sv), 2);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_answer_that_never_comes_ends_at_the_deadline_and_is_not_kept)
{
	coil_test_run(silent_main, NULL);
}
END_TEST

/* ---- a request cancelled mid-body ------------------------------------------------- */

struct midbody {
	coil_http_client *cl;
	int port;
	char buf[256];
	ssize_t first, last;
	int got_first;
};

static void *midbody_reader(void *arg)
{
	struct midbody *m = arg;
	struct coil_http_client_request rq = {.host = "127.0.0.1", .port = (uint16_t)m->port};
	coil_http_exchange *x;
	ck_assert_int_eq(coil_http_exchange_start(m->cl, &rq, &x), 0);
	ck_assert_int_eq(coil_http_exchange_response(x), 200);
	m->first = coil_http_exchange_read(x, m->buf, sizeof m->buf);
	__atomic_store_n(&m->got_first, 1, __ATOMIC_RELEASE);
	m->last = coil_http_exchange_read(x, m->buf + m->first, sizeof m->buf - (size_t)m->first);
	coil_http_exchange_end(x);
	return NULL;
}

/* A fiber reads a body that stops coming halfway; another cancels it. Its
 * read ends with -ECANCELED, nothing lands in its buffer after (the rest
 * comes once it returned), and the connection is not kept. */
static void *midbody_main(void *arg)
{
	(void)arg;
	int fds = coil_test_count_fds();
	static const struct answer answers[] = {
		{.text = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789",
		 .how = LATER,
		 .later = "abcdefghij"},
		{.text = OK_KEEP, .how = KEEP},
	};
	struct canned sv;
	canned_start(&sv, answers, 2);
	struct midbody m = {.cl = client_new(), .port = coil_sock_port(sv.lfd)};
	memset(m.buf, '#', sizeof m.buf);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, midbody_reader, &m), 0);
	coil_test_wait_flag(&m.got_first);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(m.first, 10);
	ck_assert_int_eq(m.last, -ECANCELED);
	coil_sem_release(&sv.cue); /* the rest of the body, now */
	ck_assert_int_eq(coil_sem_acquire(&sv.cued), 0);
	ck_assert_int_eq(coil_sem_acquire(&sv.ended), 0); /* the client closed it */
	ck_assert(memcmp(m.buf, "0123456789", 10) == 0);
	for (size_t i = 10; i < sizeof m.buf; i++)
		ck_assert_int_eq(m.buf[i], '#');
	struct coil_http_client_response res;
	expect_ok(canned_send(m.cl, &sv, "GET", NULL, &res), &res);
	ck_assert_uint_eq(coil_http_client_connections(m.cl), 2);
	coil_http_client_free(m.cl);
	ck_assert_uint_eq(canned_stop(&sv), 2);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_read_cancelled_mid_body_writes_nothing_after_and_is_not_kept)
{
	coil_test_run(midbody_main, NULL);
}
END_TEST

/* ---- fibers of two workers sharing one client ------------------------------------ */

static int shared_handler(coil_http_request *req, coil_http_response *res, void *ctx)
{
	(void)ctx;
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	while ((n = coil_http_request_read(req, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		return (int)n;
	if (len == 0)
		return coil_http_respond(res, 200, NULL, "ok", 2);
	return coil_http_respond(res, 200, NULL, buf, len);
}

struct sharer {
	coil_http_client *cl;
	int port;
	int id;
	int failures;
};

#define SHARERS 8
#define SHARED_REQUESTS 40

static void *sharer_main(void *arg)
{
	struct sharer *s = arg;
	for (int i = 0; i < SHARED_REQUESTS; i++) {
		char body[64];
		int n = snprintf(body, sizeof body, "fiber %d request %d", s->id, i);
		bool post = i % 3 == 0;
		struct coil_http_client_request rq = {.method = post ? "POST" : "GET",
						      .host = "127.0.0.1",
						      .port = (uint16_t)s->port,
						      .body = post ? body : NULL,
						      .body_len = post ? (size_t)n : 0};
		struct coil_http_client_response res;
		int r = coil_http_client_send(s->cl, &rq, &res);
		/* A POST on a kept connection the server just closed (its
		 * max_requests) may fail: never sent twice. */
		if (r == -ECONNRESET && post)
			continue;
		ck_assert_msg(r == 0, "fiber %d request %d: %d", s->id, i, r);
		ck_assert_int_eq(res.status, 200);
		if (post)
			ck_assert_str_eq(res.body, body);
		else
			ck_assert_str_eq(res.body, "ok");
		coil_http_client_response_free(&res);
	}
	return NULL;
}

static void *shared_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_worker_count(), 2);
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.max_requests = 5; /* kept connections the server closes, often */
	struct http_srv sv;
	http_srv_start(&sv, &cfg, shared_handler, NULL);
	struct coil_http_client_config ccfg;
	coil_http_client_config_init(&ccfg);
	ccfg.max_idle = 3;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &ccfg), 0);
	struct sharer s[SHARERS];
	coil_task t[SHARERS];
	for (int i = 0; i < SHARERS; i++) {
		s[i] = (struct sharer){.cl = cl, .port = sv.port, .id = i};
		ck_assert_int_eq(coil_task_spawn_on((unsigned)(i % 2), &t[i], sharer_main, &s[i]),
				 0);
	}
	for (int i = 0; i < SHARERS; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(fibers_of_two_workers_share_one_client)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 2;
	coil_test_run_cfg(&cfg, shared_main, NULL);
}
END_TEST

/* ---- a server of raw HTTP/2 frames ------------------------------------------------ */

enum h2_script {
	H2_WINDOW_ZERO,	       /* SETTINGS_INITIAL_WINDOW_SIZE 0, never a WINDOW_UPDATE */
	H2_GOAWAY_MID,	       /* 200, "part", GOAWAY(last 0), then the end */
	H2_RST_MID,	       /* 200, "part", RST_STREAM(REFUSED_STREAM) */
	H2_REFUSED_FIRST,      /* RST_STREAM(REFUSED_STREAM) on the first stream
			   * before any answer; 200 "ok" to the next */
	H2_REFUSE_AFTER_FIRST, /* 200 "ok" to the first stream, then
				* RST_STREAM(REFUSED_STREAM) to every other */
};

struct h2raw {
	int lfd;
	coil_task acceptor;
	coil_task conns[8];
	unsigned nconns;
	enum h2_script script;
	unsigned headers; /* request HEADERS seen, every connection */
};

static void frame(int fd, uint8_t type, uint8_t flags, uint32_t id, const void *p, uint32_t len)
{
	uint8_t h[9] = {
		(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,       type,	   flags,
		(uint8_t)(id >> 24),  (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
	if (coil_sock_write_all(fd, h, 9) == 9 && len)
		coil_sock_write_all(fd, p, len);
}

static bool read_full(int fd, void *p, size_t n)
{
	for (size_t at = 0; at < n;) {
		ssize_t r = coil_sock_read(fd, (char *)p + at, n - at);
		if (r <= 0)
			return false;
		at += (size_t)r;
	}
	return true;
}

struct h2raw_conn_arg {
	struct h2raw *sv;
	int fd;
};

static void *h2raw_conn_main(void *arg)
{
	struct h2raw_conn_arg *a = arg;
	struct h2raw *sv = a->sv;
	int fd = a->fd;
	free(a);
	char preface[24];
	if (!read_full(fd, preface, 24))
		goto done;
	static const uint8_t window0[6] = {0, 4, 0, 0, 0, 0}; /* INITIAL_WINDOW_SIZE 0 */
	if (sv->script == H2_WINDOW_ZERO)
		frame(fd, 4, 0, 0, window0, 6);
	else
		frame(fd, 4, 0, 0, NULL, 0);
	static const uint8_t status200 = 0x88; /* :status 200, static index 8 */
	for (;;) {
		uint8_t h[9];
		if (!read_full(fd, h, 9))
			break;
		uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
		uint8_t type = h[3], flags = h[4];
		uint32_t id =
			((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
			0x7fffffff;
		char payload[16384];
		if (len > sizeof payload || !read_full(fd, payload, len))
			break;
		if (type == 4 && !(flags & 1)) {
			frame(fd, 4, 1, 0, NULL, 0); /* SETTINGS ACK */
		} else if (type == 6 && !(flags & 1)) {
			frame(fd, 6, 1, 0, payload, 8); /* PING ACK */
		} else if (type == 1) {
			sv->headers++;
			if (sv->script == H2_WINDOW_ZERO)
				continue; /* its body never comes */
			if ((sv->script == H2_REFUSED_FIRST && sv->headers == 1) ||
			    (sv->script == H2_REFUSE_AFTER_FIRST && sv->headers > 1)) {
				static const uint8_t refused[4] = {0, 0, 0, 7};
				frame(fd, 3, 0, id, refused, 4);
				continue;
			}
			if (sv->script == H2_REFUSED_FIRST || sv->script == H2_REFUSE_AFTER_FIRST) {
				frame(fd, 1, 4, id, &status200, 1);
				frame(fd, 0, 1, id, "ok", 2);
				continue;
			}
			frame(fd, 1, 4, id, &status200, 1); /* END_HEADERS */
			frame(fd, 0, 0, id, "part", 4);
			if (sv->script == H2_GOAWAY_MID) {
				static const uint8_t goaway[8] = {0}; /* last 0, NO_ERROR */
				frame(fd, 7, 0, 0, goaway, 8);
				wait_end(fd);
				break;
			}
			static const uint8_t refused[4] = {0, 0, 0, 7};
			frame(fd, 3, 0, id, refused, 4);
		}
	}
done:
	coil_close(fd);
	return NULL;
}

static void *h2raw_acceptor(void *arg)
{
	struct h2raw *sv = arg;
	for (;;) {
		int fd = coil_tcp_accept(sv->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		struct h2raw_conn_arg *a = malloc(sizeof *a);
		ck_assert_ptr_nonnull(a);
		*a = (struct h2raw_conn_arg){sv, fd};
		ck_assert_uint_lt(sv->nconns, 8);
		ck_assert_int_eq(coil_task_spawn(&sv->conns[sv->nconns++], h2raw_conn_main, a), 0);
	}
}

static void h2raw_start(struct h2raw *sv, enum h2_script script)
{
	*sv = (struct h2raw){.script = script};
	sv->lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(sv->lfd, 0);
	ck_assert_int_eq(coil_task_spawn(&sv->acceptor, h2raw_acceptor, sv), 0);
}

static unsigned h2raw_stop(struct h2raw *sv)
{
	ck_assert_int_eq(coil_task_cancel(sv->acceptor), 0);
	ck_assert_int_eq(coil_task_join(sv->acceptor, NULL), 0);
	for (unsigned i = 0; i < sv->nconns; i++)
		ck_assert_int_eq(coil_task_join(sv->conns[i], NULL), 0);
	coil_close(sv->lfd);
	return sv->nconns;
}

static coil_http_client *h2_client_new(int64_t timeout)
{
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	cfg.http2 = 1;
	if (timeout)
		cfg.timeout = timeout;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), 0);
	return cl;
}

/* A window that never opens: the POST's body cannot go, and the request
 * ends at its timeout (the PINGs are answered: the connection lives). */
static void *window_zero_main(void *arg)
{
	(void)arg;
	int fds = coil_test_count_fds();
	struct h2raw sv;
	h2raw_start(&sv, H2_WINDOW_ZERO);
	coil_http_client *cl = h2_client_new(200 * COIL_NSEC_PER_MSEC);
	struct coil_http_client_request rq = {.method = "POST",
					      .host = "127.0.0.1",
					      .port = (uint16_t)coil_sock_port(sv.lfd),
					      .body = "abc",
					      .body_len = 3};
	struct coil_http_client_response res;
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), -ETIMEDOUT);
	ck_assert_uint_eq(sv.headers, 1);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	ck_assert_uint_eq(h2raw_stop(&sv), 1);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_h2_window_that_never_opens_ends_at_the_timeout)
{
	coil_test_run(window_zero_main, NULL);
}
END_TEST

/* An answer started, then the server gives the stream up (GOAWAY saying
 * it was not processed, or RST_STREAM REFUSED_STREAM): the answer is cut
 * (-ECONNRESET), never completed by a second try. A stream refused before
 * any answer is sent again (a GET), on the same connection: it is still
 * usable. */
static void h2_cut(enum h2_script script)
{
	int fds = coil_test_count_fds();
	struct h2raw sv;
	h2raw_start(&sv, script);
	coil_http_client *cl = h2_client_new(0);
	struct coil_http_client_request rq = {.host = "127.0.0.1",
					      .port = (uint16_t)coil_sock_port(sv.lfd)};
	coil_http_exchange *x;
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	/* The head may be in when the stream ends, or not yet looked at:
	 * the response's end is an error either way. */
	int st = coil_http_exchange_response(x);
	if (st != -ECONNRESET) {
		ck_assert_int_eq(st, 200);
		char buf[64];
		ssize_t n, total = 0;
		while ((n = coil_http_exchange_read(x, buf + total, sizeof buf - (size_t)total)) >
		       0)
			total += n;
		ck_assert_int_eq(n, -ECONNRESET);
		ck_assert_int_le(total, 4);
	}
	ck_assert_int_eq(coil_http_exchange_end(x), 0);
	ck_assert_uint_eq(sv.headers, 1); /* not sent again */
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	ck_assert_uint_eq(h2raw_stop(&sv), 1);
	ck_assert_int_eq(coil_test_count_fds(), fds);
}

static void *goaway_mid_main(void *arg)
{
	(void)arg;
	h2_cut(H2_GOAWAY_MID);
	return NULL;
}

START_TEST(an_h2_goaway_after_the_answer_started_cuts_it_and_is_not_retried)
{
	coil_test_run(goaway_mid_main, NULL);
}
END_TEST

static void *rst_mid_main(void *arg)
{
	(void)arg;
	h2_cut(H2_RST_MID);
	return NULL;
}

START_TEST(an_h2_stream_refused_after_the_answer_started_is_cut_not_retried)
{
	coil_test_run(rst_mid_main, NULL);
}
END_TEST

static void *refused_first_main(void *arg)
{
	(void)arg;
	int fds = coil_test_count_fds();
	struct h2raw sv;
	h2raw_start(&sv, H2_REFUSED_FIRST);
	coil_http_client *cl = h2_client_new(0);
	struct coil_http_client_request rq = {.host = "127.0.0.1",
					      .port = (uint16_t)coil_sock_port(sv.lfd)};
	struct coil_http_client_response res;
	expect_ok(coil_http_client_send(cl, &rq, &res), &res);
	ck_assert_uint_eq(sv.headers, 2);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	ck_assert_uint_eq(h2raw_stop(&sv), 1);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_h2_stream_refused_before_any_answer_is_sent_again)
{
	coil_test_run(refused_first_main, NULL);
}
END_TEST

/* A connection that answered once, then refuses every stream: the
 * request is sent again a few times, not in a loop until its timeout
 * (which is only the bound of a failure here). */
static void *refuse_after_first_main(void *arg)
{
	(void)arg;
	int fds = coil_test_count_fds();
	struct h2raw sv;
	h2raw_start(&sv, H2_REFUSE_AFTER_FIRST);
	coil_http_client *cl = h2_client_new(http_test_timeout(10 * COIL_NSEC_PER_SEC));
	struct coil_http_client_request rq = {.host = "127.0.0.1",
					      .port = (uint16_t)coil_sock_port(sv.lfd)};
	struct coil_http_client_response res;
	expect_ok(coil_http_client_send(cl, &rq, &res), &res);
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), -ECONNRESET);
	ck_assert_uint_le(sv.headers, 5); /* the first, then four tries at most */
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	ck_assert_uint_eq(h2raw_stop(&sv), 1);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_h2_connection_refusing_every_stream_is_not_tried_in_a_loop)
{
	coil_test_run(refuse_after_first_main, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_client_probe");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, a_kept_connection_closed_as_it_is_reused_resends_a_get_never_a_post);
	tcase_add_test(tc, a_408_on_an_idle_kept_connection_is_not_the_next_answer);
	tcase_add_test(tc,
		       bytes_past_the_length_on_an_idle_kept_connection_are_not_the_next_answer);
	tcase_add_test(tc, bad_framing_fails_clearly_and_an_odd_answer_is_never_kept);
	tcase_add_test(tc, an_answer_that_never_comes_ends_at_the_deadline_and_is_not_kept);
	tcase_add_test(tc, a_read_cancelled_mid_body_writes_nothing_after_and_is_not_kept);
	tcase_add_test(tc, fibers_of_two_workers_share_one_client);
	tcase_add_test(tc, an_h2_window_that_never_opens_ends_at_the_timeout);
	tcase_add_test(tc, an_h2_goaway_after_the_answer_started_cuts_it_and_is_not_retried);
	tcase_add_test(tc, an_h2_stream_refused_after_the_answer_started_is_cut_not_retried);
	tcase_add_test(tc, an_h2_stream_refused_before_any_answer_is_sent_again);
	tcase_add_test(tc, an_h2_connection_refusing_every_stream_is_not_tried_in_a_loop);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
