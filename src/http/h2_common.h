/*
 * What the HTTP/2 server's and client's connection owners (h2.c,
 * h2_client.c) share, each piece used the same way on both sides: their
 * receive windows, the opening of the session (nghttp2 1.52) with its
 * bounds, the owner's read that the other fibers wake, a stream's received
 * body bytes and the buffering of a header block as it comes. Their output
 * is h2_out.h. Internal to src/http; the owner alone calls these.
 */
#ifndef COIL_HTTP_H2_COMMON_H
#define COIL_HTTP_H2_COMMON_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coil.h"
#include "http/parse.h"

/* Body bytes a stream may receive unread: its window. */
#define COIL__H2_STREAM_WINDOW 65536
/* The connection's receive window. */
#define COIL__H2_CONN_WINDOW (1 << 20)

/* The callbacks of one side (NULL: none); the length of a DATA frame's
 * payload is h2_out.h's. */
struct coil__h2_callbacks {
	nghttp2_on_begin_headers_callback on_begin_headers;
	nghttp2_on_header_callback on_header;
	nghttp2_on_frame_recv_callback on_frame_recv;
	nghttp2_on_data_chunk_recv_callback on_data_chunk_recv;
	nghttp2_on_stream_close_callback on_stream_close;
	nghttp2_on_frame_send_callback on_frame_send;
	nghttp2_before_frame_send_callback before_frame_send;
	nghttp2_on_frame_not_send_callback on_frame_not_send;
};

/*
 * Make *ng, the server's session (server) or the client's, for ud, and
 * submit our SETTINGS (the n entries at iv) and the connection's window
 * (COIL__H2_CONN_WINDOW). Windows are given back as the streams are read
 * (no automatic WINDOW_UPDATE). Returns 0, or -ENOMEM with *ng NULL and
 * nothing left to free.
 */
int coil__h2_session_open(nghttp2_session **ng, bool server, const struct coil__h2_callbacks *cbs,
			  const nghttp2_settings_entry *iv, size_t n, void *ud);

/* A fatal error of nghttp2 (a negative NGHTTP2_ERR_*) as coil's:
 * -ENOMEM when it ran out of memory (NGHTTP2_ERR_NOMEM), else -EPROTO
 * (the peer broke the protocol, or the session did). */
int coil__h2_error(ssize_t lib_error);

/*
 * White-box, for tests/test_h2.c and tests/test_h2_client.c: the
 * allocator nghttp2 uses in the sessions opened from now on, the
 * client's ([0]) and the server's ([1]); NULL, the default, is nghttp2's
 * own (malloc). Stored with __atomic_store_n (release): the sessions are
 * opened on any worker.
 */
extern nghttp2_mem *coil__h2_test_mem[2];

/*
 * The owner's read, which the other fibers (handlers, requesters) end by
 * cancelling its scope: a wake (a cancelled read loses nothing). Every
 * call is made under the connection's lock; the read itself without it.
 */
struct coil__h2_park {
	coil_scope scope;
	bool parked, woken;
};

/* The owner goes to read, until deadline or a wake. */
void coil__h2_park_locked(struct coil__h2_park *pk, int64_t deadline);

/* The owner is back from its read, which returned n: whether n is a
 * wake's (-ECANCELED by coil__h2_wake_locked, the owner not cancelled). */
bool coil__h2_unpark_locked(struct coil__h2_park *pk, ssize_t n);

/* Wake the owner if it reads (once a read). */
void coil__h2_wake_locked(struct coil__h2_park *pk);

/*
 * A stream's body bytes received and not yet read, under the connection's
 * lock: at most COIL__H2_STREAM_WINDOW (the window we gave holds them; a
 * peer past it is stopped by nghttp2 first). off < len, or both are 0.
 * All zero is empty; free buf when done.
 */
struct coil__h2_in {
	char *buf;
	size_t off, len;
};

/* Keep the n bytes at data: 1 when kept, 0 when they do not fit, -ENOMEM
 * (nothing kept). */
int coil__h2_in_put(struct coil__h2_in *in, const uint8_t *data, size_t n);

/* Move the first n bytes held (n at most len - off) into buf. */
void coil__h2_in_take(struct coil__h2_in *in, void *buf, size_t n);

/*
 * A header block as it comes: names and values copied into buf, each
 * NUL-terminated; fields hold offsets into buf while it grows, views once
 * coil__h2_head_done has run. size is for the caller to count the block
 * as SETTINGS_MAX_HEADER_LIST_SIZE does (32 bytes a field more). All zero
 * is empty; free buf and fields when done.
 */
struct coil__h2_head {
	char *buf;
	size_t len, cap, size;
	struct coil__http_field *fields;
	unsigned nfields, fields_cap;
};

/* Copy the n bytes at p into hd->buf; *at is their offset. 0 or -ENOMEM. */
int coil__h2_head_copy(struct coil__h2_head *hd, const uint8_t *p, size_t n, size_t *at);

/* Add a field (name and value copied), keeping spare more entries
 * allocated past fields_cap. 0 or -ENOMEM. */
int coil__h2_head_field(struct coil__h2_head *hd, const uint8_t *name, size_t namelen,
			const uint8_t *value, size_t valuelen, unsigned spare);

/* The block is complete: the fields' offsets become views into buf. */
void coil__h2_head_done(struct coil__h2_head *hd);

/* The i-th field of a complete block into *name and *value: 0, or
 * -ERANGE past the last. */
int coil__h2_head_at(const struct coil__h2_head *hd, size_t i, struct coil_http_str *name,
		     struct coil_http_str *value);

/* A content-length's value, digits as nghttp2 checked them (it holds the
 * body to it), stopping short of INT64_MAX. */
int64_t coil__h2_head_length(const uint8_t *value, size_t len);

#endif
