/* What the HTTP/2 server and client share: see h2_common.h. */
#include "http/h2_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/h2_out.h"

nghttp2_mem *coil__h2_test_mem[2];

int coil__h2_session_open(nghttp2_session **ng, bool server, const struct coil__h2_callbacks *cbs,
			  const nghttp2_settings_entry *iv, size_t n, void *ud)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_session *s;
	int r = -ENOMEM;
	*ng = NULL;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -ENOMEM;
	if (nghttp2_option_new(&opt) != 0)
		goto out_cb;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, cbs->on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, cbs->on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cbs->on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cbs->on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cbs->on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, cbs->on_frame_send);
	nghttp2_session_callbacks_set_before_frame_send_callback(cb, cbs->before_frame_send);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, cbs->on_frame_not_send);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cb,
								       coil__h2_out_data_length);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_continuations(opt, 8);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_mem *mem = __atomic_load_n(&coil__h2_test_mem[server], __ATOMIC_ACQUIRE);
	int made;
	if (server) {
		/* Rapid reset (CVE-2023-44487): nghttp2's own bucket, 1000
		 * then 33/s. */
		nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
		made = nghttp2_session_server_new3(&s, cb, ud, opt, mem);
	} else {
		/* RFC 9113 6.5.2's suggestion, until the peer's SETTINGS. */
		nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
		made = nghttp2_session_client_new3(&s, cb, ud, opt, mem);
	}
	if (made != 0)
		goto out_opt; /* the new freed what it had made */
	if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, n) != 0 ||
	    nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, COIL__H2_CONN_WINDOW) !=
		    0) {
		nghttp2_session_del(s);
		goto out_opt;
	}
	*ng = s;
	r = 0;
out_opt:
	nghttp2_option_del(opt);
out_cb:
	nghttp2_session_callbacks_del(cb);
	return r;
}

int coil__h2_error(ssize_t lib_error)
{
	return lib_error == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EPROTO;
}

void coil__h2_park_locked(struct coil__h2_park *pk, int64_t deadline)
{
	pk->parked = true;
	pk->woken = false;
	coil_scope_enter(&pk->scope, deadline);
}

bool coil__h2_unpark_locked(struct coil__h2_park *pk, ssize_t n)
{
	pk->parked = false;
	coil_scope_exit(&pk->scope);
	return n == -ECANCELED && pk->woken && coil_task_cancelled() != 1;
}

void coil__h2_wake_locked(struct coil__h2_park *pk)
{
	if (pk->parked && !pk->woken) {
		pk->woken = true;
		coil_scope_cancel(&pk->scope);
	}
}

int coil__h2_in_put(struct coil__h2_in *in, const uint8_t *data, size_t n)
{
	if (!in->buf && !(in->buf = malloc(COIL__H2_STREAM_WINDOW)))
		return -ENOMEM;
	if (in->off && in->len + n > COIL__H2_STREAM_WINDOW) {
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
	}
	if (in->len + n > COIL__H2_STREAM_WINDOW)
		return 0;
	memcpy(in->buf + in->len, data, n);
	in->len += n;
	return 1;
}

void coil__h2_in_take(struct coil__h2_in *in, void *buf, size_t n)
{
	memcpy(buf, in->buf + in->off, n);
	in->off += n;
	if (in->off == in->len)
		in->off = in->len = 0;
}

int coil__h2_head_copy(struct coil__h2_head *hd, const uint8_t *p, size_t n, size_t *at)
{
	if (hd->len + n + 1 > hd->cap) {
		size_t cap = hd->cap ? hd->cap * 2 : 512;
		while (cap < hd->len + n + 1)
			cap *= 2;
		char *b = realloc(hd->buf, cap);
		if (!b)
			return -ENOMEM;
		hd->buf = b;
		hd->cap = cap;
	}
	*at = hd->len;
	memcpy(hd->buf + hd->len, p, n);
	hd->len += n;
	hd->buf[hd->len++] = 0;
	return 0;
}

int coil__h2_head_field(struct coil__h2_head *hd, const uint8_t *name, size_t namelen,
			const uint8_t *value, size_t valuelen, unsigned spare)
{
	if (hd->nfields == hd->fields_cap) {
		unsigned cap = hd->fields_cap ? hd->fields_cap * 2 : 16;
		struct coil__http_field *f = realloc(hd->fields, (cap + spare) * sizeof *f);
		if (!f)
			return -ENOMEM;
		hd->fields = f;
		hd->fields_cap = cap;
	}
	size_t nat, vat;
	if (coil__h2_head_copy(hd, name, namelen, &nat) < 0 ||
	    coil__h2_head_copy(hd, value, valuelen, &vat) < 0)
		return -ENOMEM;
	/* Offsets for now (buf moves); views once the head is complete. */
	hd->fields[hd->nfields].name =
		(struct coil_http_str){(const char *)(uintptr_t)nat, namelen};
	hd->fields[hd->nfields].value =
		(struct coil_http_str){(const char *)(uintptr_t)vat, valuelen};
	hd->nfields++;
	return 0;
}

void coil__h2_head_done(struct coil__h2_head *hd)
{
	for (unsigned i = 0; i < hd->nfields; i++) {
		hd->fields[i].name.ptr = hd->buf + (uintptr_t)hd->fields[i].name.ptr;
		hd->fields[i].value.ptr = hd->buf + (uintptr_t)hd->fields[i].value.ptr;
	}
}

int coil__h2_head_at(const struct coil__h2_head *hd, size_t i, struct coil_http_str *name,
		     struct coil_http_str *value)
{
	if (i >= hd->nfields)
		return -ERANGE;
	*name = hd->fields[i].name;
	*value = hd->fields[i].value;
	return 0;
}

int64_t coil__h2_head_length(const uint8_t *value, size_t len)
{
	int64_t v = 0;
	for (size_t i = 0; i < len && v < (INT64_MAX - 9) / 10; i++)
		v = v * 10 + (value[i] - '0');
	return v;
}
