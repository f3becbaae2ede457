/* The request calls of coil/http.h: views of the head, the body reader. */
#include <errno.h>
#include <string.h>

#include "http/conn.h"
#include "http/h2.h"

struct coil_http_str coil_http_request_method(const coil_http_request *req)
{
	if (req && req->h2)
		return coil__h2_method(req->h2);
	return req ? req->c->parse.method : (struct coil_http_str){0};
}

struct coil_http_str coil_http_request_target(const coil_http_request *req)
{
	if (req && req->h2)
		return coil__h2_target(req->h2);
	return req ? req->c->parse.target : (struct coil_http_str){0};
}

int coil_http_request_version(const coil_http_request *req)
{
	if (req && req->h2)
		return 20;
	return req ? (int)req->c->parse.version : 0;
}

int coil_http_request_header_count(const coil_http_request *req)
{
	if (req && req->h2)
		return coil__h2_header_count(req->h2);
	return req ? (int)req->c->parse.nfields : -EINVAL;
}

int coil_http_request_header_at(const coil_http_request *req, size_t i,
				struct coil_http_str *name, struct coil_http_str *value)
{
	if (!req || !name || !value)
		return -EINVAL;
	if (req->h2)
		return coil__h2_header_at(req->h2, i, name, value);
	const struct coil__http_parse *p = &req->c->parse;
	if (i >= p->nfields)
		return -ERANGE;
	*name = p->fields[i].name;
	*value = p->fields[i].value;
	return 0;
}

int coil_http_request_header(const coil_http_request *req, const char *name,
			     struct coil_http_str *value)
{
	if (!req || !name || !value)
		return -EINVAL;
	if (req->h2)
		return coil__h2_header(req->h2, name, value);
	const struct coil__http_parse *p = &req->c->parse;
	size_t n = strlen(name);
	for (unsigned i = 0; i < p->nfields; i++) {
		const struct coil__http_field *f = &p->fields[i];
		if (f->name.len == n && strncasecmp(f->name.ptr, name, n) == 0) {
			*value = f->value;
			return 0;
		}
	}
	return -ENOENT;
}

int coil_http_request_peer(const coil_http_request *req, struct sockaddr *addr, socklen_t *len)
{
	if (!req || !addr || !len)
		return -EINVAL;
	struct coil__http_conn *c = req->c;
	if (req->h2) { /* the streams' handlers run at once: no shared cache */
		struct sockaddr_storage ss;
		socklen_t n = sizeof ss;
		if (getpeername(c->fd, (struct sockaddr *)&ss, &n) < 0)
			return -errno;
		memcpy(addr, &ss, *len < n ? *len : n);
		*len = n;
		return 0;
	}
	if (!c->peer_len) { /* asked once per connection */
		socklen_t n = sizeof c->peer;
		if (getpeername(c->fd, (struct sockaddr *)&c->peer, &n) < 0)
			return -errno;
		c->peer_len = n;
	}
	memcpy(addr, &c->peer, *len < c->peer_len ? *len : c->peer_len);
	*len = c->peer_len;
	return 0;
}

int64_t coil_http_request_content_length(const coil_http_request *req)
{
	if (!req)
		return -EINVAL;
	if (req->h2)
		return coil__h2_content_length(req->h2);
	const struct coil__http_parse *p = &req->c->parse;
	if (p->chunked)
		return -1;
	return (int64_t)p->content_length;
}

int coil_http_request_limit(coil_http_request *req, uint64_t max_body)
{
	if (!req)
		return -EINVAL;
	if (req->h2)
		return coil__h2_request_limit(req->h2, max_body);
	if (req->c->body_started)
		return -EBUSY;
	req->c->max_body = max_body;
	return 0;
}

static ssize_t body_fail(struct coil__http_conn *c, int status)
{
	c->body_status = status;
	c->body_err = status == 413 ? -EMSGSIZE : -EPROTO;
	return c->body_err;
}

ssize_t coil_http_request_read(coil_http_request *req, void *buf, size_t len)
{
	if (!req || (!buf && len))
		return -EINVAL;
	if (req->h2)
		return coil__h2_read(req->h2, buf, len);
	struct coil__http_conn *c = req->c;
	struct coil__http_parse *p = &c->parse;
	if (c->body_err)
		return c->body_err;
	if (p->done || len == 0)
		return 0;
	if (!c->body_started) {
		c->body_started = true;
		/* Too long by its own word: 413 before a byte of it is read
		 * (and before a 100 Continue invites it). */
		if (!p->chunked && p->content_length > c->max_body)
			return body_fail(c, 413);
		p->max_body = c->max_body;
		if (c->expect_continue) {
			c->expect_continue = false;
			if (!c->head_sent) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				int r = coil__http_conn_put(c, cont, sizeof cont - 1);
				if (r < 0)
					return c->body_err = r;
			}
		}
	}
	for (;;) {
		if (c->pos < c->in_len) {
			size_t n = c->in_len - c->pos;
			if (n > len)
				n = len;
			size_t out;
			ssize_t used = coil__http_parse_body(p, c->in + c->pos, n, buf, &out);
			if (used < 0)
				return body_fail(c, (int)-used);
			c->pos += (size_t)used;
			if (out > 0 || p->done)
				return (ssize_t)out;
			continue;
		}
		/* All parsed: the body's bytes after the head are free again. */
		ssize_t n = coil__http_conn_fill_body(c);
		if (n == 0) {
			/* The client ended mid-body (a half-close can still
			 * read the answer): 400 unless the handler answers. */
			c->body_status = 400;
			return c->body_err = -ECONNRESET;
		}
		if (n < 0)
			return c->body_err = n;
	}
}
