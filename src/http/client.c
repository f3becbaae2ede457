/*
 * The HTTP/1.1 client of coil/http.h: exchanges (a request and its
 * response, each streamed) over connections kept per host and port, and
 * coil_http_client_send, one exchange read whole.
 *
 * The response goes through the same scan and parser as requests do
 * (parse.c in response mode). Kept connections wait in a list under a
 * lock (a client may serve fibers of every worker), the most recent
 * first; one unused for idle_timeout is closed instead of reused, which
 * keeps us clear of the moment a server drops it, and so is one on which
 * anything came while it was idle (idle_clean). A request that still
 * meets a dropped one (it sees the end or a reset before any byte of its
 * answer) is sent again once, on a new connection, when its method is
 * idempotent (RFC 9110 9.2.2) and no streamed body byte went out.
 *
 * Over TLS (cfg.tls) a connection is a TLS stream (coil/tls.h) on the
 * socket; its reads and writes go through the stream and it ends with a
 * close_notify. A stream reads through a reader of the worker that first
 * read it, so a kept TLS connection is taken only by fibers of its worker
 * (each worker has its own), and the client's free closes each from a
 * fiber there. A stream is read and written by one fiber at a time: the
 * body goes out without watching for an early answer (send_watching
 * races a read against the write on the socket itself).
 *
 * With cfg.http2 an exchange is a stream of h2_client.c instead (x->h2):
 * the calls here keep their checks and scopes and hand it the I/O. Over
 * TLS, a server that picks "http/1.1" by ALPN (or nothing) fails the h2
 * connection with -EPROTONOSUPPORT before any request was sent on it: the
 * exchange then goes out here, over HTTP/1.1 (fall_back), and the client
 * remembers the host and port (h1_only) so that the next requests come
 * here first.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "coil.h"
#include "coil/http.h"
#include "http/h2_client.h"
#include "http/parse.h"
#include "http/scan.h"

struct kept {
	struct kept *next;
	uint16_t port;
	int fd;
	coil_tls *tls; /* HTTPS: its stream, read on worker (and only there) */
	int worker;
	int64_t since;
	char host[];
};

/* A host and port whose server did not pick "h2" over TLS (an HTTP/2
 * client's): its requests go over HTTP/1.1 until a new connection to it
 * is told "h2". */
struct h1_host {
	struct h1_host *next;
	uint16_t port;
	char host[];
};

/* Hosts remembered so, per client: past it the oldest is forgotten (it
 * then costs one connection more, the one that finds out again). */
#define MAX_H1_HOSTS 64

/* send_request's answer for an HTTP/2 client over TLS whose new
 * connection was told "h2" by ALPN: nothing sent, take the HTTP/2 path. */
#define H2_PICKED 1

struct coil_http_client {
	struct coil_http_client_config cfg;
	pthread_mutex_t lock;
	struct kept *kept; /* the most recently kept first */
	unsigned nkept;
	int64_t next_sweep;		  /* when the list is next searched for expired ones */
	struct coil_http_exchange *spare; /* ended exchanges, their buffers kept */
	unsigned nspare;
	uint64_t opened;
	unsigned open;		   /* exchanges not ended (atomic): the free refuses to run */
	struct coil__h2c_pool *h2; /* cfg.http2: its connections (h2_client.c) */
	struct h1_host *h1_hosts;  /* cfg.http2 with cfg.tls: the newest first */
	unsigned nh1_hosts;
};

/* Ended exchanges kept for the next ones (their buffers are the bulk of
 * an exchange's cost: a proxy makes one per request). */
#define MAX_SPARE 64

/* Room for body bytes after the largest head. */
#define BODY_ROOM 16384

struct coil_http_exchange {
	struct coil_http_client *cl;
	struct coil__h2c_stream *h2; /* HTTP/2: the stream (fd and buf unused) */
	int fd;
	coil_tls *tls; /* HTTPS: the stream on fd */
	int err;       /* kept: every later call returns it */
	bool reused;   /* fd came from the kept list */
	bool got_any;  /* a byte of the answer came */
	bool idempotent, head_request;
	uint16_t port;
	int64_t deadline; /* from cfg.timeout, or 0 */
	/* The request, kept for a second try. */
	char *req_head;
	size_t req_head_len, req_head_cap;
	const void *body; /* sent whole with the head */
	size_t body_len;
	/* A streamed body. */
	bool streaming, chunked;
	uint64_t stream_len, streamed;
	/* The server answered, refusing the body (an error status or
	 * Connection: close), before it was all sent: no more of it is
	 * sent, the answer is read. */
	bool answered_early;
	/* The server closed or reset while the body went out: its answer,
	 * if it sent one first, may still be read. */
	bool body_cut;
	/* A final head that takes the body came while it went out (a server
	 * answering as it reads): the rest is written without watching. */
	bool answer_reading;
	/* The response: its head at buf[0 .. head_len), then body bytes at
	 * buf[pos .. len); the views of the fields point into the head. */
	bool have_head, body_done;
	char *buf;
	size_t cap, len, pos, head_len;
	struct coil__http_parse p;
	struct coil__http_field *fields;
	char *host;
	size_t host_cap;
	struct coil_http_exchange *next_spare;
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
		.http2 = 0,
		.tls = NULL,
		.h2_ping_interval = COIL_HTTP_H2_PING_INTERVAL,
		.h2_ping_timeout = COIL_HTTP_H2_PING_TIMEOUT,
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
	if (cfg->max_head < 256 || cfg->max_fields == 0 || cfg->max_fields > 65536 ||
	    (cfg->http2 != 0 && cfg->http2 != 1) || cfg->h2_ping_timeout < 0)
		return -EINVAL;
	struct coil_http_client *cl = calloc(1, sizeof *cl);
	if (!cl)
		return -ENOMEM;
	cl->cfg = *cfg;
	if (cfg->http2 && !(cl->h2 = coil__h2c_pool_new(cfg, &cl->opened))) {
		free(cl);
		return -ENOMEM;
	}
	pthread_mutex_init(&cl->lock, NULL);
	*out = cl;
	return 0;
}

/* Close a connection: a TLS one with a close_notify first when it ended
 * well (bounded by COIL__HTTP_CLOSE_NOTIFY_NS besides the caller's scopes), then its
 * stream; then the fd, through coil_close. */
static void conn_close(int fd, coil_tls *tls, bool clean)
{
	if (tls) {
		if (clean) {
			coil_scope s;
			bool scoped = coil_scope_enter_timeout(&s, COIL__HTTP_CLOSE_NOTIFY_NS) == 0;
			coil_tls_shutdown(tls);
			if (scoped)
				coil_scope_exit(&s);
		}
		coil_tls_free(tls);
	}
	if (fd >= 0)
		coil_close(fd);
}

static void *close_kept(void *arg)
{
	for (struct kept *k = arg, *next; k; k = next) {
		next = k->next;
		conn_close(k->fd, k->tls, true);
		free(k);
	}
	return NULL;
}

/* Close the kept TLS connections, each from a fiber of its worker (its
 * stream reads through that worker's reader). Returns 0, -EPERM (some are
 * kept and this is no fiber: none closed), or -ENOMEM (no fiber for
 * another worker's: those stay kept). */
static int close_kept_tls(struct coil_http_client *cl)
{
	bool any = false;
	for (struct kept *k = cl->kept; k; k = k->next)
		any |= k->tls != NULL;
	if (!any)
		return 0;
	if (!coil_task_current())
		return -EPERM;
	int me = coil_worker_index(), n = coil_worker_count();
	coil_scope s; /* each closer ends soon: not refused by a cancel */
	coil_scope_enter_shielded(&s, COIL_NO_DEADLINE);
	int r = 0;
	for (int w = 0; w < n && r == 0; w++) {
		struct kept *list = NULL;
		for (struct kept **pp = &cl->kept; *pp;) {
			struct kept *k = *pp;
			if (k->tls && k->worker == w) {
				*pp = k->next;
				cl->nkept--;
				k->next = list;
				list = k;
			} else {
				pp = &k->next;
			}
		}
		coil_task t;
		if (!list || w == me) {
			close_kept(list);
		} else if ((r = coil_task_spawn_on((unsigned)w, &t, close_kept, list)) == 0) {
			coil_task_join(t, NULL);
		} else {
			for (struct kept *k = list, *next; k; k = next) {
				next = k->next;
				k->next = cl->kept;
				cl->kept = k;
				cl->nkept++;
			}
		}
	}
	coil_scope_exit(&s);
	return r;
}

int coil_http_client_free(coil_http_client *cl)
{
	if (!cl)
		return 0;
	if (__atomic_load_n(&cl->open, __ATOMIC_ACQUIRE))
		return -EBUSY; /* their ends would use cl */
	/* No fiber to wait for the HTTP/2 owners: they would outlive the
	 * pool they use. */
	if (!coil_task_current() && coil__h2c_pool_running(cl->h2))
		return -EPERM;
	int r = close_kept_tls(cl);
	if (r < 0)
		return r;
	coil__h2c_pool_free(cl->h2);
	while (cl->kept) {
		struct kept *k = cl->kept;
		cl->kept = k->next;
		conn_close(k->fd, k->tls, false);
		free(k);
	}
	while (cl->h1_hosts) {
		struct h1_host *h = cl->h1_hosts;
		cl->h1_hosts = h->next;
		free(h);
	}
	while (cl->spare) {
		struct coil_http_exchange *x = cl->spare;
		cl->spare = x->next_spare;
		free(x->req_head);
		free(x->buf);
		free(x->fields);
		free(x->host);
		free(x);
	}
	pthread_mutex_destroy(&cl->lock);
	free(cl);
	return 0;
}

unsigned coil__http_client_h2_peak(const coil_http_client *cl)
{
	return cl && cl->h2 ? coil__h2c_pool_peak(cl->h2) : 0;
}

uint64_t coil_http_client_connections(const coil_http_client *cl)
{
	return cl ? __atomic_load_n(&cl->opened, __ATOMIC_RELAXED) : 0;
}

/* The worker a kept connection belongs to: a TLS one, the caller's;
 * -1 for a plaintext one (any). */
static int kept_worker(const struct coil_http_client *cl)
{
	return cl->cfg.tls ? coil_worker_index() : -1;
}

/* A kept connection to host:port (TLS: of the caller's worker) into *fd
 * and *tls, or *fd -1. Expired ones met on the way are closed (TLS: those
 * of this worker; the others wait for theirs), and every idle_timeout / 4
 * the whole list is searched for them (not at every call: a proxy keeps
 * many). */
static void take_one(struct coil_http_client *cl, const char *host, uint16_t port, int *fd,
		     coil_tls **tls)
{
	int64_t now = coil_now();
	int64_t idle = cl->cfg.idle_timeout;
	int worker = kept_worker(cl);
	struct kept *stale = NULL;
	*fd = -1;
	*tls = NULL;
	pthread_mutex_lock(&cl->lock);
	bool sweep = idle > 0 && now >= cl->next_sweep;
	if (sweep)
		cl->next_sweep = now + idle / 4;
	for (struct kept **pp = &cl->kept; *pp;) {
		struct kept *k = *pp;
		/* A plaintext and a TLS connection never stand in for each
		 * other, nor TLS ones of two workers. */
		bool ours = (k->tls != NULL) == (cl->cfg.tls != NULL) && k->worker == worker;
		bool old = ours && idle > 0 && now - k->since >= idle;
		bool match = *fd < 0 && ours && k->port == port && !strcmp(k->host, host);
		if (old || match) {
			*pp = k->next;
			cl->nkept--;
			if (old) {
				k->next = stale;
				stale = k;
			} else {
				*fd = k->fd;
				*tls = k->tls;
				free(k);
			}
			continue;
		}
		if (*fd >= 0 && !sweep)
			break;
		pp = &k->next;
	}
	pthread_mutex_unlock(&cl->lock);
	close_kept(stale);
}

/* Whether nothing came on a kept connection while it was idle. A server
 * may write to one before it drops it (a 408, as nginx and Apache do), or
 * have sent more than the length it announced: those bytes, or its end,
 * would be taken for the answer to the next request sent on it. A peek
 * that never waits (a TLS stream's bytes may wait in the stream too). */
static bool idle_clean(int fd, coil_tls *tls)
{
	char c;
	if (tls && coil_tls_pending(tls) != 0)
		return false;
	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* take_one, passing over (and closing) kept connections that did not
 * stay clean while idle. */
static void take_kept(struct coil_http_client *cl, const char *host, uint16_t port, int *fd,
		      coil_tls **tls)
{
	for (;;) {
		take_one(cl, host, port, fd, tls);
		if (*fd < 0 || idle_clean(*fd, *tls))
			return;
		conn_close(*fd, *tls, false);
	}
}

static void keep(struct coil_http_client *cl, const char *host, uint16_t port, int fd,
		 coil_tls *tls)
{
	size_t hl = strlen(host);
	struct kept *k = malloc(sizeof *k + hl + 1);
	if (!k) {
		conn_close(fd, tls, true);
		return;
	}
	memcpy(k->host, host, hl + 1);
	k->port = port;
	k->fd = fd;
	k->tls = tls;
	k->worker = kept_worker(cl);
	k->since = coil_now();
	pthread_mutex_lock(&cl->lock);
	bool room = cl->nkept < cl->cfg.max_idle; /* fewer in all: no need to count */
	if (!room) {
		unsigned same = 0;
		for (struct kept *o = cl->kept; o; o = o->next)
			same += o->port == port && !strcmp(o->host, host);
		room = same < cl->cfg.max_idle;
	}
	if (room) {
		k->next = cl->kept;
		cl->kept = k;
		cl->nkept++;
	}
	pthread_mutex_unlock(&cl->lock);
	if (!room) {
		conn_close(fd, tls, true);
		free(k);
	}
}

/* Whether host:port is remembered as speaking HTTP/1.1 only over TLS. */
static bool h1_only(struct coil_http_client *cl, const char *host, uint16_t port)
{
	pthread_mutex_lock(&cl->lock);
	const struct h1_host *h = cl->h1_hosts;
	while (h && !(h->port == port && !strcmp(h->host, host)))
		h = h->next;
	pthread_mutex_unlock(&cl->lock);
	return h != NULL;
}

/* Remember host:port so (on), or forget it. Out of memory it is not
 * remembered: the next request finds out again. */
static void h1_only_set(struct coil_http_client *cl, const char *host, uint16_t port, bool on)
{
	size_t hl = strlen(host);
	struct h1_host *add = on ? malloc(sizeof *add + hl + 1) : NULL, *drop = NULL;
	if (add) {
		add->port = port;
		memcpy(add->host, host, hl + 1);
	}
	pthread_mutex_lock(&cl->lock);
	struct h1_host **pp = &cl->h1_hosts;
	while (*pp && !((*pp)->port == port && !strcmp((*pp)->host, host)))
		pp = &(*pp)->next;
	if (*pp && !on) {
		drop = *pp;
		*pp = drop->next;
		cl->nh1_hosts--;
	} else if (*pp) {
		drop = add; /* known already */
	} else if (add) {
		if (cl->nh1_hosts == MAX_H1_HOSTS) {
			for (pp = &cl->h1_hosts; (*pp)->next;)
				pp = &(*pp)->next;
			drop = *pp; /* the oldest */
			*pp = NULL;
			cl->nh1_hosts--;
		}
		add->next = cl->h1_hosts;
		cl->h1_hosts = add;
		cl->nh1_hosts++;
	}
	pthread_mutex_unlock(&cl->lock);
	free(drop);
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

/* Whether the header lines hs hold a field named name (at a line's start). */
static bool has_field(const char *hs, const char *name)
{
	size_t n = strlen(name);
	for (const char *line = hs; *line;) {
		if (!strncasecmp(line, name, n) && line[n] == ':')
			return true;
		const char *eol = strstr(line, "\r\n");
		if (!eol)
			break;
		line = eol + 2;
	}
	return false;
}

/* Make room for n bytes at *p (capacity *cap). Returns false when out
 * of memory. */
static bool room(char **p, size_t *cap, size_t n)
{
	if (n <= *cap)
		return true;
	char *q = realloc(*p, n);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

/* The request head into x->req_head. Returns false when out of memory. */
static bool request_head(struct coil_http_exchange *x, const struct coil_http_client_request *rq,
			 const char *method, const char *target)
{
	const char *extra = rq->headers ? rq->headers : "";
	bool chunked = !rq->body && rq->body_len == COIL_HTTP_BODY_CHUNKED;
	bool body = rq->body || rq->body_len || !strcmp(method, "POST") || !strcmp(method, "PUT");
	size_t cap = strlen(method) + strlen(target) + strlen(rq->host) + strlen(extra) + 128;
	if (!room(&x->req_head, &x->req_head_cap, cap))
		return false;
	char *h = x->req_head;
	int n = snprintf(h, cap, "%s %s HTTP/1.1\r\n", method, target);
	if (!has_field(extra, "host"))
		n += snprintf(h + n, cap - (size_t)n, "Host: %s:%u\r\n", rq->host,
			      (unsigned)rq->port);
	n += snprintf(h + n, cap - (size_t)n, "%s", extra);
	if (chunked)
		n += snprintf(h + n, cap - (size_t)n, "Transfer-Encoding: chunked\r\n");
	else if (body)
		n += snprintf(h + n, cap - (size_t)n, "Content-Length: %zu\r\n", rq->body_len);
	n += snprintf(h + n, cap - (size_t)n, "\r\n");
	x->req_head_len = (size_t)n;
	return true;
}

/* The scope of an exchange's call: its deadline (cfg.timeout from the
 * start), if any. */
static bool enter(const struct coil_http_exchange *x, coil_scope *s)
{
	return x->deadline && coil_scope_enter(s, x->deadline) == 0;
}

static int fail(struct coil_http_exchange *x, int err)
{
	if (!x->err)
		x->err = err;
	return x->err;
}

/* Whether the head buf[0 .. end) has a Connection field with "close". */
static bool says_close(const char *buf, size_t end)
{
	static const char name[] = "\r\nconnection:";
	for (size_t i = 0; i + sizeof name - 1 < end; i++) {
		if (strncasecmp(buf + i, name, sizeof name - 1) != 0)
			continue;
		const char *v = buf + i + sizeof name - 1;
		const char *eol = memchr(v, '\r', (size_t)(buf + end - v));
		for (; eol && v + 5 <= eol; v++)
			if (!strncasecmp(v, "close", 5))
				return true;
	}
	return false;
}

/* What the bytes in x->buf say while the body goes out: 0 (no whole
 * final head yet: whole 1xx heads, 100 Continue, are dropped), 1 (a final
 * head that refuses the body: an error status or Connection: close, RFC
 * 9112 9.5; bytes that are no head count too, read_head says what is
 * wrong), 2 (a final head that does not: a server answering as it reads,
 * which still takes the body). */
static int answer_in(struct coil_http_exchange *x)
{
	for (;;) {
		struct coil__http_scan sc;
		coil__http_scan_head(&sc);
		size_t end;
		int r = coil__http_scan(&sc, x->buf, x->len, &end);
		if (r == COIL__HTTP_SCAN_BAD)
			return 1;
		if (r != COIL__HTTP_SCAN_END)
			return 0;
		/* "HTTP/1.1 NNN" */
		if (end < 13 || memcmp(x->buf, "HTTP/1.", 7) != 0)
			return 1;
		char c = x->buf[9];
		if (c == '1') {
			memmove(x->buf, x->buf + end, x->len - end);
			x->len -= end;
			continue;
		}
		return c >= '4' || says_close(x->buf, end) ? 1 : 2;
	}
}

/* Send len bytes of the request body while watching for the answer: a
 * server may answer (413, 401...) before it has read the whole body and
 * stop reading it; a write alone would then wait for room until the
 * deadline, or fail with a reset, and the answer would be lost. What is
 * read meanwhile stays in x->buf for read_head (a server that answers as
 * it reads, an echo, goes on taking the body; once x->buf is full, or its
 * head is in, the rest is written without watching, as before).
 * Returns 0 (all sent), 1 (an answer that refuses the body came first:
 * no more of it is sent), 2 (the server closed or reset the connection
 * meanwhile, after *sent bytes: an answer it sent first may still be
 * read), or -errno. */
static int send_watching(struct coil_http_exchange *x, const char *p, size_t len, size_t *sent)
{
	*sent = 0;
	while (*sent < len) {
		if (x->len == x->cap || x->answer_reading) {
			ssize_t w = coil_sock_write_all(x->fd, p + *sent, len - *sent);
			if (w == -EPIPE || w == -ECONNRESET)
				return 2;
			if (w < 0)
				return (int)w;
			*sent = len;
			break;
		}
		struct coil_race_op ops[2] = {
			{.kind = COIL_RACE_SOCK_WRITE,
			 .fd = x->fd,
			 .buf = (void *)(p + *sent),
			 .len = len - *sent},
			{.kind = COIL_RACE_SOCK_READ,
			 .fd = x->fd,
			 .buf = x->buf + x->len,
			 .len = x->cap - x->len},
		};
		int first = coil_race(ops, 2, 0);
		/* Both results count, whichever came first (a cancelled op
		 * that completed anyway says what it did). */
		if (ops[0].res > 0)
			*sent += (size_t)ops[0].res;
		if (ops[1].res > 0) {
			x->len += (size_t)ops[1].res;
			x->got_any = true;
			int a = answer_in(x);
			if (a == 1)
				return 1;
			x->answer_reading = a == 2;
		}
		if (first < 0)
			return first; /* -ECANCELED, -ETIMEDOUT */
		if (ops[0].res == -EPIPE || ops[0].res == -ECONNRESET || ops[1].res == 0 ||
		    ops[1].res == -ECONNRESET)
			return 2;
		if (ops[0].res < 0 && ops[0].res != -ECANCELED)
			return (int)ops[0].res;
		if (ops[1].res < 0 && ops[1].res != -ECANCELED)
			return (int)ops[1].res;
	}
	return 0;
}

/* Plaintext bytes of a full TLS record. */
#define TLS_RECORD 16384

/* A piece of what goes out. */
struct piece {
	const void *p;
	size_t len;
};

/* Send the pieces over x's TLS stream: copied into x->buf and written as
 * one record (one write to the socket) when they fit one, else one after
 * the other. x->buf holds nothing yet: over TLS the answer is read only
 * once the request is out. Returns 0 or -errno (then an unknown part was
 * sent). */
static int tls_send(struct coil_http_exchange *x, const struct piece *ps, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += ps[i].len;
	if (x->len == 0 && total <= TLS_RECORD && total <= x->cap) {
		size_t at = 0;
		for (int i = 0; i < n; i++) {
			if (ps[i].len)
				memcpy(x->buf + at, ps[i].p, ps[i].len);
			at += ps[i].len;
		}
		ssize_t w = coil_tls_write_all(x->tls, x->buf, total);
		return w < 0 ? (int)w : 0;
	}
	for (int i = 0; i < n; i++) {
		ssize_t w = ps[i].len ? coil_tls_write_all(x->tls, ps[i].p, ps[i].len) : 0;
		if (w < 0)
			return (int)w;
	}
	return 0;
}

/* Connect to x's host and port; over TLS, make the handshake (the
 * context verifies the server, SNI is the host) and check what ALPN
 * chose: "http/1.1" or nothing. Returns 0 (x->fd, x->tls set),
 * H2_PICKED (an HTTP/2 client told "h2": closed), or -errno: the
 * connect's, the handshake's (-EKEYREJECTED, -EPROTO...), or
 * -EPROTONOSUPPORT (ALPN chose another protocol: closed). */
static int conn_open(struct coil_http_exchange *x)
{
	struct coil_http_client *cl = x->cl;
	int fd = coil_tcp_connect(x->host, x->port);
	if (fd < 0)
		return fd;
	__atomic_add_fetch(&cl->opened, 1, __ATOMIC_RELAXED);
	coil_tcp_nodelay(fd, 1);
	x->fd = fd;
	if (!cl->cfg.tls)
		return 0;
	int r = coil_tls_open(&x->tls, cl->cfg.tls, fd, x->host);
	if (r == 0)
		r = coil_tls_handshake(x->tls);
	const char *alpn = r == 0 ? coil_tls_alpn(x->tls) : NULL;
	if (alpn && strcmp(alpn, "http/1.1") != 0) {
		if (cl->h2 && !strcmp(alpn, "h2")) {
			h1_only_set(cl, x->host, x->port, false); /* it speaks h2 now */
			r = H2_PICKED;
		} else {
			r = -EPROTONOSUPPORT;
		}
	}
	if (r != 0) {
		conn_close(x->fd, x->tls, alpn != NULL); /* a close_notify after a handshake */
		x->fd = -1;
		x->tls = NULL;
	}
	return r;
}

/* Connect (or take a kept connection) and send the head, with the whole
 * body when it was given. fresh: never a kept one. Returns 0, H2_PICKED
 * (conn_open: nothing sent), or -errno. */
static int send_request(struct coil_http_exchange *x, bool fresh)
{
	for (int tries = 0;; tries++) {
		x->fd = -1;
		x->tls = NULL;
		if (!fresh)
			take_kept(x->cl, x->host, x->port, &x->fd, &x->tls);
		x->reused = x->fd >= 0;
		if (!x->reused) {
			int r = conn_open(x);
			if (r != 0)
				return r;
		}
		ssize_t w;
		if (x->tls) {
			struct piece ps[2] = {{x->req_head, x->req_head_len},
					      {x->body, x->body_len}};
			w = tls_send(x, ps, 2);
		} else {
			w = coil_sock_write_all(x->fd, x->req_head, x->req_head_len);
		}
		if (w >= 0 && x->body_len && !x->tls) {
			size_t sent;
			int r = send_watching(x, x->body, x->body_len, &sent);
			x->answered_early = r == 1;
			/* Cut after a byte of an answer came: read it. */
			x->body_cut = r == 2 && x->got_any;
			w = r == 2 && !x->got_any ? -ECONNRESET : r < 0 ? r : 0;
		}
		if (w >= 0)
			return 0;
		conn_close(x->fd, x->tls, false);
		x->fd = -1;
		x->tls = NULL;
		/* whether a write or the read sees a closed peer first is timing */
		if (w == -EPIPE)
			w = -ECONNRESET;
		if (w == -ECONNRESET && x->reused && x->idempotent && tries == 0) {
			fresh = true;
			continue;
		}
		return (int)w;
	}
}

/* An exchange in its first state, for host: a spare one or a new one. */
static struct coil_http_exchange *exchange_get(struct coil_http_client *cl, const char *host)
{
	pthread_mutex_lock(&cl->lock);
	struct coil_http_exchange *x = cl->spare;
	if (x) {
		cl->spare = x->next_spare;
		cl->nspare--;
	}
	pthread_mutex_unlock(&cl->lock);
	if (!x) {
		x = calloc(1, sizeof *x);
		if (!x)
			return NULL;
		x->cap = cl->cfg.max_head + BODY_ROOM;
		x->buf = malloc(x->cap);
		x->fields = malloc(cl->cfg.max_fields * sizeof *x->fields);
	}
	/* Everything but the buffers anew. */
	struct coil_http_exchange keep = *x;
	*x = (struct coil_http_exchange){
		.cl = cl,
		.fd = -1,
		.buf = keep.buf,
		.cap = keep.cap,
		.fields = keep.fields,
		.req_head = keep.req_head,
		.req_head_cap = keep.req_head_cap,
		.host = keep.host,
		.host_cap = keep.host_cap,
	};
	size_t hl = strlen(host);
	if (!x->buf || !x->fields || !room(&x->host, &x->host_cap, hl + 1)) {
		free(x->req_head);
		free(x->buf);
		free(x->fields);
		free(x->host);
		free(x);
		return NULL;
	}
	memcpy(x->host, host, hl + 1);
	__atomic_add_fetch(&cl->open, 1, __ATOMIC_RELAXED);
	return x;
}

/* Close x's connection (unless it was kept) and keep x for the next
 * exchange, or free it. */
static void exchange_free(struct coil_http_exchange *x)
{
	struct coil_http_client *cl = x->cl;
	/* A close_notify unless the exchange failed. */
	conn_close(x->fd, x->tls, !x->err && !x->body_cut);
	x->fd = -1;
	x->tls = NULL;
	pthread_mutex_lock(&cl->lock);
	bool kept = cl->nspare < MAX_SPARE;
	if (kept) {
		x->next_spare = cl->spare;
		cl->spare = x;
		cl->nspare++;
	}
	pthread_mutex_unlock(&cl->lock);
	if (!kept) {
		free(x->req_head);
		free(x->buf);
		free(x->fields);
		free(x->host);
		free(x);
	}
	__atomic_sub_fetch(&cl->open, 1, __ATOMIC_RELEASE); /* its last use of cl */
}

int coil_http_exchange_start(coil_http_client *cl, const struct coil_http_client_request *rq,
			     coil_http_exchange **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cl || !rq || !rq->host || !*rq->host)
		return -EINVAL;
	const char *method = rq->method ? rq->method : "GET";
	const char *target = rq->target ? rq->target : "/";
	if (!plain_token(method) || !plain_token(target) || strpbrk(rq->host, " \t\r\n/"))
		return -EINVAL;
	if (rq->body && rq->body_len == COIL_HTTP_BODY_CHUNKED)
		return -EINVAL;
	if (rq->headers) {
		size_t hl = strlen(rq->headers);
		if (hl && (hl < 2 || strcmp(rq->headers + hl - 2, "\r\n") != 0))
			return -EINVAL;
		if (has_field(rq->headers, "content-length") ||
		    has_field(rq->headers, "transfer-encoding"))
			return -EINVAL; /* the framing is the client's */
	}
	if (!coil_task_current())
		return -EPERM;
	struct coil_http_exchange *x = exchange_get(cl, rq->host);
	if (!x)
		return -ENOMEM;
	x->port = rq->port;
	if (!request_head(x, rq, method, target)) {
		exchange_free(x);
		return -ENOMEM;
	}
	x->idempotent = idempotent(method);
	x->head_request = !strcmp(method, "HEAD");
	if (rq->body) {
		x->body = rq->body;
		x->body_len = rq->body_len;
	} else if (rq->body_len) {
		x->streaming = true;
		x->chunked = rq->body_len == COIL_HTTP_BODY_CHUNKED;
		x->stream_len = x->chunked ? 0 : rq->body_len;
	}
	if (cl->cfg.timeout > 0)
		x->deadline = coil_now() + cl->cfg.timeout;
	/* HTTP/2: the stream is queued on its connection, which its owner
	 * makes (h2_client.c); errors come with the response. Over TLS a
	 * host remembered as speaking HTTP/1.1 only comes here first, and
	 * goes there when its new connection is told "h2". */
	bool h2 = cl->h2 && !(cl->cfg.tls && h1_only(cl, rq->host, rq->port));
	int r = 0;
	if (!h2) {
		coil_scope s;
		bool scoped = enter(x, &s);
		r = send_request(x, false);
		if (scoped)
			coil_scope_exit(&s);
		h2 = r == H2_PICKED;
	}
	if (h2)
		r = coil__h2c_start(cl->h2, rq, method, target, x->idempotent, &x->h2);
	if (r < 0) {
		exchange_free(x);
		return r;
	}
	*out = x;
	return 0;
}

/* An HTTP/2 exchange over TLS whose connection failed with
 * -EPROTONOSUPPORT: its server picked "http/1.1" by ALPN, or nothing,
 * and no byte of the request went out. Send it over HTTP/1.1 (a kept
 * connection, or a new one) and remember the host. Returns 0, or
 * send_request's error (-EPROTONOSUPPORT when the new connection is told
 * "h2" after all: a host whose servers disagree). */
static int fall_back(struct coil_http_exchange *x)
{
	h1_only_set(x->cl, x->host, x->port, true);
	coil__h2c_end(x->h2);
	x->h2 = NULL;
	int r = send_request(x, false);
	return r == H2_PICKED ? -EPROTONOSUPPORT : r;
}

/* Whether the HTTP/2 error err means: go over HTTP/1.1 (fall_back). */
static bool falls_back(const struct coil_http_exchange *x, ssize_t err)
{
	return err == -EPROTONOSUPPORT && x->cl->cfg.tls && x->streamed == 0;
}

ssize_t coil_http_exchange_write(coil_http_exchange *x, const void *buf, size_t len)
{
	if (!x || (!buf && len))
		return -EINVAL;
	if (x->err)
		return x->err;
	if (!x->streaming || x->have_head)
		return -EBUSY;
	if (x->answered_early)
		return -EALREADY;
	if (x->body_cut)
		return -ECONNRESET;
	if (!x->chunked && len > x->stream_len - x->streamed)
		return -EMSGSIZE;
	if (len == 0)
		return 0;
	coil_scope s;
	bool scoped = enter(x, &s);
	if (x->h2) {
		ssize_t w = coil__h2c_write(&x->h2, buf, len);
		if (falls_back(x, w))
			w = fall_back(x);
		if (w < 0 || x->h2) {
			if (scoped)
				coil_scope_exit(&s);
			if (w == -EALREADY) { /* answered first: the answer is read next */
				x->answered_early = true;
				return w;
			}
			if (w < 0)
				return fail(x, (int)w);
			x->streamed += len;
			return w;
		}
	}
	char line[24];
	int n = x->chunked ? snprintf(line, sizeof line, "%zx\r\n", len) : 0;
	const struct piece parts[3] = {
		{line, (size_t)n}, {buf, len}, {"\r\n", x->chunked ? 2u : 0u}};
	int r = 0;
	if (x->tls) {
		r = tls_send(x, parts, 3);
		/* Sent, or an unknown part of it: never sent again. */
		x->streamed += len;
		if (r == -EPIPE || r == -ECONNRESET)
			r = 2;
	}
	for (int i = 0; i < 3 && r == 0 && !x->tls; i++) {
		size_t sent = 0;
		if (parts[i].len)
			r = send_watching(x, parts[i].p, parts[i].len, &sent);
		if (i == 1)
			x->streamed += sent;
	}
	if (scoped)
		coil_scope_exit(&s);
	if (r == 1) {
		x->answered_early = true;
		return -EALREADY;
	}
	if (r == 2) {
		x->body_cut = true;
		return -ECONNRESET;
	}
	if (r < 0)
		return fail(x, r);
	return (ssize_t)len;
}

/* Send the last chunk of a chunked body. Returns 0 (also when the server
 * closed or answered first: its answer is read next), or -errno. */
static int end_chunks(struct coil_http_exchange *x)
{
	int r;
	if (x->tls) {
		struct piece last = {"0\r\n\r\n", 5};
		r = tls_send(x, &last, 1);
		if (r == -EPIPE || r == -ECONNRESET)
			r = 0;
	} else {
		size_t sent;
		r = send_watching(x, "0\r\n\r\n", 5, &sent);
		if (r == 1 || r == 2)
			r = 0; /* read what came */
	}
	return r;
}

/* Read more of the answer into buf[len ..]; room is made by moving the
 * unread bytes down to keep (the end of the head, once it is in). */
static ssize_t more(struct coil_http_exchange *x, size_t keep)
{
	if (x->len == x->cap) {
		if (x->pos == keep)
			return -EMSGSIZE;
		memmove(x->buf + keep, x->buf + x->pos, x->len - x->pos);
		x->len -= x->pos - keep;
		x->pos = keep;
	}
	ssize_t n = x->tls ? coil_tls_read(x->tls, x->buf + x->len, x->cap - x->len)
			   : coil_sock_read(x->fd, x->buf + x->len, x->cap - x->len);
	if (n == -EPIPE)
		n = -ECONNRESET; /* a stream whose last write failed: the peer is gone */
	if (n > 0) {
		x->len += (size_t)n;
		x->got_any = true;
	}
	return n;
}

/* Read the response's head (1xx answers skipped) to buf[0 .. head_len). */
static int read_head(struct coil_http_exchange *x)
{
	const struct coil_http_client_config *cfg = &x->cl->cfg;
	struct coil__http_parse *p = &x->p;
	coil__http_parse_init_response(p, x->fields);
	for (;;) {
		/* The head goes to the front: its views must stay put. */
		if (x->pos) {
			memmove(x->buf, x->buf + x->pos, x->len - x->pos);
			x->len -= x->pos;
			x->pos = 0;
		}
		struct coil__http_scan sc;
		coil__http_scan_head(&sc);
		size_t end;
		for (;;) {
			int r = coil__http_scan(&sc, x->buf, x->len, &end);
			if (r == COIL__HTTP_SCAN_BAD)
				return -EPROTO;
			if (r == COIL__HTTP_SCAN_END)
				break;
			if (x->len >= cfg->max_head)
				return -EMSGSIZE;
			ssize_t n = more(x, 0);
			if (n == 0)
				return -ECONNRESET;
			if (n < 0)
				return (int)n;
		}
		if (end > cfg->max_head)
			return -EMSGSIZE;
		coil__http_parse_next(p);
		p->max_fields = cfg->max_fields;
		p->max_target = cfg->max_head;
		p->max_chunk_ext = 4096;
		p->max_trailers = cfg->max_head;
		p->max_body = UINT64_MAX;
		p->no_body = x->head_request;
		int status = coil__http_parse_head(p, x->buf, end);
		if (status)
			return status == 431 ? -EMSGSIZE : -EPROTO;
		x->pos = end;
		if (p->status_code >= 200 || p->status_code == 101)
			break;
	}
	x->head_len = x->pos;
	return 0;
}

int coil_http_exchange_response(coil_http_exchange *x)
{
	if (!x)
		return -EINVAL;
	if (x->err)
		return x->err;
	if (x->have_head)
		return x->p.status_code;
	coil_scope s;
	bool scoped = enter(x, &s);
	if (x->h2) {
		int st = coil__h2c_response(&x->h2);
		if (falls_back(x, st))
			st = fall_back(x);
		if (st < 0 || x->h2) {
			if (scoped)
				coil_scope_exit(&s);
			if (st < 0)
				return fail(x, st);
			x->have_head = true;
			x->p.status_code = st;
			x->p.version = 20;
			return st;
		}
	}
	int r = 0;
	if (x->answered_early || x->body_cut) {
		/* The answer (or what came of it) is in x->buf already. */
	} else if (x->streaming && x->chunked) {
		r = end_chunks(x);
	} else if (x->streaming && x->streamed != x->stream_len) {
		r = -EMSGSIZE; /* the server waits for the rest: this connection is done */
	}
	for (int tries = 0; r == 0; tries++) {
		r = read_head(x);
		/* A kept connection the server had dropped: once more, anew. */
		if (r == -ECONNRESET && x->reused && !x->got_any && tries == 0 && x->idempotent &&
		    x->streamed == 0) {
			conn_close(x->fd, x->tls, false);
			x->fd = -1;
			x->tls = NULL;
			x->len = x->pos = 0;
			r = send_request(x, true);
			if (r == H2_PICKED)
				r = -ECONNRESET; /* the host is forgotten: the next try is h2 */
			if (r == 0 && x->streaming && x->chunked)
				r = end_chunks(x); /* an empty body's last chunk, again */
			continue;
		}
		break;
	}
	if (scoped)
		coil_scope_exit(&s);
	if (r < 0)
		return fail(x, r);
	x->have_head = true;
	x->body_done = x->p.done;
	return x->p.status_code;
}

/* The calls on a response's head: -EINVAL before it came. */
static const struct coil__http_parse *head_of(const coil_http_exchange *x)
{
	return x && x->have_head ? &x->p : NULL;
}

int coil_http_exchange_version(const coil_http_exchange *x)
{
	const struct coil__http_parse *p = head_of(x);
	return p ? (int)p->version : -EINVAL;
}

int coil_http_exchange_header_count(const coil_http_exchange *x)
{
	if (x && x->h2 && x->have_head)
		return coil__h2c_header_count(x->h2);
	const struct coil__http_parse *p = head_of(x);
	return p ? (int)p->nfields : -EINVAL;
}

int coil_http_exchange_header_at(const coil_http_exchange *x, size_t i, struct coil_http_str *name,
				 struct coil_http_str *value)
{
	const struct coil__http_parse *p = head_of(x);
	if (!p || !name || !value)
		return -EINVAL;
	if (x->h2)
		return coil__h2c_header_at(x->h2, i, name, value);
	if (i >= p->nfields)
		return -ERANGE;
	*name = p->fields[i].name;
	*value = p->fields[i].value;
	return 0;
}

static int find_field(const struct coil__http_field *fields, unsigned n, const char *name,
		      struct coil_http_str *value)
{
	size_t nl = strlen(name);
	for (unsigned i = 0; i < n; i++) {
		const struct coil__http_field *f = &fields[i];
		if (f->name.len == nl && strncasecmp(f->name.ptr, name, nl) == 0) {
			*value = f->value;
			return 0;
		}
	}
	return -ENOENT;
}

int coil_http_exchange_header(const coil_http_exchange *x, const char *name,
			      struct coil_http_str *value)
{
	const struct coil__http_parse *p = head_of(x);
	if (!p || !name || !value)
		return -EINVAL;
	if (x->h2) {
		size_t nl = strlen(name);
		struct coil_http_str n;
		for (size_t i = 0; coil__h2c_header_at(x->h2, i, &n, value) == 0; i++)
			if (n.len == nl && !strncasecmp(n.ptr, name, nl))
				return 0;
		return -ENOENT;
	}
	return find_field(p->fields, p->nfields, name, value);
}

int64_t coil_http_exchange_content_length(const coil_http_exchange *x)
{
	const struct coil__http_parse *p = head_of(x);
	if (!p)
		return -EINVAL;
	if (x->h2)
		return coil__h2c_content_length(x->h2);
	if (x->body_done && p->body_bytes == 0)
		return 0; /* no body: HEAD, 1xx, 204, 304, or an empty one */
	if (p->chunked || coil__http_parse_needs_eof(p))
		return -1;
	return (int64_t)p->content_length;
}

ssize_t coil_http_exchange_read(coil_http_exchange *x, void *buf, size_t len)
{
	if (!x || (!buf && len))
		return -EINVAL;
	if (x->err)
		return x->err;
	if (!x->have_head)
		return -EBUSY;
	if (x->body_done || len == 0)
		return 0;
	coil_scope s;
	bool scoped = enter(x, &s);
	if (x->h2) {
		ssize_t n = coil__h2c_read(x->h2, buf, len);
		if (scoped)
			coil_scope_exit(&s);
		if (n == 0)
			x->body_done = true;
		return n < 0 ? fail(x, (int)n) : n;
	}
	ssize_t r = 0;
	while (!x->body_done) {
		if (x->pos == x->len) {
			x->pos = x->len = x->head_len;
			ssize_t n = more(x, x->head_len);
			if (n < 0) {
				r = n;
				break;
			}
			if (n == 0) {
				/* The body ends with the connection, or was cut. */
				if (!coil__http_parse_needs_eof(&x->p) ||
				    coil__http_parse_finish(&x->p))
					r = -ECONNRESET;
				else
					x->body_done = true;
				break;
			}
		}
		size_t n = x->len - x->pos;
		if (n > len)
			n = len; /* decoded bytes are never more than their encoding */
		size_t out;
		ssize_t used = coil__http_parse_body(&x->p, x->buf + x->pos, n, buf, &out);
		if (used < 0) {
			r = -EPROTO;
			break;
		}
		x->pos += (size_t)used;
		x->body_done = x->p.done;
		if (out) {
			r = (ssize_t)out;
			break;
		}
	}
	if (scoped)
		coil_scope_exit(&s);
	return r < 0 ? fail(x, (int)r) : r;
}

int coil_http_exchange_end(coil_http_exchange *x)
{
	if (!x)
		return 0;
	if (x->h2) {
		coil__h2c_end(x->h2); /* a stream not complete is reset */
		x->h2 = NULL;
		exchange_free(x);
		return 0;
	}
	/* Reusable: the server keeps it, the answer was read to its end and
	 * nothing came past it (nor waits in the TLS stream). */
	if (!x->err && x->have_head && x->body_done && x->p.keep_alive && x->pos == x->len &&
	    !coil__http_parse_needs_eof(&x->p) && !x->answered_early && !x->body_cut &&
	    (!x->tls || coil_tls_pending(x->tls) == 0)) {
		keep(x->cl, x->host, x->port, x->fd, x->tls);
		x->fd = -1;
		x->tls = NULL;
	}
	exchange_free(x);
	return 0;
}

/* ---- one exchange read whole ---- */

struct response_state {
	struct coil__http_field *fields;
	unsigned nfields;
};

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

int coil_http_client_response_header(const struct coil_http_client_response *res, const char *name,
				     struct coil_http_str *value)
{
	if (!res || !name || !value || !res->private_)
		return -EINVAL;
	const struct response_state *st = res->private_;
	return find_field(st->fields, st->nfields, name, value);
}

/* The head of an HTTP/2 exchange as text ("HTTP/2 200\r\nname: value\r\n"
 * ...), its fields' views into it, into res. */
static int take_head_h2(const struct coil_http_exchange *x, struct coil_http_client_response *res)
{
	struct response_state *st = calloc(1, sizeof *st);
	res->private_ = st;
	int n = coil_http_exchange_header_count(x);
	size_t cap = 32;
	struct coil_http_str name, value;
	for (int i = 0; i < n && coil_http_exchange_header_at(x, (size_t)i, &name, &value) == 0;
	     i++)
		cap += name.len + value.len + 4;
	res->head = malloc(cap);
	if (st)
		st->fields = malloc((n ? (size_t)n : 1) * sizeof *st->fields);
	if (!st || !st->fields || !res->head)
		return -ENOMEM;
	size_t len = (size_t)snprintf(res->head, cap, "HTTP/2 %d\r\n", x->p.status_code);
	for (int i = 0; i < n; i++) {
		coil_http_exchange_header_at(x, (size_t)i, &name, &value);
		char *at = res->head + len;
		memcpy(at, name.ptr, name.len);
		memcpy(at + name.len, ": ", 2);
		memcpy(at + name.len + 2, value.ptr, value.len);
		memcpy(at + name.len + 2 + value.len, "\r\n", 2);
		st->fields[i].name = (struct coil_http_str){at, name.len};
		st->fields[i].value = (struct coil_http_str){at + name.len + 2, value.len};
		len += name.len + value.len + 4;
	}
	memcpy(res->head + len, "\r\n", 3);
	res->head_len = len + 2;
	st->nfields = (unsigned)n;
	res->status = x->p.status_code;
	res->version = 20;
	return 0;
}

/* The head of x, its fields' views moved to the copy, into res. */
static int take_head(const struct coil_http_exchange *x, struct coil_http_client_response *res)
{
	if (x->h2)
		return take_head_h2(x, res);
	struct response_state *st = calloc(1, sizeof *st);
	unsigned n = x->p.nfields;
	res->head = malloc(x->head_len + 1);
	if (st)
		st->fields = malloc((n ? n : 1) * sizeof *st->fields);
	res->private_ = st;
	if (!st || !st->fields || !res->head)
		return -ENOMEM;
	memcpy(res->head, x->buf, x->head_len);
	res->head[x->head_len] = 0;
	res->head_len = x->head_len;
	for (unsigned i = 0; i < n; i++) {
		const struct coil__http_field *f = &x->p.fields[i];
		st->fields[i].name =
			(struct coil_http_str){res->head + (f->name.ptr - x->buf), f->name.len};
		st->fields[i].value =
			(struct coil_http_str){res->head + (f->value.ptr - x->buf), f->value.len};
	}
	st->nfields = n;
	res->status = x->p.status_code;
	res->version = (int)x->p.version;
	return 0;
}

static int read_body(coil_http_exchange *x, struct coil_http_client_response *res, uint64_t max)
{
	size_t cap = 0;
	for (;;) {
		if (res->body_len + BODY_ROOM + 1 > cap) {
			size_t n = cap ? cap * 2 : BODY_ROOM + 1;
			char *b = realloc(res->body, n);
			if (!b)
				return -ENOMEM;
			res->body = b;
			cap = n;
		}
		ssize_t n = coil_http_exchange_read(x, res->body + res->body_len, BODY_ROOM);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		res->body_len += (size_t)n;
		if (res->body_len > max)
			return -EMSGSIZE;
	}
	res->body[res->body_len] = 0;
	return 0;
}

int coil_http_client_send(coil_http_client *cl, const struct coil_http_client_request *rq,
			  struct coil_http_client_response *res)
{
	if (!res)
		return -EINVAL;
	memset(res, 0, sizeof *res);
	if (!rq || (!rq->body && rq->body_len))
		return -EINVAL;
	coil_http_exchange *x;
	int r = coil_http_exchange_start(cl, rq, &x);
	if (r < 0)
		return r;
	r = coil_http_exchange_response(x);
	if (r >= 0)
		r = take_head(x, res);
	if (r == 0)
		r = read_body(x, res, cl->cfg.max_body);
	coil_http_exchange_end(x);
	if (r < 0)
		coil_http_client_response_free(res);
	return r;
}
