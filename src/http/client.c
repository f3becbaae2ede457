/*
 * The HTTP/1.1 client of coil/http.h: one request and its whole response
 * per call, over connections kept per host and port.
 *
 * The response goes through the same scan and parser as requests do
 * (parse.c in response mode). Kept connections wait in a list under a
 * lock (a client may serve fibers of every worker); one unused for
 * idle_timeout is closed instead of reused, which keeps us clear of the
 * moment a server drops it. A request that still meets a dropped one (it
 * sees the end or a reset before any byte of its answer) is sent again
 * once, on a new connection, when its method is idempotent (RFC 9110
 * 9.2.2).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coil.h"
#include "coil/http.h"
#include "http/parse.h"
#include "http/scan.h"

struct kept {
	struct kept *next;
	uint16_t port;
	int fd;
	int64_t since;
	char host[];
};

struct coil_http_client {
	struct coil_http_client_config cfg;
	pthread_mutex_t lock;
	struct kept *kept;
	uint64_t opened;
};

struct response_state {
	struct coil__http_field *fields;
	unsigned nfields;
};

void coil_http_client_config_init(struct coil_http_client_config *cfg)
{
	if (!cfg)
		return;
	*cfg = (struct coil_http_client_config){
		.max_head = 64 * 1024,
		.max_fields = 200,
		.max_body = 64u << 20,
		.timeout = 60 * COIL_NSEC_PER_SEC,
		.idle_timeout = 20 * COIL_NSEC_PER_SEC,
		.max_idle = 16,
	};
}

int coil_http_client_new(coil_http_client **out, const struct coil_http_client_config *cfg)
{
	if (!out)
		return -EINVAL;
	struct coil_http_client_config def;
	if (!cfg) {
		coil_http_client_config_init(&def);
		cfg = &def;
	}
	if (cfg->max_head < 256 || cfg->max_fields == 0 || cfg->max_fields > 65536)
		return -EINVAL;
	struct coil_http_client *cl = calloc(1, sizeof *cl);
	if (!cl)
		return -ENOMEM;
	cl->cfg = *cfg;
	pthread_mutex_init(&cl->lock, NULL);
	*out = cl;
	return 0;
}

int coil_http_client_free(coil_http_client *cl)
{
	if (!cl)
		return 0;
	while (cl->kept) {
		struct kept *k = cl->kept;
		cl->kept = k->next;
		coil_close(k->fd);
		free(k);
	}
	pthread_mutex_destroy(&cl->lock);
	free(cl);
	return 0;
}

uint64_t coil_http_client_connections(const coil_http_client *cl)
{
	return cl ? __atomic_load_n(&cl->opened, __ATOMIC_RELAXED) : 0;
}

/* A kept connection to host:port, or -1. Expired ones are closed. */
static int take_kept(struct coil_http_client *cl, const char *host, uint16_t port)
{
	int64_t now = coil_now();
	struct kept *stale = NULL;
	int fd = -1;
	pthread_mutex_lock(&cl->lock);
	for (struct kept **pp = &cl->kept; *pp;) {
		struct kept *k = *pp;
		bool old = cl->cfg.idle_timeout > 0 && now - k->since >= cl->cfg.idle_timeout;
		if (old || (fd < 0 && k->port == port && !strcmp(k->host, host))) {
			*pp = k->next;
			if (old) {
				k->next = stale;
				stale = k;
			} else {
				fd = k->fd;
				free(k);
			}
			continue;
		}
		pp = &k->next;
	}
	pthread_mutex_unlock(&cl->lock);
	while (stale) {
		struct kept *k = stale;
		stale = k->next;
		coil_close(k->fd);
		free(k);
	}
	return fd;
}

static void keep(struct coil_http_client *cl, const char *host, uint16_t port, int fd)
{
	size_t hl = strlen(host);
	struct kept *k = malloc(sizeof *k + hl + 1);
	if (!k) {
		coil_close(fd);
		return;
	}
	memcpy(k->host, host, hl + 1);
	k->port = port;
	k->fd = fd;
	k->since = coil_now();
	unsigned same = 0;
	pthread_mutex_lock(&cl->lock);
	for (struct kept *o = cl->kept; o; o = o->next)
		same += o->port == port && !strcmp(o->host, host);
	bool room = same < cl->cfg.max_idle;
	if (room) {
		k->next = cl->kept;
		cl->kept = k;
	}
	pthread_mutex_unlock(&cl->lock);
	if (!room) {
		coil_close(fd);
		free(k);
	}
}

static bool plain_token(const char *s)
{
	return s && *s && !strpbrk(s, " \t\r\n");
}

static bool idempotent(const char *m)
{
	static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!strcmp(m, ok[i]))
			return true;
	return false;
}

/* The request head, malloc'd. */
static char *request_head(const struct coil_http_client_request *rq, const char *method,
			  const char *target, size_t *len)
{
	const char *extra = rq->headers ? rq->headers : "";
	bool body = rq->body || rq->body_len || !strcmp(method, "POST") || !strcmp(method, "PUT");
	size_t cap = strlen(method) + strlen(target) + strlen(rq->host) + strlen(extra) + 128;
	char *h = malloc(cap);
	if (!h)
		return NULL;
	int n = snprintf(h, cap, "%s %s HTTP/1.1\r\nHost: %s:%u\r\n%s", method, target, rq->host,
			 (unsigned)rq->port, extra);
	if (body)
		n += snprintf(h + n, cap - (size_t)n, "Content-Length: %zu\r\n", rq->body_len);
	n += snprintf(h + n, cap - (size_t)n, "\r\n");
	*len = (size_t)n;
	return h;
}

struct exchange {
	struct coil_http_client *cl;
	int fd;
	bool got_any;		/* a byte of the answer came */
	bool reusable;		/* the connection may carry the next request */
	char *buf;
	size_t cap, len, pos;
};

static ssize_t more(struct exchange *x)
{
	if (x->len == x->cap) {
		if (x->pos == 0)
			return -EMSGSIZE;
		memmove(x->buf, x->buf + x->pos, x->len - x->pos);
		x->len -= x->pos;
		x->pos = 0;
	}
	ssize_t n = coil_sock_read(x->fd, x->buf + x->len, x->cap - x->len);
	if (n > 0) {
		x->len += (size_t)n;
		x->got_any = true;
	}
	return n;
}

static int grow_body(struct coil_http_client_response *res, size_t *cap, size_t need, uint64_t max)
{
	if (res->body_len + need > max)
		return -EMSGSIZE;
	if (res->body_len + need + 1 <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4096;
	while (n < res->body_len + need + 1)
		n *= 2;
	char *b = realloc(res->body, n);
	if (!b)
		return -ENOMEM;
	res->body = b;
	*cap = n;
	return 0;
}

/* Read one response into res. */
static int read_response(struct exchange *x, bool head_request,
			 struct coil_http_client_response *res, struct response_state *st)
{
	const struct coil_http_client_config *cfg = &x->cl->cfg;
	struct coil__http_parse p;
	coil__http_parse_init_response(&p, st->fields);
	size_t body_cap = 0;
	for (;;) { /* 1xx answers come before the final one */
		struct coil__http_scan s;
		coil__http_scan_head(&s);
		size_t end;
		for (;;) {
			int r = coil__http_scan(&s, x->buf + x->pos, x->len - x->pos, &end);
			if (r == COIL__HTTP_SCAN_BAD)
				return -EPROTO;
			if (r == COIL__HTTP_SCAN_END)
				break;
			if (x->len - x->pos >= cfg->max_head)
				return -EMSGSIZE;
			ssize_t n = more(x);
			if (n == 0)
				return -ECONNRESET;
			if (n < 0)
				return (int)n;
		}
		if (end > cfg->max_head)
			return -EMSGSIZE;
		free(res->head);
		res->head = malloc(end + 1);
		if (!res->head)
			return -ENOMEM;
		memcpy(res->head, x->buf + x->pos, end);
		res->head[end] = 0;
		res->head_len = end;
		x->pos += end;
		coil__http_parse_next(&p);
		p.max_fields = cfg->max_fields;
		p.max_target = cfg->max_head;
		p.max_chunk_ext = 4096;
		p.max_trailers = cfg->max_head;
		p.max_body = cfg->max_body;
		p.no_body = head_request;
		int status = coil__http_parse_head(&p, res->head, end);
		if (status)
			return status == 431 ? -EMSGSIZE : -EPROTO;
		if (p.status_code >= 200 || p.status_code == 101)
			break;
	}
	res->status = p.status_code;
	res->version = (int)p.version;
	st->nfields = p.nfields;
	while (!p.done) {
		if (x->pos == x->len) {
			x->pos = x->len = 0;
			ssize_t n = more(x);
			if (n < 0)
				return (int)n;
			if (n == 0) {
				/* The body ends with the connection, or was cut. */
				if (!coil__http_parse_needs_eof(&p) || coil__http_parse_finish(&p))
					return -ECONNRESET;
				break;
			}
		}
		size_t n = x->len - x->pos;
		int r = grow_body(res, &body_cap, n, cfg->max_body);
		if (r < 0)
			return r;
		size_t out;
		ssize_t used = coil__http_parse_body(&p, x->buf + x->pos, n, res->body + res->body_len,
						     &out);
		if (used < 0)
			return used == -413 ? -EMSGSIZE : -EPROTO;
		x->pos += (size_t)used;
		res->body_len += out;
	}
	if (!res->body) {
		res->body = malloc(1);
		if (!res->body)
			return -ENOMEM;
	}
	res->body[res->body_len] = 0;
	/* Reusable: the server keeps it, and sent nothing past the answer. */
	x->reusable = p.keep_alive && x->pos == x->len && !coil__http_parse_needs_eof(&p);
	return 0;
}

void coil_http_client_response_free(struct coil_http_client_response *res)
{
	if (!res)
		return;
	struct response_state *st = res->private_;
	if (st)
		free(st->fields);
	free(st);
	free(res->head);
	free(res->body);
	memset(res, 0, sizeof *res);
}

int coil_http_client_response_header(const struct coil_http_client_response *res,
				     const char *name, struct coil_http_str *value)
{
	if (!res || !name || !value || !res->private_)
		return -EINVAL;
	const struct response_state *st = res->private_;
	size_t n = strlen(name);
	for (unsigned i = 0; i < st->nfields; i++) {
		const struct coil__http_field *f = &st->fields[i];
		if (f->name.len == n && strncasecmp(f->name.ptr, name, n) == 0) {
			*value = f->value;
			return 0;
		}
	}
	return -ENOENT;
}

/* One attempt on fd. */
static int attempt(struct exchange *x, const char *head, size_t head_len,
		   const struct coil_http_client_request *rq, bool head_request,
		   struct coil_http_client_response *res, struct response_state *st)
{
	ssize_t w = coil_sock_write_all(x->fd, head, head_len);
	if (w >= 0 && rq->body_len)
		w = coil_sock_write_all(x->fd, rq->body, rq->body_len);
	if (w < 0) /* whether a write or the read sees a closed peer first is timing */
		return w == -EPIPE ? -ECONNRESET : (int)w;
	return read_response(x, head_request, res, st);
}

int coil_http_client_send(coil_http_client *cl, const struct coil_http_client_request *rq,
		      struct coil_http_client_response *res)
{
	if (!cl || !rq || !res || !rq->host || !*rq->host || (!rq->body && rq->body_len))
		return -EINVAL;
	memset(res, 0, sizeof *res);
	const char *method = rq->method ? rq->method : "GET";
	const char *target = rq->target ? rq->target : "/";
	if (!plain_token(method) || !plain_token(target) || strpbrk(rq->host, " \t\r\n/"))
		return -EINVAL;
	if (rq->headers) {
		size_t hl = strlen(rq->headers);
		if (hl && (hl < 2 || strcmp(rq->headers + hl - 2, "\r\n") != 0))
			return -EINVAL;
	}
	if (!coil_task_current())
		return -EPERM;
	struct response_state *st = calloc(1, sizeof *st);
	char *buf = malloc(cl->cfg.max_head + 16384);
	size_t head_len = 0;
	char *head = request_head(rq, method, target, &head_len);
	if (st)
		st->fields = calloc(cl->cfg.max_fields, sizeof *st->fields);
	if (!st || !st->fields || !buf || !head) {
		if (st)
			free(st->fields);
		free(st);
		free(buf);
		free(head);
		return -ENOMEM;
	}
	bool head_request = !strcmp(method, "HEAD");
	coil_scope scope;
	bool scoped = cl->cfg.timeout > 0 && coil_scope_enter_timeout(&scope, cl->cfg.timeout) == 0;
	int r;
	for (int tries = 0;; tries++) {
		int fd = take_kept(cl, rq->host, rq->port);
		bool reused = fd >= 0;
		if (!reused) {
			fd = coil_tcp_connect(rq->host, rq->port);
			if (fd < 0) {
				r = fd;
				break;
			}
			__atomic_add_fetch(&cl->opened, 1, __ATOMIC_RELAXED);
			coil_tcp_nodelay(fd, 1);
		}
		struct exchange x = {cl, fd, false, false, buf, cl->cfg.max_head + 16384, 0, 0};
		r = attempt(&x, head, head_len, rq, head_request, res, st);
		if (r == 0 && x.reusable) {
			keep(cl, rq->host, rq->port, fd);
		} else {
			coil_close(fd);
		}
		/* A kept connection the server had dropped: once more, anew. */
		if (r < 0 && reused && !x.got_any && tries == 0 && idempotent(method) &&
		    r == -ECONNRESET) {
			free(res->head);
			free(res->body);
			memset(res, 0, sizeof *res);
			continue;
		}
		break;
	}
	if (scoped)
		coil_scope_exit(&scope);
	free(head);
	free(buf);
	if (r < 0) {
		free(res->head);
		free(res->body);
		memset(res, 0, sizeof *res);
		free(st->fields);
		free(st);
		return r;
	}
	res->private_ = st;
	return 0;
}
