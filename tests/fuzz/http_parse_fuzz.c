/*
 * libFuzzer over coil's request parser: the line scan, llhttp and the
 * limits (src/http/scan.c, parse.c), driven as a server connection drives
 * them with the server's default limits (tests/http_feed.c). Built by the
 * fuzz preset (clang, -fsanitize=fuzzer,address,undefined); run by
 * tests/fuzz/run.sh for a bounded time, from the seeds in corpus/.
 *
 * Besides the sanitizers' findings, the target checks what must hold for
 * any input: the same requests and outcome whether the bytes come whole
 * or a few at a time; each request inside the input, one after the other;
 * views inside the input; a body no longer than its bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_feed.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "http_parse_fuzz: %s (line %d)\n", #cond, \
				__LINE__);                                       \
			abort();                                                 \
		}                                                                \
	} while (0)

static int inside(const char *in, size_t len, struct feed_str s)
{
	return s.len == 0 || (s.ptr >= in && s.ptr + s.len <= in + len);
}

static void check_one(const struct feed_result *r, const char *in, size_t len)
{
	size_t prev = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct feed_msg *m = &r->msgs[i];
		CHECK(m->start >= prev && m->end > m->start && m->end <= len);
		CHECK(m->body_len <= m->end - m->start);
		CHECK(m->method.len > 0 && inside(in, len, m->method));
		CHECK(m->target.len > 0 && inside(in, len, m->target));
		CHECK(m->nfields <= FEED_MAX_FIELDS);
		CHECK(m->version == 10 || m->version == 11);
		for (unsigned f = 0; f < m->nfields; f++) {
			CHECK(m->fields[f][0].len > 0 && inside(in, len, m->fields[f][0]));
			CHECK(inside(in, len, m->fields[f][1]));
		}
		prev = m->end;
	}
	CHECK(r->outcome == FEED_END || r->outcome == FEED_CLOSED || r->outcome == FEED_MORE ||
	      r->outcome == 400 || r->outcome == 413 || r->outcome == 414 || r->outcome == 431 ||
	      r->outcome == 505);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The input in a buffer of its own size, so that ASan sees a read
	 * past its end. */
	char *in = malloc(size ? size : 1);
	memcpy(in, data, size);
	struct feed_result whole, pieces;
	feed(&whole, in, size, size ? size : 1);
	check_one(&whole, in, size);
	size_t step = size ? (size_t)data[0] % 13 + 1 : 1;
	feed(&pieces, in, size, step);
	check_one(&pieces, in, size);
	CHECK(whole.n == pieces.n && whole.outcome == pieces.outcome);
	for (size_t i = 0; i < whole.n; i++) {
		const struct feed_msg *a = &whole.msgs[i], *b = &pieces.msgs[i];
		CHECK(a->end == b->end && a->nfields == b->nfields && a->body_len == b->body_len);
		CHECK(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
		CHECK(a->target.ptr == b->target.ptr && a->target.len == b->target.len);
	}
	feed_free(&whole);
	feed_free(&pieces);
	free(in);
	return 0;
}
