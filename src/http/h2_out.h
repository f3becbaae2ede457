/*
 * What an HTTP/2 session (nghttp2) has to send, coalesced into writes of up
 * to COIL__H2_OUT_CAP bytes, DATA frames cut to fit: the one output path of
 * the server's and the client's connection owners (h2.c, h2_client.c).
 * Internal to src/http.
 */
#ifndef COIL_HTTP_H2_OUT_H
#define COIL_HTTP_H2_OUT_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>

/* Output coalesced before a write: a DATA frame's payload is cut to fit
 * with its header. Under coil_config.send_zc_min (16 KiB by default), so
 * each write is copied and bounded by io_timeout alone. */
#define COIL__H2_OUT_CAP 16000

/* Writes all n bytes at p for arg, or returns -errno (having set *err). */
typedef int coil__h2_write_fn(void *arg, const void *p, size_t n);

/*
 * Take everything ng has to send into out (COIL__H2_OUT_CAP bytes, *len of
 * them held), writing it through write whenever it fills and at the end;
 * a frame bigger than out goes straight through. Returns 0 once all is
 * written; when nghttp2 fails, coil__h2_error's code (-ENOMEM, -EPROTO;
 * also in *err); *err when a write fails.
 */
int coil__h2_out_send(nghttp2_session *ng, char *out, size_t *len, coil__h2_write_fn *write,
		      void *arg, int *err);

/*
 * nghttp2's data_source_read_length_callback: a DATA frame's payload cut
 * so that the frame (its 9-byte header with it) fits in out, within the
 * windows and the peer's frame size; never less than 1.
 */
ssize_t coil__h2_out_data_length(nghttp2_session *ng, uint8_t type, int32_t id, int32_t conn_win,
				 int32_t stream_win, uint32_t max_frame, void *ud);

#endif
