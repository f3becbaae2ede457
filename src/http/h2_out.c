/* The HTTP/2 connections' output: see h2_out.h. */
#include "http/h2_out.h"

#include <errno.h>
#include <string.h>

#include "http/h2_common.h"

int coil__h2_out_send(nghttp2_session *ng, char *out, size_t *len, coil__h2_write_fn *write,
		      void *arg, int *err)
{
	for (;;) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(ng, &p);
		if (n < 0)
			return *err = coil__h2_error(n);
		if (n == 0)
			break;
		if ((size_t)n > COIL__H2_OUT_CAP - *len) {
			if (*len && write(arg, out, *len) < 0)
				return *err;
			*len = 0;
			if ((size_t)n > COIL__H2_OUT_CAP) {
				if (write(arg, p, (size_t)n) < 0)
					return *err;
				continue;
			}
		}
		memcpy(out + *len, p, (size_t)n);
		*len += (size_t)n;
	}
	if (*len) {
		size_t n = *len;
		*len = 0;
		if (write(arg, out, n) < 0)
			return *err;
	}
	return 0;
}

ssize_t coil__h2_out_data_length(nghttp2_session *ng, uint8_t type, int32_t id, int32_t conn_win,
				 int32_t stream_win, uint32_t max_frame, void *ud)
{
	int64_t n = COIL__H2_OUT_CAP - 9;
	if (n > conn_win)
		n = conn_win;
	if (n > stream_win)
		n = stream_win;
	if (n > (int64_t)max_frame)
		n = max_frame;
	return n > 0 ? (ssize_t)n : 1;
}
