/*
 * coil's request parser (llhttp 8.1 behind src/http/scan.c, parse.c, driven
 * as a connection drives it: tests/http_feed.c) against Debian's
 * http_parser 2.9 (libhttp-parser-dev), on generated requests and
 * mutations of them.
 *
 * The generator is seeded and deterministic (seed 1, or $COIL_TEST_SEED):
 * pipelined sequences of 1-4 requests (methods, targets, header sets,
 * bodies by Content-Length and chunked, trailers), then 0-3 mutations
 * (byte flips, CR/LF/SP/HT/NUL inserted, a byte dropped, a cut, duplicate
 * or conflicting Content-Length and Transfer-Encoding, obs-fold, bare LF,
 * huge chunk sizes, Transfer-Encoding on HTTP/1.0).
 *
 * The verdict, request by request:
 *   - both parse a request: the same method, target, header fields,
 *     body bytes, end (message boundary), version and keep-alive;
 *   - coil rejects what http_parser takes: only for a rule of stricter()
 *     below (the smuggling rules of scan.h and parse.c, llhttp's strict
 *     grammar, the limits);
 *   - coil takes what http_parser rejects, or frames a message where
 *     http_parser waits for more (or the reverse): only for a deliberate
 *     difference of laxer() below;
 *   - coil waits for more where http_parser rejects: undecided (coil
 *     parses nothing before the head's end), counted, not judged.
 * Valid inputs (no mutation) must be taken, the same, by both.
 * A failure prints the seed, the case and the request where the two part,
 * escaped as a C string; COIL_HTTP_DIFF_DUMP=FILE writes the whole input.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_feed.h"

/* ---- http_parser's side ---------------------------------------------------- */

struct hp_run {
	struct feed_msg *msgs;
	size_t n, cap;
	struct feed_msg cur;
	size_t fcap;
	bool in_msg, head_done, last_value;
	char *body_buf;		/* room for the whole input */
	int outcome;		/* FEED_* or -1000 - http_errno */
	size_t at;
};

static struct hp_run *run_of(http_parser *p)
{
	return p->data;
}

static void extend(struct feed_str *s, const char *at, size_t len)
{
	if (!s->ptr)
		*s = (struct feed_str){at, len};
	else
		s->len = (size_t)(at + len - s->ptr);
}

static int hp_begin(http_parser *p)
{
	struct hp_run *r = run_of(p);
	r->cur = (struct feed_msg){0};
	r->fcap = 8;
	r->cur.fields = calloc(r->fcap, sizeof *r->cur.fields);
	r->cur.body = r->body_buf;
	r->in_msg = true;
	r->head_done = false;
	r->last_value = false;
	return 0;
}

static int hp_url(http_parser *p, const char *at, size_t len)
{
	extend(&run_of(p)->cur.target, at, len);
	return 0;
}

static int hp_field(http_parser *p, const char *at, size_t len)
{
	struct hp_run *r = run_of(p);
	if (r->head_done)
		return 0; /* trailers: coil does not keep them either */
	if (r->cur.nfields == 0 || r->last_value) {
		if (r->cur.nfields + 1 == r->fcap) {
			r->fcap *= 2;
			r->cur.fields = realloc(r->cur.fields, r->fcap * sizeof *r->cur.fields);
		}
		r->cur.nfields++;
		memset(r->cur.fields[r->cur.nfields - 1], 0, sizeof r->cur.fields[0]);
		r->last_value = false;
	}
	extend(&r->cur.fields[r->cur.nfields - 1][0], at, len);
	return 0;
}

static int hp_value(http_parser *p, const char *at, size_t len)
{
	struct hp_run *r = run_of(p);
	if (r->head_done)
		return 0;
	extend(&r->cur.fields[r->cur.nfields - 1][1], at, len);
	r->last_value = true;
	return 0;
}

static int hp_headers_complete(http_parser *p)
{
	struct hp_run *r = run_of(p);
	r->head_done = true;
	const char *m = http_method_str((enum http_method)p->method);
	r->cur.method = (struct feed_str){m, strlen(m)};
	r->cur.version = p->http_major * 10u + p->http_minor;
	r->cur.chunked = (p->flags & F_CHUNKED) != 0;
	return 0;
}

static int hp_body(http_parser *p, const char *at, size_t len)
{
	struct hp_run *r = run_of(p);
	memcpy(r->cur.body + r->cur.body_len, at, len);
	r->cur.body_len += len;
	return 0;
}

static int hp_complete(http_parser *p)
{
	struct hp_run *r = run_of(p);
	r->cur.keep_alive = http_should_keep_alive(p) != 0;
	http_parser_pause(p, 1); /* the driver notes where it ended */
	return 0;
}

static const http_parser_settings hp_settings = {
	.on_message_begin = hp_begin,
	.on_url = hp_url,
	.on_header_field = hp_field,
	.on_header_value = hp_value,
	.on_headers_complete = hp_headers_complete,
	.on_body = hp_body,
	.on_message_complete = hp_complete,
};

static void hp_feed(struct hp_run *r, const char *in, size_t len)
{
	memset(r, 0, sizeof *r);
	r->body_buf = malloc(len + 1);
	http_parser p;
	http_parser_init(&p, HTTP_REQUEST);
	p.data = r;
	size_t off = 0, start = 0;
	for (;;) {
		size_t n = http_parser_execute(&p, &hp_settings, in + off, len - off);
		off += n;
		enum http_errno e = HTTP_PARSER_ERRNO(&p);
		if (e == HPE_PAUSED) {
			if (r->n == r->cap) {
				r->cap = r->cap ? 2 * r->cap : 4;
				r->msgs = realloc(r->msgs, r->cap * sizeof *r->msgs);
			}
			struct feed_msg *m = &r->msgs[r->n++];
			*m = r->cur;
			m->body = malloc(m->body_len + 1);
			memcpy(m->body, r->body_buf, m->body_len);
			m->start = start;
			m->end = off;
			start = off;
			r->in_msg = false;
			if (!m->keep_alive) {
				r->outcome = FEED_CLOSED;
				break;
			}
			http_parser_pause(&p, 0);
			if (off == len) {
				r->outcome = FEED_END;
				break;
			}
			continue;
		}
		r->at = start;
		if (e != HPE_OK) {
			r->outcome = -1000 - (int)e;
			if (r->in_msg)
				free(r->cur.fields);
		} else {
			r->outcome = r->in_msg ? FEED_MORE : FEED_END;
			if (r->in_msg)
				free(r->cur.fields);
		}
		break;
	}
	free(r->body_buf);
}

static void hp_free(struct hp_run *r)
{
	struct feed_result fr = {.msgs = r->msgs, .n = r->n};
	feed_free(&fr);
}

/* ---- the generator ------------------------------------------------------------ */

struct gen {
	struct coil_test_rng rng;
	char *buf;
	size_t len, cap;
	/* Offsets of each request's start, head end and chunk size lines,
	 * for the mutations that need them. */
	size_t starts[8], head_ends[8], nreq;
	size_t chunk_lines[64], nchunk;
	bool is_chunked[8], has_cl[8];
};

/* coil_test_rng_range without its ck_assert: Check writes a pipe message
 * per passed assertion, a million of them here. */
static uint64_t rnd(struct gen *g, uint64_t lo, uint64_t hi)
{
	return lo + coil_test_rng_next(&g->rng) % (hi - lo + 1);
}

static void put(struct gen *g, const void *p, size_t n)
{
	if (g->len + n > g->cap) {
		g->cap = (g->len + n) * 2;
		g->buf = realloc(g->buf, g->cap);
	}
	memcpy(g->buf + g->len, p, n);
	g->len += n;
}

static void puts_(struct gen *g, const char *s)
{
	put(g, s, strlen(s));
}

static void putf(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct gen *g, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	put(g, tmp, (size_t)n);
}

static const char *pick(struct gen *g, const char *const *list, size_t n)
{
	return list[rnd(g, 0, n - 1)];
}
#define PICK(g, list) pick(g, list, sizeof list / sizeof list[0])

static void put_random(struct gen *g, const char *alphabet, size_t lo, size_t hi)
{
	size_t n = rnd(g, lo, hi), k = strlen(alphabet);
	for (size_t i = 0; i < n; i++)
		put(g, &alphabet[rnd(g, 0, k - 1)], 1);
}

static const char TOKEN[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&'*+^`|~";
static const char PCHAR[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
static const char VCHAR[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t";
static const char BODY[] = "abcdefghijklmnopqrstuvwxyz0123456789\r\n \t\x01\xff";
/* Chunk data without CR or LF: a bare one there is then a mutation's, and
 * the rule for trailers does not cover a difference in framing. */
static const char CHUNK[] = "abcdefghijklmnopqrstuvwxyz0123456789 \t\x01\xff";

static void gen_target(struct gen *g, const char *method)
{
	if (!strcmp(method, "OPTIONS") && rnd(g, 0, 3) == 0) {
		puts_(g, "*");
		return;
	}
	if (rnd(g, 0, 7) == 0)
		puts_(g, "http://example.com:8080");
	int segs = (int)rnd(g, 0, 4);
	puts_(g, "/");
	for (int i = 0; i < segs; i++) {
		put_random(g, PCHAR, 1, 12);
		if (i + 1 < segs)
			puts_(g, "/");
	}
	if (rnd(g, 0, 2) == 0) {
		puts_(g, "?");
		put_random(g, PCHAR, 0, 20);
	}
}

/* One request; the framing as asked. */
static void gen_request(struct gen *g)
{
	static const char *const methods[] = {"GET", "GET", "POST", "PUT", "DELETE", "HEAD",
					      "OPTIONS", "PATCH"};
	static const char *const names[] = {"Accept", "User-Agent", "X-Forwarded-For", "Cookie",
					    "Accept-Encoding", "Cache-Control", "If-None-Match",
					    "Referer", "X-Request-Id"};
	size_t k = g->nreq++;
	g->starts[k] = g->len;
	const char *method = PICK(g, methods);
	bool v10 = rnd(g, 0, 7) == 0;
	puts_(g, method);
	puts_(g, " ");
	gen_target(g, method);
	puts_(g, v10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	int body_kind = (int)rnd(g, 0, 2); /* none, length, chunked */
	if (v10 && body_kind == 2)
		body_kind = 1;
	int nf = (int)rnd(g, 0, 6), host_at = v10 ? -1 : (int)rnd(g, 0, (uint64_t)nf);
	for (int i = 0; i <= nf; i++) {
		if (i == host_at) {
			puts_(g, "Host: ");
			put_random(g, "abcdefghijklmnopqrstuvwxyz.", 1, 20);
			puts_(g, "\r\n");
		}
		if (i == nf)
			break;
		if (rnd(g, 0, 3) == 0)
			put_random(g, TOKEN, 1, 16);
		else
			puts_(g, PICK(g, names));
		puts_(g, rnd(g, 0, 3) ? ": " : ":");
		put_random(g, VCHAR, 0, 40);
		puts_(g, "\r\n");
	}
	if (v10 && rnd(g, 0, 1))
		puts_(g, "Connection: keep-alive\r\n");
	else if (rnd(g, 0, 15) == 0)
		puts_(g, "Connection: close\r\n");
	size_t body_len = rnd(g, 0, 1) ? rnd(g, 0, 40) : rnd(g, 0, 3000);
	g->is_chunked[k] = body_kind == 2;
	g->has_cl[k] = body_kind == 1;
	if (body_kind == 1)
		putf(g, "Content-Length: %zu\r\n", body_len);
	if (body_kind == 2)
		puts_(g, "Transfer-Encoding: chunked\r\n");
	puts_(g, "\r\n");
	g->head_ends[k] = g->len;
	if (body_kind == 1) {
		put_random(g, BODY, body_len, body_len);
	} else if (body_kind == 2) {
		size_t left = body_len;
		while (left) {
			size_t n = rnd(g, 1, left);
			if (g->nchunk < 64)
				g->chunk_lines[g->nchunk++] = g->len;
			putf(g, rnd(g, 0, 1) ? "%zx" : "%zX", n);
			if (rnd(g, 0, 5) == 0)
				puts_(g, ";name=value");
			puts_(g, "\r\n");
			put_random(g, CHUNK, n, n);
			puts_(g, "\r\n");
			left -= n;
		}
		puts_(g, "0\r\n");
		if (rnd(g, 0, 4) == 0)
			puts_(g, "Trailer-Field: x\r\n");
		puts_(g, "\r\n");
	}
}

static void insert(struct gen *g, size_t at, const char *s, size_t n)
{
	put(g, s, n); /* room */
	memmove(g->buf + at + n, g->buf + at, g->len - n - at);
	memcpy(g->buf + at, s, n);
}

/* A header line inserted just before request k's blank line. */
static void add_header(struct gen *g, size_t k, const char *line)
{
	size_t at = g->head_ends[k] - 2;
	insert(g, at, line, strlen(line));
	size_t n = strlen(line);
	for (size_t i = k; i < g->nreq; i++) {
		if (i > k)
			g->starts[i] += n;
		g->head_ends[i] += n;
	}
	for (size_t i = 0; i < g->nchunk; i++)
		if (g->chunk_lines[i] > at)
			g->chunk_lines[i] += n;
}

static void mutate(struct gen *g)
{
	if (g->len < 2)
		return;
	size_t k = rnd(g, 0, g->nreq - 1);
	/* Earlier mutations may have moved or cut the requests: offsets
	 * stay inside the input, if no longer exact. */
	for (size_t i = 0; i < g->nreq; i++) {
		if (g->head_ends[i] > g->len)
			g->head_ends[i] = g->len;
		if (g->head_ends[i] < 2)
			g->head_ends[i] = 2;
		if (g->starts[i] >= g->head_ends[i] - 1)
			g->starts[i] = 0;
	}
	static const char ws[] = {'\r', '\n', ' ', '\t', '\0'};
	switch (rnd(g, 0, 12)) {
	case 0: /* a byte flip */
		g->buf[rnd(g, 0, g->len - 1)] ^= (char)(1u << rnd(g, 0, 7));
		break;
	case 1: /* CR, LF, SP, HT or NUL inserted */
		insert(g, rnd(g, 0, g->len), &ws[rnd(g, 0, 4)], 1);
		break;
	case 2: /* ... inside a head, where it matters most */
		insert(g, rnd(g, g->starts[k], g->head_ends[k] - 1), &ws[rnd(g, 0, 4)], 1);
		break;
	case 3: { /* a byte dropped */
		size_t at = rnd(g, 0, g->len - 1);
		memmove(g->buf + at, g->buf + at + 1, g->len - at - 1);
		g->len--;
		break;
	}
	case 4: /* cut */
		g->len = rnd(g, 0, g->len);
		break;
	case 5: /* a second Content-Length, the same or not */
		add_header(g, k, rnd(g, 0, 1) ? "Content-Length: 5\r\n" : "Content-Length: 0\r\n");
		break;
	case 6: /* Transfer-Encoding beside Content-Length, or a second one */
		add_header(g, k, rnd(g, 0, 1) ? "Transfer-Encoding: chunked\r\n"
					      : "Transfer-Encoding: gzip, chunked\r\n");
		break;
	case 7: /* obs-fold */
		add_header(g, k, rnd(g, 0, 1) ? "X-Fold: a\r\n b\r\n" : "X-Fold: a\r\n\tContent-Length: 3\r\n");
		break;
	case 8: { /* bare LF: a CRLF of a head loses its CR */
		char *p = memmem(g->buf + g->starts[k], g->head_ends[k] - g->starts[k], "\r\n", 2);
		for (int i = (int)rnd(g, 0, 3); p && i > 0; i--) {
			char *q = memmem(p + 2, (size_t)(g->buf + g->head_ends[k] - p - 2), "\r\n", 2);
			if (q)
				p = q;
		}
		if (p) {
			memmove(p, p + 1, (size_t)(g->buf + g->len - p - 1));
			g->len--;
		}
		break;
	}
	case 9: /* a huge chunk size */
		if (g->nchunk) {
			static const char *const huge[] = {"10000000000000000", "ffffffffffffffff",
							   "fffffff", "00000000000000000000003",
							   "1000000", "-1", "0x3", " 3", "3 "};
			size_t at = g->chunk_lines[rnd(g, 0, g->nchunk - 1)];
			if (at > g->len)
				break;
			const char *h = PICK(g, huge);
			insert(g, at, h, strlen(h));
		} else {
			add_header(g, k, "Content-Length: 18446744073709551616\r\n");
		}
		break;
	case 10: { /* HTTP/1.1 made 1.0 (Transfer-Encoding may stay) */
		char *v = memmem(g->buf + g->starts[k], g->head_ends[k] - g->starts[k], "HTTP/1.1", 8);
		if (v)
			v[7] = '0';
		break;
	}
	case 11: /* a Host more, or an odd version */
		add_header(g, k, "Host: other\r\n");
		break;
	default: { /* a random byte anywhere */
		char c = (char)rnd(g, 0, 255);
		insert(g, rnd(g, 0, g->len), &c, 1);
		break;
	}
	}
}

/* ---- the verdict ----------------------------------------------------------------- */

/* The head of the request at `at` (to its CRLF CRLF, or all that is left). */
static size_t head_len(const char *in, size_t len, size_t at)
{
	const char *e = memmem(in + at, len - at, "\r\n\r\n", 4);
	return e ? (size_t)(e + 4 - (in + at)) : len - at;
}

static bool line_scan_rejects(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h[i] == 0)
			return true;
		if (h[i] == '\n' && (i == 0 || h[i - 1] != '\r'))
			return true;
		if (h[i] == '\r' && (i + 1 == n || h[i + 1] != '\n'))
			return i + 1 != n;
		if (h[i] == '\n' && i + 1 < n && (h[i + 1] == ' ' || h[i + 1] == '\t'))
			return true;
	}
	return false;
}

/* How many header fields named name (case-insensitive) the head has. */
static int count_field(const char *h, size_t n, const char *name)
{
	int c = 0;
	size_t k = strlen(name);
	for (size_t i = 0; i + k + 1 < n; i++)
		if ((i == 0 || h[i - 1] == '\n') && !strncasecmp(h + i, name, k) && h[i + k] == ':')
			c++;
	return c;
}

static bool head_has(const char *h, size_t n, const char *s)
{
	return memmem(h, n, s, strlen(s)) != NULL;
}

/* Whether the head says chunked (any case) */
static bool head_chunked(const char *h, size_t n)
{
	for (size_t i = 0; i + 7 <= n; i++)
		if (!strncasecmp(h + i, "chunked", 7))
			return true;
	return false;
}

/* A field line whose name is not a token (RFC 9110 5.6.2: whitespace
 * before the colon, a space inside), or a line without a colon. */
static bool bad_field_name(const char *h, size_t n)
{
	const char *line = memchr(h, '\n', n), *e = h + n;
	while (line && ++line < e) {
		const char *next = memchr(line, '\n', (size_t)(e - line));
		const char *end = next ? next - 1 : e; /* its CR */
		if (end <= line)
			break; /* the blank line */
		const char *colon = memchr(line, ':', (size_t)(end - line));
		if (!colon || colon == line)
			return true;
		for (const char *p = line; p < colon; p++)
			if (!strchr(TOKEN, *p) || *p == 0)
				return true;
		line = next;
	}
	return false;
}

/* A request line that is not method SP target SP HTTP/d.d CRLF with a
 * token for a method and visible ASCII for a target (RFC 9112 3). */
static bool bad_request_line(const char *h, size_t n)
{
	const char *e = memchr(h, '\r', n);
	if (!e)
		return true;
	const char *sp1 = memchr(h, ' ', (size_t)(e - h));
	if (!sp1 || sp1 == h)
		return true;
	for (const char *p = h; p < sp1; p++)
		if (!strchr(TOKEN, *p) || *p == 0)
			return true;
	const char *t = sp1 + 1, *sp2 = t;
	while (sp2 < e && *sp2 != ' ')
		sp2++;
	if (sp2 == t || e - sp2 != 9)
		return true;
	for (const char *p = t; p < sp2; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return true;
	return memcmp(sp2, " HTTP/", 6) != 0 || sp2[7] != '.' || sp2[6] < '0' || sp2[6] > '9' ||
	       sp2[8] < '0' || sp2[8] > '9';
}

/* The Transfer-Encoding fields, as one list: chunked more than once, or
 * not the last coding (RFC 9112 6.1). */
static bool bad_transfer_encoding(const char *h, size_t n)
{
	int chunked = 0;
	bool last_chunked = false, any = false;
	const char *e = h + n;
	for (const char *p = h + 1; p + 18 < e; p++) {
		if (p[-1] != '\n' || strncasecmp(p, "transfer-encoding:", 18) != 0)
			continue;
		any = true;
		const char *v = p + 18, *end = memchr(v, '\r', (size_t)(e - v));
		if (!end)
			end = e;
		while (v < end) {
			while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
				v++;
			const char *w = v;
			while (w < end && *w != ',')
				w++;
			const char *we = w;
			while (we > v && (we[-1] == ' ' || we[-1] == '\t'))
				we--;
			if (we > v) {
				last_chunked = we - v == 7 && !strncasecmp(v, "chunked", 7);
				chunked += last_chunked;
			}
			v = w;
		}
	}
	return any && (chunked != 1 || !last_chunked);
}

/* A control byte (not HT) or DEL in a field line (RFC 9110 5.5). */
static bool ctl_in_fields(const char *h, size_t n)
{
	const char *f = memchr(h, '\n', n);
	for (const char *p = f ? f : h + n; p < h + n; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return true;
	}
	return false;
}

/* Walk a chunked body from b: true at the first chunk line that is not
 * 1-16 hex digits and CRLF, or data not followed by CRLF; false when the
 * body is well framed as far as the input goes. */
static bool bad_chunk_framing(const char *b, const char *e, const char **trailers)
{
	const char *p = b;
	for (;;) {
		const char *d = p;
		uint64_t size = 0;
		while (p < e && strchr("0123456789abcdefABCDEF", *p) && *p) {
			size = size * 16 + (uint64_t)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
			p++;
		}
		if (p == e)
			return false;
		if (p == d || p - d > 16 || *p != '\r')
			return true;
		if (++p == e)
			return false;
		if (*p++ != '\n')
			return true;
		if (size == 0) {
			*trailers = p;
			return false;
		}
		if ((uint64_t)(e - p) <= size)
			return false;
		p += size;
		if (p[0] != '\r' || (p + 1 < e && p[1] != '\n'))
			return true;
		if (p + 1 == e)
			return false;
		p += 2;
	}
}

/* The rules by which coil rejects what http_parser 2.9 takes, each one
 * documented (src/http/scan.h, parse.c, docs/http.md). Returns the rule's
 * name, or NULL when none applies. */
static const char *stricter(const char *in, size_t len, size_t at, int status)
{
	size_t n = head_len(in, len, at);
	const char *h = in + at;
	if (status == 413)
		return "body over max_body";
	if (status == 414 || status == 431)
		return "head limits";
	/* The line scan (scan.h): NUL, bare LF, bare CR, obs-fold in the
	 * head; http_parser 2.9 takes bare LF and folds. */
	if (line_scan_rejects(h, n))
		return "line scan (NUL, bare LF/CR, obs-fold)";
	/* llhttp: a request line with other bytes than RFC 9112 3 allows
	 * (an HT or a byte over 0x7e in the target; non-strict http_parser
	 * takes them). */
	if (bad_request_line(h, n))
		return "a request line out of RFC 9112 3";
	/* llhttp: a field name that is not a token, as whitespace before the
	 * colon (RFC 9112 5.1: a server MUST reject it). Debian builds
	 * http_parser 2.9 without HTTP_PARSER_STRICT: it takes them. */
	if (bad_field_name(h, n))
		return "a field name that is not a token (RFC 9112 5.1)";
	/* llhttp: a control byte in a field value (RFC 9110 5.5). */
	if (ctl_in_fields(h, n))
		return "a control byte in a field (RFC 9110 5.5)";
	/* llhttp: Transfer-Encoding with chunked twice or not last (http_parser
	 * 2.9 takes "chunked, chunked"). */
	if (bad_transfer_encoding(h, n))
		return "Transfer-Encoding: chunked twice or not last (RFC 9112 6.1)";
	/* Framing (parse.c): Transfer-Encoding on HTTP/1.0; one Host in 1.1. */
	if (head_has(h, n, " HTTP/1.0\r") && count_field(h, n, "transfer-encoding"))
		return "Transfer-Encoding on HTTP/1.0";
	int hosts = count_field(h, n, "host");
	if (hosts > 1 || (hosts == 0 && !head_has(h, n, " HTTP/1.0\r")))
		return "Host missing or repeated (RFC 9112 3.2)";
	const char *eol = memchr(h, '\r', n);
	if (status == 505 || !eol || eol - h < 9 ||
	    (memcmp(eol - 9, " HTTP/1.1", 9) && memcmp(eol - 9, " HTTP/1.0", 9)))
		return "a version other than HTTP/1.0 and 1.1";
	/* Invalid chunk sizes (parse.c, llhttp strict): a chunk line must be
	 * hex digits, at most 16 of them after coil's bound on the line, and
	 * CRLF (an extension only as RFC 9112's chunk-ext, which llhttp
	 * checks and http_parser 2.9 does not); the data is followed by CRLF. */
	const char *trailers = NULL;
	if (head_chunked(h, n) && bad_chunk_framing(h + n, in + len, &trailers))
		return "an invalid chunk line";
	/* The trailers: the same line scan (from the CRLF of the last chunk's
	 * line), then the checks of the head's fields. */
	if (trailers) {
		const char *e = in + len, *t = trailers, *end;
		if (e - t >= 2 && t[0] == '\r' && t[1] == '\n') {
			end = t + 2; /* none */
		} else {
			end = memmem(t, (size_t)(e - t), "\r\n\r\n", 4);
			end = end ? end + 4 : e;
		}
		if (line_scan_rejects(t - 2, (size_t)(end - t) + 2))
			return "line scan of trailers";
	}
	if (trailers && bad_field_name(trailers - 1, (size_t)(in + len - trailers) + 1))
		return "a trailer field name that is not a token";
	if (trailers && ctl_in_fields(trailers - 1, (size_t)(in + len - trailers) + 1))
		return "a control byte in a trailer field";
	return NULL;
}

/* What coil takes and http_parser 2.9 rejects, on purpose. Returns the
 * difference's name, or NULL. */
static const char *laxer(const char *in, size_t len, size_t at, int hp_errno)
{
	size_t n = head_len(in, len, at);
	const char *h = in + at;
	/* http_parser 2.9 matches "Transfer-Encoding" and "Content-Length"
	 * as prefixes: "Transfer-EncodingM: chunked" frames its body (or is
	 * refused beside a Content-Length). To llhttp and RFC 9110 it is
	 * another field. */
	if (hp_errno == HPE_INVALID_TRANSFER_ENCODING || hp_errno == HPE_UNEXPECTED_CONTENT_LENGTH ||
	    hp_errno == HPE_INVALID_CONTENT_LENGTH) {
		static const char *const names[] = {"transfer-encoding", "content-length"};
		for (size_t k = 0; k < 2; k++) {
			size_t kl = strlen(names[k]);
			for (const char *p = h + 1; p + kl < h + n; p++)
				if (p[-1] == '\n' && !strncasecmp(p, names[k], kl) && p[kl] != ':')
					return "http_parser takes a longer name for Transfer-Encoding or "
					       "Content-Length";
		}
	}
	/* RFC 9110 5.6.1: a recipient ignores empty list elements
	 * ("Transfer-Encoding: , chunked"); llhttp does, http_parser 2.9
	 * refuses them. */
	if (hp_errno == HPE_INVALID_TRANSFER_ENCODING) {
		for (const char *p = h + 1; p + 18 < h + n; p++) {
			if (p[-1] != '\n' || strncasecmp(p, "transfer-encoding:", 18))
				continue;
			const char *v = p + 18, *end = memchr(v, '\r', (size_t)(h + n - v));
			bool empty = true; /* since the last comma */
			for (; end && v < end; v++) {
				if (*v == ',' && empty)
					return "an empty element in Transfer-Encoding (RFC 9110 5.6.1)";
				if (*v == ',')
					empty = true;
				else if (*v != ' ' && *v != '\t')
					empty = false;
			}
			if (empty)
				return "an empty element in Transfer-Encoding (RFC 9110 5.6.1)";
		}
	}
	return NULL;
}

static bool same_str(struct feed_str a, struct feed_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static struct feed_str trim(struct feed_str s)
{
	while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
		s.len--;
	while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
		s.ptr++;
		s.len--;
	}
	return s;
}

/* NULL when a and b are the same request, else what differs. */
static const char *differ(const struct feed_msg *a, const struct feed_msg *b)
{
	if (!same_str(a->method, b->method))
		return "method";
	if (!same_str(a->target, b->target))
		return "target";
	if (a->version != b->version)
		return "version";
	if (a->nfields != b->nfields)
		return "number of header fields";
	for (unsigned i = 0; i < a->nfields; i++) {
		if (!same_str(a->fields[i][0], b->fields[i][0]))
			return "a field name";
		if (!same_str(trim(a->fields[i][1]), trim(b->fields[i][1])))
			return "a field value";
	}
	if (a->body_len != b->body_len ||
	    (a->body_len && memcmp(a->body, b->body, a->body_len) != 0))
		return "body";
	if (a->end != b->end)
		return "end of the message";
	if (a->keep_alive != b->keep_alive)
		return "keep-alive";
	return NULL;
}

static const char *outcome_name(int o)
{
	static char buf[64];
	switch (o) {
	case FEED_END:
		return "end";
	case FEED_CLOSED:
		return "closed";
	case FEED_MORE:
		return "needs more";
	}
	if (o <= -1000)
		return http_errno_name((enum http_errno)(-1000 - o));
	snprintf(buf, sizeof buf, "status %d", o);
	return buf;
}

struct tally {
	unsigned agree, both_reject, coil_stricter, laxer, undecided;
	const char *rules[16];
	unsigned rule_count[16];
};

static void count_rule(struct tally *t, const char *rule)
{
	for (int i = 0; i < 16; i++) {
		if (t->rules[i] == rule || !t->rules[i]) {
			t->rules[i] = rule;
			t->rule_count[i]++;
			return;
		}
	}
}

/* Judge one input; on a failure, say why and return false. */
static bool judge(const char *in, size_t len, size_t step, struct tally *t, char *why,
		  size_t why_len, size_t *where)
{
	struct feed_result c, c1;
	struct hp_run h;
	feed(&c, in, len, len ? len : 1);
	feed(&c1, in, len, step);
	hp_feed(&h, in, len);
	bool ok = true;
	/* coil's result does not depend on how the bytes arrive. */
	if (c.n != c1.n || c.outcome != c1.outcome) {
		snprintf(why, why_len, "coil: whole %zu requests, %s; %zu at a time %zu, %s", c.n,
			 outcome_name(c.outcome), step, c1.n, outcome_name(c1.outcome));
		ok = false;
		goto out;
	}
	size_t common = c.n < h.n ? c.n : h.n;
	for (size_t i = 0; i < common; i++) {
		const char *d = differ(&c.msgs[i], &h.msgs[i]);
		if (!d)
			d = differ(&c.msgs[i], &c1.msgs[i]);
		if (d) {
			snprintf(why, why_len, "request %zu: %s differs", i, d);
			ok = false;
			goto out;
		}
	}
	t->agree += (unsigned)common;
	if (c.n == h.n) {
		bool c_err = c.outcome > 1, h_err = h.outcome <= -1000;
		if (c_err && h_err) {
			t->both_reject++;
		} else if (c.outcome == h.outcome) {
			/* the same end */
		} else if (c_err) {
			const char *rule = stricter(in, len, c.at, c.outcome);
			if (!rule) {
				snprintf(why, why_len, "request %zu: coil %s, http_parser %s, no rule", c.n,
					 outcome_name(c.outcome), outcome_name(h.outcome));
				ok = false;
			}
			count_rule(t, rule);
			t->coil_stricter++;
		} else if (c.outcome == FEED_MORE) {
			/* coil waits for the head's end before it parses: http_parser
			 * may reject earlier bytes of an unfinished request. */
			t->undecided++;
		} else {
			const char *d = h_err ? laxer(in, len, h.at, -1000 - h.outcome) : NULL;
			if (!d) {
				snprintf(why, why_len, "request %zu: coil %s, http_parser %s", c.n,
					 outcome_name(c.outcome), outcome_name(h.outcome));
				ok = false;
			}
			count_rule(t, d);
			t->laxer++;
		}
	} else if (c.n < h.n) {
		/* coil stopped at a request http_parser took whole. */
		const char *rule = c.outcome > 1 ? stricter(in, len, c.at, c.outcome) : NULL;
		if (!rule) {
			snprintf(why, why_len, "request %zu: coil %s, http_parser took it", c.n,
				 outcome_name(c.outcome));
			ok = false;
		}
		count_rule(t, rule);
		t->coil_stricter++;
	} else {
		/* coil took a request http_parser did not. */
		const char *d = h.outcome <= -1000 ? laxer(in, len, h.at, -1000 - h.outcome) : NULL;
		if (!d) {
			snprintf(why, why_len, "request %zu: coil took it, http_parser %s", h.n,
				 outcome_name(h.outcome));
			ok = false;
		}
		count_rule(t, d);
		t->laxer++;
	}
out:
	*where = c.n < h.n ? c.at : h.at;
	if (*where > len || c.n == h.n)
		*where = c.n ? c.msgs[c.n - 1].end : 0;
	if (ok)
		snprintf(why, why_len, "coil %zu requests, %s at %zu; http_parser %zu, %s at %zu; len %zu", c.n,
			 outcome_name(c.outcome), c.at, h.n, outcome_name(h.outcome), h.at, len);
	feed_free(&c);
	feed_free(&c1);
	hp_free(&h);
	return ok;
}

static uint64_t seed(void)
{
	const char *e = getenv("COIL_TEST_SEED");
	return e ? strtoull(e, NULL, 0) : 1;
}

static void run_cases(uint64_t base, uint32_t count, int max_mutations)
{
	struct tally t = {0};
	struct gen g = {0};
	char why[256];
	for (uint32_t i = 0; i < count; i++) {
		coil_test_rng_init(&g.rng, base * 1000003 + i);
		g.len = 0;
		g.nreq = 0;
		g.nchunk = 0;
		int reqs = (int)rnd(&g, 1, 4);
		for (int r = 0; r < reqs; r++)
			gen_request(&g);
		int muts = (int)rnd(&g, 0, (uint64_t)max_mutations);
		for (int m = 0; m < muts; m++)
			mutate(&g);
		size_t step = rnd(&g, 0, 3) == 0 ? 1 : rnd(&g, 1, 200);
		unsigned before = t.both_reject + t.coil_stricter + t.laxer + t.undecided;
		size_t where;
		bool ok = judge(g.buf, g.len, step, &t, why, sizeof why, &where);
		if (ok && muts == 0 &&
		    t.both_reject + t.coil_stricter + t.laxer + t.undecided != before) {
			/* Valid requests: all taken, the same, by both. */
			size_t l = strlen(why);
			snprintf(why + l, sizeof why - l, ": a valid request was not taken by both");
			ok = false;
		}
		if (!ok && getenv("COIL_HTTP_DIFF_DUMP")) {
			/* The whole input, raw, for a replay outside the test. */
			FILE *f = fopen(getenv("COIL_HTTP_DIFF_DUMP"), "wb");
			if (f) {
				fwrite(g.buf, 1, g.len, f);
				fclose(f);
			}
		}
		if (!ok)
			ck_abort_msg("seed %llu case %u (%d mutations, step %zu): %s\n"
				     "input, from byte %zu of %zu (the request where they part):\n%s",
				     (unsigned long long)base, i, muts, step, why, where, g.len,
				     feed_escape(g.buf + where, g.len - where));
	}
	fprintf(stderr,
		"http_diff: %u cases: %u requests agreed, %u both rejected, %u coil stricter "
		"(a rule), %u coil laxer (a known difference), %u undecided\n",
		count, t.agree, t.both_reject, t.coil_stricter, t.laxer, t.undecided);
	for (int i = 0; i < 16 && t.rules[i]; i++)
		fprintf(stderr, "  %6u  %s\n", t.rule_count[i], t.rules[i]);
	free(g.buf);
}

START_TEST(valid_requests_parse_the_same_as_http_parser)
{
	run_cases(seed(), coil_test_count(20000), 0);
}
END_TEST

START_TEST(mutated_requests_coil_is_never_the_laxer)
{
	run_cases(seed() + 1, coil_test_count(50000), 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_diff");
	TCase *tc = tcase_create("diff");
	tcase_add_test(tc, valid_requests_parse_the_same_as_http_parser);
	tcase_add_test(tc, mutated_requests_coil_is_never_the_laxer);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
