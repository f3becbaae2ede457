/*
 * http_proxy: a reverse proxy for HTTP/1.1, over coil's server and client.
 * Clients may speak HTTP/2 too (h2c by prior knowledge; with --tls CERT
 * KEY, HTTPS: h2 or http/1.1 by ALPN); upstreams are HTTP/1.1, or
 * HTTP/2 with --upstream-h2 (h2c by prior knowledge: the requests to each
 * upstream are streams of one connection).
 *
 *   http_proxy --upstream HOST:PORT [--upstream HOST:PORT ...] [--port N]
 *              [--host ADDR] [--workers N] [--timeout MS] [--tls CERT KEY]
 *              [--upstream-h2]
 *
 * Requests go to the upstreams in turn (round robin), over connections the
 * proxy keeps open (keep-alive on both sides). Each request is forwarded
 * with its method, target and headers, less the hop-by-hop ones
 * (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-*, those Connection names; and Expect, which the proxy answers
 * itself), and with the client's address appended to X-Forwarded-For.
 * Bodies stream both ways as they come, never held whole: by length when
 * the length is known, else chunked. The answer is the upstream's, less
 * the same hop-by-hop headers.
 *
 * When the upstream cannot be reached the client gets 502; when it does
 * not answer within --timeout (ms, default 60000; the connect and each
 * wait for its bytes) 504. When it fails after the answer has started,
 * the client's connection is closed: a cut body is never presented as
 * whole (its length or its last chunk is missing).
 *
 * --port 0 (the default) takes a free port. Prints "listening on
 * ADDR:PORT" (flushed) once it accepts. --workers N runs N worker threads
 * (0: one per CPU; default 1). SIGINT or SIGTERM shut it down gracefully
 * (requests in flight finish) and it exits 0; it exits 1 with a message
 * when it cannot listen, 2 on a bad command line.
 */
#include <coil.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_program.h"
#include "program_args.h"
#include "signal_stop.h"

#define MAX_UPSTREAMS 64
/* Body bytes moved per read. */
#define PIECE 16384

struct upstream {
	char host[256];
	uint16_t port;
};

struct app {
	struct coil_http_config cfg;
	struct upstream up[MAX_UPSTREAMS];
	unsigned nup;
	unsigned next;		/* round robin, shared by the workers */
	int64_t timeout;	/* ns */
	coil_http_client *client;
	struct signal_stop stop;
};

static bool str_is(struct coil_http_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

/* Whether the comma-separated tokens of v name the field name. */
static bool listed(struct coil_http_str v, struct coil_http_str name)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	while (p < end) {
		while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
			p++;
		const char *t = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if ((size_t)(p - t) == name.len && strncasecmp(t, name.ptr, name.len) == 0)
			return true;
	}
	return false;
}

/* Hop-by-hop: not forwarded (RFC 9110 7.6.1). conn: the Connection
 * fields of the same message. Also the fields the proxy makes itself. */
static bool hop_by_hop(struct coil_http_str name, const struct coil_http_str *conn, int nconn)
{
	static const char *const hop[] = {"connection", "keep-alive", "te", "trailer",
					  "transfer-encoding", "upgrade", "content-length",
					  "expect"};
	for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
		if (str_is(name, hop[i]))
			return true;
	if (name.len >= 6 && strncasecmp(name.ptr, "proxy-", 6) == 0)
		return true;
	for (int i = 0; i < nconn; i++)
		if (listed(conn[i], name))
			return true;
	return false;
}

#define MAX_CONN_FIELDS 8

/* The client's address as text into ip. */
static void peer_ip(coil_http_request *req, char *ip, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	snprintf(ip, cap, "unknown");
	if (coil_http_request_peer(req, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, (socklen_t)cap);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, (socklen_t)cap);
}

/* The request's header lines for the upstream, into small (cap bytes) or
 * malloc'd: its own less the hop-by-hop ones, then X-Forwarded-For: the
 * list it came with (several fields joined) and the client's address. */
static char *forward_headers(coil_http_request *req, char *small, size_t cap)
{
	int count = coil_http_request_header_count(req);
	struct coil_http_str conn[MAX_CONN_FIELDS];
	int nconn = 0;
	size_t need = 64 + INET6_ADDRSTRLEN;
	for (int i = 0; i < count; i++) {
		struct coil_http_str n, v;
		coil_http_request_header_at(req, (size_t)i, &n, &v);
		if (str_is(n, "connection") && nconn < MAX_CONN_FIELDS)
			conn[nconn++] = v;
		need += n.len + v.len + 4;
	}
	char *out = need <= cap ? small : malloc(need), *p = out;
	if (!out)
		return NULL;
	for (int i = 0; i < count; i++) {
		struct coil_http_str n, v;
		coil_http_request_header_at(req, (size_t)i, &n, &v);
		if (!hop_by_hop(n, conn, nconn) && !str_is(n, "x-forwarded-for"))
			p += sprintf(p, "%.*s: %.*s\r\n", (int)n.len, n.ptr, (int)v.len, v.ptr);
	}
	p += sprintf(p, "X-Forwarded-For: ");
	for (int i = 0; i < count; i++) {
		struct coil_http_str n, v;
		coil_http_request_header_at(req, (size_t)i, &n, &v);
		if (str_is(n, "x-forwarded-for") && v.len)
			p += sprintf(p, "%.*s, ", (int)v.len, v.ptr);
	}
	char ip[INET6_ADDRSTRLEN];
	peer_ip(req, ip, sizeof ip);
	sprintf(p, "%s\r\n", ip);
	return out;
}

/* A copy of a view as a C string, into the caller's storage or malloc'd. */
static char *cstr(struct coil_http_str s, char *small, size_t cap)
{
	char *d = s.len < cap ? small : malloc(s.len + 1);
	if (d) {
		memcpy(d, s.ptr, s.len);
		d[s.len] = 0;
	}
	return d;
}

/* The proxy's own answer, when the upstream gave none. */
static int fail(coil_http_response *res, int err)
{
	int status = err == -ETIMEDOUT ? 504 : 502;
	coil_http_response_close(res);
	return coil_http_respond(res, status, "text/plain",
				 status == 504 ? "upstream timed out\n" : "bad gateway\n",
				 status == 504 ? 19 : 12);
}

/* The upstream's answer's head onto res. Returns 0 or -errno. */
static int copy_head(coil_http_exchange *x, coil_http_response *res, int status,
		     bool head_request)
{
	int r = coil_http_response_status(res, status);
	if (r < 0)
		return r;
	int count = coil_http_exchange_header_count(x);
	struct coil_http_str conn[MAX_CONN_FIELDS];
	int nconn = 0;
	for (int i = 0; i < count; i++) {
		struct coil_http_str n, v;
		coil_http_exchange_header_at(x, (size_t)i, &n, &v);
		if (str_is(n, "connection") && nconn < MAX_CONN_FIELDS)
			conn[nconn++] = v;
	}
	char line[4096]; /* the server takes 4 KiB of headers in all */
	for (int i = 0; i < count; i++) {
		struct coil_http_str n, v;
		coil_http_exchange_header_at(x, (size_t)i, &n, &v);
		if (hop_by_hop(n, conn, nconn) || str_is(n, "date"))
			continue; /* the server makes its own Date */
		if (n.len + v.len + 2 > sizeof line)
			return -ENOSPC;
		memcpy(line, n.ptr, n.len);
		line[n.len] = 0;
		memcpy(line + n.len + 1, v.ptr, v.len);
		line[n.len + 1 + v.len] = 0;
		r = coil_http_response_header(res, line, line + n.len + 1);
		if (r < 0)
			return r;
	}
	int64_t len = coil_http_exchange_content_length(x);
	struct coil_http_str v;
	if ((head_request || status == 304) &&
	    coil_http_exchange_header(x, "content-length", &v) == 0) {
		/* No body; the length a GET would get, passed on. */
		char num[24];
		if (v.len && v.len < sizeof num) {
			memcpy(num, v.ptr, v.len);
			num[v.len] = 0;
			r = coil_http_response_length(res, strtoull(num, NULL, 10));
		}
	} else if (len >= 0 && !head_request && status != 204 && status != 304) {
		r = coil_http_response_length(res, (uint64_t)len);
	}
	return r;
}

/* An upstream call, bounded by --timeout (then -ETIMEDOUT). */
#define TIMED(app, call)                                                       \
	({                                                                     \
		coil_scope s_;                                                 \
		bool in_ = coil_scope_enter_timeout(&s_, (app)->timeout) == 0; \
		__auto_type r_ = (call);                                       \
		if (in_)                                                       \
			coil_scope_exit(&s_);                                  \
		r_;                                                            \
	})

static int proxy(coil_http_request *req, coil_http_response *res, void *ctx)
{
	struct app *app = ctx;
	unsigned turn = __atomic_fetch_add(&app->next, 1, __ATOMIC_RELAXED);
	const struct upstream *up = &app->up[turn % app->nup];
	/* On the fiber's stack when they fit (128 KiB by default). */
	char mbuf[32], tbuf[512], hbuf[2048], piece[PIECE];
	char *method = cstr(coil_http_request_method(req), mbuf, sizeof mbuf);
	char *target = cstr(coil_http_request_target(req), tbuf, sizeof tbuf);
	char *headers = forward_headers(req, hbuf, sizeof hbuf);
	coil_http_exchange *x = NULL;
	int r = -ENOMEM;
	if (!method || !target || !headers)
		goto out;
	int64_t body = coil_http_request_content_length(req);
	struct coil_http_client_request rq = {
		.method = method, .host = up->host, .port = up->port, .target = target,
		.headers = headers,
		.body_len = body < 0 ? COIL_HTTP_BODY_CHUNKED : (size_t)body,
	};
	r = TIMED(app, coil_http_exchange_start(app->client, &rq, &x));
	if (r < 0) {
		r = fail(res, r);
		goto out;
	}
	if (body) { /* the client's body, as it comes */
		ssize_t n;
		while ((n = coil_http_request_read(req, piece, PIECE)) > 0) {
			ssize_t w = TIMED(app, coil_http_exchange_write(x, piece, (size_t)n));
			/* The upstream answered before it took the whole body
			 * (-EALREADY), or closed meanwhile (-ECONNRESET): its
			 * answer, if it sent one, is what the client gets. */
			if (w == -EALREADY || w == -ECONNRESET)
				break;
			if (w < 0) {
				r = fail(res, (int)w);
				goto out;
			}
		}
		if (n < 0) { /* the client's fault: the server answers it */
			r = (int)n;
			goto out;
		}
	}
	int status = TIMED(app, coil_http_exchange_response(x));
	if (status < 0) {
		r = fail(res, status);
		goto out;
	}
	/* The first piece before the head is copied: an upstream that fails
	 * before any body byte still gets a clean 502/504 (nothing of its
	 * answer queued yet). */
	ssize_t n = TIMED(app, coil_http_exchange_read(x, piece, PIECE));
	if (n < 0) {
		r = fail(res, (int)n);
		goto out;
	}
	struct coil_http_str m = coil_http_request_method(req);
	r = copy_head(x, res, status, m.len == 4 && !memcmp(m.ptr, "HEAD", 4));
	if (r < 0) {
		r = fail(res, r);
		goto out;
	}
	while (n > 0) {
		ssize_t w = coil_http_response_write(res, piece, (size_t)n);
		if (w < 0) {
			r = (int)w;
			goto out;
		}
		n = TIMED(app, coil_http_exchange_read(x, piece, PIECE));
		if (n < 0) { /* the answer has started: the error closes the
			      * client's connection, its body visibly cut */
			r = (int)n;
			goto out;
		}
	}
	r = 0; /* the server ends the response */
out:
	coil_http_exchange_end(x);
	if (method != mbuf)
		free(method);
	if (target != tbuf)
		free(target);
	if (headers != hbuf)
		free(headers);
	return r;
}

static void *run(void *arg)
{
	struct app *app = arg;
	coil_http_server *s;
	int r = coil_http_server_open(&s, &app->cfg);
	if (r < 0) {
		fprintf(stderr, "http_proxy: listen on %s:%d: %s\n", app->cfg.addr, app->cfg.port,
			strerror(-r));
		return (void *)1;
	}
	if (signal_stop_watch(&app->stop) < 0) {
		coil_http_server_close(s);
		coil_http_client_free(app->client);
		app->client = NULL;
		return (void *)1;
	}
	printf("listening on %s:%d\n", app->cfg.addr, coil_http_server_port(s));
	fflush(stdout);
	r = coil_http_server_run(s, proxy, app);
	if (r < 0)
		fprintf(stderr, "http_proxy: %s\n", strerror(-r));
	signal_stop_end(&app->stop);
	coil_http_server_close(s);
	coil_http_client_free(app->client); /* its kept connections, in the runtime */
	app->client = NULL;
	return r < 0 ? (void *)1 : NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: http_proxy --upstream HOST:PORT [--upstream HOST:PORT ...]"
			" [--port N] [--host ADDR] [--workers N] [--timeout MS] [--tls CERT KEY]"
			" [--upstream-h2]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct app app;
	coil_http_config_init(&app.cfg);
	app.cfg.max_body = UINT64_MAX; /* bodies pass through: the upstream judges */
	app.timeout = 60 * COIL_NSEC_PER_SEC;
	struct coil_config cfg;
	coil_config_init(&cfg);
	bool upstream_h2 = false;
	for (int i = 1; i < argc; i++) {
		int taken = program_arg_server(argc, argv, &i, &app.cfg.port, &app.cfg.addr, &cfg.workers);
		if (taken < 0)
			usage();
		if (taken)
			continue;
		if (!strcmp(argv[i], "--upstream") && i + 1 < argc) {
			struct upstream *up = &app.up[app.nup];
			if (app.nup == MAX_UPSTREAMS ||
			    !program_arg_host_port(argv[++i], up->host, sizeof up->host, &up->port))
				usage();
			app.nup++;
		} else if (!strcmp(argv[i], "--upstream-h2")) {
			upstream_h2 = true;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (!program_arg_msec(argv[++i], 1, &app.timeout))
				usage();
		} else if ((taken = http_program_arg_tls(argc, argv, &i, &app.cfg, "http_proxy"))) {
			if (taken < 0)
				return 1;
		} else {
			usage();
		}
	}
	if (!app.nup)
		usage();

	struct coil_http_client_config ccfg;
	coil_http_client_config_init(&ccfg);
	ccfg.timeout = 0;	/* each wait is bounded by --timeout instead */
	ccfg.max_idle = 1024;	/* per upstream: as many as clients keep busy */
	ccfg.http2 = upstream_h2;
	if (coil_http_client_new(&app.client, &ccfg) < 0) {
		fprintf(stderr, "http_proxy: out of memory\n");
		return 1;
	}
	program_raise_nofile();
	if (signal_stop_open(&app.stop, "http_proxy") < 0)
		return 1;
	void *result = NULL;
	int r = coil_run(&cfg, run, &app, &result);
	coil_http_client_free(app.client); /* when run did not */
	coil_tls_ctx_free(app.cfg.tls);
	if (r < 0) {
		fprintf(stderr, "http_proxy: %s\n", strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}
