/*
 * A byte stream through coil's request parser (src/http/scan.c, parse.c)
 * the way a server connection (src/http/conn.c read_head, the body reads)
 * drives it, with the server's default limits: empty lines before a
 * request skipped, the head scanned as it grows, 431/414 past max_head,
 * the body decoded, then the next pipelined request, until the input ends,
 * a request rejects, or one does not keep the connection alive.
 * For the tests that compare coil's parser with another (test_http_diff)
 * and for the fuzz target (tests/fuzz); no runtime, no sockets.
 */
#ifndef COIL_TEST_HTTP_FEED_H
#define COIL_TEST_HTTP_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The server's defaults (coil_http_config_init). */
#define FEED_MAX_HEAD (16 * 1024)
#define FEED_MAX_FIELDS 100
#define FEED_MAX_TARGET (8 * 1024)
#define FEED_MAX_CHUNK_EXT (4 * 1024)
#define FEED_MAX_BODY (1024 * 1024)

struct feed_str {
	const char *ptr;	/* into the input */
	size_t len;
};

struct feed_msg {
	struct feed_str method, target;
	struct feed_str (*fields)[2];	/* name, value */
	unsigned nfields;
	unsigned version;		/* 10, 11 */
	bool keep_alive, chunked;
	char *body;			/* decoded (malloc'd) */
	size_t body_len;
	size_t start, end;		/* its bytes in the input */
};

enum {
	FEED_END = 0,		/* every byte was a whole request */
	FEED_CLOSED = 1,	/* a request ended the connection (not keep-alive) */
	FEED_MORE = -1,		/* the input ended inside a request */
	/* else: the HTTP status that rejected msgs[n] (400, 413, 414, 431, 505) */
};

struct feed_result {
	struct feed_msg *msgs;
	size_t n;
	int outcome;		/* FEED_* or a status */
	size_t at;		/* where the rejected or unfinished request starts */
};

/* Feed in[0..len), step bytes at a time (the scan sees the head grow by
 * step, the body is decoded step bytes per call). */
void feed(struct feed_result *r, const char *in, size_t len, size_t step);
void feed_free(struct feed_result *r);

/* in[0..len) escaped as a C string literal, into a static buffer (cut at
 * about 3 KiB): for messages that must let a failure be replayed. */
const char *feed_escape(const char *in, size_t len);

#endif
