/*
 * coil/http.h: an HTTP/1.1 and HTTP/2 server, and an HTTP/1.1 and HTTP/2
 * client, on fibers.
 *
 *     static int hello(coil_http_request *req, coil_http_response *res, void *ctx)
 *     {
 *             return coil_http_respond(res, 200, "text/plain", "Hello, World!", 13);
 *     }
 *     ...in a fiber of coil_run:
 *     struct coil_http_config cfg;
 *     coil_http_config_init(&cfg);
 *     cfg.port = 8080;
 *     coil_http_serve(&cfg, hello, NULL);   // until this task is cancelled
 *
 * The model: every worker of the runtime accepts (coil_server, coil/net.h)
 * and each connection runs in a fiber of its own, which reads a request,
 * calls the handler, writes the response, and goes on with the next request
 * on the same connection (keep-alive). Pipelined requests are answered one
 * after the other, in order; responses to requests that were already
 * buffered are sent together. A handler may block (read the body, call
 * other services, sleep): only its own connection waits.
 *
 * A request's method, target and headers are views into the connection's
 * buffer (nothing is copied): valid until the handler returns. Its body is
 * read with coil_http_request_read, as it arrives (Content-Length or
 * chunked; "Expect: 100-continue" is answered when the handler first
 * reads). A response is a status, headers, and a body written all at once
 * (coil_http_response_end: Content-Length) or in pieces
 * (coil_http_response_write: chunked, unless a length was given first).
 *
 * HTTP/2 (cfg.http2, on by default) is served with the same handlers: h2
 * over TLS when ALPN picks "h2", h2c when a plaintext connection starts
 * with the HTTP/2 preface or asks for "Upgrade: h2c". One fiber owns
 * each connection's nghttp2 session and each stream's handler runs in a
 * fiber of its own; the limits below apply to its requests too
 * (docs/http.md says how).
 *
 * The parser is llhttp 8.1 (Node.js's) in strict mode, behind a scan of
 * every head that rejects what 8.1 still accepts (bare LF or CR, obs-fold,
 * NUL) and checks that close request smuggling (Content-Length with
 * Transfer-Encoding, duplicate Content-Length, Transfer-Encoding on
 * HTTP/1.0, bad chunk sizes). Each limit below is on by default and
 * answered with its status (then the connection closes, lingering so that
 * the client reads the answer): see docs/http.md.
 */
#ifndef COIL_HTTP_H
#define COIL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "coil/runtime.h"
#include "coil/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A view of bytes owned by someone else (not NUL-terminated). */
struct coil_http_str {
	const char *ptr;
	size_t len;
};

/* A server's settings. Fill with coil_http_config_init, then change. */
struct coil_http_config {
	const char *addr;	/* numeric address to listen on; "127.0.0.1" */
	uint16_t port;		/* 0 (the default): a free port, see coil_http_server_port */
	int backlog;		/* listen backlog; 1024 (<= 0: SOMAXCONN) */
	unsigned serve_mode;	/* COIL_SERVE_HANDOFF (default) or COIL_SERVE_REUSEPORT */
	/* Limits; exceeding one is answered with the status in brackets. */
	size_t max_head;	/* request line and headers, bytes: 16 KiB [431] */
	unsigned max_fields;	/* header fields: 100 [431] */
	size_t max_target;	/* request target, bytes: 8 KiB [414] */
	size_t max_chunk_ext;	/* chunk extensions of one chunk, bytes: 4 KiB [400] */
	uint64_t max_body;	/* request body, bytes: 1 MiB [413]; a handler may
				 * change it for its request (coil_http_request_limit) */
	/* Time limits (nanoseconds; <= 0: none). */
	int64_t head_timeout;	/* a whole head, from its first byte (from the
				 * accept for the first request): 10 s [408;
				 * no byte of a head yet: a silent close] */
	int64_t io_timeout;	/* each read of a body and each write: 60 s */
	int64_t idle_timeout;	/* between requests of a keep-alive connection: 75 s */
	int64_t shutdown_timeout; /* graceful shutdown: how long requests in
				 * flight may take before they are cancelled: 10 s */
	int64_t linger_timeout;	/* after an error response, how long the rest
				 * of the request is read and dropped before the
				 * close (so that the client sees the answer, not a
				 * reset): 2 s */
	unsigned max_requests;	/* per connection, then "Connection: close" (on
				 * HTTP/2: GOAWAY after the last one): 1000 */
	uint64_t max_drain;	/* body bytes a handler left unread that are read
				 * and dropped to keep the connection; more: it
				 * closes: 64 KiB */
	/* HTTP/2 (docs/http.md): 1 (the default) serves it beside HTTP/1.1,
	 * with the same handlers: h2c by prior knowledge (a plaintext
	 * connection that starts with the HTTP/2 preface), h2c by Upgrade
	 * (a plaintext request without a body asking "Upgrade: h2c" is
	 * answered 101 and becomes stream 1; one with a body, or with an
	 * HTTP2-Settings nghttp2 refuses, is served as HTTP/1.1) and h2 over
	 * TLS when ALPN picks "h2". 0: HTTP/1.1 only. */
	int http2;
	unsigned h2_max_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS: 100 */
	/* HTTPS: a server context (coil/tls.h) makes every connection TLS,
	 * its handshake under head_timeout and the context's own deadline;
	 * set its ALPN to "h2", "http/1.1" (h2 with http2 on) or "http/1.1"
	 * alone. The context stays the caller's: free
	 * it after the server. NULL (the default): plain HTTP. Bodies from
	 * coil_http_response_sendfile are then read and written through the
	 * stream (no kTLS: docs/tls.md). */
	coil_tls_ctx *tls;
};

/* Fill *cfg with the defaults above. */
COIL_API void coil_http_config_init(struct coil_http_config *cfg);

typedef struct coil_http_server coil_http_server;
typedef struct coil_http_request coil_http_request;
typedef struct coil_http_response coil_http_response;

/*
 * A request's handler. It runs in the connection's fiber; req and res are
 * valid until it returns. Return 0 when done: whatever of the response
 * was not sent is finished (no body: an empty one; a chunked body: its
 * last chunk). Return a negative errno when the request failed: if
 * nothing was sent yet the client gets 500, else the connection is closed
 * (the client sees a truncated response).
 */
typedef int (*coil_http_handler)(coil_http_request *req, coil_http_response *res, void *ctx);

/*
 * Listen as cfg says (cfg NULL: the defaults) on every worker of the
 * runtime (coil_server_open). From a fiber. cfg is copied (addr too).
 * Returns 0 and *out, or -EINVAL (out NULL, a bad setting: serve_mode,
 * max_head < 256, max_fields 0, max_target 0, max_requests 0,
 * h2_max_streams 0 or over 65536 with http2 on), -EPERM (not
 * in a fiber), -ENOMEM, or coil_server_open's error.
 */
COIL_API int coil_http_server_open(coil_http_server **out, const struct coil_http_config *cfg);

/* The port s listens on, or -EINVAL (s NULL). */
COIL_API int coil_http_server_port(const coil_http_server *s);

/* The connections s serves at this moment, on every worker: accepted and
 * not yet closed (an idle keep-alive one counts). A connection leaves the
 * count once its fd is closed and its buffers are freed, so 0 after the
 * clients left means none is held. Returns 0 for s NULL. */
COIL_API unsigned coil_http_server_connections(const coil_http_server *s);

/*
 * Serve connections with handler until the calling task is cancelled, then
 * shut down gracefully: stop accepting; close idle connections; let each
 * request in flight finish (its response says "Connection: close") for up
 * to cfg.shutdown_timeout; then cancel those left; return once every
 * connection fiber has ended. The listeners close when the shutdown starts
 * (a client that connects during it is refused), so s runs once. From the
 * fiber that opened s. Returns 0 after a shutdown asked for by a cancel,
 * or -EINVAL (s or handler NULL), -EBUSY (s is already running), -EBADF
 * (s has run: its listeners are closed), -EPERM (not in a fiber), -ENOMEM,
 * or the listener's error (connections are shut down the same way).
 */
COIL_API int coil_http_server_run(coil_http_server *s, coil_http_handler handler, void *ctx);

/* Close the listeners (if a run has not) and free s (NULL: 0). Not while
 * it runs. Returns 0 or the first error closing the listeners. */
COIL_API int coil_http_server_close(coil_http_server *s);

/* open + run + close. Returns coil_http_server_open's error or
 * coil_http_server_run's result. */
COIL_API int coil_http_serve(const struct coil_http_config *cfg, coil_http_handler handler,
			     void *ctx);

/* ---- the request ------------------------------------------------------------
 * Calls on a request are made from its handler, with req as given. */

/* The method ("GET"), the request target ("/a?b=c", as sent), the version
 * (10 for HTTP/1.0, 11 for HTTP/1.1, 20 for HTTP/2: its target is :path,
 * its header names are lower case, :authority is a "host" field when the
 * request has none). NULL req: an empty view, 0. */
COIL_API struct coil_http_str coil_http_request_method(const coil_http_request *req);
COIL_API struct coil_http_str coil_http_request_target(const coil_http_request *req);
COIL_API int coil_http_request_version(const coil_http_request *req);

/* The number of header fields (trailers not included), or -EINVAL. */
COIL_API int coil_http_request_header_count(const coil_http_request *req);

/* Header field i (0 .. count - 1), in the order received. Values have no
 * leading or trailing whitespace. Returns 0, or -EINVAL (NULL argument),
 * -ERANGE (i out of range). */
COIL_API int coil_http_request_header_at(const coil_http_request *req, size_t i,
					 struct coil_http_str *name, struct coil_http_str *value);

/* The first header field named name (case-insensitive) into *value.
 * Returns 0, -ENOENT (none), -EINVAL (NULL argument). */
COIL_API int coil_http_request_header(const coil_http_request *req, const char *name,
				      struct coil_http_str *value);

/* The address of the client (the connection's peer) into *addr, *len
 * bytes of room (sockaddr_storage fits every family); *len is then its
 * length, as getpeername(2) says. Returns 0, -EINVAL (NULL argument), or
 * getpeername's error (-ENOTCONN...). */
COIL_API int coil_http_request_peer(const coil_http_request *req, struct sockaddr *addr,
				    socklen_t *len);

/* The body's length from Content-Length, 0 for a request without a body,
 * or -1 when it is chunked (not known in advance); -EINVAL for NULL. */
COIL_API int64_t coil_http_request_content_length(const coil_http_request *req);

/* Change this request's body limit (cfg.max_body) before its body is read.
 * Returns 0, -EINVAL (NULL), -EBUSY (reading has started). */
COIL_API int coil_http_request_limit(coil_http_request *req, uint64_t max_body);

/*
 * Read up to len bytes of the body into buf, waiting for them (each read
 * under cfg.io_timeout). The first read of a request that asked "Expect:
 * 100-continue" sends "100 Continue" first.
 * Returns the count (> 0), 0 at the end of the body (at once for a request
 * without one), or:
 *   -EINVAL     req NULL, or buf NULL with len > 0
 *   -EMSGSIZE   the body is longer than the limit (the client gets 413
 *               when no response was started, and the connection closes)
 *   -EPROTO     the body is malformed (bad chunk, trailers): 400, close
 *   -ECONNRESET the client closed or reset the connection mid-body (400
 *               when no response was started)
 *   -ETIMEDOUT  cfg.io_timeout or a scope's deadline passed
 *   -ECANCELED  the task or a scope was cancelled
 * After an error every later read returns the same error.
 */
COIL_API ssize_t coil_http_request_read(coil_http_request *req, void *buf, size_t len);

/* ---- the response ------------------------------------------------------------
 * A response starts with status 200 and no headers but those the server
 * adds (Date; Content-Length or Transfer-Encoding; Connection when needed).
 * Its head goes out with the first body bytes (or at the end). Errors of
 * these calls: -EINVAL for a NULL res or bad argument, -EBUSY when the head
 * was already sent; the writing calls also -EPIPE, -ECONNRESET,
 * -ETIMEDOUT (cfg.io_timeout), -ECANCELED, and after such an error every
 * later call returns it again (the connection is closed at the end). */

/* Set the status, 200..999 (1xx are the server's: it sends 100 Continue
 * itself; upgrades are not supported). Returns 0, -EINVAL, -EBUSY. */
COIL_API int coil_http_response_status(coil_http_response *res, int status);

/* Add a header field. name must be a token, value must hold no CR, LF or
 * NUL; Content-Length, Transfer-Encoding and Connection belong to the
 * server (use coil_http_response_length and coil_http_response_close).
 * Returns 0, -EINVAL (NULL, a bad name or value, a name the server owns),
 * -EBUSY, -ENOSPC (the headers together exceed 4 KiB). */
COIL_API int coil_http_response_header(coil_http_response *res, const char *name,
				       const char *value);

/* Announce the body's length, so that coil_http_response_write sends it
 * with Content-Length instead of chunked. Returns 0, -EINVAL, -EBUSY. */
COIL_API int coil_http_response_length(coil_http_response *res, uint64_t len);

/* Close the connection after this response ("Connection: close").
 * Returns 0, -EINVAL, -EBUSY (the head was sent). */
COIL_API int coil_http_response_close(coil_http_response *res);

/*
 * Send len bytes of the body (the head first, the first time). Without a
 * length announced the body is chunked (HTTP/1.1) or ends with the
 * connection (HTTP/1.0). Bytes may wait in the connection's buffer until
 * the next call or the end. For HEAD requests and 204/304 nothing of the
 * body is sent (it is still counted). Returns len, or the errors above,
 * and -EMSGSIZE (more bytes than the announced length: nothing sent).
 */
COIL_API ssize_t coil_http_response_write(coil_http_response *res, const void *buf, size_t len);

/*
 * Send the last len bytes of the body (buf may be NULL when len is 0) and
 * finish the response. If nothing was sent before, the response goes out
 * with Content-Length: len, in one write with its head (a 204 or 304
 * ended with len 0: with no Content-Length). A response to HEAD (or a 204
 * or 304) may announce a length and end without its bytes: the length says
 * what a GET would get. Returns 0, the errors above, -EMSGSIZE (a length
 * was announced and the body's bytes do not add up to it: the connection
 * then closes), -EALREADY (ended).
 */
COIL_API int coil_http_response_end(coil_http_response *res, const void *buf, size_t len);

/*
 * Send len bytes of the open file file, from offset off, as body bytes
 * without copying them through user memory (coil_sock_sendfile: splice on
 * io_uring, sendfile(2) elsewhere); framed as coil_http_response_write
 * frames (announce the length first to avoid chunked). A regular file's
 * body that fits in the connection's 8 KiB output buffer beside what waits
 * there (the head) is read into it instead, so that head and body leave in
 * one write at the response's end, as nginx's corked sendfile sends them
 * (any other fd goes as a big body does, and fails as one). The file's own
 * position is not used. Returns the bytes sent: len, or fewer when the
 * file ended first (a response whose announced length is then not met
 * closes its connection at the end); the errors of coil_http_response_write;
 * -EBADF, -EINVAL (off < 0, a file that cannot be spliced).
 */
COIL_API ssize_t coil_http_response_sendfile(coil_http_response *res, int file, int64_t off,
					     size_t len);

/* status, a Content-Type header (content_type NULL: none) and the whole
 * body: coil_http_response_status + _header + _end. */
COIL_API int coil_http_respond(coil_http_response *res, int status, const char *content_type,
			       const void *body, size_t len);

/* ---- the client ---------------------------------------------------------------
 *
 *     coil_http_client *cl;
 *     coil_http_client_new(&cl, NULL);
 *     struct coil_http_client_request rq = {.host = "127.0.0.1", .port = 8080,
 *                                           .target = "/hello"};
 *     struct coil_http_client_response res;
 *     if (coil_http_client_send(cl, &rq, &res) == 0) {
 *             ... res.status, res.body, res.body_len ...
 *             coil_http_client_response_free(&res);
 *     }
 *     coil_http_client_free(cl);
 *
 * A client keeps the connections that stay open after a response, per
 * host and port, and reuses them for the next requests (keep-alive). One
 * on which anything came while it was idle (the server's end, a 408 before
 * it, bytes past an answer's length) is closed, not reused. A request that
 * finds its reused connection closed by the server before any byte of the
 * answer came (a race every keep-alive client meets) is sent once more on
 * a new connection if its method is idempotent. Responses
 * are parsed as strictly as requests (the same scan, llhttp in strict
 * mode); redirects are not followed. A client may be shared by the fibers
 * of every worker.
 *
 * With cfg.tls the connections are HTTPS: TLS streams (coil/tls.h) to the
 * request's host, which is sent as SNI and checked against the server's
 * certificate as the context says. The calls and their semantics are
 * those of plaintext, with these differences: a kept TLS connection is
 * reused by fibers of the worker that made it only (its stream belongs to
 * that worker), and each worker keeps its own; a request body goes out
 * without watching for an early answer (a stream is read and written by
 * one fiber at a time): a server that answers and closes before it has
 * read the body is seen as a reset (-ECONNRESET); one that reads and
 * drops the rest, as coil's server does, is answered normally. A
 * connection ends with a close_notify (waiting at most 1 s for room in
 * the socket) unless it failed.
 *
 * With cfg.http2 the same calls speak HTTP/2: the requests to a host and
 * port are streams of one connection (a fiber of its own holds it). A
 * request the server did not process (a stream above a GOAWAY's last
 * stream id, or refused) is sent again if its method is idempotent and
 * no streamed body byte was written: on a new connection after a GOAWAY,
 * on the same one after a RST_STREAM REFUSED_STREAM (three times at most
 * from connections that answered none of the client's requests or that
 * refused it, then it fails with -ECONNRESET: a server refusing them all
 * is not retried until the timeout); a connection that
 * ends fails its streams (-ECONNRESET; -EPROTO when the server spoke no
 * HTTP/2; -ENOMEM when nghttp2 ran out of memory); an exchange ended
 * early resets its stream (the others go on).
 * Over TLS, a server whose ALPN picks "http/1.1" or nothing gets the
 * request over HTTP/1.1 on a TLS connection of the kind above (the first
 * request to it costs one connection more: the one that found out), and
 * the client remembers that host and port (64 of them at most, the
 * oldest forgotten first): their next requests go over HTTP/1.1 at once.
 * A new HTTP/1.1 connection to such a host whose server picks "h2" after
 * all makes the client forget it, and that request goes over HTTP/2;
 * should a request meet this only when it retries, after a kept
 * connection was dropped, it fails with -ECONNRESET.
 */
struct coil_http_client_config {
	size_t max_head;	/* a response head, bytes: 64 KiB [-EMSGSIZE] */
	unsigned max_fields;	/* its header fields: 200 [-EMSGSIZE] */
	uint64_t max_body;	/* a response body, bytes: 64 MiB [-EMSGSIZE] */
	int64_t timeout;	/* a whole request, connect to last byte (ns): 60 s */
	int64_t idle_timeout;	/* a kept connection unused this long is closed, not
				 * reused: 20 s (under common servers' 60-75 s) */
	unsigned max_idle;	/* connections kept per host and port: 16 */
	/* HTTP/2 to every host (docs/http.md): 0 (the default): HTTP/1.1;
	 * 1: HTTP/2, h2c by prior knowledge (the connection starts with the
	 * preface), or h2 over TLS when tls is set. The requests to one host
	 * and port share one connection, as streams (as many at once as the
	 * server's SETTINGS_MAX_CONCURRENT_STREAMS allows; the others wait
	 * on the connection for a stream to close, under their own timeout
	 * and scopes); its own fiber reads and writes it. A
	 * connection unused for idle_timeout is closed; max_idle does not
	 * apply. */
	int http2;
	/* HTTPS: a client context (coil/tls.h); connections are TLS to the
	 * request's host (SNI, verified as the context says). Its ALPN: with
	 * http2, "h2", "http/1.1" (a server picking "http/1.1" or nothing
	 * gets HTTP/1.1, see above); without, "http/1.1" or none (a server
	 * that picks another protocol, "h2", fails the request with
	 * -EPROTONOSUPPORT). The context stays the caller's: free it after
	 * the client. NULL (the default): plaintext. */
	coil_tls_ctx *tls;
	/* HTTP/2 health checks (Go's ReadIdleTimeout and PingTimeout): when
	 * nothing came on a connection for h2_ping_interval, with streams or
	 * without, it is sent a PING; new requests wait for its ACK before
	 * going out, and without one within h2_ping_timeout the connection
	 * is closed: its sent requests fail with -ETIMEDOUT, the waiting ones
	 * go to a new connection; so is one whose server takes none of a write
	 * for h2_ping_timeout. h2_ping_interval: 15 s (0: that; < 0: no PING,
	 * no bound on writes); h2_ping_timeout: 15 s (0: that). */
	int64_t h2_ping_interval;
	int64_t h2_ping_timeout;
};

/* The defaults of h2_ping_interval and h2_ping_timeout (ns). */
#define COIL_HTTP_H2_PING_INTERVAL INT64_C(15000000000)
#define COIL_HTTP_H2_PING_TIMEOUT INT64_C(15000000000)

/* Fill *cfg with the defaults above. */
COIL_API void coil_http_client_config_init(struct coil_http_client_config *cfg);

typedef struct coil_http_client coil_http_client;

/* A client (cfg NULL: the defaults). Works outside a runtime too (an
 * HTTP/2 client makes its requests from fibers, like every client).
 * Returns 0, -EINVAL (out NULL, max_head < 256, max_fields 0, http2 not
 * 0 or 1, h2_ping_timeout < 0), -ENOMEM. */
COIL_API int coil_http_client_new(coil_http_client **out, const struct coil_http_client_config *cfg);

/* Close the kept connections and free cl (NULL: 0). No request of it may
 * be running (an exchange not ended is refused). With HTTP/2 connections
 * open it waits for their fibers to end (at once: they are told to), and
 * with TLS connections kept it closes each from a fiber of its worker (a
 * close_notify first): in both cases it is called from a fiber of the
 * runtime that made them. Returns
 * 0, or -EPERM (TLS connections are kept, or HTTP/2 ones open, and this is
 * no fiber: nothing was freed), -ENOMEM (no fiber to close another
 * worker's: cl stays, with those; call again), -EBUSY (an exchange of cl
 * is not ended: nothing was freed). */
COIL_API int coil_http_client_free(coil_http_client *cl);

struct coil_http_client_request {
	const char *method;	/* NULL: "GET" */
	const char *host;	/* a name or numeric address; also the Host header */
	uint16_t port;
	const char *target;	/* NULL: "/" */
	const char *headers;	/* more header lines, each "Name: value\r\n", or NULL;
				 * a Host line replaces the client's own */
	const void *body;	/* sent with Content-Length (NULL with len 0: none) */
	size_t body_len;	/* with body NULL: a streamed body (coil_http_exchange_start) */
};

struct coil_http_client_response {
	int status;
	int version;		/* 10, 11, or 20 (HTTP/2: head holds "HTTP/2 200"
				 * and the fields as "name: value" lines) */
	char *head;		/* the head as received (the views below point here) */
	size_t head_len;
	char *body;		/* the decoded body, NUL-terminated (not counted) */
	size_t body_len;
	void *private_;
};

/*
 * Send rq and read its response whole into *res (free it with
 * coil_http_client_response_free). From a fiber. Under cfg.timeout and the
 * caller's scopes. Returns 0, or:
 *   -EINVAL      NULL argument, no host, a method or target with spaces,
 *                CR or LF, headers not ending in CRLF or holding
 *                Content-Length or Transfer-Encoding, body NULL with a
 *                body_len
 *   -EPROTO      the response is malformed (or smuggles: see docs/http.md)
 *   -EMSGSIZE    a response head or body over its limit
 *   -ECONNRESET  the server closed or reset the connection before the end
 *   -ETIMEDOUT   cfg.timeout or a scope's deadline passed; over HTTP/2,
 *                also a sent request whose connection stopped answering
 *                (no PING ACK: h2_ping_timeout)
 *   -ECANCELED   the task or a scope was cancelled
 *   -ENOMEM, -EPERM (not in a fiber), and coil_tcp_connect's errors
 *   (-ECONNREFUSED, -ENOENT for an unknown name...)
 * and over TLS (cfg.tls), the first two as coil_tls_handshake gives them:
 *   -EKEYREJECTED    the server's certificate failed verification
 *                    (expired, self-signed, another host's...)
 *   -EPROTO          the server does not speak TLS (a plaintext server),
 *                    or a TLS protocol error
 *   -EPROTONOSUPPORT the server's ALPN picked a protocol the client does
 *                    not speak ("h2" without cfg.http2; with it, servers
 *                    of one host that disagree within a request)
 */
COIL_API int coil_http_client_send(coil_http_client *cl,
				   const struct coil_http_client_request *rq,
				   struct coil_http_client_response *res);

/* The first header field of res named name (case-insensitive).
 * Returns 0, -ENOENT, -EINVAL. */
COIL_API int coil_http_client_response_header(const struct coil_http_client_response *res,
					      const char *name, struct coil_http_str *value);

/* Free what coil_http_client_send put in *res (NULL: nothing). */
COIL_API void coil_http_client_response_free(struct coil_http_client_response *res);

/* Connections the client has opened so far (reused ones count once). */
COIL_API uint64_t coil_http_client_connections(const coil_http_client *cl);

/* ---- the client, streaming -----------------------------------------------------
 *
 *     coil_http_exchange *x;
 *     struct coil_http_client_request rq = {.method = "PUT", .host = "127.0.0.1",
 *                                           .port = 8080, .target = "/up",
 *                                           .body_len = COIL_HTTP_BODY_CHUNKED};
 *     coil_http_exchange_start(cl, &rq, &x);
 *     coil_http_exchange_write(x, piece, n);         // as often as needed
 *     int status = coil_http_exchange_response(x);   // the head
 *     ... coil_http_exchange_header_at(x, i, &name, &value) ...
 *     while ((n = coil_http_exchange_read(x, buf, sizeof buf)) > 0)
 *             ...
 *     coil_http_exchange_end(x);   // the connection back to the client's pool
 *
 * An exchange is one request and its response, each streamed: what a proxy
 * needs (coil_http_client_send is an exchange read whole). Its request
 * body is either rq->body (sent whole with the head) or, with rq->body
 * NULL, written with coil_http_exchange_write: rq->body_len bytes
 * (Content-Length), or any number with rq->body_len COIL_HTTP_BODY_CHUNKED
 * (chunked). Kept connections, the second try of an idempotent request
 * (only when no streamed body byte was written) and the parsing are those
 * of coil_http_client_send; cfg.timeout counts from the start and bounds
 * every call of the exchange (besides the caller's scopes); cfg.max_body
 * does not apply (the reader takes as much as comes). An exchange belongs
 * to the fiber that started it. After an error every later call of the
 * exchange returns the same error; end it then.
 */
typedef struct coil_http_exchange coil_http_exchange;

/* rq->body_len of a chunked, streamed request body. */
#define COIL_HTTP_BODY_CHUNKED ((size_t)-1)

/*
 * Connect to rq's host and port (or take a kept connection) and send rq's
 * head, and its body when rq->body holds it. rq->headers may hold a Host
 * field (then none is added); not Content-Length or Transfer-Encoding (the
 * framing is the client's). rq is not used after the call, except
 * rq->body, which must stay valid until coil_http_exchange_response.
 * From a fiber. Returns 0 and *out, or the errors of
 * coil_http_client_send that come before a response (-EINVAL also for
 * framing fields in rq->headers, rq->body with COIL_HTTP_BODY_CHUNKED).
 */
COIL_API int coil_http_exchange_start(coil_http_client *cl,
				      const struct coil_http_client_request *rq,
				      coil_http_exchange **out);

/*
 * Send len bytes of a streamed request body (one chunk when chunked).
 * While the body goes out the exchange watches for the server's answer
 * (RFC 9112 9.5): a final answer with an error status (4xx, 5xx) or
 * Connection: close that comes before the whole body means the server
 * does not want the rest, which is then not sent: this call and every
 * later write return -EALREADY, and coil_http_exchange_response returns
 * that answer. An answer that does take the body (a server answering as
 * it reads) does not stop the writes. Over TLS nothing is watched (see
 * the client above); over HTTP/2 a stream the server closes after its
 * whole answer (RST_STREAM NO_ERROR, RFC 9113 8.1) stops the writes so,
 * whatever its status. The connection of a request whose body was not all
 * sent is never kept.
 * Returns len, or -EINVAL (x NULL, buf NULL with len > 0), -EBUSY (the
 * request has no streamed body, or its response was asked for),
 * -EMSGSIZE (more bytes than rq->body_len: nothing sent), -EALREADY (the
 * server answered first, see above: an unknown part of these bytes was
 * sent), -ECONNRESET (the server closed or reset the connection; an
 * answer it sent before may still be read with
 * coil_http_exchange_response), -ETIMEDOUT, -ECANCELED; over HTTP/2 also
 * -EPROTO and -ENOMEM (the connection ended so, see the client above).
 */
COIL_API ssize_t coil_http_exchange_write(coil_http_exchange *x, const void *buf, size_t len);

/*
 * End the request (the last chunk of a chunked body) and wait for the
 * response's head (1xx answers are skipped). After a write said -EALREADY
 * or -ECONNRESET, the answer the server sent first, if any. The second
 * call returns the same status at once. Returns the status (200..999), or
 * -EINVAL (x NULL), -EMSGSIZE (a streamed body shorter than rq->body_len,
 * unless the server answered first; a response head
 * over the limits), -EPROTO, -ECONNRESET, -ETIMEDOUT, -ECANCELED, -ENOMEM,
 * as coil_http_client_send.
 */
COIL_API int coil_http_exchange_response(coil_http_exchange *x);

/* The response's version (10, 11, or 20), or -EINVAL (x NULL, no head
 * yet). */
COIL_API int coil_http_exchange_version(const coil_http_exchange *x);

/* The number of the response's header fields, or -EINVAL (x NULL, no
 * head yet). */
COIL_API int coil_http_exchange_header_count(const coil_http_exchange *x);

/* The response's header field i (0 .. count - 1), in the order received,
 * as views valid until coil_http_exchange_end. Values have no leading or
 * trailing whitespace. Returns 0, or -EINVAL (NULL argument, no head
 * yet), -ERANGE (i out of range). */
COIL_API int coil_http_exchange_header_at(const coil_http_exchange *x, size_t i,
					  struct coil_http_str *name,
					  struct coil_http_str *value);

/* The first response header field named name (case-insensitive) into
 * *value. Returns 0, -ENOENT (none), -EINVAL (NULL argument, no head
 * yet). */
COIL_API int coil_http_exchange_header(const coil_http_exchange *x, const char *name,
				       struct coil_http_str *value);

/* The response body's length: from Content-Length; 0 for a response
 * without a body (to HEAD; 204, 304); -1 when it is not known in advance
 * (chunked, or ending with the connection). Returns -EINVAL for x NULL or
 * no head yet. */
COIL_API int64_t coil_http_exchange_content_length(const coil_http_exchange *x);

/*
 * Read up to len bytes of the response body (decoded) into buf, waiting
 * for them. Returns the count (> 0), 0 at the end of the body, or
 * -EINVAL (x NULL, buf NULL with len > 0), -EBUSY (no head yet: call
 * coil_http_exchange_response first), -EPROTO (a malformed body),
 * -ECONNRESET (the connection ended before the body did: the body is
 * truncated), -ETIMEDOUT, -ECANCELED; over HTTP/2 also -ENOMEM (the
 * connection ended so, see the client above).
 */
COIL_API ssize_t coil_http_exchange_read(coil_http_exchange *x, void *buf, size_t len);

/* Finish x and free it (NULL: nothing). Its connection goes back to the
 * client's kept ones when the response was read to its end and the server
 * keeps it open; else it is closed. Returns 0. */
COIL_API int coil_http_exchange_end(coil_http_exchange *x);

#ifdef __cplusplus
}
#endif
#endif
