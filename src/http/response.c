/*
 * The response calls of coil/http.h. A response's head is made when its
 * first body bytes go out (or at its end, when the whole body is known:
 * then with Content-Length), into the connection's output buffer; the
 * headers a handler adds wait in c->hdrs until then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http/conn.h"
#include "http/date.h"
#include "http/h2.h"
#include "sched/scope.h"

static const char *reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

void coil__http_response_reset(struct coil__http_conn *c)
{
	c->status = 200;
	c->hdrs_len = 0;
	c->head_sent = c->ended = c->chunked_out = c->has_length = false;
	c->no_body = c->close_after = false;
	c->length = c->sent = 0;
}

/* Decimal of v at p; returns its length. */
static size_t put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

#define PUT(lit)                                  \
	do {                                      \
		memcpy(p, lit, sizeof lit - 1);   \
		p += sizeof lit - 1;              \
	} while (0)

/* The head into the output buffer. body_len: the whole body's length when
 * it is known now (the response ends with this call), else -1. */
static int send_head(struct coil__http_conn *c, int64_t body_len)
{
	const struct coil__http_parse *rq = &c->parse;
	bool bodiless_status = c->status == 204 || c->status == 304 || c->status < 200;
	/* A 304's Content-Length may only be the 200's (RFC 9110 8.6): the
	 * empty body ending it says nothing of that one. */
	if (body_len >= 0 && !c->has_length && !bodiless_status) {
		c->has_length = true;
		c->length = (uint64_t)body_len;
	}
	c->no_body = c->head_request || bodiless_status;
	bool close = c->close_after || !rq->keep_alive || c->body_status ||
		     c->served >= c->cfg->max_requests || coil__http_server_draining(c->srv);
	if (!c->has_length && !bodiless_status) {
		if (rq->version == 11)
			c->chunked_out = true;
		else
			close = true; /* HTTP/1.0: the body ends with the connection */
	}
	c->close_after = close;
	/* status line + Date + handler's headers + framing + Connection */
	size_t need = 64 + 64 + c->hdrs_len + 64 + 32;
	if (need > COIL__HTTP_OUT_CAP - c->out_len) {
		int r = coil__http_conn_flush(c);
		if (r < 0)
			return r;
	}
	char *p = c->out + c->out_len;
	const char *why = reason(c->status);
	PUT("HTTP/1.1 ");
	p += put_u64(p, (uint64_t)c->status);
	*p++ = ' ';
	size_t wl = strlen(why);
	memcpy(p, why, wl);
	p += wl;
	PUT("\r\n");
	size_t dl;
	const char *date = coil__http_date(&dl);
	memcpy(p, date, dl);
	p += dl;
	memcpy(p, c->hdrs, c->hdrs_len);
	p += c->hdrs_len;
	if (!bodiless_status || (c->status == 304 && c->has_length)) {
		if (c->has_length) {
			PUT("Content-Length: ");
			p += put_u64(p, c->length);
			PUT("\r\n");
		} else if (c->chunked_out) {
			PUT("Transfer-Encoding: chunked\r\n");
		}
	}
	if (close)
		PUT("Connection: close\r\n");
	else if (rq->version == 10)
		PUT("Connection: keep-alive\r\n");
	PUT("\r\n");
	c->out_len = (size_t)(p - c->out);
	c->head_sent = true;
	return 0;
}

static int check(const coil_http_response *res)
{
	if (!res)
		return -EINVAL;
	if (res->c->werr)
		return res->c->werr;
	return res->c->head_sent ? -EBUSY : 0;
}

int coil_http_response_status(coil_http_response *res, int status)
{
	if (res && res->h2)
		return coil__h2_status(res->h2, status);
	int r = check(res);
	if (r < 0)
		return r;
	if (status < 200 || status > 999)
		return -EINVAL; /* 1xx: the server's own (100 Continue); no upgrades */
	res->c->status = status;
	return 0;
}

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* The fields coil writes itself (the framing, Date): a handler's own
 * would contradict them. By length first: most names are none of them. */
static bool written_by_coil(const char *name, size_t len)
{
	switch (len) {
	case 4:
		return !strcasecmp(name, "date");
	case 10:
		return !strcasecmp(name, "connection");
	case 14:
		return !strcasecmp(name, "content-length");
	case 17:
		return !strcasecmp(name, "transfer-encoding");
	}
	return false;
}

int coil_http_response_header(coil_http_response *res, const char *name, const char *value)
{
	/* HTTP/2: the stream has its own state (the connection's is the
	 * owner fiber's). */
	int r = res && res->h2 ? 0 : check(res);
	if (r < 0)
		return r;
	if (!name || !value || !*name)
		return -EINVAL;
	size_t nl = strlen(name), vl = strlen(value);
	for (size_t i = 0; i < nl; i++)
		if (!is_tchar((unsigned char)name[i]))
			return -EINVAL;
	if (strpbrk(value, "\r\n"))
		return -EINVAL;
	if (written_by_coil(name, nl))
		return -EINVAL;
	if (res->h2)
		return coil__h2_add_header(res->h2, name, value);
	struct coil__http_conn *c = res->c;
	if (nl + vl + 4 > COIL__HTTP_HDRS_CAP - c->hdrs_len)
		return -ENOSPC;
	char *p = c->hdrs + c->hdrs_len;
	memcpy(p, name, nl);
	p += nl;
	PUT(": ");
	memcpy(p, value, vl);
	p += vl;
	PUT("\r\n");
	c->hdrs_len = (size_t)(p - c->hdrs);
	return 0;
}

int coil_http_response_length(coil_http_response *res, uint64_t len)
{
	if (res && res->h2)
		return coil__h2_length(res->h2, len);
	int r = check(res);
	if (r < 0)
		return r;
	res->c->has_length = true;
	res->c->length = len;
	return 0;
}

int coil_http_response_close(coil_http_response *res)
{
	if (res && res->h2)
		return coil__h2_close(res->h2);
	int r = check(res);
	if (r < 0)
		return r;
	res->c->close_after = true;
	return 0;
}

/* Body bytes, framed; the head is out already. */
static int put_body(struct coil__http_conn *c, const void *buf, size_t len)
{
	c->sent += len;
	if (c->no_body || len == 0)
		return 0;
	if (!c->chunked_out)
		return coil__http_conn_put(c, buf, len);
	char line[24];
	int n = snprintf(line, sizeof line, "%zx\r\n", len);
	int r = coil__http_conn_put(c, line, (size_t)n);
	if (r == 0)
		r = coil__http_conn_put(c, buf, len);
	if (r == 0)
		r = coil__http_conn_put(c, "\r\n", 2);
	return r;
}

/* Whether len more body bytes may go out now: 0, the connection's write
 * error, -EALREADY (the response ended), -EMSGSIZE (past Content-Length). */
static int body_may_take(const struct coil__http_conn *c, size_t len)
{
	if (c->werr)
		return c->werr;
	if (c->ended)
		return -EALREADY;
	if (c->has_length && len > c->length - c->sent)
		return -EMSGSIZE;
	return 0;
}

ssize_t coil_http_response_write(coil_http_response *res, const void *buf, size_t len)
{
	if (!res || (!buf && len))
		return -EINVAL;
	if (res->h2)
		return coil__h2_write(res->h2, buf, len);
	struct coil__http_conn *c = res->c;
	int r = body_may_take(c, len);
	if (r == 0 && !c->head_sent)
		r = send_head(c, -1);
	if (r == 0)
		r = put_body(c, buf, len);
	return r < 0 ? r : (ssize_t)len;
}

/* Whether the rest of a file body goes into the output buffer: when it
 * fits beside what waits there (the head, say), head and body leave in one
 * socket write (over TLS one record) instead of two, as nginx's corked
 * sendfile sends them. A 4 KiB file cost coil 1.2x nginx's CPU per request
 * over TLS without, and its own send plus a sendfile(2) in plaintext. */
static bool body_buffered(const struct coil__http_conn *c, size_t len)
{
	return len <= COIL__HTTP_OUT_CAP - c->out_len;
}

/* Whether file is one to read into the output buffer: a regular file. What
 * else sendfile(2) refuses, a read may not (a directory says -EISDIR; on
 * io_uring /dev/null reads as empty and an eventfd as its counter): such
 * an fd goes the way of a big body, whose error it then gets. */
static bool regular_file(int file)
{
	struct stat st;
	return fstat(file, &st) == 0 && S_ISREG(st.st_mode);
}

/* Read file's bytes (a regular file's) into the output buffer. -EINVAL:
 * not into this buffer (O_DIRECT's alignment); -ESPIPE is kept with it for
 * an fd whose type changed under us: the caller sends it otherwise. */
static ssize_t file_into_buffer(struct coil__http_conn *c, int file, int64_t off, size_t len)
{
	ssize_t n = coil_file_read(file, c->out + c->out_len, len, off);
	if (n > 0)
		c->out_len += (size_t)n;
	return n;
}

/* No kTLS here: over TLS the file's bytes are read into memory and
 * encrypted through the stream. Returns as coil_sock_sendfile. */
static ssize_t tls_sendfile(struct coil__http_conn *c, int file, int64_t off, size_t len)
{
	/* What the buffer holds goes first (after a short read into it, the
	 * rest may not fit). */
	int r = coil__http_conn_flush(c);
	if (r < 0)
		return r;
	size_t cap = len < 65536 ? len : 65536;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	ssize_t n = coil_file_read(file, buf, cap, off);
	if (n > 0) {
		ssize_t w = coil_tls_write_all(c->tls, buf, (size_t)n);
		if (w < 0)
			n = w;
	}
	free(buf);
	return n;
}

/* One step of a file body: into the buffer when it fits, else through the
 * TLS stream or by coil_sock_sendfile. Returns as coil_sock_sendfile. */
static ssize_t send_file_part(struct coil__http_conn *c, int file, int64_t off, size_t len,
			      bool *unbuffered)
{
	if (!*unbuffered && body_buffered(c, len)) {
		ssize_t n = file_into_buffer(c, file, off, len);
		if (n != -ESPIPE && n != -EINVAL)
			return n;
		*unbuffered = true; /* not readable into the buffer */
		int r = coil__http_conn_flush(c);
		if (r < 0)
			return r;
	}
	return c->tls ? tls_sendfile(c, file, off, len) : coil_sock_sendfile(c->fd, file, off, len);
}

ssize_t coil_http_response_sendfile(coil_http_response *res, int file, int64_t off, size_t len)
{
	if (!res || off < 0)
		return -EINVAL;
	if (file < 0)
		return -EBADF;
	if (res->h2)
		return coil__h2_sendfile(res->h2, file, off, len);
	struct coil__http_conn *c = res->c;
	int r = body_may_take(c, len);
	if (r == 0 && !c->head_sent)
		r = send_head(c, -1);
	if (r < 0)
		return r;
	if (c->no_body || len == 0) {
		c->sent += len;
		return (ssize_t)len;
	}
	if (c->chunked_out) {
		char line[24];
		int n = snprintf(line, sizeof line, "%zx\r\n", len);
		r = coil__http_conn_put(c, line, (size_t)n);
	}
	/* Decided once: a big body's tail is not copied after its start was
	 * sent without. */
	bool unbuffered = !body_buffered(c, len) || !regular_file(file);
	/* What waits in the buffer goes first (or with the body). */
	if (r == 0 && unbuffered)
		r = coil__http_conn_flush(c);
	if (r < 0)
		return r;
	size_t done = 0;
	while (done < len) {
		coil_scope s;
		bool scoped = coil__http_io_scope_enter(c, &s);
		ssize_t n = send_file_part(c, file, off + (int64_t)done, len - done, &unbuffered);
		if (scoped)
			coil__scope_leave(&s);
		if (n < 0) {
			if (n == -EBADF || n == -EINVAL) {
				if (done == 0 && !c->chunked_out)
					return n; /* nothing sent: the response goes on */
			}
			c->werr = (int)n; /* the body is cut: the connection ends */
			return n;
		}
		if (n == 0)
			break; /* the file ended */
		done += (size_t)n;
	}
	c->sent += done;
	if (c->chunked_out) {
		if (done < len) {
			/* The chunk announced len bytes: it cannot be finished. */
			c->werr = -EPIPE;
			return -EPIPE;
		}
		r = coil__http_conn_put(c, "\r\n", 2);
		if (r < 0)
			return r;
	}
	return (ssize_t)done;
}

/* A response that carries no body, whose announced length only says what
 * a GET would get (HEAD, RFC 9110 9.3.2; 304): its bytes need not be
 * written. */
static bool length_only(const struct coil__http_conn *c)
{
	return c->head_request || c->status == 204 || c->status == 304;
}

int coil_http_response_end(coil_http_response *res, const void *buf, size_t len)
{
	if (!res || (!buf && len))
		return -EINVAL;
	if (res->h2)
		return coil__h2_end(res->h2, buf, len);
	struct coil__http_conn *c = res->c;
	if (c->werr)
		return c->werr;
	if (c->ended)
		return -EALREADY;
	c->ended = true;
	int r = 0;
	if (!c->head_sent) {
		if (c->has_length && c->length != len && !length_only(c)) {
			c->close_after = true;
			c->werr = -EMSGSIZE; /* nothing sent: the connection closes */
			return -EMSGSIZE;
		}
		r = send_head(c, (int64_t)len);
	} else if (c->has_length && len > c->length - c->sent) {
		c->close_after = true;
		return -EMSGSIZE;
	}
	if (r == 0)
		r = put_body(c, buf, len);
	if (r < 0)
		return r;
	if (c->chunked_out && !c->no_body)
		r = coil__http_conn_put(c, "0\r\n\r\n", 5);
	if (r == 0 && c->has_length && c->sent != c->length && !length_only(c)) {
		c->close_after = true; /* short: the client must see the close */
		return -EMSGSIZE;
	}
	return r;
}

int coil_http_respond(coil_http_response *res, int status, const char *content_type,
		      const void *body, size_t len)
{
	int r = coil_http_response_status(res, status);
	if (r == 0 && content_type)
		r = coil_http_response_header(res, "Content-Type", content_type);
	if (r == 0)
		r = coil_http_response_end(res, body, len);
	return r;
}

int coil__http_respond_error(struct coil__http_conn *c, int status)
{
	coil__http_response_reset(c);
	c->status = status;
	c->close_after = true;
	char body[64];
	int n = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
	coil_http_response_header(&c->res, "Content-Type", "text/plain");
	return coil_http_response_end(&c->res, body, (size_t)n);
}
