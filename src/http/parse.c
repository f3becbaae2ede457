/*
 * The request parser over llhttp: see parse.h. The only file that speaks
 * llhttp; everything llhttp* is local to the object it is linked into.
 */
#include "http/parse.h"

#include <errno.h>
#include <string.h>

#include "llhttp.h"

_Static_assert(sizeof(llhttp_t) <= sizeof(((struct coil__http_parse *)0)->llhttp_),
	       "coil__http_parse.llhttp_ must hold an llhttp_t");
_Static_assert(_Alignof(llhttp_t) <= _Alignof(uint64_t), "llhttp_t alignment");

static llhttp_t *ll(struct coil__http_parse *p)
{
	return (llhttp_t *)(void *)p->llhttp_;
}

static struct coil__http_parse *of(llhttp_t *h)
{
	return h->data;
}

static int reject(llhttp_t *h, int status)
{
	of(h)->status = status;
	return HPE_USER;
}

/* A span: the first piece, or the next piece of the same one (llhttp
 * splits a span only across execute calls, and the head comes whole:
 * the pieces are then adjacent). */
static void span(struct coil_http_str *s, const char *at, size_t len)
{
	if (s->ptr == NULL)
		*s = (struct coil_http_str){at, len};
	else
		s->len = (size_t)(at + len - s->ptr);
}

static int on_method(llhttp_t *h, const char *at, size_t len)
{
	span(&of(h)->method, at, len);
	return 0;
}

static int on_url(llhttp_t *h, const char *at, size_t len)
{
	struct coil__http_parse *p = of(h);
	span(&p->target, at, len);
	return p->target.len > p->max_target ? reject(h, 414) : 0;
}

static int on_header_field(llhttp_t *h, const char *at, size_t len)
{
	struct coil__http_parse *p = of(h);
	if (p->trailers)
		return 0; /* trailers are counted by the scan, not kept */
	if (!p->field_open) {
		if (p->nfields == p->max_fields)
			return reject(h, 431);
		p->fields[p->nfields] = (struct coil__http_field){{0}, {0}};
		p->field_open = true;
	}
	span(&p->fields[p->nfields].name, at, len);
	return 0;
}

static int on_header_value(llhttp_t *h, const char *at, size_t len)
{
	struct coil__http_parse *p = of(h);
	if (p->trailers)
		return 0;
	if (!p->field_open)
		return reject(h, 400); /* a value without a name: see below */
	span(&p->fields[p->nfields].value, at, len);
	p->in_value = true;
	return 0;
}

static int on_header_value_complete(llhttp_t *h)
{
	struct coil__http_parse *p = of(h);
	if (p->trailers)
		return 0;
	struct coil__http_field *f = &p->fields[p->nfields];
	/* llhttp 8.1 takes a field line with an empty name (": v"): a
	 * field-name is a token of one byte or more (RFC 9110 5.1), and a
	 * proxy that drops the line reads another head. */
	if (!p->field_open || f->name.len == 0)
		return reject(h, 400);
	if (!p->in_value) /* an empty value gets no span */
		f->value = (struct coil_http_str){f->name.ptr + f->name.len, 0};
	/* llhttp drops the leading whitespace, not the trailing. */
	while (f->value.len &&
	       (f->value.ptr[f->value.len - 1] == ' ' || f->value.ptr[f->value.len - 1] == '\t'))
		f->value.len--;
	p->in_value = false;
	p->field_open = false;
	p->nfields++;
	return 0;
}

static bool name_is(const struct coil_http_str *s, const char *name)
{
	size_t n = strlen(name);
	return s->len == n && strncasecmp(s->ptr, name, n) == 0;
}

/* What llhttp leaves to us once the head is in: the version, the
 * framing of HTTP/1.0, Host. */
static int on_headers_complete(llhttp_t *h)
{
	struct coil__http_parse *p = of(h);
	if (h->http_major != 1)
		return reject(h, 505);
	p->version = h->http_minor == 0 ? 10 : 11;
	if (h->http_minor > 1)
		return reject(h, 505);
	/* HTTP/1.0 has no Transfer-Encoding (RFC 9112 6.1): a 1.1 proxy in
	 * front may frame the body by Content-Length instead. */
	if (p->version == 10 && (h->flags & F_TRANSFER_ENCODING))
		return reject(h, 400);
	if (p->response) {
		p->status_code = h->status_code;
		p->chunked = (h->flags & F_CHUNKED) != 0;
		p->content_length = p->chunked ? 0 : h->content_length;
		p->keep_alive = llhttp_should_keep_alive(h) != 0;
		p->head_done = true;
		/* A response to HEAD, and a 1xx (but 101), 204 or 304, has no
		 * body, whatever its fields say (RFC 9112 6.3): llhttp 8.1
		 * reads one when they announce a length or chunks, so a 304
		 * with the length a GET would get (RFC 9110 8.6) would wait
		 * for bytes that never come, a 204 with a body would return
		 * it, and the next head after a 1xx with a length would be
		 * taken for its body. */
		unsigned st = h->status_code;
		bool none = (st >= 100 && st < 200 && st != 101) || st == 204 || st == 304;
		return p->no_body || none ? 1 : 0;
	}
	unsigned hosts = 0;
	for (unsigned i = 0; i < p->nfields; i++)
		if (name_is(&p->fields[i].name, "host"))
			hosts++;
	if (hosts > 1 || (hosts == 0 && p->version == 11))
		return reject(h, 400); /* RFC 9112 3.2 */
	p->chunked = (h->flags & F_CHUNKED) != 0;
	p->content_length = p->chunked ? 0 : h->content_length;
	/* No upgrades or tunnels here: after one the connection closes. */
	p->keep_alive = llhttp_should_keep_alive(h) != 0 && !(h->flags & F_UPGRADE) &&
			h->method != HTTP_CONNECT;
	p->head_done = true;
	return 0;
}

static int on_body(llhttp_t *h, const char *at, size_t len)
{
	struct coil__http_parse *p = of(h);
	if (!p->dst)
		return reject(h, 400); /* body bytes fed as a head: never (no room) */
	p->body_bytes += len;
	if (p->body_bytes > p->max_body)
		return reject(h, 413);
	memcpy(p->dst + p->dst_len, at, len);
	p->dst_len += len;
	return 0;
}

/* Pause after every chunk line: the bytes of its line are counted there
 * (llhttp takes any number of leading zeros, and extensions of any
 * length: CVE-2024-22019), and after the last
 * chunk the trailers must go through the scan first. */
static int on_chunk_header(llhttp_t *h)
{
	struct coil__http_parse *p = of(h);
	if (h->content_length == 0) {
		p->trailers = true;
		coil__http_scan_trailers(&p->tscan);
	}
	return HPE_PAUSED;
}

/* Pause at the end of a message: the bytes after it are the next one's. */
static int on_message_complete(llhttp_t *h)
{
	of(h)->done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_method = on_method,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_chunk_header = on_chunk_header,
	.on_message_complete = on_message_complete,
};

static void clear_request(struct coil__http_parse *p)
{
	p->method = (struct coil_http_str){0};
	p->target = (struct coil_http_str){0};
	p->nfields = 0;
	p->in_value = false;
	p->field_open = false;
	p->version = 11;
	p->keep_alive = false;
	p->chunked = false;
	p->done = false;
	p->head_done = false;
	p->content_length = 0;
	p->body_bytes = 0;
	p->framing = 0;
	p->trailers = false;
	p->trailer_bytes = 0;
	p->status = 0;
	p->status_code = 0;
	p->no_body = false;
	p->dst = NULL;
}

void coil__http_parse_init(struct coil__http_parse *p, struct coil__http_field *fields)
{
	llhttp_init(ll(p), HTTP_REQUEST, &settings);
	ll(p)->data = p;
	p->fields = fields;
	clear_request(p);
	p->response = false;
}

void coil__http_parse_init_response(struct coil__http_parse *p, struct coil__http_field *fields)
{
	llhttp_init(ll(p), HTTP_RESPONSE, &settings);
	ll(p)->data = p;
	p->fields = fields;
	clear_request(p);
	p->response = true;
}

int coil__http_parse_finish(struct coil__http_parse *p)
{
	if (p->done)
		return 0;
	llhttp_errno_t e = llhttp_finish(ll(p));
	if ((e == HPE_OK || e == HPE_PAUSED) && p->done)
		return 0;
	return 400;
}

bool coil__http_parse_needs_eof(const struct coil__http_parse *p)
{
	return llhttp_message_needs_eof((const llhttp_t *)(const void *)p->llhttp_) != 0;
}

void coil__http_parse_next(struct coil__http_parse *p)
{
	clear_request(p);
}

/* The status for an error: a callback's (llhttp returns it as HPE_USER
 * or as HPE_CB_<callback>), or 400 for llhttp's own. */
static int status_of(struct coil__http_parse *p, llhttp_errno_t e)
{
	(void)e;
	return p->status ? p->status : 400;
}

int coil__http_parse_head(struct coil__http_parse *p, const char *buf, size_t len)
{
	llhttp_t *h = ll(p);
	llhttp_errno_t e = llhttp_execute(h, buf, len);
	if (e == HPE_PAUSED) {
		/* The message ended with its head (no body): the head is all
		 * of buf, so nothing is left over. */
		if (!p->done || llhttp_get_error_pos(h) != buf + len)
			return 400;
		llhttp_resume(h);
		return 0;
	}
	if (e != HPE_OK)
		return status_of(p, e);
	if (!p->head_done) /* cannot be: the scan found the end */
		return 400;
	return 0;
}

static ssize_t body_feed(struct coil__http_parse *p, const char *in, size_t len, size_t *out)
{
	llhttp_t *h = ll(p);
	size_t used = 0;
	while (used < len && !p->done) {
		size_t n = len - used;
		if (p->trailers) {
			/* Only what the scan accepted goes to llhttp; at its end,
			 * llhttp ends the message there too. */
			size_t end;
			p->tscan.pos = 0;
			int r = coil__http_scan(&p->tscan, in + used, n, &end);
			if (r == COIL__HTTP_SCAN_BAD)
				return -400;
			if (r == COIL__HTTP_SCAN_END)
				n = end;
			p->trailer_bytes += n;
			if (p->trailer_bytes > p->max_trailers)
				return -431;
		}
		size_t before = p->dst_len;
		llhttp_errno_t e = llhttp_execute(h, in + used, n);
		size_t took = n;
		if (e == HPE_PAUSED) {
			took = (size_t)(llhttp_get_error_pos(h) - (in + used));
			llhttp_resume(h);
		} else if (e != HPE_OK) {
			return -status_of(p, e);
		}
		used += took;
		/* Chunk lines (size, extensions, the CRLF after data): bounded
		 * per chunk. A pause came at a chunk line's end or the end. */
		if (!p->trailers) {
			p->framing += took - (p->dst_len - before);
			if (p->framing > p->max_chunk_ext + 64)
				return -400;
		}
		if (e == HPE_PAUSED)
			p->framing = 0;
	}
	*out = p->dst_len;
	return (ssize_t)used;
}

ssize_t coil__http_parse_body(struct coil__http_parse *p, const char *in, size_t len, char *dst,
			      size_t *out)
{
	p->dst = dst;
	p->dst_len = 0;
	ssize_t r = body_feed(p, in, len, out);
	p->dst = NULL; /* the caller's buffer, only during this call */
	return r;
}
