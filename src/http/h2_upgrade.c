/*
 * h2c by Upgrade (RFC 7540 3.2; RFC 9113 drops it, curl and others still
 * send it): an HTTP/1.1 request with "Upgrade: h2c", "Connection: Upgrade,
 * HTTP2-Settings" and one HTTP2-Settings field is answered "101 Switching
 * Protocols", and the connection goes on as HTTP/2 with the request as its
 * stream 1 (h2.c).
 *
 * Only a request without a body is upgraded: its body would have to be
 * read as HTTP/1.1 before the switch, while its handler reads it as a
 * stream's. One with a body, like every request the conditions above do
 * not fit, is served as HTTP/1.1 (RFC 7540 3.2 lets a server ignore the
 * Upgrade). So are requests over TLS (h2 is chosen there by ALPN) and all
 * of them when the server's http2 is off.
 *
 * An HTTP2-Settings that is not a SETTINGS payload nghttp2 takes (not
 * base64url, not whole entries, a value out of range: ENABLE_PUSH 2,
 * INITIAL_WINDOW_SIZE past 2^31-1, MAX_FRAME_SIZE outside 2^14..2^24-1,
 * NO_RFC7540_PRIORITIES given twice with two values) is no upgrade either
 * (RFC 7540 3.2.1): the request is served as HTTP/1.1, as nghttpx does
 * (h2o answers 400). It is a valid
 * HTTP/1.1 request whose client offered an upgrade the server may refuse,
 * and it gets its answer, like every other upgrade coil does not take; a
 * 400 would fail a request for a field only the upgrade reads.
 * nghttp2_session_upgrade2 itself takes such values without failing: it
 * queues GOAWAY(PROTOCOL_ERROR), and the client would get a 101, then
 * the GOAWAY and the close. So they are checked before the 101, by
 * nghttp2's own rules: nghttp2_pack_settings_payload refuses a value its
 * sessions refuse (NGHTTP2_ERR_INVALID_ARGUMENT); the changed
 * NO_RFC7540_PRIORITIES, which it cannot see, settings_valid checks.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http/conn.h"
#include "http/h2.h"

/* Whether the comma-separated list v holds token tok (case-insensitive). */
static bool list_has(struct coil_http_str v, const char *tok)
{
	size_t tl = strlen(tok);
	const char *p = v.ptr, *end = v.ptr + v.len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *q = p;
		while (q < end && *q != ',' && *q != ' ' && *q != '\t')
			q++;
		if ((size_t)(q - p) == tl && !strncasecmp(p, tok, tl))
			return true;
		p = q;
	}
	return false;
}

static int b64url_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

/* Decode base64url (padding allowed, not required) into out (cap bytes).
 * Returns the length, or -1 for bad input or too long. */
static ssize_t b64url_decode(struct coil_http_str in, uint8_t *out, size_t cap)
{
	size_t len = in.len;
	while (len && in.ptr[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in.ptr[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return (ssize_t)n;
}

/* SETTINGS entries a client may send in HTTP2-Settings (6 bytes each):
 * more than the six RFC 9113 defines, twice over, is no client's. */
#define MAX_SETTINGS_BYTES (6 * 12)

/* Whether the n bytes at p (whole entries) are SETTINGS nghttp2 takes:
 * values in range, and NO_RFC7540_PRIORITIES not changed once given (RFC
 * 9218 2.1), which nghttp2 checks on receipt only, entry by entry. */
static bool settings_valid(const uint8_t *p, size_t n)
{
	nghttp2_settings_entry iv[MAX_SETTINGS_BYTES / 6];
	size_t niv = n / 6;
	int64_t no_priorities = -1;
	for (size_t i = 0; i < niv; i++, p += 6) {
		iv[i].settings_id = p[0] << 8 | p[1];
		iv[i].value =
			(uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
		if (iv[i].settings_id == NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES) {
			if (no_priorities >= 0 && no_priorities != iv[i].value)
				return false;
			no_priorities = iv[i].value;
		}
	}
	uint8_t packed[MAX_SETTINGS_BYTES];
	return nghttp2_pack_settings_payload(packed, sizeof packed, iv, niv) >= 0;
}

bool coil__h2_upgrade(struct coil__http_conn *c)
{
	const struct coil__http_parse *p = &c->parse;
	if (!c->cfg->http2 || c->tls || p->version != 11 || p->chunked || p->content_length ||
	    coil__http_server_draining(c->srv))
		return false;
	struct coil_http_str upgrade, connection, settings = {0};
	if (coil_http_request_header(&c->req, "upgrade", &upgrade) != 0 ||
	    coil_http_request_header(&c->req, "connection", &connection) != 0 ||
	    !list_has(upgrade, "h2c") || !list_has(connection, "upgrade") ||
	    !list_has(connection, "http2-settings"))
		return false;
	unsigned nsettings = 0;
	for (unsigned i = 0; i < p->nfields; i++) {
		const struct coil__http_field *f = &p->fields[i];
		if (f->name.len == 14 && !strncasecmp(f->name.ptr, "http2-settings", 14)) {
			settings = f->value;
			nsettings++;
		}
	}
	if (nsettings != 1) /* RFC 7540 3.2.1: exactly one */
		return false;
	uint8_t payload[MAX_SETTINGS_BYTES];
	ssize_t n = b64url_decode(settings, payload, sizeof payload);
	if (n < 0 || n % 6 || !settings_valid(payload, (size_t)n))
		return false;
	return coil__h2_serve_upgraded(c, payload, (size_t)n, c->in + c->pos, c->in_len - c->pos);
}
