/*
 * HTTP/2 connections of the server (nghttp2): see h2.c. Internal to
 * src/http.
 */
#ifndef COIL_HTTP_H2_H
#define COIL_HTTP_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coil/http.h"

struct coil__http_conn;
struct coil__h2_conn;
struct coil__h2_stream;

/* The HTTP/2 connection preface a client sends first (RFC 9113 3.4). */
#define COIL__H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define COIL__H2_PREFACE_LEN 24

/* Whether the n bytes at p may start the preface (n >= 3: "PRI" is no
 * HTTP/1.1 method a server of ours answers). */
bool coil__h2_is_preface(const char *p, size_t n);

/* Serve c as HTTP/2 until it ends: c->lent holds what was read already
 * (plaintext: the preface's start), c->rd or c->tls the stream. The
 * caller then closes c as an HTTP/1.1 connection. */
void coil__h2_serve(struct coil__http_conn *c);

/* Answer 101 to an HTTP/1.1 request asking for h2c (RFC 7540 3.2) and
 * serve c as HTTP/2: c->parse holds that request, which becomes stream 1;
 * settings are its HTTP2-Settings (decoded, their values valid); early
 * holds the bytes the client sent after the request (nghttp2 wants the
 * preface first). Returns false when out of memory before the 101, with
 * nothing sent (the caller serves the request as HTTP/1.1), true once
 * served or the 101 could not be written. */
bool coil__h2_serve_upgraded(struct coil__http_conn *c, const uint8_t *settings, size_t len,
			     const char *early, size_t early_len);

/* Whether the request of c (HTTP/1.1, its head parsed) asks for h2c, and
 * if so answer 101 and serve the connection as HTTP/2 (h2_upgrade.c).
 * Returns false to serve the request as HTTP/1.1: the server's http2 is
 * off, the connection is TLS, the request has a body, its Upgrade or
 * HTTP2-Settings is not one we take (a value nghttp2 rejects too), or
 * memory ran out before the 101. */
bool coil__h2_upgrade(struct coil__http_conn *c);

/* The server shuts down: send GOAWAY, finish the streams in flight.
 * From any thread, under the server's registry lock. */
void coil__h2_drain(struct coil__h2_conn *h);

/* The request and response calls of coil/http.h on an HTTP/2 stream. */
struct coil_http_str coil__h2_method(const struct coil__h2_stream *st);
struct coil_http_str coil__h2_target(const struct coil__h2_stream *st);
int coil__h2_header_count(const struct coil__h2_stream *st);
int coil__h2_header_at(const struct coil__h2_stream *st, size_t i, struct coil_http_str *name,
		       struct coil_http_str *value);
int coil__h2_header(const struct coil__h2_stream *st, const char *name,
		    struct coil_http_str *value);
int64_t coil__h2_content_length(const struct coil__h2_stream *st);
int coil__h2_request_limit(struct coil__h2_stream *st, uint64_t max_body);
ssize_t coil__h2_read(struct coil__h2_stream *st, void *buf, size_t len);

int coil__h2_status(struct coil__h2_stream *st, int status);
int coil__h2_add_header(struct coil__h2_stream *st, const char *name, const char *value);
int coil__h2_length(struct coil__h2_stream *st, uint64_t len);
int coil__h2_close(struct coil__h2_stream *st);
ssize_t coil__h2_write(struct coil__h2_stream *st, const void *buf, size_t len);
int coil__h2_end(struct coil__h2_stream *st, const void *buf, size_t len);
ssize_t coil__h2_sendfile(struct coil__h2_stream *st, int file, int64_t off, size_t len);

#endif
