/*
 * HTTP/2 on the server (nghttp2 1.52), with the handlers of HTTP/1.1.
 *
 * One fiber, the connection's (the owner), holds the nghttp2_session: it
 * reads, feeds nghttp2_session_mem_recv, and writes what
 * nghttp2_session_mem_send makes, coalesced into writes of up to
 * COIL__H2_OUT_CAP bytes (h2_out.h: the only output it buffers). Each
 * request's handler runs in a fiber of its own and never touches the
 * session: it works on its stream's state under the connection's lock (a
 * pthread mutex, held for a few instructions, never across a wait), puts the
 * stream on the connection's queue and wakes the owner by cancelling the
 * scope of the owner's read (a cancelled read loses nothing). The owner
 * takes the queue and makes the session calls (submit the response, resume
 * its data, give back the window of the bytes read). A handler waits for the
 * owner on its stream's semaphore (room for its output, input for its
 * reads), under cfg->io_timeout.
 *
 * Flow control both ways: the client's windows hold back the data provider
 * (a handler blocks once its stream's STREAM_OUT_CAP bytes wait), and the
 * server's windows are given back only as a handler reads (automatic
 * WINDOW_UPDATE off), so a stream never buffers more than
 * COIL__H2_STREAM_WINDOW bytes of request body (h2_common.h).
 *
 * A stream is freed by the owner once nghttp2 closed it and its handler
 * has ended (joined). on_stream_close never fails (a fatal error there
 * leaks the stream on 1.52).
 */
#include "http/h2.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coil.h"
#include "http/conn.h"
#include "http/date.h"
#include "http/h2_common.h"
#include "http/h2_out.h"
#include "sched/scope.h"

/* Response body bytes a stream holds for the data provider. */
#define STREAM_OUT_CAP 16384
/* Bytes read and dropped at the end (coil__http_conn_linger): well past
 * what our windows let a client have in flight (COIL__H2_CONN_WINDOW of
 * DATA, and its control frames) and what the worker's receive buffers may
 * hold of it already (4 MiB by default); a client that goes on sending is
 * cut. */
#define LINGER_MAX ((uint64_t)16 << 20)

struct coil__h2_stream {
	struct coil__h2_conn *h;
	int32_t id;
	struct coil__h2_stream *prev, *next; /* every stream (owner only) */
	struct coil__h2_stream *qnext;	     /* the queue (under lock) */
	struct coil__h2_stream *tnext;	     /* the queue as the owner took it */
	bool queued;
	coil_task task;
	bool has_task, joined;
	coil_sem wake;
	bool waiting; /* the handler waits on wake (under lock) */

	/* The request: built by the owner, read-only once the handler runs. */
	struct coil__h2_head head;
	size_t method_at, method_len, target_at, target_len, auth_at, auth_len;
	bool has_method, has_target, has_auth, has_host;
	int64_t content_length; /* -1: not announced */
	int reject;		/* a status to answer without the handler */
	bool head_request;

	/* Shared with the owner, under the connection's lock. */
	struct coil__h2_in in; /* request body received, not yet read */
	bool in_eof;	       /* END_STREAM came */
	size_t unconsumed;     /* read by the handler: window to give back */
	bool closed;	       /* nghttp2 closed the stream */
	bool head_ready;       /* the handler's head may go */
	char *out;	       /* body bytes for the data provider */
	size_t out_off, out_len;
	bool end; /* the handler's body is complete */
	bool rst; /* the handler asks for a reset */
	bool handler_done;

	/* The owner's. */
	bool head_submitted, deferred, rst_sent;

	/* The handler's. */
	int status;
	char *rh; /* response headers: "name\0value\0"... */
	size_t rh_len;
	bool has_length, head_sent, ended, no_body, body_started;
	uint64_t length, sent, max_body, body_bytes;
	int body_status;
	ssize_t body_err;
	int werr;

	struct coil_http_request req;
	struct coil_http_response res;
};

struct coil__h2_conn {
	struct coil__http_conn *c;
	const struct coil_http_config *cfg;
	nghttp2_session *ng;
	pthread_mutex_t lock;
	struct coil__h2_stream *qhead, *qtail; /* the queue (under lock) */
	struct coil__h2_park park;	       /* the owner's read (under lock) */
	bool draining;			       /* the server shuts down (under lock) */
	bool dead;			       /* the connection is gone (under lock) */
	struct coil__h2_stream *streams;       /* owner only */
	unsigned nstreams;		       /* open in nghttp2 */
	unsigned nlive;			       /* allocated (handler or nghttp2 still on them) */
	bool goaway;
	unsigned started;   /* requests started: cfg->max_requests, then GOAWAY */
	int64_t progress;   /* the last request or response byte moved */
	int64_t head_since; /* a header block started, not ended; 0: none */
	bool spawned;	    /* handlers were started since the last yield */
	char *out;
	size_t out_len;
	int err; /* a write or protocol error: the connection ends */
};

bool coil__h2_is_preface(const char *p, size_t n)
{
	if (n < 3)
		return false;
	if (n > COIL__H2_PREFACE_LEN)
		n = COIL__H2_PREFACE_LEN;
	return memcmp(p, COIL__H2_PREFACE, n) == 0;
}

static int64_t deadline_in(int64_t timeout)
{
	return timeout > 0 ? coil_now() + timeout : COIL_NO_DEADLINE;
}

/* ---- the queue: handlers to the owner ----------------------------------- */

/* Under lock: have the owner look at st, waking it if it waits. */
static void post_locked(struct coil__h2_stream *st)
{
	struct coil__h2_conn *h = st->h;
	if (!st->queued) {
		st->queued = true;
		st->qnext = NULL;
		if (h->qtail)
			h->qtail->qnext = st;
		else
			h->qhead = st;
		h->qtail = st;
	}
	coil__h2_wake_locked(&h->park);
}

/* Under lock: wake st's handler if it waits. */
static void wake_locked(struct coil__h2_stream *st)
{
	if (st->waiting) {
		st->waiting = false;
		coil_sem_release(&st->wake);
	}
}

static void unqueue_locked(struct coil__h2_stream *st)
{
	struct coil__h2_conn *h = st->h;
	if (!st->queued)
		return;
	struct coil__h2_stream **pp = &h->qhead, *prev = NULL;
	while (*pp && *pp != st) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (*pp) {
		*pp = st->qnext;
		if (h->qtail == st)
			h->qtail = prev;
	}
	st->queued = false;
}

void coil__h2_drain(struct coil__h2_conn *h)
{
	pthread_mutex_lock(&h->lock);
	h->draining = true;
	coil__h2_wake_locked(&h->park);
	pthread_mutex_unlock(&h->lock);
}

/* The handler waits for the owner, the lock held (and held again after).
 * Returns 0 or -ETIMEDOUT / -ECANCELED. */
static int wait_owner(struct coil__h2_stream *st, int64_t deadline)
{
	st->waiting = true;
	pthread_mutex_unlock(&st->h->lock);
	coil_scope s;
	int r = coil_scope_enter(&s, deadline);
	if (r == 0) {
		r = coil_sem_acquire(&st->wake);
		coil__scope_leave(&s);
	}
	pthread_mutex_lock(&st->h->lock);
	st->waiting = false; /* a release that came late leaves a unit: harmless */
	return r;
}

/* ---- streams ------------------------------------------------------------- */

static struct coil__h2_stream *stream_new(struct coil__h2_conn *h, int32_t id)
{
	struct coil__h2_stream *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->h = h;
	st->id = id;
	st->content_length = -1;
	st->status = 200;
	st->max_body = h->cfg->max_body;
	st->req.c = h->c;
	st->req.h2 = st;
	st->res.c = h->c;
	st->res.h2 = st;
	coil_sem_init(&st->wake, 0);
	st->next = h->streams;
	if (st->next)
		st->next->prev = st;
	h->streams = st;
	h->nlive++;
	return st;
}

static void stream_free(struct coil__h2_stream *st)
{
	struct coil__h2_conn *h = st->h;
	pthread_mutex_lock(&h->lock);
	unqueue_locked(st);
	pthread_mutex_unlock(&h->lock);
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	h->nlive--;
	coil_sem_destroy(&st->wake);
	free(st->head.buf);
	free(st->head.fields);
	free(st->in.buf);
	free(st->out);
	free(st->rh);
	free(st);
}

/* The owner: free st if nobody needs it any more. */
static void stream_maybe_free(struct coil__h2_stream *st)
{
	if (st->closed && (!st->has_task || st->joined))
		stream_free(st);
}

/* ---- the request's head (owner) ----------------------------------------- */

static bool name_is(const uint8_t *name, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(name, lit, len) == 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct coil__h2_conn *h = ud;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	h->head_since = coil_now();
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct coil__h2_stream *st = stream_new(h, frame->hd.stream_id);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
	/* Handlers of reset streams may still run: bound them too. */
	if (h->nlive > 2 * h->cfg->h2_max_streams)
		st->reject = -1;
	h->nstreams++;
	nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct coil__h2_conn *h = ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers: not kept */
	struct coil__h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!st || st->reject)
		return 0;
	const struct coil_http_config *cfg = h->cfg;
	/* The head's limits of HTTP/1.1: its bytes (as HPACK counts them,
	 * 32 per field), its fields, its target. */
	st->head.size += namelen + valuelen + 32;
	if (st->head.size > cfg->max_head) {
		st->reject = 431;
		return 0;
	}
	if (namelen && name[0] == ':') {
		if (name_is(name, namelen, ":method")) {
			if (coil__h2_head_copy(&st->head, value, valuelen, &st->method_at) < 0)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			st->method_len = valuelen;
			st->has_method = true;
			st->head_request = name_is(value, valuelen, "HEAD");
		} else if (name_is(name, namelen, ":path")) {
			if (valuelen > cfg->max_target) {
				st->reject = 414;
				return 0;
			}
			if (coil__h2_head_copy(&st->head, value, valuelen, &st->target_at) < 0)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			st->target_len = valuelen;
			st->has_target = true;
		} else if (name_is(name, namelen, ":authority")) {
			if (coil__h2_head_copy(&st->head, value, valuelen, &st->auth_at) < 0)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			st->auth_len = valuelen;
			st->has_auth = true;
		}
		return 0;
	}
	if (st->head.nfields + 2 > cfg->max_fields + 1) { /* room for host from :authority */
		st->reject = 431;
		return 0;
	}
	/* One entry spare: head_done may add host. */
	if (coil__h2_head_field(&st->head, name, namelen, value, valuelen, 1) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (name_is(name, namelen, "host"))
		st->has_host = true;
	if (name_is(name, namelen, "content-length"))
		st->content_length = coil__h2_head_length(value, valuelen);
	return 0;
}

/* The head is complete: views into its buffer; :authority as a Host
 * field when the request has none (handlers look for Host). */
static void head_done(struct coil__h2_stream *st)
{
	struct coil__h2_head *hd = &st->head;
	coil__h2_head_done(hd);
	if (st->has_auth && !st->has_host && hd->fields) {
		memmove(hd->fields + 1, hd->fields, hd->nfields * sizeof *hd->fields);
		hd->fields[0].name = (struct coil_http_str){"host", 4};
		hd->fields[0].value = (struct coil_http_str){hd->buf + st->auth_at, st->auth_len};
		hd->nfields++;
	} else if (st->has_auth && !st->has_host) {
		hd->fields = malloc(sizeof *hd->fields);
		if (hd->fields) {
			hd->fields_cap = 0;
			hd->fields[0].name = (struct coil_http_str){"host", 4};
			hd->fields[0].value =
				(struct coil_http_str){hd->buf + st->auth_at, st->auth_len};
			hd->nfields = 1;
		}
	}
}

/* ---- the response (owner) ------------------------------------------------ */

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct coil__h2_stream *st = src->ptr;
	struct coil__h2_conn *h = ud;
	pthread_mutex_lock(&h->lock);
	size_t n = st->out_len - st->out_off;
	if (n > length)
		n = length;
	if (n) {
		memcpy(buf, st->out + st->out_off, n);
		st->out_off += n;
		if (st->out_off == st->out_len)
			st->out_off = st->out_len = 0;
		wake_locked(st); /* room for more */
	}
	bool eof = st->end && st->out_len == 0;
	pthread_mutex_unlock(&h->lock);
	if (eof) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	} else if (n == 0) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	h->progress = coil_now();
	return (ssize_t)n;
}

/* Submit st's response head (and its data provider). */
static void submit_head(struct coil__h2_conn *h, struct coil__h2_stream *st)
{
	nghttp2_nv nv[COIL__HTTP_HDRS_CAP / 4 + 4];
	size_t n = 0;
	char status[8], length[24];
	snprintf(status, sizeof status, "%d", st->status);
	nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0};
	size_t dl;
	const char *date = coil__http_date(&dl); /* "Date: ...\r\n" */
	if (dl > 8)
		nv[n++] = (nghttp2_nv){(uint8_t *)"date", (uint8_t *)date + 6, 4, dl - 8, 0};
	for (size_t at = 0; at < st->rh_len && n + 2 < sizeof nv / sizeof *nv;) {
		char *name = st->rh + at;
		size_t nl = strlen(name);
		char *value = name + nl + 1;
		size_t vl = strlen(value);
		nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, nl, vl, 0};
		at += nl + vl + 2;
	}
	bool bodiless = st->status == 204 || st->status == 304;
	if (st->has_length && (!bodiless || st->status == 304)) {
		snprintf(length, sizeof length, "%llu", (unsigned long long)st->length);
		nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length, 14,
				       strlen(length), 0};
	}
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = data_read};
	int r = nghttp2_submit_response(h->ng, st->id, nv, n, st->no_body ? NULL : &dp);
	if (r < 0)
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
	st->head_submitted = true;
}

/* Answer status without a handler (a limit of the head). */
static void answer(struct coil__h2_conn *h, struct coil__h2_stream *st, int status)
{
	char body[64];
	int n = snprintf(body, sizeof body, "%d\n", status);
	st->status = status;
	st->out = malloc((size_t)n);
	if (!st->out) {
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	memcpy(st->out, body, (size_t)n);
	st->out_len = (size_t)n;
	st->end = true;
	st->has_length = true;
	st->length = (uint64_t)n;
	st->no_body = st->head_request;
	submit_head(h, st);
}

static void *stream_main(void *arg);

/* The request's head is complete: start its handler. */
static void start_stream(struct coil__h2_conn *h, struct coil__h2_stream *st, bool end_stream)
{
	st->in_eof = end_stream;
	h->progress = coil_now();
	if (st->reject < 0 || h->goaway) {
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
		return;
	}
	/* The per-connection limit of HTTP/1.1 (where it is "Connection:
	 * close"): this stream is the last one served; the client opens a
	 * new connection for the next (those it sent past it are refused,
	 * hence safe to retry). */
	if (++h->started >= h->cfg->max_requests) {
		h->goaway = true;
		nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR, NULL, 0);
	}
	if (st->reject) {
		answer(h, st, st->reject);
		return;
	}
	if (!st->has_method || !st->has_target) { /* CONNECT: nghttp2 checked */
		answer(h, st, 400);
		return;
	}
	head_done(st);
	if (coil_task_spawn(&st->task, stream_main, st) < 0) {
		answer(h, st, 503);
		return;
	}
	st->has_task = true;
	h->spawned = true;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct coil__h2_conn *h = ud;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	struct coil__h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (frame->hd.type == NGHTTP2_HEADERS)
		h->head_since = 0;
	if (!st)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
		start_stream(h, st, end_stream);
		return 0;
	}
	if (end_stream) {
		pthread_mutex_lock(&h->lock);
		st->in_eof = true;
		wake_locked(st);
		pthread_mutex_unlock(&h->lock);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct coil__h2_conn *h = ud;
	struct coil__h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
	h->progress = coil_now();
	bool keep = false;
	if (st && st->has_task) {
		pthread_mutex_lock(&h->lock);
		int r = coil__h2_in_put(&st->in, data, len);
		if (r < 0) {
			pthread_mutex_unlock(&h->lock);
			nghttp2_session_consume(ng, id, len);
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id,
						  NGHTTP2_INTERNAL_ERROR);
			return 0;
		}
		if (r > 0) {
			wake_locked(st);
			keep = true;
		}
		pthread_mutex_unlock(&h->lock);
	}
	if (!keep) /* nobody reads it: the window back at once */
		nghttp2_session_consume(ng, id, len);
	return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct coil__h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!st)
		return 0;
	pthread_mutex_lock(&st->h->lock);
	bool in_eof = st->in_eof;
	pthread_mutex_unlock(&st->h->lock);
	/* The response is complete and the request is not: the rest of it
	 * is not wanted (RFC 9113 8.1). */
	if (!in_eof && !st->rst_sent) {
		st->rst_sent = true;
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct coil__h2_conn *h = ud;
	struct coil__h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	h->nstreams--;
	pthread_mutex_lock(&h->lock);
	st->closed = true;
	size_t unconsumed = st->unconsumed + (st->in.len - st->in.off);
	st->unconsumed = 0;
	st->in.off = st->in.len = 0;
	wake_locked(st);
	pthread_mutex_unlock(&h->lock);
	if (unconsumed)
		nghttp2_session_consume_connection(ng, unconsumed);
	stream_maybe_free(st);
	return 0;
}

/* ---- the owner's loop ---------------------------------------------------- */

/* Look at the streams handlers have posted. */
static void run_queue(struct coil__h2_conn *h)
{
	pthread_mutex_lock(&h->lock);
	struct coil__h2_stream *q = h->qhead;
	h->qhead = h->qtail = NULL;
	for (struct coil__h2_stream *st = q; st; st = st->qnext) {
		st->queued = false;
		st->tnext = st->qnext; /* a handler may queue it again meanwhile */
	}
	pthread_mutex_unlock(&h->lock);
	while (q) {
		struct coil__h2_stream *st = q;
		q = st->tnext;
		pthread_mutex_lock(&h->lock);
		size_t consumed = st->unconsumed;
		st->unconsumed = 0;
		bool closed = st->closed, head = st->head_ready, more = st->out_len || st->end;
		bool rst = st->rst, done = st->handler_done;
		pthread_mutex_unlock(&h->lock);
		if (!closed) {
			if (consumed)
				nghttp2_session_consume(h->ng, st->id, consumed);
			if (rst && !st->rst_sent) {
				st->rst_sent = true;
				nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id,
							  NGHTTP2_INTERNAL_ERROR);
			} else if (head && !st->head_submitted) {
				submit_head(h, st);
			} else if (st->head_submitted && st->deferred && more) {
				st->deferred = false;
				nghttp2_session_resume_data(h->ng, st->id);
			}
		} else if (consumed) {
			nghttp2_session_consume_connection(h->ng, consumed);
		}
		if (done && st->has_task && !st->joined) {
			coil_scope s; /* it is returning: a join cannot be refused */
			coil_scope_enter_shielded(&s, COIL_NO_DEADLINE);
			coil_task_join(st->task, NULL);
			coil__scope_leave(&s);
			st->joined = true;
			stream_maybe_free(st);
		}
	}
}

static int write_all(struct coil__h2_conn *h, const void *p, size_t n)
{
	int r = coil__http_conn_write_all(h->c, p, n);
	if (r < 0)
		h->err = r;
	return r;
}

static int write_out(void *arg, const void *p, size_t n)
{
	return write_all(arg, p, n);
}

/* Write what the session has to send (h2_out.h). */
static int send_pending(struct coil__h2_conn *h)
{
	return coil__h2_out_send(h->ng, h->out, &h->out_len, write_out, h, &h->err);
}

/* Read once, waiting until deadline or a wake. Returns the bytes at *p, 0
 * at the client's end, -EAGAIN for a wake, or -errno. */
static ssize_t recv_some(struct coil__h2_conn *h, int64_t deadline, const void **p)
{
	struct coil__http_conn *c = h->c;
	if (c->lent_len) {
		ssize_t n = (ssize_t)c->lent_len;
		*p = c->lent;
		c->lent_len = 0;
		return n;
	}
	pthread_mutex_lock(&h->lock);
	if (h->qhead || h->draining != h->goaway) {
		pthread_mutex_unlock(&h->lock);
		return -EAGAIN;
	}
	coil__h2_park_locked(&h->park, deadline);
	pthread_mutex_unlock(&h->lock);
	ssize_t n;
	if (c->tls) {
		n = coil_tls_read_lent(c->tls, p); /* no buffer pinned while parked */
	} else {
		n = coil_reader_read(c->rd, p);
	}
	pthread_mutex_lock(&h->lock);
	bool wake = coil__h2_unpark_locked(&h->park, n);
	pthread_mutex_unlock(&h->lock);
	if (wake)
		return -EAGAIN;
	if (n == 0)
		c->eof = true;
	if (n < 0 && n != -ETIMEDOUT && n != -ECANCELED)
		c->rerr = (int)n;
	return n;
}

static int64_t min_deadline(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* How long the owner may wait for the client now. */
static int64_t read_deadline(struct coil__h2_conn *h, int64_t first)
{
	const struct coil_http_config *cfg = h->cfg;
	int64_t d = COIL_NO_DEADLINE;
	if (h->head_since && cfg->head_timeout > 0)
		d = h->head_since + cfg->head_timeout; /* a header block in pieces */
	if (h->nlive == 0) {
		/* Idle: the first request under head_timeout from the accept. */
		int64_t idle = first		       ? first
			       : cfg->idle_timeout > 0 ? h->progress + cfg->idle_timeout
						       : COIL_NO_DEADLINE;
		return min_deadline(d, idle);
	}
	/* Streams in flight: something must move every io_timeout (a window
	 * held at 0 for ever ends here). */
	if (cfg->io_timeout > 0)
		d = min_deadline(d, h->progress + cfg->io_timeout);
	return d;
}

static int session_open(struct coil__h2_conn *h)
{
	static const struct coil__h2_callbacks cbs = {
		.on_begin_headers = on_begin_headers,
		.on_header = on_header,
		.on_frame_recv = on_frame_recv,
		.on_data_chunk_recv = on_data_chunk,
		.on_stream_close = on_stream_close,
		.on_frame_send = on_frame_send,
	};
	const struct coil_http_config *cfg = h->cfg;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->h2_max_streams},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, COIL__H2_STREAM_WINDOW},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)cfg->max_head},
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	return coil__h2_session_open(&h->ng, true, &cbs, iv, sizeof iv / sizeof *iv, h);
}

/* The end: every handler is told, cancelled if it still runs, joined;
 * the streams are freed (the session goes with conn_free). */
static void session_close(struct coil__h2_conn *h)
{
	pthread_mutex_lock(&h->lock);
	h->dead = true;
	for (struct coil__h2_stream *st = h->streams; st; st = st->next) {
		st->closed = true;
		wake_locked(st);
	}
	pthread_mutex_unlock(&h->lock);
	coil_scope s;
	coil_scope_enter_shielded(&s, COIL_NO_DEADLINE);
	for (struct coil__h2_stream *st = h->streams; st; st = st->next) {
		if (st->has_task && !st->joined) {
			pthread_mutex_lock(&h->lock);
			bool done = st->handler_done;
			pthread_mutex_unlock(&h->lock);
			if (!done)
				coil_task_cancel(st->task);
		}
	}
	for (struct coil__h2_stream *st = h->streams; st; st = st->next) {
		if (st->has_task && !st->joined) {
			coil_task_join(st->task, NULL);
			st->joined = true;
		}
	}
	coil__scope_leave(&s);
	while (h->streams)
		stream_free(h->streams);
}

/* Free what conn_new made, in reverse: the session (none when its
 * opening failed), the buffer, the lock. */
static void conn_free(struct coil__h2_conn *h)
{
	nghttp2_session_del(h->ng);
	free(h->out);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* A connection with its session, its SETTINGS submitted; NULL when out
 * of memory. */
static struct coil__h2_conn *conn_new(struct coil__http_conn *c)
{
	struct coil__h2_conn *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->c = c;
	h->cfg = c->cfg;
	pthread_mutex_init(&h->lock, NULL);
	h->out = malloc(COIL__H2_OUT_CAP);
	if (!h->out || session_open(h) < 0) {
		conn_free(h);
		return NULL;
	}
	return h;
}

/* The owner's loop, until the connection ends; then h is freed. */
static void serve(struct coil__h2_conn *h)
{
	struct coil__http_conn *c = h->c;
	coil__http_server_h2(c->srv, c, h);
	int64_t first = deadline_in(h->cfg->head_timeout);
	h->progress = coil_now();
	for (;;) {
		run_queue(h);
		pthread_mutex_lock(&h->lock);
		bool draining = h->draining;
		pthread_mutex_unlock(&h->lock);
		if ((draining || coil__http_server_draining(c->srv)) && !h->goaway) {
			h->goaway = true;
			nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(h->ng),
					      NGHTTP2_NO_ERROR, NULL, 0);
		}
		if (send_pending(h) < 0)
			break;
		if (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng))
			break;
		if (h->goaway && h->nlive == 0)
			break;
		if (h->spawned) {
			/* Let the handlers just started run first: those that
			 * answer at once are sent with this round's output. */
			h->spawned = false;
			coil_task_yield();
			continue;
		}
		const void *p;
		ssize_t n = recv_some(h, read_deadline(h, first), &p);
		if (n == -EAGAIN)
			continue;
		if (n == -ETIMEDOUT && !h->goaway) {
			/* Idle, or stalled: say so before the close (RFC 9113
			 * 9.1); the streams in flight are not answered. */
			h->goaway = true;
			nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(h->ng),
					      NGHTTP2_NO_ERROR, NULL, 0);
			send_pending(h);
		}
		if (n <= 0)
			break;
		first = 0;
		ssize_t used = nghttp2_session_mem_recv(h->ng, p, (size_t)n);
		if (used < 0) {
			/* Fatal (a flood, a bad preface...): a GOAWAY may be
			 * queued; send it, then close. */
			send_pending(h);
			break;
		}
	}
	coil__http_server_h2(c->srv, c, NULL);
	session_close(h);
	conn_free(h);
	/* The client may still be sending (a body, a WINDOW_UPDATE, requests
	 * sent before it read our GOAWAY): a close now would reset the
	 * connection, and a client that drops what it received on a reset
	 * would lose the answers and the GOAWAY. */
	coil__http_conn_linger(c, LINGER_MAX);
}

void coil__h2_serve(struct coil__http_conn *c)
{
	struct coil__h2_conn *h = conn_new(c);
	if (h)
		serve(h);
}

/* Copy the HTTP/1.1 request's head (c->parse) into stream 1 as a request
 * of HTTP/2 would have it: names in lower case, the connection-specific
 * fields (RFC 9113 8.2.2) and those of the upgrade left out. */
static int upgraded_head(struct coil__h2_stream *st, const struct coil__http_parse *p)
{
	static const char *const drop[] = {"connection",       "upgrade",	   "http2-settings",
					   "keep-alive",       "proxy-connection", "te",
					   "transfer-encoding"};
	const uint8_t *m = (const uint8_t *)p->method.ptr, *t = (const uint8_t *)p->target.ptr;
	struct coil__h2_head *hd = &st->head;
	if (coil__h2_head_copy(hd, m, p->method.len, &st->method_at) < 0 ||
	    coil__h2_head_copy(hd, t, p->target.len, &st->target_at) < 0)
		return -ENOMEM;
	st->method_len = p->method.len;
	st->target_len = p->target.len;
	st->has_method = st->has_target = true;
	st->head_request = p->method.len == 4 && !memcmp(p->method.ptr, "HEAD", 4);
	st->content_length = 0;
	hd->fields = malloc((p->nfields + 1) * sizeof *hd->fields);
	if (!hd->fields)
		return -ENOMEM;
	hd->fields_cap = p->nfields;
	for (unsigned i = 0; i < p->nfields; i++) {
		const struct coil__http_field *f = &p->fields[i];
		bool dropped = false;
		for (size_t k = 0; k < sizeof drop / sizeof *drop && !dropped; k++)
			dropped = f->name.len == strlen(drop[k]) &&
				  !strncasecmp(f->name.ptr, drop[k], f->name.len);
		if (dropped)
			continue;
		if (coil__h2_head_field(hd, (const uint8_t *)f->name.ptr, f->name.len,
					(const uint8_t *)f->value.ptr, f->value.len, 1) < 0)
			return -ENOMEM;
		/* The name's offset, as the field holds it until head_done. */
		char *name = hd->buf + (uintptr_t)hd->fields[hd->nfields - 1].name.ptr;
		for (size_t k = 0; k < f->name.len; k++)
			name[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
	}
	return 0;
}

bool coil__h2_serve_upgraded(struct coil__http_conn *c, const uint8_t *settings, size_t len,
			     const char *early, size_t early_len)
{
	struct coil__h2_conn *h = conn_new(c);
	if (!h)
		return false;
	struct coil__h2_stream *st = stream_new(h, 1);
	if (!st)
		goto out_conn;
	/* A failed upgrade2 may leave stream 1 in the session with st as its
	 * data: the session's delete calls back nothing. */
	if (upgraded_head(st, &c->parse) < 0 ||
	    nghttp2_session_upgrade2(h->ng, settings, len, st->head_request, st) != 0)
		goto out_stream;
	/* The 101 goes only now, the session made and stream 1 in it: until
	 * here a failure leaves the request to HTTP/1.1, with nothing sent.
	 * Answers to pipelined requests before it go first. */
	static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\n"
					"Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
	if (coil__http_conn_flush(c) < 0 ||
	    coil__http_conn_write_all(c, switching, sizeof switching - 1) < 0) {
		stream_free(st);
		conn_free(h);
		return true; /* the connection is done */
	}
	h->nstreams++;
	start_stream(h, st, true);
	/* What the client sent after the request (its preface, at least
	 * once it has read our 101) goes first. */
	if (early_len && nghttp2_session_mem_recv(h->ng, (const uint8_t *)early, early_len) < 0)
		h->err = -EPROTO;
	/* Nothing of ours goes out before the client's preface: it sends it
	 * once it has switched, and a client that reads what follows the
	 * 101 into a buffer of its own first (curl 7.88: 32 KiB) fails when
	 * more comes (stream 1's response within the first window). */
	size_t got = early_len;
	int64_t deadline = deadline_in(h->cfg->head_timeout);
	while (!h->err && got < COIL__H2_PREFACE_LEN) {
		const void *p;
		ssize_t n;
		if (c->lent_len) {
			p = c->lent;
			n = (ssize_t)c->lent_len;
			c->lent_len = 0;
		} else {
			coil_scope s;
			bool scoped = coil_scope_enter(&s, deadline) == 0;
			n = coil_reader_read(c->rd, &p);
			if (scoped)
				coil__scope_leave(&s);
		}
		if (n <= 0 || nghttp2_session_mem_recv(h->ng, p, (size_t)n) < 0)
			h->err = n < 0 ? (int)n : -EPROTO;
		else
			got += (size_t)n;
	}
	if (h->err) {
		bool protocol = h->err == -EPROTO; /* its GOAWAY goes, then lingering */
		send_pending(h);
		session_close(h);
		conn_free(h);
		if (protocol)
			coil__http_conn_linger(c, LINGER_MAX);
		return true;
	}
	serve(h);
	return true;

out_stream:
	stream_free(st);
out_conn:
	conn_free(h);
	return false;
}

/* ---- the handler's side: the request ------------------------------------ */

static void *stream_main(void *arg)
{
	struct coil__h2_stream *st = arg;
	struct coil__h2_conn *h = st->h;
	int r = coil__http_server_handle(h->c->srv, &st->req, &st->res);
	if (st->body_status && !st->head_sent) {
		char body[16];
		int n = snprintf(body, sizeof body, "%d\n", st->body_status);
		st->rh_len = 0;
		coil_http_respond(&st->res, st->body_status, "text/plain", body, (size_t)n);
	} else if (r < 0 && !st->head_sent) {
		st->rh_len = 0;
		coil_http_respond(&st->res, 500, "text/plain", "500\n", 4);
	} else if (r < 0 || st->werr) {
		pthread_mutex_lock(&h->lock);
		st->rst = true;
		pthread_mutex_unlock(&h->lock);
	} else if (!st->ended && coil__h2_end(st, NULL, 0) < 0) {
		pthread_mutex_lock(&h->lock);
		st->rst = true;
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_lock(&h->lock);
	st->handler_done = true;
	if (!h->dead)
		post_locked(st);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

struct coil_http_str coil__h2_method(const struct coil__h2_stream *st)
{
	return (struct coil_http_str){st->head.buf + st->method_at, st->method_len};
}

struct coil_http_str coil__h2_target(const struct coil__h2_stream *st)
{
	return (struct coil_http_str){st->head.buf + st->target_at, st->target_len};
}

int coil__h2_header_count(const struct coil__h2_stream *st)
{
	return (int)st->head.nfields;
}

int coil__h2_header_at(const struct coil__h2_stream *st, size_t i, struct coil_http_str *name,
		       struct coil_http_str *value)
{
	return coil__h2_head_at(&st->head, i, name, value);
}

int coil__h2_header(const struct coil__h2_stream *st, const char *name, struct coil_http_str *value)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < st->head.nfields; i++) {
		const struct coil__http_field *f = &st->head.fields[i];
		if (f->name.len == n && strncasecmp(f->name.ptr, name, n) == 0) {
			*value = f->value;
			return 0;
		}
	}
	return -ENOENT;
}

int64_t coil__h2_content_length(const struct coil__h2_stream *st)
{
	if (st->content_length >= 0)
		return st->content_length;
	pthread_mutex_lock(&st->h->lock);
	bool empty = st->in_eof && st->in.len == 0 && st->body_bytes == 0;
	pthread_mutex_unlock(&st->h->lock);
	return empty ? 0 : -1; /* none announced: as chunked */
}

int coil__h2_request_limit(struct coil__h2_stream *st, uint64_t max_body)
{
	if (st->body_started)
		return -EBUSY;
	st->max_body = max_body;
	return 0;
}

static ssize_t body_fail(struct coil__h2_stream *st, int status, ssize_t err)
{
	st->body_status = status;
	return st->body_err = err;
}

ssize_t coil__h2_read(struct coil__h2_stream *st, void *buf, size_t len)
{
	struct coil__h2_conn *h = st->h;
	if (st->body_err)
		return st->body_err;
	if (len == 0)
		return 0;
	if (!st->body_started) {
		st->body_started = true;
		if (st->content_length >= 0 && (uint64_t)st->content_length > st->max_body)
			return body_fail(st, 413, -EMSGSIZE);
	}
	int64_t deadline = deadline_in(h->cfg->io_timeout);
	pthread_mutex_lock(&h->lock);
	for (;;) {
		size_t n = st->in.len - st->in.off;
		if (n) {
			if (n > len)
				n = len;
			if (st->body_bytes + n > st->max_body) {
				pthread_mutex_unlock(&h->lock);
				return body_fail(st, 413, -EMSGSIZE);
			}
			coil__h2_in_take(&st->in, buf, n);
			st->unconsumed += n;
			st->body_bytes += n;
			/* Give the window back once half of it was read. */
			if (st->unconsumed >= COIL__H2_STREAM_WINDOW / 2 || st->in.len == 0)
				post_locked(st);
			pthread_mutex_unlock(&h->lock);
			return (ssize_t)n;
		}
		if (st->in_eof) {
			pthread_mutex_unlock(&h->lock);
			return 0;
		}
		if (st->closed) {
			pthread_mutex_unlock(&h->lock);
			return body_fail(st, 400, -ECONNRESET);
		}
		if (st->unconsumed)
			post_locked(st);
		int r = wait_owner(st, deadline);
		if (r < 0) {
			pthread_mutex_unlock(&h->lock);
			return st->body_err = r;
		}
	}
}

/* ---- the handler's side: the response ----------------------------------- */

static int check_head(const struct coil__h2_stream *st)
{
	if (st->werr)
		return st->werr;
	return st->head_sent ? -EBUSY : 0;
}

int coil__h2_status(struct coil__h2_stream *st, int status)
{
	int r = check_head(st);
	if (r < 0)
		return r;
	if (status < 200 || status > 999)
		return -EINVAL;
	st->status = status;
	return 0;
}

int coil__h2_add_header(struct coil__h2_stream *st, const char *name, const char *value)
{
	int r = check_head(st);
	if (r < 0)
		return r;
	/* Connection-specific fields have no place in HTTP/2 (RFC 9113
	 * 8.2.2): dropped, so that a handler serves both versions. */
	if (!strcasecmp(name, "keep-alive") || !strcasecmp(name, "upgrade") ||
	    !strcasecmp(name, "proxy-connection"))
		return 0;
	size_t nl = strlen(name), vl = strlen(value);
	if (nl + vl + 2 > COIL__HTTP_HDRS_CAP - st->rh_len)
		return -ENOSPC;
	if (!st->rh && !(st->rh = malloc(COIL__HTTP_HDRS_CAP)))
		return -ENOMEM;
	char *p = st->rh + st->rh_len;
	for (size_t i = 0; i < nl; i++) /* lower case, as HTTP/2 wants */
		p[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	p[nl] = 0;
	memcpy(p + nl + 1, value, vl + 1);
	st->rh_len += nl + vl + 2;
	return 0;
}

int coil__h2_length(struct coil__h2_stream *st, uint64_t len)
{
	int r = check_head(st);
	if (r < 0)
		return r;
	st->has_length = true;
	st->length = len;
	return 0;
}

int coil__h2_close(struct coil__h2_stream *st)
{
	/* Only the stream ends with the response: nothing to do. */
	return check_head(st);
}

static bool length_only(const struct coil__h2_stream *st)
{
	return st->head_request || st->status == 204 || st->status == 304;
}

/* The head goes with the first bytes: mark it ready (posted with them). */
static void head_prepare(struct coil__h2_stream *st, int64_t body_len)
{
	bool bodiless = st->status == 204 || st->status == 304;
	if (body_len >= 0 && !st->has_length && !bodiless) {
		st->has_length = true;
		st->length = (uint64_t)body_len;
	}
	st->no_body = st->head_request || bodiless;
	st->head_sent = true;
}

/* Hand len bytes (and the end) to the owner, waiting for room. */
static int put(struct coil__h2_stream *st, const char *buf, size_t len, bool end)
{
	struct coil__h2_conn *h = st->h;
	int64_t deadline = deadline_in(h->cfg->io_timeout);
	if (len && !st->out && !(st->out = malloc(STREAM_OUT_CAP)))
		return st->werr = -ENOMEM;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		if (st->closed) {
			pthread_mutex_unlock(&h->lock);
			if (st->no_body && st->head_ready && len == 0)
				return 0; /* the head went with END_STREAM */
			return st->werr = -ECONNRESET;
		}
		st->head_ready = true;
		if (st->out_off && st->out_len + len > STREAM_OUT_CAP) {
			memmove(st->out, st->out + st->out_off, st->out_len - st->out_off);
			st->out_len -= st->out_off;
			st->out_off = 0;
		}
		size_t n = STREAM_OUT_CAP - st->out_len;
		if (n > len)
			n = len;
		if (n) {
			memcpy(st->out + st->out_len, buf, n);
			st->out_len += n;
			buf += n;
			len -= n;
		}
		if (len == 0) {
			if (end)
				st->end = true;
			post_locked(st);
			pthread_mutex_unlock(&h->lock);
			return 0;
		}
		post_locked(st);
		int r = wait_owner(st, deadline);
		if (r < 0) {
			pthread_mutex_unlock(&h->lock);
			return st->werr = r;
		}
	}
}

ssize_t coil__h2_write(struct coil__h2_stream *st, const void *buf, size_t len)
{
	if (st->werr)
		return st->werr;
	if (st->ended)
		return -EALREADY;
	if (st->has_length && len > st->length - st->sent)
		return -EMSGSIZE;
	if (!st->head_sent)
		head_prepare(st, -1);
	st->sent += len;
	if (st->no_body || len == 0) {
		if (st->no_body && !st->head_ready) /* the head alone may go */
			return put(st, NULL, 0, false) < 0 ? st->werr : (ssize_t)len;
		return (ssize_t)len;
	}
	int r = put(st, buf, len, false);
	return r < 0 ? r : (ssize_t)len;
}

int coil__h2_end(struct coil__h2_stream *st, const void *buf, size_t len)
{
	if (st->werr)
		return st->werr;
	if (st->ended)
		return -EALREADY;
	st->ended = true;
	if (!st->head_sent) {
		if (st->has_length && st->length != len && !length_only(st)) {
			st->werr = -EMSGSIZE;
			return -EMSGSIZE;
		}
		head_prepare(st, (int64_t)len);
	} else if (st->has_length && len > st->length - st->sent) {
		return -EMSGSIZE;
	}
	st->sent += len;
	int r = put(st, buf, st->no_body ? 0 : len, true);
	if (r < 0)
		return r;
	if (st->has_length && st->sent != st->length && !length_only(st))
		return -EMSGSIZE; /* short: the stream is reset at the end */
	return 0;
}

ssize_t coil__h2_sendfile(struct coil__h2_stream *st, int file, int64_t off, size_t len)
{
	/* Through memory, as over TLS: the session frames every byte. */
	char *buf = malloc(STREAM_OUT_CAP);
	if (!buf)
		return -ENOMEM;
	size_t done = 0;
	ssize_t r = 0;
	while (done < len) {
		size_t want = len - done < STREAM_OUT_CAP ? len - done : STREAM_OUT_CAP;
		ssize_t n = coil_file_read(file, buf, want, off + (int64_t)done);
		if (n < 0) {
			r = n;
			break;
		}
		if (n == 0)
			break;
		ssize_t w = coil__h2_write(st, buf, (size_t)n);
		if (w < 0) {
			r = w;
			break;
		}
		done += (size_t)n;
	}
	free(buf);
	if (r < 0 && (done > 0 || (r != -EBADF && r != -EINVAL)))
		return r;
	return r < 0 ? r : (ssize_t)done;
}
