/*
 * The HTTP/1.1 client over TLS (coil/http.h with cfg.tls, src/http/client.c)
 * against coil's own HTTPS server over 127.0.0.1: bodies by length and
 * chunked both ways on one kept connection, fibers of every worker sharing a
 * client, a kept connection the server closed (seen before it is reused:
 * a new one is made), an HTTP/2 client whose server picks http/1.1 or no
 * ALPN (it goes over HTTP/1.1), a plaintext server, a silent one,
 * certificates that fail verification; then against `openssl s_server
 * -www`. The certificates are made for each test by tests/tls_certs.sh.
 */
#define _GNU_SOURCE
#include "http_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *const ALPN_H1[] = {"http/1.1"};
static const char *const ALPN_H2_H1[] = {"h2", "http/1.1"};

/* ---- certificates and contexts ---------------------------------------------------------- */

static char certs[256];

static void certs_make(void)
{
	coil_test_tmp_dir(certs, sizeof certs, "https-client");
	char cmd[600];
	snprintf(cmd, sizeof cmd, "sh %s %s >/dev/null 2>&1", COIL_TLS_CERTS_SH, certs);
	ck_assert_int_eq(system(cmd), 0);
}

static void certs_drop(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
	(void)!system(cmd);
}

/* A server context for certs/<name>.pem, with ALPN alpn[0 .. n) (n 0: none). */
static coil_tls_ctx *server_ctx(const char *name, const char *const *alpn, size_t n)
{
	char pem[320], key[320];
	snprintf(pem, sizeof pem, "%s/%s.pem", certs, name);
	snprintf(key, sizeof key, "%s/%s.key", certs, name);
	coil_tls_ctx *c;
	ck_assert_int_eq(coil_tls_ctx_server(&c, pem, key), 0);
	if (n)
		ck_assert_int_eq(coil_tls_ctx_set_alpn(c, alpn, n), 0);
	return c;
}

/* A client context trusting the test CA, with ALPN alpn[0 .. n). */
static coil_tls_ctx *client_ctx(const char *const *alpn, size_t n)
{
	char ca[320];
	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	coil_tls_ctx *c;
	ck_assert_int_eq(coil_tls_ctx_client(&c, ca), 0);
	if (n)
		ck_assert_int_eq(coil_tls_ctx_set_alpn(c, alpn, n), 0);
	return c;
}

static void *warm_up(void *arg)
{
	(void)arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 1, 0);
	ck_assert_int_ge(lfd, 0);
	int fd = coil_tcp_connect("localhost", (uint16_t)coil_sock_port(lfd));
	if (fd >= 0)
		coil_close(fd);
	coil_close(lfd);
	return NULL;
}

/* The fds of the process once the runtime has what it opens once: each
 * worker's pool that resolves "localhost" (its eventfd). */
static int fds_warm(void)
{
	for (int w = 0; w < coil_worker_count(); w++) {
		coil_task t;
		ck_assert_int_eq(coil_task_spawn_on((unsigned)w, &t, warm_up, NULL), 0);
		ck_assert_int_eq(coil_task_join(t, NULL), 0);
	}
	return coil_test_count_fds();
}

static coil_http_client *client_new(coil_tls_ctx *tls, int http2)
{
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	cfg.tls = tls;
	cfg.http2 = http2;
	cfg.timeout = 30 * COIL_NSEC_PER_SEC; /* a hang fails the test, not the run */
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), 0);
	return cl;
}

/* A server with context tls (NULL: plaintext), HTTP/2 as http2 says. */
static void server_start(struct http_srv *sv, coil_tls_ctx *tls, int http2, uint16_t port);

/* ---- the server's handler ----------------------------------------------------------------- */

static bool target_is(coil_http_request *req, const char *t)
{
	struct coil_http_str s = coil_http_request_target(req);
	return s.len == strlen(t) && memcmp(s.ptr, t, s.len) == 0;
}

#define BIG (1u << 20)

static int handler(coil_http_request *req, coil_http_response *res, void *ctx)
{
	(void)ctx;
	if (target_is(req, "/hello"))
		return coil_http_respond(res, 200, "text/plain", "Hello, World!", 13);
	if (target_is(req, "/peer")) { /* the client's port: which connection */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (coil_http_request_peer(req, (struct sockaddr *)&ss, &sl) < 0)
			return -EIO;
		char out[16];
		int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
						   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		int n = snprintf(out, sizeof out, "%d", port);
		return coil_http_respond(res, 200, NULL, out, (size_t)n);
	}
	if (target_is(req, "/echo")) { /* the body back, by length */
		coil_http_request_limit(req, 64u << 20);
		size_t len = 0, cap = 65536;
		char *b = malloc(cap);
		ssize_t n;
		while (b && (n = coil_http_request_read(req, b + len, cap - len)) > 0) {
			len += (size_t)n;
			if (len == cap) {
				char *nb = realloc(b, cap *= 2);
				if (!nb)
					free(b);
				b = nb;
			}
		}
		if (!b)
			return -ENOMEM;
		int r = n < 0 ? (int)n
			      : coil_http_respond(res, 200, "application/octet-stream", b, len);
		free(b);
		return r;
	}
	if (target_is(req, "/stream")) { /* chunked, in three pieces */
		for (int i = 0; i < 3; i++) {
			char part[16];
			int n = snprintf(part, sizeof part, "part%d;", i);
			if (coil_http_response_write(res, part, (size_t)n) != n)
				return -EIO;
		}
		return 0;
	}
	if (target_is(req, "/big")) { /* 1 MiB of i % 251, chunked */
		static __thread char block[16384];
		for (uint32_t off = 0; off < BIG; off += sizeof block) {
			for (size_t i = 0; i < sizeof block; i++)
				block[i] = (char)((off + i) % 251);
			if (coil_http_response_write(res, block, sizeof block) != sizeof block)
				return -EIO;
		}
		return 0;
	}
	return coil_http_respond(res, 404, NULL, "no", 2);
}

static void server_start(struct http_srv *sv, coil_tls_ctx *tls, int http2, uint16_t port)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.tls = tls;
	cfg.http2 = http2;
	cfg.port = port;
	http_srv_start(sv, &cfg, handler, NULL);
}

/* rq to host "localhost" (the name the certificates hold). */
static struct coil_http_client_request request(int port, const char *method, const char *target)
{
	return (struct coil_http_client_request){
		.method = method, .host = "localhost", .port = (uint16_t)port, .target = target};
}

/* GET target: its status and version, the body into *body (freed by the
 * caller) when body is not NULL. Returns coil_http_client_send's result. */
static int get(coil_http_client *cl, int port, const char *target, int *version, char **body)
{
	struct coil_http_client_request rq = request(port, NULL, target);
	struct coil_http_client_response res;
	int r = coil_http_client_send(cl, &rq, &res);
	if (r == 0) {
		r = res.status;
		if (version)
			*version = res.version;
		if (body)
			*body = strdup(res.body);
	}
	coil_http_client_response_free(&res);
	return r;
}

/* A whole response body read through an exchange in pieces of at most
 * piece bytes. */
static size_t exchange_read_all(coil_http_exchange *x, char *out, size_t cap, size_t piece)
{
	size_t len = 0;
	ssize_t n;
	while ((n = coil_http_exchange_read(x, out + len, piece)) > 0) {
		len += (size_t)n;
		ck_assert_uint_le(len, cap);
	}
	ck_assert_int_eq(n, 0);
	return len;
}

/* A chunked PUT of len bytes of body, in pieces of 7001, to /echo: the
 * echo must come back whole. Returns the response's version. */
static int echo_chunked(coil_http_client *cl, int port, const char *body, size_t len)
{
	struct coil_http_client_request rq = request(port, "PUT", "/echo");
	rq.body_len = COIL_HTTP_BODY_CHUNKED;
	coil_http_exchange *x;
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	for (size_t off = 0; off < len; off += 7001) {
		size_t n = len - off < 7001 ? len - off : 7001;
		ck_assert_int_eq(coil_http_exchange_write(x, body + off, n), (ssize_t)n);
	}
	ck_assert_int_eq(coil_http_exchange_response(x), 200);
	ck_assert_int_eq(coil_http_exchange_content_length(x), (int64_t)len);
	char *got = malloc(len + 1);
	ck_assert_uint_eq(exchange_read_all(x, got, len, 1000), len);
	ck_assert(memcmp(got, body, len) == 0);
	free(got);
	int version = coil_http_exchange_version(x);
	ck_assert_int_eq(coil_http_exchange_end(x), 0);
	return version;
}

/* ---- bodies both ways, keep-alive, every worker -------------------------------------------- */

struct many {
	coil_http_client *cl;
	int port;
	unsigned ok;
};

static void *many_get(void *arg)
{
	struct many *m = arg;
	for (int i = 0; i < 5; i++) {
		char *body = NULL;
		int version = 0;
		if (get(m->cl, m->port, "/hello", &version, &body) == 200 && version == 11 &&
		    !strcmp(body, "Hello, World!"))
			__atomic_add_fetch(&m->ok, 1, __ATOMIC_RELAXED);
		free(body);
	}
	return NULL;
}

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

static void *bodies_main(void *arg)
{
	(void)arg;
	int fds = fds_warm();
	coil_tls_ctx *sctx = server_ctx("server", ALPN_H1, 1), *cctx = client_ctx(NULL, 0);
	struct http_srv sv;
	server_start(&sv, sctx, 0, 0);
	coil_http_client *cl = client_new(cctx, 0);

	/* One connection for every request: the server sees one peer port. */
	char *first = NULL, *body;
	for (int i = 0; i < 3; i++) {
		int version = 0;
		ck_assert_int_eq(get(cl, sv.port, "/peer", &version, &body), 200);
		ck_assert_int_eq(version, 11);
		if (!first) {
			first = body;
			continue;
		}
		ck_assert_str_eq(body, first);
		free(body);
	}
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);
	ck_assert_uint_eq(coil_http_server_connections(sv.s), 1);

	/* A body by length up, the echo back by length. */
	size_t len = 300000;
	char *blob = malloc(len);
	for (size_t i = 0; i < len; i++)
		blob[i] = (char)('a' + i % 23);
	struct coil_http_client_request rq = request(sv.port, "POST", "/echo");
	rq.body = blob;
	rq.body_len = 100000;
	struct coil_http_client_response res;
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
	ck_assert_int_eq(res.status, 200);
	ck_assert_uint_eq(res.body_len, 100000);
	ck_assert(memcmp(res.body, blob, 100000) == 0);
	coil_http_client_response_free(&res);
	/* A small one: head and body in one record. */
	rq.body = "tiny";
	rq.body_len = 4;
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
	ck_assert_str_eq(res.body, "tiny");
	coil_http_client_response_free(&res);

	/* A chunked body up; by length, streamed. */
	ck_assert_int_eq(echo_chunked(cl, sv.port, blob, len), 11);
	rq = request(sv.port, "PUT", "/echo");
	rq.body_len = len;
	coil_http_exchange *x;
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	ck_assert_int_eq(coil_http_exchange_write(x, blob, len / 2), (ssize_t)(len / 2));
	ck_assert_int_eq(coil_http_exchange_write(x, blob, len), -EMSGSIZE);
	ck_assert_int_eq(coil_http_exchange_write(x, blob + len / 2, len - len / 2),
			 (ssize_t)(len - len / 2));
	ck_assert_int_eq(coil_http_exchange_response(x), 200);
	char *got = malloc(BIG + 1);
	ck_assert_uint_eq(exchange_read_all(x, got, len, 65536), len);
	ck_assert(memcmp(got, blob, len) == 0);
	ck_assert_int_eq(coil_http_exchange_end(x), 0);

	/* Chunked answers: small pieces, then 1 MiB; HEAD has no body. */
	ck_assert_int_eq(get(cl, sv.port, "/stream", NULL, &body), 200);
	ck_assert_str_eq(body, "part0;part1;part2;");
	free(body);
	rq = request(sv.port, NULL, "/big");
	ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
	ck_assert_int_eq(coil_http_exchange_response(x), 200);
	ck_assert_int_eq(coil_http_exchange_content_length(x), -1);
	ck_assert_uint_eq(exchange_read_all(x, got, BIG, 3000), BIG);
	for (size_t i = 0; i < BIG; i++)
		if ((unsigned char)got[i] != i % 251)
			ck_abort_msg("byte %zu", i);
	ck_assert_int_eq(coil_http_exchange_end(x), 0);
	rq = request(sv.port, "HEAD", "/hello");
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
	ck_assert_int_eq(res.status, 200);
	ck_assert_uint_eq(res.body_len, 0);
	struct coil_http_str v;
	ck_assert_int_eq(coil_http_client_response_header(&res, "content-length", &v), 0);
	ck_assert(v.len == 2 && !memcmp(v.ptr, "13", 2));
	coil_http_client_response_free(&res);

	/* Still the first connection. */
	ck_assert_int_eq(get(cl, sv.port, "/peer", NULL, &body), 200);
	ck_assert_str_eq(body, first);
	free(body);
	ck_assert_uint_eq(coil_http_client_connections(cl), 1);

	/* Fibers of every worker share the client; each worker keeps its
	 * own connections, and the free closes them all (with two workers,
	 * those of the other worker from a fiber there). */
	struct many m = {.cl = cl, .port = sv.port};
	coil_task t[8];
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(coil_task_spawn_on((unsigned)(i % coil_worker_count()), &t[i],
						    many_get, &m),
				 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_uint_eq(m.ok, 40);
	/* A thread that is no fiber cannot close TLS streams: refused,
	 * nothing freed. */
	unsigned held = coil_http_server_connections(sv.s);
	ck_assert_uint_gt(held, 0);
	struct free_try f = {.cl = cl};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, free_from_thread, &f), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.result, -EPERM);
	ck_assert_uint_eq(coil_http_server_connections(sv.s), held);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	coil_tls_ctx_free(cctx);
	coil_tls_ctx_free(sctx);
	free(first);
	free(blob);
	free(got);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(bodies_both_ways_on_one_kept_tls_connection)
{
	certs_make();
	coil_test_run(bodies_main, NULL);
	certs_drop();
}
END_TEST

/* ---- OpenSSL's buffers: kept while busy, given back once quiet ---------------------------- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEAP_COUNTED 0 /* a sanitizer's allocator: mallinfo2 says nothing */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HEAP_COUNTED 0
#endif
#endif
#ifndef HEAP_COUNTED
#define HEAP_COUNTED 1
#endif

struct quiet_get {
	coil_http_client *cl;
	int port;
	int status;
};

/* Three requests, one after the other: the connection is busy. */
static void *quiet_get_fiber(void *arg)
{
	struct quiet_get *q = arg;
	for (int i = 0; i < 3; i++) {
		q->status = get(q->cl, q->port, "/hello", NULL, NULL);
		if (q->status != 200)
			break;
	}
	return NULL;
}

/* A busy HTTPS connection holds OpenSSL's record buffers (~16 KiB each
 * way) from request to request, and gives them back once it has been
 * quiet for a while (src/http/conn.c: TLS_HOT_NS): with N kept
 * connections, the heap drops by at least 16 KiB each, waited for. The
 * clients' kept connections give theirs back after every record. */
static void *quiet_main(void *arg)
{
	(void)arg;
	enum {
		N = 24
	};
	coil_tls_ctx *sctx = server_ctx("server", ALPN_H1, 1), *cctx = client_ctx(NULL, 0);
	struct http_srv sv;
	server_start(&sv, sctx, 0, 0);
	struct quiet_get q[N];
	coil_task t[N];
	for (int i = 0; i < N; i++) {
		q[i] = (struct quiet_get){client_new(cctx, 0), sv.port, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], quiet_get_fiber, &q[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(q[i].status, 200);
	}
	ck_assert_uint_eq(coil_http_server_connections(sv.s), N);
	size_t busy = http_heap_in_use(), quiet = busy;
	for (int i = 0; HEAP_COUNTED && i < 400 && busy - quiet < (size_t)N * 16384; i++) {
		ck_assert_int_eq(coil_sleep(50 * COIL_NSEC_PER_MSEC), 0);
		quiet = http_heap_in_use();
		if (quiet > busy)
			busy = quiet; /* it may still have been growing */
	}
	if (HEAP_COUNTED)
		ck_assert_msg(busy - quiet >= (size_t)N * 16384,
			      "%d quiet connections gave back %zu bytes", N, busy - quiet);
	/* Still served after that, and the buffers come back. */
	for (int i = 0; i < N; i++) {
		quiet_get_fiber(&q[i]);
		ck_assert_int_eq(q[i].status, 200);
		ck_assert_int_eq(coil_http_client_free(q[i].cl), 0);
	}
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	coil_tls_ctx_free(cctx);
	coil_tls_ctx_free(sctx);
	return NULL;
}

START_TEST(a_quiet_https_connection_gives_openssl_buffers_back)
{
	certs_make();
	coil_test_run(quiet_main, NULL);
	certs_drop();
}
END_TEST

/* ---- a kept connection the server closed ------------------------------------------------- */

/* Wait until the server has closed every connection (its idle_timeout):
 * the client's kept one is then dead. */
static void server_drops(struct http_srv *sv)
{
	http_srv_wait_no_connections(sv);
}

static void *dropped_main(void *arg)
{
	(void)arg;
	int fds = fds_warm();
	coil_tls_ctx *sctx = server_ctx("server", ALPN_H1, 1), *cctx = client_ctx(NULL, 0);
	/* Plaintext, then TLS: the same behaviour. */
	for (int tls = 0; tls < 2; tls++) {
		struct coil_http_config cfg;
		coil_http_config_init(&cfg);
		cfg.tls = tls ? sctx : NULL;
		cfg.http2 = 0;
		cfg.idle_timeout = 50 * COIL_NSEC_PER_MSEC; /* waited for as an event */
		struct http_srv sv;
		http_srv_start(&sv, &cfg, handler, NULL);
		coil_http_client *cl = client_new(tls ? cctx : NULL, 0);
		ck_assert_int_eq(get(cl, sv.port, "/hello", NULL, NULL), 200);
		ck_assert_uint_eq(coil_http_client_connections(cl), 1);

		/* GET: sent again on a new connection. */
		server_drops(&sv);
		ck_assert_int_eq(get(cl, sv.port, "/hello", NULL, NULL), 200);
		ck_assert_uint_eq(coil_http_client_connections(cl), 2);

		/* A PUT whose chunked body is empty: sent again with its last
		 * chunk (the server would wait for it otherwise). */
		server_drops(&sv);
		struct coil_http_client_request rq = request(sv.port, "PUT", "/echo");
		rq.body_len = COIL_HTTP_BODY_CHUNKED;
		coil_http_exchange *x;
		ck_assert_int_eq(coil_http_exchange_start(cl, &rq, &x), 0);
		ck_assert_int_eq(coil_http_exchange_response(x), 200);
		ck_assert_int_eq(coil_http_exchange_content_length(x), 0);
		ck_assert_int_eq(coil_http_exchange_end(x), 0);
		ck_assert_uint_eq(coil_http_client_connections(cl), 3);

		/* POST: the kept connection is seen to be dropped before it
		 * is used (its end, or the close_notify, came while it was
		 * idle), so the POST goes on a new one; a POST the server drops
		 * after reading it is never sent again (test_http_client_probe). */
		server_drops(&sv);
		rq = request(sv.port, "POST", "/echo");
		rq.body = "x";
		rq.body_len = 1;
		struct coil_http_client_response res;
		ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
		ck_assert_str_eq(res.body, "x");
		coil_http_client_response_free(&res);
		ck_assert_uint_eq(coil_http_client_connections(cl), 4);
		ck_assert_int_eq(coil_http_client_free(cl), 0);
		http_srv_wait_no_connections(&sv);
		http_srv_stop(&sv);
	}
	coil_tls_ctx_free(cctx);
	coil_tls_ctx_free(sctx);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_kept_connection_the_server_closed_is_replaced_for_idempotent_requests)
{
	certs_make();
	coil_test_run(dropped_main, NULL);
	certs_drop();
}
END_TEST

/* ---- HTTP/2 clients on HTTP/1.1 servers ---------------------------------------------------- */

static void *fallback_get(void *arg)
{
	struct many *m = arg;
	int version = 0;
	if (get(m->cl, m->port, "/hello", &version, NULL) == 200 && version == 11)
		__atomic_add_fetch(&m->ok, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *fallback_main(void *arg)
{
	(void)arg;
	int fds = fds_warm();
	char blob[20000];
	for (size_t i = 0; i < sizeof blob; i++)
		blob[i] = (char)('A' + i % 31);
	/* Servers that pick http/1.1 (with and without HTTP/2 of their own),
	 * and one that says nothing by ALPN. */
	struct {
		const char *const *alpn;
		size_t n;
		int http2;
	} servers[] = {{ALPN_H1, 1, 1}, {ALPN_H1, 1, 0}, {NULL, 0, 0}};
	for (size_t i = 0; i < sizeof servers / sizeof *servers; i++) {
		coil_tls_ctx *sctx = server_ctx("server", servers[i].alpn, servers[i].n);
		coil_tls_ctx *cctx = client_ctx(ALPN_H2_H1, 2);
		struct http_srv sv;
		server_start(&sv, sctx, servers[i].http2, 0);
		/* The first request streams its body: it falls back at its
		 * first write. One connection found out, one carries it. */
		coil_http_client *cl = client_new(cctx, 1);
		ck_assert_int_eq(echo_chunked(cl, sv.port, blob, sizeof blob), 11);
		ck_assert_uint_eq(coil_http_client_connections(cl), 2);
		/* The host is remembered: the kept HTTP/1.1 connection serves
		 * the next, then fibers of every worker. */
		char *body;
		int version = 0;
		ck_assert_int_eq(get(cl, sv.port, "/hello", &version, &body), 200);
		ck_assert_int_eq(version, 11);
		ck_assert_str_eq(body, "Hello, World!");
		free(body);
		ck_assert_uint_eq(coil_http_client_connections(cl), 2);
		struct many m = {.cl = cl, .port = sv.port};
		coil_task t[10];
		for (int k = 0; k < 10; k++)
			ck_assert_int_eq(coil_task_spawn_on((unsigned)(k % coil_worker_count()),
							    &t[k], fallback_get, &m),
					 0);
		for (int k = 0; k < 10; k++)
			ck_assert_int_eq(coil_task_join(t[k], NULL), 0);
		ck_assert_uint_eq(m.ok, 10);
		ck_assert_int_eq(coil_http_client_free(cl), 0);

		/* A request read whole falls back when its answer is asked. */
		cl = client_new(cctx, 1);
		ck_assert_int_eq(get(cl, sv.port, "/hello", &version, NULL), 200);
		ck_assert_int_eq(version, 11);
		ck_assert_int_eq(coil_http_client_free(cl), 0);
		http_srv_wait_no_connections(&sv);
		http_srv_stop(&sv);
		coil_tls_ctx_free(cctx);
		coil_tls_ctx_free(sctx);
	}
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(an_http2_client_goes_http1_when_alpn_does_not_pick_h2)
{
	certs_make();
	coil_test_run(fallback_main, NULL);
	certs_drop();
}
END_TEST

/* A host remembered as HTTP/1.1 only whose server now picks "h2": the new
 * connection that hears it sends the request over HTTP/2, and the host is
 * forgotten. No connection is kept (max_idle 0): each request opens one. */
static void *upgraded_main(void *arg)
{
	(void)arg;
	coil_tls_ctx *h1 = server_ctx("server", ALPN_H1, 1),
		     *h2 = server_ctx("server", ALPN_H2_H1, 2);
	coil_tls_ctx *cctx = client_ctx(ALPN_H2_H1, 2);
	struct http_srv sv;
	server_start(&sv, h1, 1, 0);
	int port = sv.port;
	struct coil_http_client_config cfg;
	coil_http_client_config_init(&cfg);
	cfg.tls = cctx;
	cfg.http2 = 1;
	cfg.max_idle = 0;
	coil_http_client *cl;
	ck_assert_int_eq(coil_http_client_new(&cl, &cfg), 0);
	int version = 0;
	ck_assert_int_eq(get(cl, port, "/hello", &version, NULL), 200);
	ck_assert_int_eq(version, 11);
	ck_assert_uint_eq(coil_http_client_connections(cl), 2); /* h2 tried, then HTTP/1.1 */
	ck_assert_int_eq(get(cl, port, "/hello", &version, NULL), 200);
	ck_assert_int_eq(version, 11);
	ck_assert_uint_eq(coil_http_client_connections(cl), 3); /* remembered: HTTP/1.1 first */
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	server_start(&sv, h2, 1, (uint16_t)port);
	ck_assert_int_eq(get(cl, port, "/hello", &version, NULL), 200);
	ck_assert_int_eq(version, 20);
	ck_assert_uint_eq(coil_http_client_connections(cl), 5); /* told "h2", then h2 */
	ck_assert_int_eq(get(cl, port, "/hello", &version, NULL), 200);
	ck_assert_int_eq(version, 20);
	ck_assert_uint_eq(coil_http_client_connections(cl), 5); /* the h2 connection */
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	coil_tls_ctx_free(cctx);
	coil_tls_ctx_free(h2);
	coil_tls_ctx_free(h1);
	return NULL;
}

START_TEST(a_remembered_http1_host_that_picks_h2_again_is_forgotten)
{
	certs_make();
	coil_test_run(upgraded_main, NULL);
	certs_drop();
}
END_TEST

/* ---- failures ------------------------------------------------------------------------------ */

static void *failures_main(void *arg)
{
	(void)arg;
	int fds = fds_warm();
	coil_tls_ctx *cctx = client_ctx(ALPN_H2_H1, 2), *h1ctx = client_ctx(NULL, 0);
	struct http_srv sv;

	/* A plaintext server answers the ClientHello with a 400 in clear
	 * text: not TLS, -EPROTO, at once (both clients). */
	server_start(&sv, NULL, 1, 0);
	for (int http2 = 0; http2 < 2; http2++) {
		coil_http_client *cl = client_new(http2 ? cctx : h1ctx, http2);
		ck_assert_int_eq(get(cl, sv.port, "/hello", NULL, NULL), -EPROTO);
		ck_assert_int_eq(coil_http_client_free(cl), 0);
	}
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);

	/* A listener that never answers: the handshake ends at the
	 * client's timeout, -ETIMEDOUT. */
	int lfd = coil_tcp_listen("127.0.0.1", 0, 4, 0);
	ck_assert_int_ge(lfd, 0);
	struct coil_http_client_config ccfg;
	coil_http_client_config_init(&ccfg);
	ccfg.tls = h1ctx;
	ccfg.timeout = 200 * COIL_NSEC_PER_MSEC;
	coil_http_client *quick;
	ck_assert_int_eq(coil_http_client_new(&quick, &ccfg), 0);
	ck_assert_int_eq(get(quick, coil_sock_port(lfd), "/hello", NULL, NULL), -ETIMEDOUT);
	ck_assert_int_eq(coil_http_client_free(quick), 0);
	ck_assert_int_eq(coil_close(lfd), 0);

	/* Certificates that fail verification: -EKEYREJECTED, as
	 * coil_tls_handshake says (both clients); the right one passes. */
	static const char *const names[] = {"expired", "self", "wronghost", "server"};
	for (size_t i = 0; i < 4; i++) {
		coil_tls_ctx *sctx = server_ctx(names[i], ALPN_H2_H1, 2);
		server_start(&sv, sctx, 1, 0);
		for (int http2 = 0; http2 < 2; http2++) {
			/* An HTTP/1.1 client offers no "h2" here: this server
			 * would pick it (see below). */
			coil_http_client *cl = client_new(http2 ? cctx : h1ctx, http2);
			int version = 0;
			int r = get(cl, sv.port, "/hello", &version, NULL);
			if (i < 3) {
				ck_assert_msg(r == -EKEYREJECTED, "%s, http2 %d: %d", names[i],
					      http2, r);
			} else {
				ck_assert_int_eq(r, 200);
				ck_assert_int_eq(version, http2 ? 20 : 11);
			}
			ck_assert_int_eq(coil_http_client_free(cl), 0);
		}
		http_srv_wait_no_connections(&sv);
		http_srv_stop(&sv);
		coil_tls_ctx_free(sctx);
	}

	/* By address: checked against the certificate's IP names. */
	coil_tls_ctx *sctx = server_ctx("server", ALPN_H1, 1);
	server_start(&sv, sctx, 0, 0);
	coil_http_client *cl = client_new(h1ctx, 0);
	struct coil_http_client_request rq = {
		.host = "127.0.0.1", .port = (uint16_t)sv.port, .target = "/hello"};
	struct coil_http_client_response res;
	ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
	ck_assert_str_eq(res.body, "Hello, World!");
	coil_http_client_response_free(&res);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	coil_tls_ctx_free(sctx);

	/* An HTTP/1.1 client whose context offers "h2" to a server that
	 * picks it: it cannot speak it, -EPROTONOSUPPORT. */
	sctx = server_ctx("server", ALPN_H2_H1, 2);
	server_start(&sv, sctx, 1, 0);
	cl = client_new(cctx, 0);
	ck_assert_int_eq(get(cl, sv.port, "/hello", NULL, NULL), -EPROTONOSUPPORT);
	ck_assert_int_eq(coil_http_client_free(cl), 0);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	coil_tls_ctx_free(sctx);

	coil_tls_ctx_free(h1ctx);
	coil_tls_ctx_free(cctx);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(a_plaintext_server_and_bad_certificates_fail_with_clear_errors)
{
	certs_make();
	coil_test_run(failures_main, NULL);
	certs_drop();
}
END_TEST

/* ---- against openssl s_server -www ------------------------------------------------------------ */

extern char **environ;

static void *s_server_main(void *arg)
{
	int port = *(int *)arg;
	/* Until it listens: connect, bounded (it starts in a few ms). */
	int64_t until = coil_now() + 20 * COIL_NSEC_PER_SEC;
	for (;;) {
		int fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
		if (fd >= 0) {
			coil_close(fd);
			break;
		}
		ck_assert_msg(coil_now() < until, "s_server does not listen: %d", fd);
		coil_sleep(10 * COIL_NSEC_PER_MSEC);
	}
	/* Its status page, HTTP/1.0 ending with the connection: to an
	 * HTTP/1.1 client, and to an HTTP/2 one (ALPN http/1.1). */
	coil_tls_ctx *h1ctx = client_ctx(NULL, 0), *cctx = client_ctx(ALPN_H2_H1, 2);
	for (int http2 = 0; http2 < 2; http2++) {
		coil_http_client *cl = client_new(http2 ? cctx : h1ctx, http2);
		for (int i = 0; i < 2; i++) {
			struct coil_http_client_request rq = request(port, NULL, "/");
			struct coil_http_client_response res;
			ck_assert_int_eq(coil_http_client_send(cl, &rq, &res), 0);
			ck_assert_int_eq(res.status, 200);
			ck_assert_int_eq(res.version, 10);
			ck_assert_ptr_nonnull(strstr(res.body, "Ciphers supported"));
			coil_http_client_response_free(&res);
		}
		ck_assert_int_eq(coil_http_client_free(cl), 0);
	}
	coil_tls_ctx_free(cctx);
	coil_tls_ctx_free(h1ctx);
	return NULL;
}

START_TEST(against_openssl_s_server)
{
	certs_make();
	/* A free port: bound, then let go (s_server is given a number). */
	int lfd = coil_tcp_listen("127.0.0.1", 0, 1, 0);
	ck_assert_int_ge(lfd, 0);
	int port = coil_sock_port(lfd);
	coil_close(lfd);
	char accept[32], cert[320], key[320];
	snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
	snprintf(cert, sizeof cert, "%s/server.pem", certs);
	snprintf(key, sizeof key, "%s/server.key", certs);
	char *argv[] = {"openssl", "s_server", "-quiet", "-accept", accept,	"-cert", cert,
			"-key",	   key,	       "-www",	 "-alpn",   "http/1.1", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int r = posix_spawnp(&pid, "openssl", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		coil_test_skip("no openssl command");
	} else {
		coil_test_run(s_server_main, &port);
		kill(pid, SIGTERM);
		int status;
		waitpid(pid, &status, 0);
	}
	certs_drop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("https_client");
	TCase *tc = tcase_create("https_client");
	tcase_add_test(tc, bodies_both_ways_on_one_kept_tls_connection);
	tcase_add_test(tc, a_quiet_https_connection_gives_openssl_buffers_back);
	tcase_add_test(tc, a_kept_connection_the_server_closed_is_replaced_for_idempotent_requests);
	tcase_add_test(tc, an_http2_client_goes_http1_when_alpn_does_not_pick_h2);
	tcase_add_test(tc, a_remembered_http1_host_that_picks_h2_again_is_forgotten);
	tcase_add_test(tc, a_plaintext_server_and_bad_certificates_fail_with_clear_errors);
	tcase_add_test(tc, against_openssl_s_server);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
