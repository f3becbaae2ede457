/*
 * HTTP/2 in the server (coil/http.h, src/http/h2.c) over 127.0.0.1, driven
 * by clients that write raw frames with coil's own sockets (responses'
 * header blocks decoded by nghttp2's HPACK inflater): the HTTP/1.1
 * handlers answering over h2c, flow control, the head and body limits, and
 * one test per hostile client of issue 18 (rapid reset, SETTINGS and PING
 * floods, CONTINUATION without end, a window of 0 for ever, 10k streams)
 * after which another client is served, the server holds no connection
 * and the process has its fds and heap back.
 */
#define _GNU_SOURCE
#include "h2_fail.h"
#include "http_harness.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- the server under test ----------------------------------------------- */

static bool target_is(coil_http_request *req, const char *t)
{
	struct coil_http_str s = coil_http_request_target(req);
	size_t n = strlen(t);
	return s.len >= n && memcmp(s.ptr, t, n) == 0;
}

static int handler(coil_http_request *req, coil_http_response *res, void *ctx)
{
	if (target_is(req, "/hello"))
		return coil_http_respond(res, 200, "text/plain", "Hello, World!", 13);
	if (target_is(req, "/echo")) {
		size_t cap = 1 << 20, len = 0;
		char *body = malloc(cap);
		ck_assert_ptr_nonnull(body);
		ssize_t n;
		while ((n = coil_http_request_read(req, body + len,
						   cap - len > 7000 ? 7000 : cap - len)) > 0)
			len += (size_t)n;
		int r = n < 0 ? (int)n : coil_http_respond(res, 200, NULL, body, len);
		free(body);
		return r;
	}
	if (target_is(req, "/info")) {
		struct coil_http_str m = coil_http_request_method(req),
				     t = coil_http_request_target(req);
		struct coil_http_str host = {"-", 1}, x = {"-", 1};
		coil_http_request_header(req, "Host", &host);
		coil_http_request_header(req, "X-MiXeD", &x);
		char out[512];
		int n = snprintf(out, sizeof out, "%.*s %.*s %d %.*s %.*s %d %lld", (int)m.len,
				 m.ptr, (int)t.len, t.ptr, coil_http_request_version(req),
				 (int)host.len, host.ptr, (int)x.len, x.ptr,
				 coil_http_request_header_count(req),
				 (long long)coil_http_request_content_length(req));
		coil_http_response_header(res, "X-Reply", "Yes");
		coil_http_response_header(res, "Connection", "close"); /* refused: -EINVAL */
		return coil_http_respond(res, 201, "text/plain", out, (size_t)n);
	}
	if (target_is(req, "/stream")) {
		for (int i = 0; i < 3; i++) {
			char part[16];
			int n = snprintf(part, sizeof part, "part%d;", i);
			if (coil_http_response_write(res, part, (size_t)n) != n)
				return -EIO;
		}
		return 0;
	}
	if (target_is(req, "/big")) { /* 256 KiB: past every window */
		static char block[16384];
		memset(block, 'b', sizeof block);
		for (int i = 0; i < 16; i++)
			if (coil_http_response_write(res, block, sizeof block) < 0)
				return -EIO;
		return 0;
	}
	if (target_is(req, "/fail"))
		return -EIO;
	if (target_is(req, "/peer")) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int r = coil_http_request_peer(req, (struct sockaddr *)&ss, &sl);
		char out[32];
		int n = snprintf(out, sizeof out, "%d %d", r, r == 0 && ss.ss_family == AF_INET);
		return coil_http_respond(res, 200, NULL, out, (size_t)n);
	}
	return coil_http_respond(res, 404, NULL, "no", 2);
}

/* The server under test (tests/http_harness.h) on the handler above. */
static void srv_start(struct http_srv *sv, const struct coil_http_config *cfg)
{
	http_srv_start(sv, cfg, handler, NULL);
}

/* ---- a raw HTTP/2 client ------------------------------------------------- */

#define COIL_TEST_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

enum {
	DATA = 0,
	HEADERS = 1,
	RST_STREAM = 3,
	SETTINGS = 4,
	PING = 6,
	GOAWAY = 7,
	WINDOW_UPDATE = 8,
	CONTINUATION = 9
};
enum {
	END_STREAM = 1,
	ACK = 1,
	END_HEADERS = 4
};

struct frame {
	uint32_t len;
	uint8_t type, flags;
	int32_t sid;
	uint8_t *payload; /* into the client's buffer, until the next read */
};

struct h2 {
	int fd;
	nghttp2_hd_inflater *inf;
	uint8_t buf[1 << 17];
	size_t len, off;
	int64_t conn_win;    /* what we may send */
	int64_t stream_win0; /* the server's initial stream window */
	uint32_t goaway_code;
	int32_t goaway_last; /* its last stream id */
	bool goaway;
	bool quiet;	 /* a fiber floods the socket: read only, never write */
	int end;	 /* how the server's side ended: 0, or -ECONNRESET */
	unsigned frames; /* read so far */
};

static void put_hd(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, int32_t sid)
{
	p[0] = (uint8_t)(len >> 16);
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	p[3] = type;
	p[4] = flags;
	p[5] = (uint8_t)(sid >> 24);
	p[6] = (uint8_t)(sid >> 16);
	p[7] = (uint8_t)(sid >> 8);
	p[8] = (uint8_t)sid;
}

/* A frame into out; its length. */
static size_t frame_make(uint8_t *out, uint8_t type, uint8_t flags, int32_t sid, const void *p,
			 size_t len)
{
	put_hd(out, (uint32_t)len, type, flags, sid);
	if (len)
		memcpy(out + 9, p, len);
	return 9 + len;
}

static ssize_t frame_send(struct h2 *c, uint8_t type, uint8_t flags, int32_t sid, const void *p,
			  size_t len)
{
	uint8_t f[9 + 16384];
	ck_assert_uint_le(len, 16384);
	size_t n = frame_make(f, type, flags, sid, p, len);
	return coil_sock_write_all(c->fd, f, n);
}

static struct h2 *h2_open(int port, uint32_t initial_window)
{
	struct h2 *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(nghttp2_hd_inflate_new(&c->inf), 0);
	c->conn_win = 65535;
	c->stream_win0 = 65535;
	ck_assert_int_eq(coil_sock_write_all(c->fd, COIL_TEST_PREFACE, 24), 24);
	uint8_t s[6] = {0,
			4,
			(uint8_t)(initial_window >> 24),
			(uint8_t)(initial_window >> 16),
			(uint8_t)(initial_window >> 8),
			(uint8_t)initial_window};
	ck_assert_int_eq(frame_send(c, SETTINGS, 0, 0, s, sizeof s), 15);
	return c;
}

static void h2_close(struct h2 *c)
{
	coil_close(c->fd);
	nghttp2_hd_inflate_del(c->inf);
	free(c);
}

/* The next frame; false at the server's end (or a reset). */
static bool frame_read(struct h2 *c, struct frame *f)
{
	for (;;) {
		size_t have = c->len - c->off;
		if (have >= 9) {
			uint8_t *p = c->buf + c->off;
			uint32_t len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
			ck_assert_uint_le(len, sizeof c->buf - 9);
			if (have >= 9 + len) {
				f->len = len;
				f->type = p[3];
				f->flags = p[4];
				f->sid = (int32_t)((uint32_t)(p[5] & 0x7f) << 24 |
						   (uint32_t)p[6] << 16 | (uint32_t)p[7] << 8 |
						   p[8]);
				f->payload = p + 9;
				c->off += 9 + len;
				c->frames++;
				return true;
			}
		}
		if (c->off) {
			memmove(c->buf, c->buf + c->off, have);
			c->len = have;
			c->off = 0;
		}
		ssize_t n = coil_sock_read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (n <= 0) {
			ck_assert_msg(n == 0 || n == -ECONNRESET, "client read: %zd", n);
			c->end = (int)n;
			return false;
		}
		c->len += (size_t)n;
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What every frame means to the connection (SETTINGS acked, windows,
 * GOAWAY); the header block's :status into *status when asked. */
static void frame_common(struct h2 *c, const struct frame *f, int *status, char *hdrs,
			 size_t hdrs_cap)
{
	if (f->type == SETTINGS && !(f->flags & ACK)) {
		for (uint32_t i = 0; i + 6 <= f->len; i += 6)
			if (f->payload[i] == 0 && f->payload[i + 1] == 4)
				c->stream_win0 = be32(f->payload + i + 2);
		if (!c->quiet)
			frame_send(c, SETTINGS, ACK, 0, NULL, 0);
	} else if (f->type == WINDOW_UPDATE && f->sid == 0) {
		c->conn_win += be32(f->payload) & 0x7fffffff;
	} else if (f->type == GOAWAY) {
		c->goaway = true;
		c->goaway_last = (int32_t)(be32(f->payload) & 0x7fffffff);
		c->goaway_code = be32(f->payload + 4);
	} else if (f->type == HEADERS) {
		/* Every block goes through the inflater: its table is the
		 * connection's. */
		uint8_t *in = f->payload;
		size_t inlen = f->len;
		ck_assert_msg(f->flags & END_HEADERS, "no CONTINUATION expected");
		for (;;) {
			nghttp2_nv nv;
			int fl = 0;
			ssize_t n = nghttp2_hd_inflate_hd2(c->inf, &nv, &fl, in, inlen, 1);
			ck_assert_int_ge(n, 0);
			in += n;
			inlen -= (size_t)n;
			if (fl & NGHTTP2_HD_INFLATE_EMIT) {
				if (status && nv.namelen == 7 && !memcmp(nv.name, ":status", 7))
					*status = atoi((const char *)nv.value);
				if (hdrs) {
					size_t l = strlen(hdrs);
					snprintf(hdrs + l, hdrs_cap - l, "%.*s: %.*s\n",
						 (int)nv.namelen, nv.name, (int)nv.valuelen,
						 nv.value);
				}
			}
			if (fl & NGHTTP2_HD_INFLATE_FINAL) {
				nghttp2_hd_inflate_end_headers(c->inf);
				break;
			}
			if (inlen == 0 && !(fl & NGHTTP2_HD_INFLATE_EMIT))
				break;
		}
	}
}

/* An HPACK integer with an n-bit prefix (RFC 7541 5.1). */
static size_t hpack_int(uint8_t *p, uint8_t first, int bits, size_t v)
{
	size_t max = (1u << bits) - 1, n = 0;
	if (v < max) {
		p[n++] = (uint8_t)(first | v);
		return n;
	}
	p[n++] = (uint8_t)(first | max);
	v -= max;
	while (v >= 128) {
		p[n++] = (uint8_t)(v % 128 + 128);
		v /= 128;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* A literal field without indexing, the name a literal too. */
static size_t hpack_lit(uint8_t *p, const char *name, const char *value, size_t vlen)
{
	size_t n = 0, nl = strlen(name);
	p[n++] = 0;
	n += hpack_int(p + n, 0, 7, nl);
	memcpy(p + n, name, nl);
	n += nl;
	n += hpack_int(p + n, 0, 7, vlen);
	memcpy(p + n, value, vlen);
	return n + vlen;
}

/* A request's header block: method, path, :scheme http, :authority t,
 * then extra (already encoded). */
static size_t request_block(uint8_t *p, const char *method, const char *path, const uint8_t *extra,
			    size_t extra_len)
{
	size_t n = 0;
	if (!strcmp(method, "GET")) {
		p[n++] = 0x82;
	} else {
		n += hpack_int(p + n, 0, 4, 2); /* literal, name :method */
		n += hpack_int(p + n, 0, 7, strlen(method));
		memcpy(p + n, method, strlen(method));
		n += strlen(method);
	}
	p[n++] = 0x86;			/* :scheme http */
	n += hpack_int(p + n, 0, 4, 4); /* :path, literal value */
	n += hpack_int(p + n, 0, 7, strlen(path));
	memcpy(p + n, path, strlen(path));
	n += strlen(path);
	p[n++] = 0x01; /* :authority t */
	p[n++] = 0x01;
	p[n++] = 't';
	if (extra_len)
		memcpy(p + n, extra, extra_len);
	return n + extra_len;
}

static void send_request(struct h2 *c, int32_t sid, const char *method, const char *path,
			 const uint8_t *extra, size_t extra_len, bool end_stream)
{
	uint8_t b[16384];
	size_t n = request_block(b, method, path, extra, extra_len);
	ck_assert_int_eq(
		frame_send(c, HEADERS, END_HEADERS | (end_stream ? END_STREAM : 0), sid, b, n),
		(ssize_t)(9 + n));
}

struct reply {
	int status;
	char hdrs[2048];
	char *body;
	size_t len;
	uint32_t rst; /* RST_STREAM's code + 1, or 0 */
};

/* Read until stream sid's response is complete (or reset), answering
 * what the connection needs; the DATA read is given back as it comes.
 * Returns false at the server's end. */
static bool read_reply(struct h2 *c, int32_t sid, struct reply *r)
{
	memset(r, 0, sizeof *r);
	for (;;) {
		struct frame f;
		if (!frame_read(c, &f))
			return false;
		bool mine = f.sid == sid;
		frame_common(c, &f, mine ? &r->status : NULL, mine ? r->hdrs : NULL,
			     sizeof r->hdrs);
		if (!mine)
			continue;
		if (f.type == DATA && f.len) {
			r->body = realloc(r->body, r->len + f.len + 1);
			memcpy(r->body + r->len, f.payload, f.len);
			r->len += f.len;
			r->body[r->len] = 0;
			uint8_t inc[4] = {(uint8_t)(f.len >> 24), (uint8_t)(f.len >> 16),
					  (uint8_t)(f.len >> 8), (uint8_t)f.len};
			frame_send(c, WINDOW_UPDATE, 0, 0, inc, 4);
			frame_send(c, WINDOW_UPDATE, 0, sid, inc, 4);
		}
		if (f.type == RST_STREAM) {
			r->rst = be32(f.payload) + 1;
			return true;
		}
		if ((f.type == DATA || f.type == HEADERS) && (f.flags & END_STREAM))
			return true;
	}
}

static void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* Send a request body in DATA frames as the server's windows allow. */
static void send_body(struct h2 *c, int32_t sid, const char *p, size_t len)
{
	int64_t win = c->stream_win0;
	while (len) {
		while (win <= 0 || c->conn_win <= 0) {
			struct frame f;
			ck_assert(frame_read(c, &f));
			frame_common(c, &f, NULL, NULL, 0);
			if (f.type == WINDOW_UPDATE && f.sid == sid)
				win += be32(f.payload) & 0x7fffffff;
			if (f.type == SETTINGS && !(f.flags & ACK))
				win = c->stream_win0; /* nothing sent before it: whole */
		}
		size_t n = len < 16384 ? len : 16384;
		if ((int64_t)n > win)
			n = (size_t)win;
		if ((int64_t)n > c->conn_win)
			n = (size_t)c->conn_win;
		ck_assert_int_eq(frame_send(c, DATA, n == len ? END_STREAM : 0, sid, p, n),
				 (ssize_t)(9 + n));
		win -= (int64_t)n;
		c->conn_win -= (int64_t)n;
		p += n;
		len -= n;
	}
}

/* A GET of /hello as stream sid of c, answered 200 "Hello, World!". */
static void get_hello(struct h2 *c, int32_t sid)
{
	send_request(c, sid, "GET", "/hello", NULL, 0, true);
	struct reply r;
	ck_assert(read_reply(c, sid, &r));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "Hello, World!");
	reply_free(&r);
}

/* A GET of /hello on a connection of its own. */
static void healthy_get(struct http_srv *sv)
{
	struct h2 *c = h2_open(sv->port, 65535);
	get_hello(c, 1);
	h2_close(c);
}

/* ---- the handlers of HTTP/1.1 over h2c ----------------------------------- */

static void *requests_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct http_srv sv;
	srv_start(&sv, NULL);
	struct h2 *c = h2_open(sv.port, 65535);
	struct reply r;

	send_request(c, 1, "GET", "/hello", NULL, 0, true);
	ck_assert(read_reply(c, 1, &r));
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "Hello, World!");
	ck_assert_ptr_nonnull(strstr(r.hdrs, "content-length: 13\n"));
	ck_assert_ptr_nonnull(strstr(r.hdrs, "content-type: text/plain\n"));
	ck_assert_ptr_nonnull(strstr(r.hdrs, "date: "));
	reply_free(&r);

	/* The request as the handler sees it: :authority as Host, names in
	 * any case, version 20; names the server owns refused. */
	uint8_t extra[128];
	size_t en = hpack_lit(extra, "x-mixed", "v1", 2);
	send_request(c, 3, "GET", "/info?a=b", extra, en, true);
	ck_assert(read_reply(c, 3, &r));
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(r.body, "GET /info?a=b 20 t v1 2 0");
	ck_assert_ptr_nonnull(strstr(r.hdrs, "x-reply: Yes\n"));
	ck_assert_ptr_null(strstr(r.hdrs, "connection"));
	reply_free(&r);

	/* A body of 300 KiB: past the stream's window (64 KiB), which the
	 * server gives back as the handler reads. */
	size_t blen = 300 * 1024;
	char *body = malloc(blen);
	for (size_t i = 0; i < blen; i++)
		body[i] = (char)('a' + i % 26);
	send_request(c, 5, "POST", "/echo", NULL, 0, false);
	send_body(c, 5, body, blen);
	ck_assert(read_reply(c, 5, &r));
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, blen);
	ck_assert(memcmp(r.body, body, blen) == 0);
	reply_free(&r);
	free(body);

	/* Written in pieces without a length; 256 KiB past our window. */
	send_request(c, 7, "GET", "/stream", NULL, 0, true);
	ck_assert(read_reply(c, 7, &r));
	ck_assert_str_eq(r.body, "part0;part1;part2;");
	reply_free(&r);
	send_request(c, 9, "GET", "/big", NULL, 0, true);
	ck_assert(read_reply(c, 9, &r));
	ck_assert_uint_eq(r.len, 256 * 1024);
	reply_free(&r);

	/* HEAD: the length a GET would get, no body. */
	send_request(c, 11, "HEAD", "/hello", NULL, 0, true);
	ck_assert(read_reply(c, 11, &r));
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_ptr_nonnull(strstr(r.hdrs, "content-length: 13\n"));
	reply_free(&r);

	/* A handler's error before its head: 500; the connection goes on. */
	send_request(c, 13, "GET", "/fail", NULL, 0, true);
	ck_assert(read_reply(c, 13, &r));
	ck_assert_int_eq(r.status, 500);
	reply_free(&r);

	/* Ten streams at once. */
	for (int32_t sid = 15; sid < 35; sid += 2)
		send_request(c, sid, "GET", "/hello", NULL, 0, true);
	int done = 0, ok = 0;
	while (done < 10) {
		struct frame f;
		ck_assert(frame_read(c, &f));
		int st = 0;
		frame_common(c, &f, &st, NULL, 0);
		ok += st == 200;
		if ((f.type == DATA || f.type == HEADERS) && (f.flags & END_STREAM))
			done++;
	}
	ck_assert_int_eq(ok, 10);

	/* The client's address, asked by a handler. */
	send_request(c, 35, "GET", "/peer", NULL, 0, true);
	ck_assert(read_reply(c, 35, &r));
	ck_assert_str_eq(r.body, "0 1");
	reply_free(&r);
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(h2c_requests_reach_the_http11_handlers)
{
	coil_test_run(requests_main, NULL);
}
END_TEST

static void *limits_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.max_head = 1024;
	cfg.max_fields = 8;
	cfg.max_target = 100;
	cfg.max_body = 1000;
	struct http_srv sv;
	srv_start(&sv, &cfg);
	struct h2 *c = h2_open(sv.port, 65535);
	struct reply r;
	static char big[2048];
	memset(big, 'v', sizeof big);
	uint8_t extra[4096];

	size_t en = hpack_lit(extra, "x-big", big, 1100); /* the head's bytes */
	send_request(c, 1, "GET", "/hello", extra, en, true);
	ck_assert(read_reply(c, 1, &r));
	ck_assert_int_eq(r.status, 431);
	reply_free(&r);

	en = 0;
	for (int i = 0; i < 9; i++) /* its fields */
		en += hpack_lit(extra + en, "x-f", "1", 1);
	send_request(c, 3, "GET", "/hello", extra, en, true);
	ck_assert(read_reply(c, 3, &r));
	ck_assert_int_eq(r.status, 431);
	reply_free(&r);

	char path[200] = "/hello?";
	memset(path + 7, 'p', 150);
	send_request(c, 5, "GET", path, NULL, 0, true);
	ck_assert(read_reply(c, 5, &r));
	ck_assert_int_eq(r.status, 414);
	reply_free(&r);

	send_request(c, 7, "POST", "/echo", NULL, 0, false);
	send_body(c, 7, big, 2000);
	ck_assert(read_reply(c, 7, &r));
	ck_assert_int_eq(r.status, 413);
	reply_free(&r);

	get_hello(c, 9); /* the connection serves on */
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);

	/* The head's bytes as HPACK counts them: 32 more per field, so 30
	 * fields of 4 bytes (1080) top 1024 where their bytes alone do not. */
	cfg.max_fields = 100;
	srv_start(&sv, &cfg);
	c = h2_open(sv.port, 65535);
	en = 0;
	for (int i = 0; i < 30; i++)
		en += hpack_lit(extra + en, "x-f", "1", 1);
	send_request(c, 1, "GET", "/hello", extra, en, true);
	ck_assert(read_reply(c, 1, &r));
	ck_assert_int_eq(r.status, 431);
	reply_free(&r);
	en = 0;
	for (int i = 0; i < 15; i++)
		en += hpack_lit(extra + en, "x-f", "1", 1);
	send_request(c, 3, "GET", "/hello", extra, en, true);
	ck_assert(read_reply(c, 3, &r));
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(the_head_and_body_limits_answer_with_their_status)
{
	coil_test_run(limits_main, NULL);
}
END_TEST

static void *shutdown_main(void *arg)
{
	struct http_srv sv;
	srv_start(&sv, NULL);
	struct h2 *c = h2_open(sv.port, 65535);
	get_hello(c, 1);
	/* An idle h2 connection: the shutdown sends GOAWAY and closes it. */
	ck_assert_int_eq(coil_task_cancel(sv.task), 0);
	struct frame f;
	while (frame_read(c, &f))
		frame_common(c, &f, NULL, NULL, 0);
	ck_assert(c->goaway);
	ck_assert_uint_eq(c->goaway_code, 0);
	ck_assert_int_eq(c->end, 0);
	h2_close(c); /* the server lingers until then */
	ck_assert_int_eq(coil_task_join(sv.task, NULL), 0);
	ck_assert_int_eq(sv.run_result, 0);
	ck_assert_int_eq(coil_http_server_close(sv.s), 0);
	return NULL;
}

/* http2 0: the preface is no request of HTTP/1.1 (an answer of 4xx or
 * 5xx, then the close); HTTP/1.1 is served as before. */
static void *off_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.http2 = 0;
	struct http_srv sv;
	srv_start(&sv, &cfg);
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)sv.port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_sock_write_all(fd, COIL_TEST_PREFACE, 24), 24);
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	while ((n = coil_sock_read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	ck_assert_msg(!strncmp(buf, "HTTP/1.1 4", 10) || !strncmp(buf, "HTTP/1.1 5", 10), "%s",
		      buf);
	coil_close(fd);
	fd = coil_tcp_connect("127.0.0.1", (uint16_t)sv.port);
	static const char get[] = "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	ck_assert_int_eq(coil_sock_write_all(fd, get, sizeof get - 1), (ssize_t)(sizeof get - 1));
	len = 0;
	while ((n = coil_sock_read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	ck_assert_msg(!strncmp(buf, "HTTP/1.1 200", 12) && strstr(buf, "Hello, World!"), "%s", buf);
	coil_close(fd);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

/* max_requests on h2: the connection's last request is answered, with a
 * GOAWAY naming it; a stream sent past it gets no answer (refused or
 * ignored: the client retries it elsewhere); then the close. */
static void *max_requests_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.max_requests = 3;
	struct http_srv sv;
	srv_start(&sv, &cfg);
	struct h2 *c = h2_open(sv.port, 65535);
	/* Four requests in one write: the fourth is past the limit. */
	uint8_t b[4 * 80], blk[64];
	size_t bn = request_block(blk, "GET", "/hello", NULL, 0), n = 0;
	for (int32_t sid = 1; sid <= 7; sid += 2)
		n += frame_make(b + n, HEADERS, END_HEADERS | END_STREAM, sid, blk, bn);
	ck_assert_int_eq(coil_sock_write_all(c->fd, b, n), (ssize_t)n);
	unsigned answered[8] = {0};
	struct frame f;
	while (frame_read(c, &f)) {
		int status = 0;
		frame_common(c, &f, &status, NULL, 0);
		if (f.type == HEADERS && f.sid > 0 && f.sid < 8) {
			ck_assert_int_eq(status, 200);
			answered[f.sid]++;
		}
	}
	ck_assert_uint_eq(answered[1] + answered[3] + answered[5], 3);
	ck_assert_uint_eq(answered[7], 0);
	ck_assert(c->goaway);
	ck_assert_uint_eq(c->goaway_code, 0);
	ck_assert_int_eq(c->goaway_last, 5);
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(max_requests_ends_with_goaway)
{
	coil_test_run(max_requests_main, NULL);
}
END_TEST

/* ---- the close: lingering ------------------------------------------------ */

/* A flood's length, past what the server's lingering close reads and drops
 * (16 MiB) and what the socket buffers between the two hold (tens of MiB
 * on loopback): it ends before its length only if the server closes. */
#define FLOOD_BYTES (256u << 20)

/* Frames of a type nobody defined (an extension's: ignored, RFC 9113 5.5),
 * 16 KiB each, into b (n bytes, a multiple of 9 + 16384). */
static void unknown_frames(uint8_t *b, size_t n)
{
	memset(b, 'x', n);
	for (size_t at = 0; at < n; at += 9 + 16384)
		put_hd(b + at, 16384, 0xfa, 0, 0);
}

/* A server that ends a connection while the client still sends lingers:
 * max_requests at 3, and a client that sends four requests and 8 MiB of
 * frames after them before it reads anything, more than the server takes
 * in before its GOAWAY, its worker's receive buffers (4 MiB) included:
 * every byte is taken (a close with some unread would reset the
 * connection), then the client reads the three answers and the GOAWAY,
 * and a clean end. */
static void *linger_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.max_requests = 3;
	cfg.linger_timeout = http_test_timeout(60 * COIL_NSEC_PER_SEC); /* never reached */
	struct http_srv sv;
	srv_start(&sv, &cfg);
	struct h2 *c = h2_open(sv.port, 65535);
	size_t late = 512 * (9 + 16384), n = 0;
	uint8_t *b = malloc(4 * 80 + late), blk[64];
	ck_assert_ptr_nonnull(b);
	size_t bn = request_block(blk, "GET", "/hello", NULL, 0);
	for (int32_t sid = 1; sid <= 7; sid += 2)
		n += frame_make(b + n, HEADERS, END_HEADERS | END_STREAM, sid, blk, bn);
	unknown_frames(b + n, late);
	n += late;
	ck_assert_int_eq(coil_sock_write_all(c->fd, b, n), (ssize_t)n);
	free(b);
	/* Never write again: a write would take the reset's error, and the
	 * reads after it would end as if cleanly. */
	c->quiet = true;
	unsigned answered[8] = {0}, bodies = 0;
	struct frame f;
	while (frame_read(c, &f)) {
		int status = 0;
		frame_common(c, &f, &status, NULL, 0);
		if (f.type == HEADERS && f.sid > 0 && f.sid < 8) {
			ck_assert_int_eq(status, 200);
			answered[f.sid]++;
		}
		if (f.type == DATA && f.len == 13 && !memcmp(f.payload, "Hello, World!", 13))
			bodies++;
	}
	ck_assert_int_eq(c->end, 0); /* not -ECONNRESET */
	ck_assert_uint_eq(answered[1] + answered[3] + answered[5], 3);
	ck_assert_uint_eq(answered[7], 0);
	ck_assert_uint_eq(bodies, 3);
	ck_assert(c->goaway);
	ck_assert_uint_eq(c->goaway_code, 0);
	ck_assert_int_eq(c->goaway_last, 5);
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(the_close_after_goaway_lingers_until_the_client_stops_sending)
{
	coil_test_run(linger_main, NULL);
}
END_TEST

/* Lingering is bounded in bytes: a client that sends for ever after the
 * GOAWAY, and never reads, is cut after 16 MiB (the time bound is set out
 * of reach, so the machine's speed does not matter). */
static void *linger_bound_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.max_requests = 1;
	cfg.linger_timeout = http_test_timeout(60 * COIL_NSEC_PER_SEC);
	struct http_srv sv;
	srv_start(&sv, &cfg);
	struct h2 *c = h2_open(sv.port, 65535);
	send_request(c, 1, "GET", "/hello", NULL, 0, true);
	size_t unit = 16 * (9 + 16384), sent = 0;
	uint8_t *b = malloc(unit);
	ck_assert_ptr_nonnull(b);
	unknown_frames(b, unit);
	ssize_t r;
	while ((r = coil_sock_write_all(c->fd, b, unit)) == (ssize_t)unit && sent < FLOOD_BYTES)
		sent += unit;
	free(b);
	ck_assert_msg(r == -ECONNRESET || r == -EPIPE, "write: %zd after %zu bytes", r, sent);
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(lingering_ends_after_a_bound_of_bytes)
{
	coil_test_run(linger_bound_main, NULL);
}
END_TEST

/* An idle connection ends with a GOAWAY (RFC 9113 9.1), then a clean
 * end. */
static void *idle_main(void *arg)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.idle_timeout = http_test_timeout(100 * COIL_NSEC_PER_MSEC);
	struct http_srv sv;
	srv_start(&sv, &cfg);
	struct h2 *c = h2_open(sv.port, 65535);
	get_hello(c, 1);
	struct frame f;
	while (frame_read(c, &f))
		frame_common(c, &f, NULL, NULL, 0);
	ck_assert(c->goaway);
	ck_assert_uint_eq(c->goaway_code, 0);
	ck_assert_int_eq(c->goaway_last, 1);
	ck_assert_int_eq(c->end, 0);
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	return NULL;
}

START_TEST(idle_timeout_ends_with_goaway)
{
	coil_test_run(idle_main, NULL);
}
END_TEST

/* ---- h2c by Upgrade (RFC 7540 3.2) ---------------------------------------- */

/* HTTP2-Settings of a client: MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE
 * 65535 (base64url, no padding). */
#define UPGRADE_SETTINGS "AAMAAABkAAQAAP__"

/* Read an HTTP/1.1 answer's head into first; what came after it stays in
 * c->buf as the next frames. Returns the status. */
static int answer_head(struct h2 *c, char *first, size_t cap)
{
	for (;;) {
		uint8_t *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (end) {
			size_t n = (size_t)(end + 4 - c->buf);
			snprintf(first, cap, "%.*s", (int)n, (char *)c->buf);
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return atoi(first + 9);
		}
		ssize_t n = coil_sock_read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		ck_assert_int_gt(n, 0);
		c->len += (size_t)n;
	}
}

/* Send an HTTP/1.1 request (head + body) and read the answer's head
 * (answer_head). */
static int upgrade_request(struct h2 *c, const char *head, char *first, size_t cap)
{
	size_t hl = strlen(head);
	ck_assert_int_eq(coil_sock_write_all(c->fd, head, hl), (ssize_t)hl);
	return answer_head(c, first, cap);
}

static struct h2 *plain_open(int port)
{
	struct h2 *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(nghttp2_hd_inflate_new(&c->inf), 0);
	c->conn_win = 65535;
	c->stream_win0 = 65535;
	return c;
}

static void *upgrade_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct http_srv sv;
	srv_start(&sv, NULL);
	struct h2 *c = plain_open(sv.port);
	char head[1024];
	/* The request becomes stream 1; its answer comes over HTTP/2. */
	int status = upgrade_request(c,
				     "GET /info HTTP/1.1\r\nHost: t\r\n"
				     "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
				     "HTTP2-Settings: " UPGRADE_SETTINGS "\r\nX-MiXeD: v\r\n\r\n",
				     head, sizeof head);
	ck_assert_msg(status == 101, "%s", head);
	ck_assert_ptr_nonnull(strcasestr(head, "upgrade: h2c"));
	ck_assert_int_eq(coil_sock_write_all(c->fd, COIL_TEST_PREFACE, 24), 24);
	ck_assert_int_eq(frame_send(c, SETTINGS, 0, 0, NULL, 0), 9);
	struct reply r;
	ck_assert(read_reply(c, 1, &r));
	ck_assert_int_eq(r.status, 201);
	/* version 20; Host kept, X-MiXeD there, Connection, Upgrade and
	 * HTTP2-Settings left out: 2 fields. */
	ck_assert_str_eq(r.body, "GET /info 20 t v 2 0");
	reply_free(&r);
	/* The connection is HTTP/2's now. */
	get_hello(c, 3);
	h2_close(c);

	/* With a body: served as HTTP/1.1. */
	c = plain_open(sv.port);
	status = upgrade_request(c,
				 "POST /echo HTTP/1.1\r\nHost: t\r\n"
				 "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
				 "HTTP2-Settings: " UPGRADE_SETTINGS "\r\n"
				 "Content-Length: 5\r\n\r\nhello",
				 head, sizeof head);
	ck_assert_msg(status == 200 && !strncmp(head, "HTTP/1.1", 8), "%s", head);
	h2_close(c);

	/* An HTTP2-Settings that nghttp2 would not take is no upgrade (RFC
	 * 7540 3.2.1): no 101, the request is served as HTTP/1.1 (and the
	 * connection closes after it, as after any Upgrade not taken). Not
	 * base64url, not whole entries of 6 bytes, two fields, values out of
	 * range: ENABLE_PUSH 2, INITIAL_WINDOW_SIZE 2^31, MAX_FRAME_SIZE 16383
	 * and 2^24 (alone, and after good entries). */
	static const char *const bad[] = {
		"HTTP2-Settings: AAM*\r\n",
		"HTTP2-Settings: AAMAAA\r\n",
		"HTTP2-Settings: " UPGRADE_SETTINGS "\r\nHTTP2-Settings: " UPGRADE_SETTINGS "\r\n",
		"HTTP2-Settings: AAIAAAAC\r\n",
		"HTTP2-Settings: AASAAAAA\r\n",
		"HTTP2-Settings: AAUAAD__\r\n",
		"HTTP2-Settings: AAUBAAAA\r\n",
		"HTTP2-Settings: " UPGRADE_SETTINGS "AAUBAAAA\r\n", /* a good one first */
		/* NO_RFC7540_PRIORITIES 0, then 1: each value in range, but
		 * one it may not change (RFC 9218 2.1) */
		"HTTP2-Settings: AAkAAAAAAAkAAAAB\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char rq[512];
		snprintf(rq, sizeof rq,
			 "GET /hello HTTP/1.1\r\nHost: t\r\n"
			 "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n%s\r\n",
			 bad[i]);
		c = plain_open(sv.port);
		status = upgrade_request(c, rq, head, sizeof head);
		ck_assert_msg(status == 200 && !strncmp(head, "HTTP/1.1", 8), "%s: %s", bad[i],
			      head);
		h2_close(c);
	}
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);

	/* http2 off: HTTP/1.1. */
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.http2 = 0;
	srv_start(&sv, &cfg);
	c = plain_open(sv.port);
	status = upgrade_request(c,
				 "GET /hello HTTP/1.1\r\nHost: t\r\n"
				 "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
				 "HTTP2-Settings: " UPGRADE_SETTINGS "\r\n\r\n",
				 head, sizeof head);
	ck_assert_msg(status == 200, "%s", head);
	h2_close(c);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(h2c_by_upgrade_answers_101_and_serves_the_request_as_stream_1)
{
	coil_test_run(upgrade_main, NULL);
}
END_TEST

START_TEST(http2_off_leaves_the_preface_to_http11)
{
	coil_test_run(off_main, NULL);
}
END_TEST

START_TEST(shutdown_sends_goaway)
{
	coil_test_run(shutdown_main, NULL);
}
END_TEST

/* ---- nghttp2 out of memory (white-box: h2_fail.h) --------------------------
 * Each allocation of the server's session failing once, in turn: at the
 * connection's set-up (the session, its SETTINGS, its window; with h2c,
 * the upgrade's stream 1) and past it. The exchange ends with its answer,
 * a reset or the connection's end, never a wait; the server serves the
 * next client, and nothing is left behind (the fds; the heap under ASan's
 * leak checker, which the run of this test ends with). */

enum oom_end {
	OOM_ANSWERED,
	OOM_RESET,
	OOM_ENDED,
	OOM_SILENT, /* ended, no frame */
	OOM_HTTP11  /* h2c by upgrade: no 101, answered as HTTP/1.1 */
};

/* A GET of /hello as stream 1 of a new connection, by prior knowledge or
 * (upgrade) in an HTTP/1.1 request asking for h2c, sent in one write
 * before anything is read (the server may close at once), then read to its
 * end under a deadline. */
static enum oom_end oom_exchange(int port, bool upgrade)
{
	struct h2 *c = plain_open(port);
	uint8_t out[512], block[64];
	size_t n = 0;
	if (upgrade) {
		static const char head[] = "GET /hello HTTP/1.1\r\nHost: t\r\n"
					   "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
					   "HTTP2-Settings: " UPGRADE_SETTINGS "\r\n\r\n";
		memcpy(out, head, sizeof head - 1);
		n = sizeof head - 1;
	}
	memcpy(out + n, COIL_TEST_PREFACE, 24);
	n += 24;
	n += frame_make(out + n, SETTINGS, 0, 0, NULL, 0);
	if (!upgrade) {
		size_t bl = request_block(block, "GET", "/hello", NULL, 0);
		n += frame_make(out + n, HEADERS, END_HEADERS | END_STREAM, 1, block, bl);
	}
	ck_assert_int_eq(coil_sock_write_all(c->fd, out, n), (ssize_t)n);
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, http_test_timeout(10 * COIL_NSEC_PER_SEC)),
			 0);
	if (upgrade) {
		/* The 101 goes once the session and stream 1 are made; a
		 * failure before leaves the request to HTTP/1.1. */
		char first[512];
		int status = answer_head(c, first, sizeof first);
		if (status != 101) {
			coil_scope_exit(&s);
			ck_assert_msg(status == 200 && !strncmp(first, "HTTP/1.1", 8), "%s", first);
			h2_close(c);
			return OOM_HTTP11;
		}
	}
	struct reply r;
	bool got = read_reply(c, 1, &r);
	coil_scope_exit(&s);
	enum oom_end end = got && r.rst ? OOM_RESET
			   : got	? OOM_ANSWERED
			   : c->frames	? OOM_ENDED
					: OOM_SILENT;
	if (end == OOM_ANSWERED) {
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, "Hello, World!");
	}
	reply_free(&r);
	h2_close(c);
	return end;
}

/* Every allocation of one exchange failing in turn: those of the
 * connection's set-up (the first setup) end it before the server sends a
 * frame, or with h2c by upgrade before the 101 (the request is answered as
 * HTTP/1.1, as are failures while stream 1 is made, and only those). */
static void oom_sweep(struct http_srv *sv, bool upgrade, long setup)
{
	h2_fail_arm(-1);
	ck_assert_int_eq(oom_exchange(sv->port, upgrade), OOM_ANSWERED);
	http_srv_wait_no_connections(sv);
	long n = h2_fail_count();
	ck_assert_int_gt(n, setup);
	bool switched = false;
	for (long k = 0; k < n; k++) {
		h2_fail_arm(k);
		enum oom_end end = oom_exchange(sv->port, upgrade);
		if (upgrade && k < setup)
			ck_assert_msg(end == OOM_HTTP11,
				      "allocation %ld of the set-up failed: the exchange ended %d",
				      k, end);
		else if (k < setup)
			ck_assert_msg(end == OOM_SILENT,
				      "allocation %ld of the set-up failed: the exchange ended %d",
				      k, end);
		/* Past the 101, HTTP/1.1 no more. */
		ck_assert_msg(!(switched && end == OOM_HTTP11), "allocation %ld: HTTP/1.1", k);
		switched = switched || (upgrade && end != OOM_HTTP11);
		http_srv_wait_no_connections(sv);
	}
	h2_fail_arm(-1);
}

static void *oom_main(void *arg)
{
	int fds = coil_test_count_fds();
	struct http_srv sv;
	srv_start(&sv, NULL);
	h2_fail_route(true);
	long setup = h2_fail_setup(true);
	oom_sweep(&sv, false, setup);
	oom_sweep(&sv, true, setup);
	h2_fail_unroute();
	healthy_get(&sv);
	http_srv_wait_no_connections(&sv);
	http_srv_stop(&sv);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

START_TEST(each_nghttp2_allocation_failing_ends_the_exchange_and_leaks_nothing)
{
	coil_test_run(oom_main, NULL);
}
END_TEST

/* ---- hostile clients ------------------------------------------------------
 * Each attack twice on a server with short timeouts, through the harness
 * of test_http.c's attacks too (http_attack_main, tests/http_harness.h):
 * after each, a healthy client is served, the server holds no connection,
 * the fds are back and the heap did not grow from the first run to the
 * second. */

static void attack_config(struct coil_http_config *cfg)
{
	cfg->head_timeout = http_test_timeout(COIL_NSEC_PER_SEC);
	cfg->io_timeout = http_test_timeout(500 * COIL_NSEC_PER_MSEC);
	cfg->idle_timeout = http_test_timeout(COIL_NSEC_PER_SEC);
	/* The floods open more streams than the per-connection limit: let
	 * them meet the limits they test. */
	cfg->max_requests = 1u << 20;
}

static const struct http_attack_suite attacks = {
	.config = attack_config,
	.start = srv_start,
	.healthy = healthy_get,
	.heap_slack = 64 * 1024,
};

#define ATTACK_TEST(name, attack) HTTP_ATTACK_TEST(name, attacks, attack)

/* What a fiber reading an attacker's connection saw until its end. */
struct drain {
	struct h2 *c;
	unsigned headers, rst, frames;
	unsigned want; /* stop after this many streams ended (0: at the end) */
	bool ended;    /* the server closed */
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	d->c->quiet = true; /* two writers would interleave their frames */
	struct frame f;
	while (frame_read(d->c, &f)) {
		d->frames++;
		frame_common(d->c, &f, NULL, NULL, 0);
		if (f.type == HEADERS && f.sid)
			d->headers++;
		if (f.type == RST_STREAM)
			d->rst++;
		if (d->want && d->headers + d->rst >= d->want)
			return NULL;
	}
	d->ended = true;
	return NULL;
}

/* Write n copies of the frames in unit (len bytes) as fast as the server
 * reads, while a fiber reads (read_too) or nobody does; the stream ids in
 * the unit's HEADERS and RST_STREAM frames are advanced by 2 per copy when
 * bump, from sid. Returns the copies written before a write failed. */
static unsigned flood(struct h2 *c, const uint8_t *unit, size_t len, unsigned n, bool bump,
		      int32_t sid)
{
	size_t per = 16000 / len; /* copied sends (under send_zc_min): see control_flood */
	uint8_t *b = malloc(per * len);
	unsigned done = 0;
	while (done < n) {
		size_t k = n - done < per ? n - done : per;
		for (size_t i = 0; i < k; i++) {
			uint8_t *u = b + i * len;
			memcpy(u, unit, len);
			if (bump) {
				for (size_t at = 0; at < len;) {
					uint32_t fl = (uint32_t)u[at] << 16 |
						      (uint32_t)u[at + 1] << 8 | u[at + 2];
					put_hd(u + at, fl, u[at + 3], u[at + 4], sid);
					at += 9 + fl;
				}
				sid += 2;
			}
		}
		if (coil_sock_write_all(c->fd, b, k * len) != (ssize_t)(k * len))
			break;
		done += (unsigned)k;
	}
	free(b);
	return done;
}

/* Rapid reset (CVE-2023-44487): requests cancelled as soon as sent. The
 * server's reset limit (1000, then 33/s) ends the connection long before
 * 20000, with a GOAWAY (Debian's 1.52 says INTERNAL_ERROR, later nghttp2
 * ENHANCE_YOUR_CALM). */
static void rapid_reset(struct http_srv *sv)
{
	struct h2 *c = h2_open(sv->port, 65535);
	uint8_t unit[256];
	uint8_t blk[64];
	size_t bn = request_block(blk, "GET", "/hello", NULL, 0);
	size_t n = frame_make(unit, HEADERS, END_HEADERS | END_STREAM, 1, blk, bn);
	uint8_t code[4] = {0, 0, 0, 8}; /* CANCEL */
	n += frame_make(unit + n, RST_STREAM, 0, 1, code, 4);
	struct drain d = {.c = c};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, drain_main, &d), 0);
	flood(c, unit, n, 20000, true, 1);
	healthy_get(sv); /* served meanwhile */
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert(d.ended);
	/* A GOAWAY first, unless nghttp2 found its output queue flooded
	 * (its fatal NGHTTP2_ERR_FLOODED: a close without a word), which a
	 * slow server (TSan) meets before the reset limit. */
	ck_assert_msg(!c->goaway || c->goaway_code == NGHTTP2_INTERNAL_ERROR ||
			      c->goaway_code == NGHTTP2_ENHANCE_YOUR_CALM,
		      "GOAWAY %u", c->goaway_code);
	ck_assert_uint_lt(d.headers, 20000);
	h2_close(c);
}

/* Control frames that each want an answer, from a client that never reads
 * the answers: the server's writes stall, and io_timeout closes it. */
static void control_flood(struct http_srv *sv, uint8_t type)
{
	struct h2 *c = h2_open(sv->port, 65535);
	uint8_t unit[32];
	uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	size_t n = type == PING ? frame_make(unit, PING, 0, 0, ping, 8)
				: frame_make(unit, SETTINGS, 0, 0, NULL, 0);
	/* Both sides write under send_zc_min, so every send is copied and the
	 * flood measures the server's defence, not the zero-copy choice. */
	unsigned many = FLOOD_BYTES / (unsigned)n;
	unsigned sent = flood(c, unit, n, many, false, 0);
	healthy_get(sv);
	ck_assert_uint_lt(sent, many); /* the server closed on us */
	h2_close(c);
}

static void settings_flood(struct http_srv *sv)
{
	control_flood(sv, SETTINGS);
}

static void ping_flood(struct http_srv *sv)
{
	control_flood(sv, PING);
}

/* A header block that never ends: HEADERS without END_HEADERS, then
 * CONTINUATION frames without it. nghttp2 allows 8; the head timeout
 * would end it too. */
static void continuation_forever(struct http_srv *sv)
{
	struct h2 *c = h2_open(sv->port, 65535);
	uint8_t blk[64];
	size_t bn = request_block(blk, "GET", "/hello", NULL, 0);
	ck_assert_int_eq(frame_send(c, HEADERS, END_STREAM, 1, blk, bn), (ssize_t)(9 + bn));
	struct drain d = {.c = c};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, drain_main, &d), 0);
	uint8_t unit[64];
	uint8_t lit[32];
	size_t ln = hpack_lit(lit, "x-c", "continued", 9);
	size_t n = frame_make(unit, CONTINUATION, 0, 1, lit, ln);
	unsigned many = FLOOD_BYTES / (unsigned)n;
	unsigned sent = flood(c, unit, n, many, false, 1);
	ck_assert_uint_lt(sent, many);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert(d.ended);
	ck_assert_uint_eq(d.headers, 0); /* no request came of it */
	h2_close(c);
}

/* A window of 0 for ever: the response cannot move; io_timeout ends the
 * stalled connection. */
static void window_zero(struct http_srv *sv)
{
	struct h2 *c = h2_open(sv->port, 0);
	send_request(c, 1, "GET", "/big", NULL, 0, true);
	struct drain d = {.c = c};
	healthy_get(sv);
	drain_main(&d);
	ck_assert(d.ended);
	ck_assert_uint_eq(d.headers, 1); /* the head went, no byte of the body */
	h2_close(c);
}

/* 10k streams opened on one connection, 100 at a time at most: each is
 * answered or refused; then the client leaves with some in flight. */
static void ten_thousand_streams(struct http_srv *sv)
{
	struct h2 *c = h2_open(sv->port, 65535);
	uint8_t unit[64];
	uint8_t blk[64];
	size_t bn = request_block(blk, "GET", "/hello", NULL, 0);
	size_t n = frame_make(unit, HEADERS, END_HEADERS | END_STREAM, 1, blk, bn);
	struct drain d = {.c = c, .want = 10000};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, drain_main, &d), 0);
	ck_assert_uint_eq(flood(c, unit, n, 10000, true, 1), 10000);
	healthy_get(sv);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_msg(!d.ended, "ended after %u answers, %u resets; goaway %d code %u", d.headers,
		      d.rst, c->goaway, c->goaway_code);
	ck_assert_uint_eq(d.headers + d.rst, 10000);
	ck_assert_uint_gt(d.headers, 0);
	/* More, and leave without reading their answers. */
	flood(c, unit, n, 300, true, 20001);
	h2_close(c);
}

ATTACK_TEST(rapid_reset_ends_with_goaway_and_leaves_nothing_behind, rapid_reset)
ATTACK_TEST(a_settings_flood_is_closed_and_leaves_nothing_behind, settings_flood)
ATTACK_TEST(a_ping_flood_is_closed_and_leaves_nothing_behind, ping_flood)
ATTACK_TEST(continuation_without_end_is_closed, continuation_forever)
ATTACK_TEST(a_window_of_0_for_ever_is_closed_after_io_timeout, window_zero)
ATTACK_TEST(ten_thousand_streams_are_answered_or_refused, ten_thousand_streams)

START_TEST(bad_h2_settings_are_einval)
{
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	ck_assert_int_eq(cfg.http2, 1);
	ck_assert_uint_eq(cfg.h2_max_streams, 100);
	cfg.h2_max_streams = 0;
	coil_http_server *s = NULL;
	ck_assert_int_eq(coil_http_server_open(&s, &cfg), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("h2");
	TCase *tc = tcase_create("h2");
	tcase_add_test(tc, h2c_requests_reach_the_http11_handlers);
	tcase_add_test(tc, the_head_and_body_limits_answer_with_their_status);
	tcase_add_test(tc, http2_off_leaves_the_preface_to_http11);
	tcase_add_test(tc, shutdown_sends_goaway);
	tcase_add_test(tc, max_requests_ends_with_goaway);
	tcase_add_test(tc, the_close_after_goaway_lingers_until_the_client_stops_sending);
	tcase_add_test(tc, lingering_ends_after_a_bound_of_bytes);
	tcase_add_test(tc, idle_timeout_ends_with_goaway);
	tcase_add_test(tc, h2c_by_upgrade_answers_101_and_serves_the_request_as_stream_1);
	tcase_add_test(tc, each_nghttp2_allocation_failing_ends_the_exchange_and_leaks_nothing);
	tcase_add_test(tc, rapid_reset_ends_with_goaway_and_leaves_nothing_behind);
	tcase_add_test(tc, a_settings_flood_is_closed_and_leaves_nothing_behind);
	tcase_add_test(tc, a_ping_flood_is_closed_and_leaves_nothing_behind);
	tcase_add_test(tc, continuation_without_end_is_closed);
	tcase_add_test(tc, a_window_of_0_for_ever_is_closed_after_io_timeout);
	tcase_add_test(tc, ten_thousand_streams_are_answered_or_refused);
	tcase_add_test(tc, bad_h2_settings_are_einval);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
