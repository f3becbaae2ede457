/*
 * The HTTP/1.1 request parser (white box: src/http/scan.c and parse.c,
 * llhttp behind them), fed whole and in pieces. One test per smuggling
 * vector that llhttp 8.1.0 accepts on its own or that the limits close.
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "http/parse.h"
#include "http/scan.h"

#define MAX_FIELDS 8

struct result {
	int status;		/* 0: parsed */
	struct coil__http_parse p;
	struct coil__http_field fields[MAX_FIELDS];
	char body[4096];
	size_t body_len;
	size_t used;		/* bytes of the input that were this request */
};

/* Parse one request from req[0..len): the scan over growing prefixes
 * (step bytes more each time), the head, then the body fed step bytes at
 * a time; the way a connection does it. */
static void parse(struct result *r, const char *req, size_t len, size_t step)
{
	memset(r, 0, sizeof *r);
	coil__http_parse_init(&r->p, r->fields);
	r->p.max_fields = MAX_FIELDS;
	r->p.max_target = 64;
	r->p.max_chunk_ext = 32;
	r->p.max_trailers = 128;
	r->p.max_body = 1000;
	struct coil__http_scan s;
	coil__http_scan_head(&s);
	size_t end = 0, have = 0;
	int sr = COIL__HTTP_SCAN_MORE;
	while (sr == COIL__HTTP_SCAN_MORE && have < len) {
		have = have + step < len ? have + step : len;
		sr = coil__http_scan(&s, req, have, &end);
	}
	if (sr != COIL__HTTP_SCAN_END) {
		r->status = sr == COIL__HTTP_SCAN_BAD ? 400 : -1; /* -1: incomplete */
		return;
	}
	r->status = coil__http_parse_head(&r->p, req, end);
	if (r->status)
		return;
	size_t at = end;
	while (!r->p.done && at < len) {
		size_t n = len - at < step ? len - at : step;
		size_t out;
		ssize_t used = coil__http_parse_body(&r->p, req + at, n, r->body + r->body_len, &out);
		if (used < 0) {
			r->status = (int)-used;
			return;
		}
		r->body_len += out;
		at += (size_t)used;
	}
	if (!r->p.done)
		r->status = -1;
	r->used = at;
}

static void expect(const char *req, int status)
{
	static const size_t steps[] = {1, 2, 3, 7, 4096};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		struct result r;
		parse(&r, req, strlen(req), steps[i]);
		ck_assert_msg(r.status == status, "%s: status %d, want %d (step %zu)", req,
			      r.status, status, steps[i]);
	}
}

static bool str_is(struct coil_http_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

START_TEST(a_get_gives_views_of_method_target_and_fields)
{
	const char *req = "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Pad:   v w  \r\nEmpty:\r\n\r\n";
	struct result r;
	parse(&r, req, strlen(req), 4096);
	ck_assert_int_eq(r.status, 0);
	ck_assert(str_is(r.p.method, "GET"));
	ck_assert(str_is(r.p.target, "/a?b=c"));
	ck_assert_int_eq(r.p.version, 11);
	ck_assert_int_eq(r.p.nfields, 3);
	ck_assert(str_is(r.p.fields[0].name, "Host"));
	ck_assert(str_is(r.p.fields[0].value, "x"));
	ck_assert(str_is(r.p.fields[1].value, "v w"));
	ck_assert(str_is(r.p.fields[2].name, "Empty"));
	ck_assert_uint_eq(r.p.fields[2].value.len, 0);
	ck_assert(r.p.keep_alive);
	ck_assert(r.p.done);
	ck_assert_uint_eq(r.used, strlen(req));
}
END_TEST

START_TEST(bodies_by_length_and_chunked_decode_in_any_pieces)
{
	static const size_t steps[] = {1, 2, 5, 4096};
	const char *cl = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET";
	const char *ch = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrail: er\r\n\r\nGET";
	for (size_t i = 0; i < 4; i++) {
		struct result r;
		parse(&r, cl, strlen(cl), steps[i]);
		ck_assert_int_eq(r.status, 0);
		ck_assert_uint_eq(r.body_len, 5);
		ck_assert(memcmp(r.body, "hello", 5) == 0);
		ck_assert_uint_eq(r.used, strlen(cl) - 3); /* "GET" is the next request's */
		parse(&r, ch, strlen(ch), steps[i]);
		ck_assert_int_eq(r.status, 0);
		ck_assert(r.p.chunked);
		ck_assert_uint_eq(r.body_len, 5);
		ck_assert(memcmp(r.body, "hello", 5) == 0);
		ck_assert_uint_eq(r.used, strlen(ch) - 3);
		ck_assert_int_eq(r.p.nfields, 2); /* the trailer is not a header */
	}
}
END_TEST

START_TEST(http10_keeps_alive_only_when_asked)
{
	struct result r;
	const char *a = "GET / HTTP/1.0\r\n\r\n";
	const char *b = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	const char *c = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	parse(&r, a, strlen(a), 4096);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(r.p.version, 10);
	ck_assert(!r.p.keep_alive);
	parse(&r, b, strlen(b), 4096);
	ck_assert(r.p.keep_alive);
	parse(&r, c, strlen(c), 4096);
	ck_assert(!r.p.keep_alive);
}
END_TEST

/* ---- what llhttp 8.1.0 accepts and the scan rejects ---------------------- */

START_TEST(a_bare_lf_ending_the_head_is_400)
{
	expect("GET / HTTP/1.1\r\nHost: x\r\n\n", 400);
	expect("GET / HTTP/1.1\nHost: x\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400);
}
END_TEST

START_TEST(a_bare_cr_is_400)
{
	expect("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400);
	expect("GET / HTTP/1.1\rHost: x\r\n\r\n", 400);
}
END_TEST

/* CVE-2024-27982: a Content-Length hidden in a folded line. */
START_TEST(obs_fold_is_400_cve_2024_27982)
{
	expect("POST / HTTP/1.1\r\nHost: x\r\nX: a\r\n Content-Length: 5\r\n\r\nhello", 400);
	expect("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400);
}
END_TEST

/* "\r\n\n" ending a head: llhttp 8.1 takes it as the end, a proxy that
 * wants CRLF CRLF reads on into the body as more fields. */
START_TEST(end_of_head_by_crlf_lf_is_400)
{
	expect("GET / HTTP/1.1\r\nHost: x\r\n\n", 400);
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\nhello", 400);
	expect("GET / HTTP/1.1\r\nHost: x\r\n\n\r\n", 400);
}
END_TEST

/* CRLF followed by SP or HT anywhere in a head: a folded line (the form
 * CVE-2024-27982 took), including right after the request line. */
START_TEST(crlf_then_sp_or_ht_is_400)
{
	expect("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\n\tHost: x\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\nHost: x\r\n \r\n\r\n", 400);
}
END_TEST

/* The scan skips runs of ordinary bytes a word at a time: a NUL, a bare
 * CR or LF at any place in a long line is still found, and bytes of 14
 * and up (UTF-8 too) still pass. */
START_TEST(a_bad_byte_anywhere_in_a_long_line_is_400)
{
	static const char bad[] = {'\0', '\r', '\n'};
	char req[128];
	for (size_t b = 0; b < sizeof bad; b++)
		for (int at = 0; at < 40; at++) {
			char v[41];
			memset(v, 'v', 40);
			v[40] = '\0';
			int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX: %s\r\n\r\n", v);
			req[n - 44 + at] = bad[b]; /* inside the value */
			struct result r;
			for (size_t step = 1; step <= (size_t)n; step += 13) {
				parse(&r, req, (size_t)n, step);
				ck_assert_msg(r.status == 400, "byte %d at %d: status %d", bad[b], at,
					      r.status);
			}
		}
	/* The scan passes them; llhttp judges the field's characters. */
	static const char ok[] = "GET / HTTP/1.1\r\nX: \x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e"
				 "\xc3\xa9\xff\x80\x80\x80\x80\x80\x80\x80\x80\r\n\r\n";
	struct coil__http_scan s;
	coil__http_scan_head(&s);
	size_t end = 0;
	ck_assert_int_eq(coil__http_scan(&s, ok, sizeof ok - 1, &end), COIL__HTTP_SCAN_END);
	ck_assert_uint_eq(end, sizeof ok - 1);
}
END_TEST

START_TEST(nul_is_400)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n";
	struct result r;
	parse(&r, req, sizeof req - 1, 1);
	ck_assert_int_eq(r.status, 400);
}
END_TEST

/* Found by test_http_diff: llhttp 8.1 takes a field line without a name,
 * which coil then kept as a field with a stale or empty name. */
START_TEST(a_field_without_a_name_is_400)
{
	expect("GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\n:\r\nHost: x\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\nHost: x\r\n:Content-Length: 5\r\n\r\nhello", 400);
}
END_TEST

/* ---- framing ------------------------------------------------------------- */

START_TEST(content_length_with_transfer_encoding_is_400)
{
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "0\r\n\r\n", 400);
	expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
	       "0\r\n\r\n", 400);
}
END_TEST

START_TEST(duplicate_content_length_is_400)
{
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400);
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", 400);
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400);
}
END_TEST

START_TEST(transfer_encoding_on_http10_is_400)
{
	expect("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400);
}
END_TEST

START_TEST(transfer_encoding_not_ending_in_chunked_is_400)
{
	expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400);
	expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400);
}
END_TEST

#define LEADING_ZEROS                                                    \
	"0000000000000000000000000000000000000000000000000000000000000000" \
	"000000000000000000000000000000000000000000000000000000000000000"

START_TEST(invalid_chunk_sizes_are_400)
{
	const char *h = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char *bodies[] = {
		"0x3\r\nabc\r\n0\r\n\r\n",	/* a prefix */
		" 3\r\nabc\r\n0\r\n\r\n",	/* whitespace */
		"3 \r\nabc\r\n0\r\n\r\n",
		"-3\r\nabc\r\n0\r\n\r\n",
		"g\r\n0\r\n\r\n",
		"10000000000000000\r\nabc\r\n0\r\n\r\n", /* 2^64 */
		"3\nabc\r\n0\r\n\r\n",		/* a bare LF */
		"3\r\nabcd\r\n0\r\n\r\n",	/* data longer than its size */
		LEADING_ZEROS "3\r\nabc\r\n0\r\n\r\n",	/* a chunk line over max_chunk_ext */
		"3;a=b ;c\r\nabc\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		char req[512];
		snprintf(req, sizeof req, "%s%s", h, bodies[i]);
		expect(req, 400);
	}
}
END_TEST

/* A chunk size of 2^64 (and more) must not wrap to a small one. */
START_TEST(chunk_size_2_to_the_64_is_400)
{
	const char *h = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char *sizes[] = {"10000000000000000", "10000000000000003", "fffffffffffffffff",
				      "100000000000000000000000000000000"};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char req[512];
		snprintf(req, sizeof req, "%s%s\r\nabc\r\n0\r\n\r\n", h, sizes[i]);
		expect(req, 400);
	}
	/* 2^64 - 1 is a size: the body limit answers it (1000 here). */
	char req[2048];
	snprintf(req, sizeof req, "%sffffffffffffffff\r\n%01001d", h, 0);
	expect(req, 413);
}
END_TEST

START_TEST(content_length_2_to_the_64_is_400)
{
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\nabc", 400);
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551619\r\n\r\nabc", 400);
}
END_TEST

START_TEST(a_bare_lf_in_trailers_is_400)
{
	const char *h = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
	char req[512];
	snprintf(req, sizeof req, "%s0\r\n\n", h);
	expect(req, 400);
	snprintf(req, sizeof req, "%s0\r\nX: y\n\r\n", h);
	expect(req, 400);
	snprintf(req, sizeof req, "%s0\r\nX: y\r\n z\r\n\r\n", h);
	expect(req, 400);
}
END_TEST

START_TEST(version_other_than_1x_is_505_and_host_is_required)
{
	expect("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
	expect("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 400); /* llhttp's own "invalid version" */
	expect("GET / HTTP/1.1\r\n\r\n", 400);
	expect("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400);
	expect("GET / HTTP/1.0\r\n\r\n", 0);
}
END_TEST

/* ---- limits -------------------------------------------------------------- */

START_TEST(limits_answer_with_their_status)
{
	/* target: 64 here */
	char req[2048];
	snprintf(req, sizeof req, "GET /%065d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	expect(req, 414);
	snprintf(req, sizeof req, "GET /%062d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	expect(req, 0);
	/* fields: 8 here */
	expect("GET / HTTP/1.1\r\nHost: x\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\n\r\n", 0);
	expect("GET / HTTP/1.1\r\nHost: x\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\n"
	       "h: 1\r\n\r\n", 431);
	/* chunk extensions: 32 here */
	snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "3;a=%0100d\r\nabc\r\n0\r\n\r\n", 0);
	expect(req, 400);
	/* body: 1000 here */
	snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "3e9\r\n%01001d\r\n0\r\n\r\n", 0);
	expect(req, 413);
	/* trailers: 128 here */
	snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "0\r\nX: %0200d\r\n\r\n", 0);
	expect(req, 431);
}
END_TEST

/* Pipelined requests parse one after the other with the same parser. */
START_TEST(requests_follow_each_other_on_one_parser)
{
	const char *reqs = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
			   "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
			   "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n"
			   "GET /4 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct coil__http_field fields[4];
	struct coil__http_parse p;
	coil__http_parse_init(&p, fields);
	size_t at = 0, len = strlen(reqs);
	for (int i = 1; i <= 4; i++) {
		p.max_fields = 4;
		p.max_target = 64;
		p.max_chunk_ext = 64;
		p.max_trailers = 64;
		p.max_body = 100;
		struct coil__http_scan s;
		coil__http_scan_head(&s);
		size_t end;
		ck_assert_int_eq(coil__http_scan(&s, reqs + at, len - at, &end), COIL__HTTP_SCAN_END);
		ck_assert_int_eq(coil__http_parse_head(&p, reqs + at, end), 0);
		char want[16];
		snprintf(want, sizeof want, "/%d", i);
		ck_assert(str_is(p.target, want));
		at += end;
		char body[16];
		size_t got = 0;
		while (!p.done) {
			size_t out;
			ssize_t used = coil__http_parse_body(&p, reqs + at, len - at, body + got, &out);
			ck_assert_int_ge(used, 0);
			got += out;
			at += (size_t)used;
		}
		ck_assert_uint_eq(got, i == 2 || i == 3 ? 2 : 0);
		coil__http_parse_next(&p);
	}
	ck_assert_uint_eq(at, len);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_parse");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, a_get_gives_views_of_method_target_and_fields);
	tcase_add_test(tc, bodies_by_length_and_chunked_decode_in_any_pieces);
	tcase_add_test(tc, http10_keeps_alive_only_when_asked);
	tcase_add_test(tc, a_bare_lf_ending_the_head_is_400);
	tcase_add_test(tc, a_bare_cr_is_400);
	tcase_add_test(tc, obs_fold_is_400_cve_2024_27982);
	tcase_add_test(tc, end_of_head_by_crlf_lf_is_400);
	tcase_add_test(tc, crlf_then_sp_or_ht_is_400);
	tcase_add_test(tc, nul_is_400);
	tcase_add_test(tc, a_bad_byte_anywhere_in_a_long_line_is_400);
	tcase_add_test(tc, a_field_without_a_name_is_400);
	tcase_add_test(tc, content_length_with_transfer_encoding_is_400);
	tcase_add_test(tc, duplicate_content_length_is_400);
	tcase_add_test(tc, transfer_encoding_on_http10_is_400);
	tcase_add_test(tc, transfer_encoding_not_ending_in_chunked_is_400);
	tcase_add_test(tc, invalid_chunk_sizes_are_400);
	tcase_add_test(tc, chunk_size_2_to_the_64_is_400);
	tcase_add_test(tc, content_length_2_to_the_64_is_400);
	tcase_add_test(tc, a_bare_lf_in_trailers_is_400);
	tcase_add_test(tc, version_other_than_1x_is_505_and_host_is_required);
	tcase_add_test(tc, limits_answer_with_their_status);
	tcase_add_test(tc, requests_follow_each_other_on_one_parser);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
