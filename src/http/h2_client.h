/*
 * The HTTP/2 client (nghttp2): the exchanges of coil/http.h on streams
 * multiplexed over one connection per host and port. See h2_client.c.
 * Internal to src/http: client.c routes an exchange here when the
 * client's cfg.http2 is on.
 */
#ifndef COIL_HTTP_H2_CLIENT_H
#define COIL_HTTP_H2_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coil/http.h"

struct coil__h2c_pool;
struct coil__h2c_stream;

/* How long a close_notify may wait for room in the socket (both clients):
 * the end of a connection that nobody waits for must not wait for its
 * peer. */
#define COIL__HTTP_CLOSE_NOTIFY_NS (1 * COIL_NSEC_PER_SEC)

/* The client's HTTP/2 connections; freed with coil__h2c_pool_free. */
struct coil__h2c_pool *coil__h2c_pool_new(const struct coil_http_client_config *cfg,
					  uint64_t *opened);
/* Close every connection (their owners are cancelled and waited for).
 * No exchange may be running. From a fiber when a connection is open. */
void coil__h2c_pool_free(struct coil__h2c_pool *pool);
/* Whether an owner of pool runs (pool NULL: false): then the free is for a
 * fiber, which waits for it. */
bool coil__h2c_pool_running(const struct coil__h2c_pool *pool);

/* Start rq (checked by the caller) on a connection to its host: the
 * stream waits for its turn under the peer's MAX_CONCURRENT_STREAMS.
 * Returns 0 and *out, or -ENOMEM, -EINVAL (bad header lines). */
int coil__h2c_start(struct coil__h2c_pool *pool, const struct coil_http_client_request *rq,
		    const char *method, const char *target, bool idempotent,
		    struct coil__h2c_stream **out);
/* The calls of coil_http_exchange_* (the caller's scopes apply). A
 * stream refused or never sent, with nothing of its body written yet, may
 * be sent again on another connection: *pst is then its new stream. */
ssize_t coil__h2c_write(struct coil__h2c_stream **pst, const void *buf, size_t len);
/* Wait for the head (a stream may move to another connection, as above). */
int coil__h2c_response(struct coil__h2c_stream **pst);
int coil__h2c_header_count(const struct coil__h2c_stream *st);
int coil__h2c_header_at(const struct coil__h2c_stream *st, size_t i, struct coil_http_str *name,
			struct coil_http_str *value);
int64_t coil__h2c_content_length(const struct coil__h2c_stream *st);
ssize_t coil__h2c_read(struct coil__h2c_stream *st, void *buf, size_t len);
/* End the exchange: a stream not complete is reset (RST_STREAM CANCEL),
 * the others on its connection go on. */
void coil__h2c_end(struct coil__h2c_stream *st);

/* White-box, for tests/test_h2_client.c: the most streams nghttp2 held
 * at once on one connection of cl (0 without HTTP/2). */
unsigned coil__http_client_h2_peak(const coil_http_client *cl);
unsigned coil__h2c_pool_peak(const struct coil__h2c_pool *pool);

#endif
