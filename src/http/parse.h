/*
 * The request parser: llhttp 8.1 (strict mode) behind the line scan of
 * scan.h, with the limits llhttp does not keep counted in its callbacks.
 * parse.c is the one file that includes llhttp.h: it is linked with
 * llhttp's objects into one object whose llhttp* symbols are made local
 * (src/http/llhttp.cmake), so none leaks from libcoil.a or libcoil.so.
 *
 * A request goes through in two steps:
 *   coil__http_parse_head  the whole head (the scan found its end): the
 *                          method, target and header fields become views
 *                          into it; or the status that rejects it
 *   coil__http_parse_body  body bytes as they arrive, decoded (chunked or
 *                          not) into the caller's buffer, up to the end of
 *                          the message; the bytes after it are the next
 *                          request's
 * Errors are HTTP statuses (400, 413, 414, 431, 505): the connection answers
 * with one and closes.
 */
#ifndef COIL_HTTP_PARSE_H
#define COIL_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coil/http.h"
#include "http/scan.h"

struct coil__http_field {
	struct coil_http_str name, value;
};

struct coil__http_parse {
	uint64_t llhttp_[12];	/* llhttp_t (its size is checked in parse.c) */
	/* Limits, set by the owner before each request. */
	size_t max_target;
	size_t max_chunk_ext;
	size_t max_trailers;
	uint64_t max_body;
	unsigned max_fields;
	/* The head: views into the bytes given to coil__http_parse_head. */
	struct coil_http_str method, target;
	struct coil__http_field *fields; /* the owner's array of max_fields */
	unsigned nfields;
	unsigned version;	/* 10, 11 */
	bool keep_alive;	/* llhttp_should_keep_alive after the head */
	bool chunked;
	bool head_done;		/* llhttp parsed the whole head */
	bool done;		/* the message ended (no body, or all of it read) */
	uint64_t content_length; /* when !chunked */
	/* The body. */
	uint64_t body_bytes;	/* decoded so far */
	size_t framing;		/* chunk line bytes since the last chunk's data */
	bool trailers;		/* after the last chunk: the scan runs first */
	struct coil__http_scan tscan;
	size_t trailer_bytes;
	char *dst;		/* where on_body copies, during one feed */
	size_t dst_len;
	int status;		/* set by a callback that rejects */
	/* Responses (coil__http_parse_init_response). */
	bool response;
	bool no_body;		/* set by the owner: the request was HEAD */
	int status_code;
	bool field_open;	/* fields[nfields] is being parsed */
	bool in_value;		/* a header value's span was seen for the field */
};

/* Ready p for a connection (llhttp_init). fields: max_fields entries. */
void coil__http_parse_init(struct coil__http_parse *p, struct coil__http_field *fields);

/* Parse a head of len bytes at buf, which the scan accepted whole (it
 * ends in CRLF CRLF). Returns 0, or the status that rejects it. The views
 * stay valid while buf does. */
int coil__http_parse_head(struct coil__http_parse *p, const char *buf, size_t len);

/* Decode up to len body bytes from in into dst, which has room for len
 * (the decoded body is never longer than its encoding). Stops at the end
 * of the message (p->done), leaving the bytes after it. Returns the input
 * bytes consumed (>= 0) with *out the body bytes written to dst, or
 * -status (400, 413, 431). */
ssize_t coil__http_parse_body(struct coil__http_parse *p, const char *in, size_t len, char *dst,
			      size_t *out);

/* The same for responses (the client): the head's status is p->status_code;
 * set p->no_body before a response to HEAD. */
void coil__http_parse_init_response(struct coil__http_parse *p, struct coil__http_field *fields);

/* A response whose body ends with the connection (no length, not
 * chunked): whether this one does, and its end at the end of the stream.
 * Returns 0 (p->done) or 400 (the stream ended inside a message). */
bool coil__http_parse_needs_eof(const struct coil__http_parse *p);
int coil__http_parse_finish(struct coil__http_parse *p);

/* After a message ended (p->done): ready p for the next request on the
 * same connection. */
void coil__http_parse_next(struct coil__http_parse *p);

#endif
