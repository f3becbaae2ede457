/*
 * One HTTP/1.1 connection in one fiber: read a head, call the handler,
 * finish its response, drop what it left of the body, go on with the next
 * request (keep-alive, pipelining) or close. See conn.h for the buffer.
 *
 * Time limits are scopes around the waits: between requests the idle
 * timeout (the first request: the head timeout from the accept); from the
 * first wait for more of a head, the head timeout for the whole head (a deadline
 * per read alone would let a slow client keep the connection for ever);
 * each body read and each write, the I/O timeout.
 */
#include "http/conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http/h2.h"
#include "http/scan.h"
#include "sched/sched.h"
#include "tls/tls.h"

static int64_t deadline_in(int64_t timeout)
{
	return timeout > 0 ? coil_now() + timeout : COIL_NO_DEADLINE;
}

/* ---- memory: held while a request is served ------------------------------ */

/*
 * Each worker thread keeps a few blocks that connections gave back: a
 * request would otherwise malloc and free some 40 KiB, and glibc hands
 * such a block back to the kernel when it tops the heap (brk, then page
 * faults to touch it again): measured at 5x the CPU of a hello request.
 * The blocks of a thread are freed when it exits (a key's destructor);
 * worker 0's stay reachable through its thread-locals.
 */
#define MEM_CACHE 64

struct mem_block {
	struct mem_block *next;
	size_t size;
};

static __thread struct mem_block *mem_cache;
static __thread unsigned mem_cached;
static pthread_key_t mem_key;
static pthread_once_t mem_once = PTHREAD_ONCE_INIT;

static void mem_cache_drop(void *unused)
{
	(void)unused;
	while (mem_cache) {
		struct mem_block *b = mem_cache;
		mem_cache = b->next;
		free(b);
	}
	mem_cached = 0;
}

static void mem_key_make(void)
{
	pthread_key_create(&mem_key, mem_cache_drop);
}

static void *mem_alloc(size_t size)
{
	struct mem_block *b = mem_cache;
	if (b && b->size == size) {
		mem_cache = b->next;
		mem_cached--;
		return b;
	}
	return malloc(size);
}

static void mem_free(void *p, size_t size)
{
	if (!p)
		return;
	if (mem_cached == 0) {
		pthread_once(&mem_once, mem_key_make);
		pthread_setspecific(mem_key, &mem_cache); /* any non-NULL: the destructor runs */
	}
	if (mem_cached >= MEM_CACHE || (mem_cache && mem_cache->size != size)) {
		free(p);
		return;
	}
	struct mem_block *b = p;
	b->size = size;
	b->next = mem_cache;
	mem_cache = b;
	mem_cached++;
}

static size_t mem_size(const struct coil_http_config *cfg)
{
	return cfg->max_fields * sizeof(struct coil__http_field) + cfg->max_head +
	       COIL__HTTP_BODY_ROOM + COIL__HTTP_HDRS_CAP + COIL__HTTP_OUT_CAP;
}

static int mem_get(struct coil__http_conn *c)
{
	if (c->mem)
		return 0;
	const struct coil_http_config *cfg = c->cfg;
	size_t in_cap = cfg->max_head + COIL__HTTP_BODY_ROOM;
	size_t fields = cfg->max_fields * sizeof(struct coil__http_field);
	char *m = mem_alloc(mem_size(cfg));
	if (!m)
		return -ENOMEM;
	c->mem = m;
	c->parse.fields = (struct coil__http_field *)(void *)m;
	c->in = m + fields;
	c->in_cap = in_cap;
	c->hdrs = c->in + in_cap;
	c->out = c->hdrs + COIL__HTTP_HDRS_CAP;
	c->in_len = c->pos = c->head_at = c->head_len = 0;
	c->out_len = 0;
	return 0;
}

/* Only with nothing buffered either way. */
static void mem_put(struct coil__http_conn *c)
{
	mem_free(c->mem, mem_size(c->cfg));
	c->mem = NULL;
	c->in = c->hdrs = c->out = NULL;
	c->parse.fields = NULL;
	c->in_len = c->pos = c->head_at = c->head_len = c->out_len = 0;
}

/* ---- output -------------------------------------------------------------- */

bool coil__http_io_scope_enter(const struct coil__http_conn *c, coil_scope *s)
{
	return c->cfg->io_timeout > 0 && coil_scope_enter_timeout(s, c->cfg->io_timeout) == 0;
}

int coil__http_conn_write_all(struct coil__http_conn *c, const void *p, size_t n)
{
	coil_scope s;
	bool scoped = coil__http_io_scope_enter(c, &s);
	ssize_t r = c->tls ? coil_tls_write_all(c->tls, p, n) : coil_sock_write_all(c->fd, p, n);
	if (scoped)
		coil__scope_leave(&s);
	if (r < 0) {
		c->werr = (int)r;
		return (int)r;
	}
	return 0;
}

int coil__http_conn_flush(struct coil__http_conn *c)
{
	if (c->werr)
		return c->werr;
	if (c->out_len == 0)
		return 0;
	size_t n = c->out_len;
	c->out_len = 0;
	return coil__http_conn_write_all(c, c->out, n);
}

int coil__http_conn_put(struct coil__http_conn *c, const void *p, size_t n)
{
	if (c->werr)
		return c->werr;
	if (n > COIL__HTTP_OUT_CAP - c->out_len) {
		int r = coil__http_conn_flush(c);
		if (r < 0)
			return r;
		if (n > COIL__HTTP_OUT_CAP / 2)
			return coil__http_conn_write_all(c, p, n); /* large: not through the buffer */
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* ---- an idle HTTPS connection's stack ----------------------------------- */

/*
 * A TLS handshake runs 12 KiB (P-256) to 16 KiB (RSA-2048) deep in the
 * connection's fiber, a request about 4 KiB: the pages below stay resident
 * for the connection's life. The first time an HTTPS connection waits for
 * its next request (the handshake behind it) it gives them back, once:
 * about a microsecond, and the faults of touching them again if a later
 * request goes as deep.
 */
static void trim_stack(void)
{
	struct coil__fiber *f = coil__self();
	if (f && f->stack)
		coil__stack_trim(f->stack);
}

/* HTTPS keep-alive and OpenSSL's record buffers (~16 KiB each way): a
 * connection whose next request comes within TLS_HOT_NS of its last answer
 * keeps them from request to request (no malloc and free of both per
 * request, which nginx pays: ~1.2k of ~22k instructions); one that has
 * been quiet that long, or has made one request only, holds none while it
 * waits, as a stream does after every record by default. At least
 * COIL__TIMER_FAR_NS, so its deadline takes sched's O(1) list. */
#define TLS_HOT_NS (2 * (int64_t)COIL_NSEC_PER_SEC)
_Static_assert(TLS_HOT_NS >= COIL__TIMER_FAR_NS, "the hot wait's deadline must be a far one");

/* Wait for the next request until deadline (read at now). */
static ssize_t wait_next(struct coil__http_conn *c, int64_t now, int64_t deadline)
{
	if (!c->tls || deadline - now <= TLS_HOT_NS)
		return coil__http_server_idle_wait(c->srv, c, deadline);
	ssize_t n = coil__http_server_idle_wait(c->srv, c, now + TLS_HOT_NS);
	if (n != -ETIMEDOUT) {
		if (n > 0 && !c->tls_hot) {
			c->tls_hot = true;
			coil__tls_keep_buffers(c->tls, true);
		}
		return n;
	}
	if (c->tls_hot) {
		c->tls_hot = false;
		coil__tls_keep_buffers(c->tls, false);
	}
	return coil__http_server_idle_wait(c->srv, c, deadline);
}

/* ---- input --------------------------------------------------------------- */

/* Have the reader lend bytes (c->lent), flushing the output first: the
 * client may be waiting for it before it sends more. */
static ssize_t recv_lent(struct coil__http_conn *c)
{
	if (c->lent_len)
		return (ssize_t)c->lent_len;
	if (c->rerr)
		return c->rerr;
	if (c->eof)
		return 0;
	if (c->out_len) {
		int r = coil__http_conn_flush(c);
		if (r < 0)
			return r;
	}
	const void *p;
	ssize_t n;
	if (c->tls) {
		/* Lent by the stream, which holds no buffer while it waits:
		 * take() copies the bytes out before the next read. */
		n = coil_tls_read_lent(c->tls, &p);
	} else {
		n = coil_reader_read(c->rd, &p);
	}
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	if (n < 0) {
		if (n != -ETIMEDOUT && n != -ECANCELED)
			c->rerr = (int)n; /* nothing was lost on those two */
		return n;
	}
	c->lent = p;
	c->lent_len = (size_t)n;
	return n;
}

/* Copy lent bytes into in[in_len ..]. */
static size_t take(struct coil__http_conn *c)
{
	size_t n = c->in_cap - c->in_len;
	if (n > c->lent_len)
		n = c->lent_len;
	memcpy(c->in + c->in_len, c->lent, n);
	c->in_len += n;
	c->lent += n;
	c->lent_len -= n;
	return n;
}

ssize_t coil__http_conn_fill(struct coil__http_conn *c)
{
	ssize_t r = recv_lent(c);
	if (r <= 0)
		return r;
	return c->mem ? (ssize_t)take(c) : r;
}

ssize_t coil__http_conn_fill_body(struct coil__http_conn *c)
{
	c->in_len = c->pos = c->head_at + c->head_len;
	coil_scope s;
	bool scoped = coil__http_io_scope_enter(c, &s);
	ssize_t n = coil__http_conn_fill(c);
	if (scoped)
		coil__scope_leave(&s);
	return n;
}

/* ---- the head ------------------------------------------------------------ */

/* Move the unparsed bytes to the front (no view into them is held). */
static void compact(struct coil__http_conn *c)
{
	size_t n = c->in_len - c->pos;
	if (c->pos)
		memmove(c->in, c->in + c->pos, n);
	c->in_len = n;
	c->pos = 0;
}

/* read_head's deadline when the head's own timeout starts at its first
 * wait: a head that is already whole (most are) costs no clock read. */
#define HEAD_DEADLINE_AT_FIRST_WAIT INT64_MIN

/* Read and parse the next head, until deadline. Returns 0 (parsed), a
 * status to answer (then close), or -1: close without a word (the client
 * left, or went quiet before sending anything). The head starts at pos:
 * pipelined requests are parsed where they lie, and the buffer is
 * compacted only when its end is near (a move per request would copy
 * the whole backlog each time). */
static int read_head(struct coil__http_conn *c, int64_t deadline)
{
	const struct coil_http_config *cfg = c->cfg;
	struct coil__http_scan s;
	coil__http_scan_head(&s);
	coil_scope scope;
	bool scoped = false;
	int status = -1;
	size_t end = 0;
	/* What the idle wait was lent (it holds no buffer): most heads are
	 * whole in it, and then need no wait and no deadline. */
	if (c->lent_len && c->in_len < c->in_cap)
		take(c);
	for (;;) {
		status = coil__http_find_head(&s, c->in, c->in_len, &c->pos, cfg->max_head, &end);
		c->head_at = c->pos;
		if (status != COIL__HTTP_HEAD_MORE)
			break;
		if (c->in_len == c->in_cap)
			compact(c); /* the scan's position is relative: it holds */
		if (!scoped) {
			if (deadline == HEAD_DEADLINE_AT_FIRST_WAIT)
				deadline = deadline_in(cfg->head_timeout);
			scoped = deadline != COIL_NO_DEADLINE &&
				 coil_scope_enter(&scope, deadline) == 0;
		}
		ssize_t n = coil__http_conn_fill(c);
		if (n <= 0) {
			/* Out of time with part of a head: 408; quiet before,
			 * the client's end, an error: just close. */
			status = n == -ETIMEDOUT && c->in_len > c->pos ? 408 : -1;
			break;
		}
	}
	if (scoped)
		coil__scope_leave(&scope);
	if (status != 0)
		return status;
	/* Room for the body after the head: move the head to the front if
	 * it lies near the end (before any view into it exists). */
	if (c->in_cap - (c->head_at + end) < COIL__HTTP_BODY_ROOM) {
		compact(c);
		c->head_at = 0;
	}
	struct coil__http_parse *p = &c->parse;
	coil__http_parse_next(p);
	p->max_target = cfg->max_target;
	p->max_fields = cfg->max_fields;
	p->max_chunk_ext = cfg->max_chunk_ext;
	p->max_trailers = cfg->max_head;
	p->max_body = UINT64_MAX; /* set at the first read: the handler may change it */
	c->head_len = end;
	c->pos = c->head_at + end;
	return coil__http_parse_head(p, c->in + c->head_at, end);
}

/* ---- between requests ---------------------------------------------------- */

static bool header_is(struct coil__http_conn *c, const char *name, const char *value)
{
	struct coil_http_str v;
	if (coil_http_request_header(&c->req, name, &v) != 0)
		return false;
	size_t n = strlen(value);
	return v.len == n && strncasecmp(v.ptr, value, n) == 0;
}

/* Read and drop what the handler left of the body, to keep the
 * connection. Returns 0, or -1: close instead. */
static __attribute__((noinline)) int drain_body(struct coil__http_conn *c)
{
	struct coil__http_parse *p = &c->parse;
	if (c->expect_continue)
		return -1; /* the client waits for a 100 that will not come */
	if (!p->chunked && p->content_length - p->body_bytes > c->cfg->max_drain)
		return -1;
	p->max_body = UINT64_MAX;
	uint64_t dropped = 0;
	char scratch[2048];
	while (!p->done) {
		if (c->pos == c->in_len) {
			ssize_t n = coil__http_conn_fill_body(c);
			if (n <= 0)
				return -1;
		}
		size_t n = c->in_len - c->pos;
		if (n > sizeof scratch)
			n = sizeof scratch;
		size_t out;
		ssize_t used = coil__http_parse_body(p, c->in + c->pos, n, scratch, &out);
		if (used < 0)
			return -1;
		c->pos += (size_t)used;
		dropped += out;
		if (dropped > c->cfg->max_drain)
			return -1;
	}
	return 0;
}

/* Lingering after an error answer, or after the last answer while the
 * client still sends: it may be in the middle of a large upload or a deep
 * pipeline, so read a good deal of it. */
#define LINGER_MAX ((uint64_t)64 << 20)

/* Out of line: its scope stays off the connection loop's frame. */
__attribute__((noinline)) void coil__http_conn_linger(struct coil__http_conn *c,
						      uint64_t max_bytes)
{
	if (coil__http_conn_flush(c) < 0 || c->eof || c->rerr)
		return;
	if (c->tls)
		coil_tls_shutdown(c->tls); /* close_notify: our side is done */
	else
		coil_sock_shutdown(c->fd, SHUT_WR);
	if (c->cfg->linger_timeout <= 0)
		return;
	coil_scope s;
	if (coil_scope_enter_timeout(&s, c->cfg->linger_timeout) != 0)
		return;
	for (uint64_t dropped = 0; dropped < max_bytes;) {
		ssize_t n = recv_lent(c);
		if (n <= 0)
			break;
		dropped += (uint64_t)n;
		c->lent_len = 0;
	}
	coil__scope_leave(&s);
}

/* The request's own state, before its handler. */
static void start_request(struct coil__http_conn *c)
{
	c->body_started = false;
	c->body_status = 0;
	c->body_err = 0;
	c->max_body = c->cfg->max_body;
	struct coil_http_str m = c->parse.method;
	c->head_request = m.len == 4 && memcmp(m.ptr, "HEAD", 4) == 0;
	c->expect_continue = false;
	coil__http_response_reset(c);
}

/* Returns true to go on with the next request. */
static bool serve_request(struct coil__http_conn *c)
{
	struct coil__http_parse *p = &c->parse;
	start_request(c);
	c->served++;
	struct coil_http_str expect;
	/* Expect means nothing in HTTP/1.0 (RFC 9110 10.1.1). */
	if (p->version == 11 && coil_http_request_header(&c->req, "expect", &expect) == 0) {
		if (!header_is(c, "expect", "100-continue")) {
			coil__http_respond_error(c, 417);
			return false;
		}
		c->expect_continue = !p->done;
	}
	int r = coil__http_server_handle(c->srv, &c->req, &c->res);
	if (c->body_status && !c->head_sent) {
		/* The body broke a limit or the framing: answer that. */
		coil__http_respond_error(c, c->body_status);
		coil__http_conn_linger(c, LINGER_MAX);
		return false;
	}
	if (r < 0) {
		if (!c->head_sent)
			coil__http_respond_error(c, 500);
		return false;
	}
	if (!c->ended && coil_http_response_end(&c->res, NULL, 0) < 0)
		return false;
	if (c->werr || c->body_status)
		return false;
	if (c->close_after) {
		/* The client sent more than we answer (pipelined past
		 * max_requests or a shutdown, or after its own close): a close
		 * on unread input resets the connection, which can destroy
		 * the answers in the client's receive queue. Drop what it
		 * sends until it closes, as nginx lingers when input waits. */
		if (c->pos < c->in_len || c->lent_len)
			coil__http_conn_linger(c, LINGER_MAX);
		return false;
	}
	if (!p->done && drain_body(c) < 0) {
		/* Too much left unread to keep the connection: close it, but
		 * not before the client had time to read the answer (a proxy
		 * relaying an upstream's early 413, say). */
		coil__http_conn_linger(c, LINGER_MAX);
		return false;
	}
	return true;
}

/* HTTP/2 (cfg->http2): by ALPN over TLS (the handshake made first, under
 * the first request's deadline), by its preface on plaintext. Returns
 * true when the connection is done (served as HTTP/2, or ended before a
 * request), false to serve it as HTTP/1.1. */
static bool serve_h2(struct coil__http_conn *c, int64_t deadline)
{
	if (c->tls) {
		coil_scope s;
		bool scoped = deadline != COIL_NO_DEADLINE && coil_scope_enter(&s, deadline) == 0;
		int r = coil_tls_handshake(c->tls);
		if (scoped)
			coil__scope_leave(&s);
		if (r < 0) {
			c->rerr = r;
			return true;
		}
		const char *alpn = coil_tls_alpn(c->tls);
		if (!alpn || strcmp(alpn, "h2") != 0)
			return false;
	} else {
		if (coil__http_server_idle_wait(c->srv, c, deadline) <= 0)
			return true;
		if (!coil__h2_is_preface(c->lent, c->lent_len))
			return false;
	}
	coil__h2_serve(c);
	return true;
}

void coil__http_conn_serve(struct coil_http_server *srv, int fd)
{
	struct coil__http_conn conn = {0};
	struct coil__http_conn *c = &conn;
	c->srv = srv;
	c->fd = fd;
	c->req.c = c;
	c->res.c = c;
	c->task = coil_task_current();
	if (!coil__http_server_enter(srv, c)) {
		coil_close(fd);
		return;
	}
	c->cfg = coil__http_server_config(srv);
	int64_t first_deadline = deadline_in(c->cfg->head_timeout);
	coil__http_parse_init(&c->parse, NULL);
	coil_tcp_nodelay(fd, 1);
	/* HTTPS: the handshake is made by the first read, under the first
	 * request's deadline. */
	if (c->cfg->tls ? coil_tls_open(&c->tls, c->cfg->tls, fd, NULL) < 0
			: coil_reader_open(&c->rd, fd) < 0)
		goto out;
	for (bool h2 = c->cfg->http2 && serve_h2(c, first_deadline); !h2;) {
		bool first = c->served == 0;
		if (!c->mem || (c->pos == c->in_len && !c->lent_len)) {
			/* Nothing buffered: wait holding no memory. */
			if (c->mem && c->out_len && coil__http_conn_flush(c) < 0)
				break;
			mem_put(c);
			if (c->tls && c->served == 1)
				trim_stack();
			if (first) {
				if (coil__http_server_idle_wait(srv, c, first_deadline) <= 0)
					break;
			} else {
				int64_t now = coil_now();
				int64_t idle = c->cfg->idle_timeout;
				if (wait_next(c, now, idle > 0 ? now + idle : COIL_NO_DEADLINE) <= 0)
					break;
			}
		}
		if (mem_get(c) < 0)
			break;
		c->head_request = false; /* an error answer before the head has a body */
		int status = read_head(c, first ? first_deadline : HEAD_DEADLINE_AT_FIRST_WAIT);
		if (status < 0)
			break;
		if (status > 0) {
			coil__http_respond_error(c, status);
			coil__http_conn_linger(c, LINGER_MAX);
			break;
		}
		/* h2c by Upgrade: the connection is HTTP/2's from here. */
		if (coil__h2_upgrade(c))
			break;
		if (!serve_request(c))
			break;
		if (c->served >= c->cfg->max_requests || coil__http_server_draining(srv))
			break;
	}
	if (c->mem)
		coil__http_conn_flush(c);
	if (c->tls) {
		if (!c->werr && !c->rerr) {
			coil_scope s; /* close_notify, unless the stream failed */
			bool scoped = coil__http_io_scope_enter(c, &s);
			coil_tls_shutdown(c->tls);
			if (scoped)
				coil__scope_leave(&s);
		}
		coil_tls_free(c->tls);
	} else {
		coil_reader_close(c->rd);
	}
out:
	mem_put(c);
	coil_close(fd);
	coil__http_server_leave(srv, c);
}
