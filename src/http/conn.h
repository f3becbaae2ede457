/*
 * One HTTP/1.1 connection, served by one fiber: the state that the
 * connection loop (conn.c), the request calls (request.c) and the response
 * calls (response.c) share. Internal to src/http.
 *
 * Memory: while a request is being served the connection holds one
 * allocation (the input buffer, the response's headers, the output buffer,
 * the header views); between requests, with nothing buffered, it gives it
 * back and waits through its coil_reader, which holds no buffer either.
 * Over TLS (cfg->tls) it waits in coil_tls_read_lent instead, which holds
 * no buffer either while it waits (the SSL object stays: some 10 KiB).
 *
 * The input buffer, in[0 .. in_len): the current request's head at
 * in[head_at .. head_at + head_len), then body bytes and any pipelined
 * requests after it; pos is the first byte not parsed yet. Views into the
 * head stay put until the request is done; only then is what follows
 * moved to the front.
 */
#ifndef COIL_HTTP_CONN_H
#define COIL_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "coil.h"
#include "coil/http.h"
#include "http/parse.h"

struct coil__http_conn;

struct coil__h2_stream;
struct coil__h2_conn;

/* h2 NULL: HTTP/1.1 on c; else a stream of HTTP/2 connection c (h2.c). */
struct coil_http_request {
	struct coil__http_conn *c;
	struct coil__h2_stream *h2;
};

struct coil_http_response {
	struct coil__http_conn *c;
	struct coil__h2_stream *h2;
};

/* Bytes of the response headers a handler may add (-ENOSPC past it). */
#define COIL__HTTP_HDRS_CAP 4096
/* The output buffer: responses wait here until it fills or the
 * connection is about to wait for input (pipelined answers go together). */
#define COIL__HTTP_OUT_CAP 8192
/* Room for body bytes after the largest head. */
#define COIL__HTTP_BODY_ROOM 8192

struct coil__http_conn {
	struct coil_http_server *srv;
	const struct coil_http_config *cfg;
	int fd;
	coil_reader *rd;	/* plain HTTP */
	coil_tls *tls;		/* HTTPS (cfg->tls): no reader */
	const char *lent;	/* received bytes the reader lent, not yet taken */
	size_t lent_len;
	bool eof;		/* the client's side ended */
	bool tls_hot;		/* HTTPS: keeps OpenSSL's buffers (conn.c, wait_next) */
	struct sockaddr_storage peer; /* the client's address, once asked for */
	socklen_t peer_len;	/* 0: not asked for yet */
	int rerr;		/* the reader's error, kept */

	char *mem;		/* the allocation below, NULL between requests */
	char *in;
	size_t in_cap, in_len, pos, head_at, head_len;
	char *hdrs;
	size_t hdrs_len;
	char *out;
	size_t out_len;
	int werr;		/* a write failed: kept, the connection closes */

	struct coil__http_parse parse;
	unsigned served;	/* requests on this connection */

	/* The request. */
	bool head_request;	/* HEAD: no body in the response */
	bool expect_continue;	/* "100-continue" not answered yet */
	bool body_started;	/* the handler has read */
	uint64_t max_body;
	int body_status;	/* the status a body error answers (413, 400) */
	ssize_t body_err;	/* a body read's kept error */
	/* The response. */
	int status;
	bool head_sent, ended, chunked_out, has_length, no_body, close_after;
	uint64_t length, sent;

	/* The server's registry (server.c), under its lock. */
	struct coil__http_conn *prev, *next;
	coil_task task;
	coil_scope idle;	/* entered while waiting between requests */
	bool idle_in;
	struct coil__h2_conn *h2; /* an HTTP/2 connection: the shutdown wakes it */

	struct coil_http_request req;
	struct coil_http_response res;
};

/* Serve connection fd (owned: closed at the end) of server srv. */
void coil__http_conn_serve(struct coil_http_server *srv, int fd);

/* Wait for input (the output buffer flushed first) and take what came
 * into in[in_len ..]. Returns the bytes taken (> 0), 0 at the client's
 * end, or -errno. Under the caller's scopes. */
ssize_t coil__http_conn_fill(struct coil__http_conn *c);

/* The body's input: the bytes after the head are free again (all parsed);
 * fill from there under the per-I/O timeout. Returns as
 * coil__http_conn_fill. */
ssize_t coil__http_conn_fill_body(struct coil__http_conn *c);

/* Enter a scope of the per-I/O timeout (cfg->io_timeout, if any) in *s:
 * true if entered, and the caller exits it after its one I/O call. */
bool coil__http_io_scope_enter(const struct coil__http_conn *c, coil_scope *s);
/* All n bytes to the client (through TLS when the connection has it),
 * under io_timeout; an error is kept in c->werr. 0 or -errno. */
int coil__http_conn_write_all(struct coil__http_conn *c, const void *p, size_t n);

/* Queue bytes for the client; written when the buffer fills, at
 * coil__http_conn_flush, or before the connection waits for input.
 * Returns 0 or the kept write error. */
int coil__http_conn_put(struct coil__http_conn *c, const void *p, size_t n);
int coil__http_conn_flush(struct coil__http_conn *c);

/* End the connection lingering: flush, stop sending (close_notify over
 * TLS, else shutdown(SHUT_WR)), then read and drop what the client still
 * sends, up to max_bytes and cfg->linger_timeout, so that the close that
 * follows does not reset the connection before the client has read what
 * we sent (a close with unread input sends RST, which can destroy that
 * output in the client's receive queue). Nothing when the output failed or
 * the client's side already ended or failed. Under the caller's scopes. */
void coil__http_conn_linger(struct coil__http_conn *c, uint64_t max_bytes);

/* Reset the response for the current request. */
void coil__http_response_reset(struct coil__http_conn *c);

/* Send the simple response for status (the connection then closes):
 * used for errors the server answers itself. */
int coil__http_respond_error(struct coil__http_conn *c, int status);

/* Whether the server is shutting down (connections then close after the
 * request in flight). */
bool coil__http_server_draining(const struct coil_http_server *srv);

/* The registry of server.c: a connection enters it at its start (false:
 * the server is shutting down, close at once) and leaves at its end; it
 * waits between requests through coil__http_server_idle_wait, which the
 * shutdown can end. */
bool coil__http_server_enter(struct coil_http_server *srv, struct coil__http_conn *c);
void coil__http_server_leave(struct coil_http_server *srv, struct coil__http_conn *c);
/* Wait for the reader to lend bytes (c->lent), until deadline. Returns > 0,
 * 0 (the client's end, or the server is shutting down), or -errno. */
ssize_t coil__http_server_idle_wait(struct coil_http_server *srv, struct coil__http_conn *c,
				    int64_t deadline);
/* Mark c as the HTTP/2 connection h (NULL: no more), under the registry's
 * lock: the shutdown then asks h to drain (coil__h2_drain). */
void coil__http_server_h2(struct coil_http_server *srv, struct coil__http_conn *c,
			  struct coil__h2_conn *h);
/* The server's settings (they stay put while it runs). */
const struct coil_http_config *coil__http_server_config(const struct coil_http_server *srv);
/* The server's handler. */
int coil__http_server_handle(struct coil_http_server *srv, coil_http_request *req,
			     coil_http_response *res);

#endif
