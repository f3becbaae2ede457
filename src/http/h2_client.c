/*
 * The HTTP/2 client (nghttp2 1.52): exchanges of coil/http.h as streams
 * multiplexed over one connection per host and port (h2c by prior
 * knowledge, or h2 over TLS when ALPN picks "h2").
 *
 * The model is the server's (h2.c) turned around. Each connection has one
 * fiber of its own, the owner, spawned by the first request to its host;
 * it connects, holds the nghttp2_session, reads and feeds
 * nghttp2_session_mem_recv and writes what nghttp2_session_mem_send makes,
 * coalesced into writes of up to COIL__H2_OUT_CAP bytes (h2_out.h). The fibers making
 * requests never touch the session: they put their stream on the
 * connection's queue under its lock (a pthread mutex held for a few
 * instructions, never across a wait) and wake the owner by cancelling the
 * scope of its read (a cancelled read loses nothing); they wait for the
 * owner on their stream's semaphore, under their own scopes.
 *
 * Requests past the peer's MAX_CONCURRENT_STREAMS wait on the connection
 * (its FIFO of waiting streams, each requester under its own scopes, as
 * hyper and Go's StrictMaxConcurrentStreams do), never in nghttp2's queue:
 * the owner hands nghttp2 a stream only when one of the peer's slots is
 * free, so nghttp2 holds at most MAX_CONCURRENT_STREAMS of them (100, as
 * RFC 9113 6.5.2 suggests, until the peer's SETTINGS come), a waiting
 * request that gives up leaves no trace on the wire, and one the
 * connection never sent can go to another.
 *
 * Flow control both ways: a request body is handed to the data provider
 * from the requester's buffer (its write returns once nghttp2 took every
 * byte, as the peer's windows allow), and the response's windows are
 * given back only as the requester reads (automatic WINDOW_UPDATE off),
 * so a stream never buffers more than COIL__H2_STREAM_WINDOW bytes of
 * response body (h2_common.h).
 *
 * GOAWAY: the connection takes no new stream; streams above its last
 * stream id (and those reset with REFUSED_STREAM) were not processed, and
 * an idempotent request among them (no streamed body byte written) is
 * sent again on a new connection. A request whose HEADERS never left
 * (it waited for a slot, or for a PING's answer) is sent again on a new
 * connection whatever its method: once for one not idempotent. A
 * connection that ends (the peer closed, a read or write failed, a
 * protocol error, nghttp2 out of memory) fails the streams it sent with
 * -ECONNRESET, -EPROTO or -ENOMEM;
 * when a write finds it reset, what the peer sent before is read first
 * (answers, its GOAWAY), so that a server closing after its GOAWAY with
 * our later frames unread loses none of the answers it gave. One over
 * TLS whose server did not pick "h2" by ALPN fails them with
 * -EPROTONOSUPPORT before any was sent, and client.c sends them over
 * HTTP/1.1 instead. An exchange ended before its response was read whole
 * resets its stream (CANCEL); the other streams go on.
 *
 * Health (Go's ReadIdleTimeout and PingTimeout): when nothing was read for
 * h2_ping_interval the owner sends a PING; until its ACK no new stream is
 * sent (they wait, safe to move), and without an ACK within
 * h2_ping_timeout the connection is lost: its sent streams fail with
 * -ETIMEDOUT, the waiting ones go to a new connection. So is one that
 * takes none of a write for as long (the owner would never get to read).
 *
 * A stream belongs to its requester and, from its submission until nghttp2
 * closes it, to the owner too: the last of the two to let go frees it.
 * The connection is freed by the last of its owner and its streams.
 */
#include "http/h2_client.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coil.h"
#include "http/h2_common.h"
#include "http/h2_out.h"
#include "http/parse.h"

/* Bytes of one read. */
#define IN_CAP 16384
/* Moves of a request off connections that answered nothing (no response
 * head, no GOAWAY naming a stream of ours processed), or whose server
 * refused it with RST_STREAM: past them it fails, lest a server refusing
 * every stream of every connection have us connect in a loop, or one
 * refusing every stream of a connection that answered before have us send
 * HEADERS in a loop on it (the connection stays usable: the move goes
 * back to it). Moves off one that answered others by its GOAWAY (a
 * server's max_requests) do not count: that server makes progress. */
#define MAX_FRUITLESS 3

struct conn;

struct coil__h2c_stream {
	struct conn *h;
	struct coil__h2c_pool *pool;
	int32_t id;			      /* 0 until submitted */
	struct coil__h2c_stream *prev, *next; /* the connection's (under its lock) */
	struct coil__h2c_stream *qnext;	      /* the queue (under lock) */
	bool queued;
	struct coil__h2c_stream *wnext; /* the streams waiting for a slot (under lock) */
	bool in_wait;
	coil_sem wake;
	bool waiting;

	/* The request, as nghttp2 wants it (names and values in nvbuf). */
	nghttp2_nv *nv;
	size_t nnv;
	char *nvbuf;
	bool idempotent, head_request, has_body, streaming;
	unsigned resent;     /* times it was sent again on another connection */
	unsigned fruitless;  /* of them, off connections that answered nothing
			      * or refused it (RST_STREAM) */
	uint64_t stream_len; /* a streamed body's announced length (or UINT64_MAX) */
	uint64_t streamed;   /* bytes the requester wrote */
	const void *whole;   /* a body given whole */
	size_t whole_len;

	/* Shared with the owner, under the connection's lock. */
	bool user, owned; /* the requester holds it; nghttp2 knows it */
	bool submitted, closed, refused;
	bool rst_refused; /* refused by a RST_STREAM, not by a GOAWAY */
	bool wire;	  /* its HEADERS went to the wire, or may have (the owner's) */
	bool unsent;	  /* closed with its HEADERS never sent: safe to send elsewhere */
	int err;	  /* the stream failed */
	const char *src;  /* body bytes for the data provider */
	size_t src_len, src_off;
	bool src_end;	       /* no more after src */
	bool deferred;	       /* the data provider waits for bytes */
	bool cancel, rst_sent; /* the requester let go before the end */
	int status;	       /* the final status, once its head is complete */
	bool head_done;
	struct coil__h2_in in; /* response body received, not yet read */
	bool in_eof;
	size_t unconsumed; /* read: window to give back */

	/* The response's head, built by the owner before head_done, read-only
	 * after. */
	struct coil__h2_head head;
	int64_t content_length;
	int block_status; /* :status of the header block being received */
};

struct conn {
	struct coil__h2c_pool *pool;
	struct conn *next; /* the pool's (under its lock) */
	char *host;
	uint16_t port;
	bool usable; /* new streams may come (under the pool's lock) */
	int fd;
	coil_tls *tls;
	nghttp2_session *ng;
	pthread_mutex_t lock;
	struct coil__h2c_stream *streams; /* attached (under lock) */
	unsigned nstreams;
	unsigned refs; /* the owner + the streams (under lock) */
	struct coil__h2c_stream *qhead, *qtail;
	struct coil__h2c_stream *whead, *wtail; /* waiting for a slot (FIFO) */
	unsigned active;			/* streams nghttp2 holds (the owner's) */
	struct coil__h2_park park;		/* the owner's read, or its connect in park.scope */
	bool closing;
	bool opening; /* the owner connects in park.scope: only closing cancels it */
	bool dead;    /* the owner has let go of the session (under lock) */
	int err;      /* why it ended */
	bool goaway_recv;
	bool reset; /* a write failed: the peer is gone, what it sent is read (the owner's) */
	int64_t idle_since;
	int64_t last_read; /* the owner's: when bytes last came */
	int64_t ping_at;   /* when the PING in flight went, if ping_out */
	bool ping_out;	   /* a PING waits for its ACK: no new stream is sent */
	bool lost;	   /* no ACK within ping_timeout */
	bool sent_any;	   /* a request's HEADERS went out (the owner's) */
	bool answered;	   /* it answered a request of ours (under lock): MAX_FRUITLESS */
	char *out;
	size_t out_len;
	char in[IN_CAP];
};

struct coil__h2c_pool {
	struct coil_http_client_config cfg;
	int64_t ping_interval, ping_timeout; /* resolved: interval 0 is off */
	uint64_t *opened;
	unsigned peak; /* the most streams nghttp2 held on one connection (atomic) */
	pthread_mutex_t lock;
	struct conn *conns; /* every connection whose owner runs */
	coil_wg owners;
};

/* ---- the pool --------------------------------------------------------------- */

struct coil__h2c_pool *coil__h2c_pool_new(const struct coil_http_client_config *cfg,
					  uint64_t *opened)
{
	struct coil__h2c_pool *pool = calloc(1, sizeof *pool);
	if (!pool)
		return NULL;
	pool->cfg = *cfg;
	pool->ping_interval = cfg->h2_ping_interval < 0	   ? 0
			      : cfg->h2_ping_interval == 0 ? COIL_HTTP_H2_PING_INTERVAL
							   : cfg->h2_ping_interval;
	pool->ping_timeout =
		cfg->h2_ping_timeout > 0 ? cfg->h2_ping_timeout : COIL_HTTP_H2_PING_TIMEOUT;
	pool->opened = opened;
	pthread_mutex_init(&pool->lock, NULL);
	coil_wg_init(&pool->owners);
	return pool;
}

void coil__h2c_pool_free(struct coil__h2c_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	for (struct conn *h = pool->conns; h; h = h->next) {
		pthread_mutex_lock(&h->lock);
		h->closing = true;
		coil__h2_wake_locked(&h->park);
		if (h->opening)
			coil_scope_cancel(&h->park.scope);
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	/* Owners that have left the list may still be ending: wait for
	 * every one. */
	if (coil_task_current()) {
		coil_scope s; /* the owners end at once: not refused */
		coil_scope_enter_shielded(&s, COIL_NO_DEADLINE);
		coil_wg_wait(&pool->owners);
		coil_scope_exit(&s);
	}
	coil_wg_destroy(&pool->owners);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

bool coil__h2c_pool_running(const struct coil__h2c_pool *pool)
{
	return pool && coil_wg_count(&pool->owners) > 0;
}

unsigned coil__h2c_pool_peak(const struct coil__h2c_pool *pool)
{
	return __atomic_load_n(&pool->peak, __ATOMIC_RELAXED);
}

static void conn_unref_locked(struct conn *h, bool *free_it)
{
	*free_it = --h->refs == 0;
}

/* Free what conn_new made, in reverse (the owner let go of the session,
 * the socket and the TLS stream before). */
static void conn_free(struct conn *h)
{
	free(h->out);
	free(h->host);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* A connection to host:port whose owner is yet to start; NULL when out
 * of memory. */
static struct conn *conn_new(struct coil__h2c_pool *pool, const char *host, uint16_t port)
{
	struct conn *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->pool = pool;
	h->port = port;
	h->fd = -1;
	h->usable = true;
	h->refs = 1; /* the owner's */
	h->host = strdup(host);
	h->out = malloc(COIL__H2_OUT_CAP);
	if (!h->host || !h->out) {
		conn_free(h);
		return NULL;
	}
	return h;
}

/* ---- streams ------------------------------------------------------------------ */

static void stream_free(struct coil__h2c_stream *st)
{
	coil_sem_destroy(&st->wake);
	free(st->nv);
	free(st->nvbuf);
	free(st->in.buf);
	free(st->head.buf);
	free(st->head.fields);
	free(st);
}

/* Under lock: detach st from its connection. Returns whether the
 * connection is to be freed. */
static bool detach_locked(struct coil__h2c_stream *st)
{
	struct conn *h = st->h;
	if (st->queued) {
		struct coil__h2c_stream **pp = &h->qhead, *prev = NULL;
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
	if (st->in_wait) {
		struct coil__h2c_stream **pp = &h->whead, *prev = NULL;
		while (*pp != st) {
			prev = *pp;
			pp = &(*pp)->wnext;
		}
		*pp = st->wnext;
		if (h->wtail == st)
			h->wtail = prev;
		st->in_wait = false;
	}
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	h->nstreams--;
	if (h->nstreams == 0)
		h->idle_since = coil_now();
	bool f;
	conn_unref_locked(h, &f);
	return f;
}

/* Under lock: wake the requester if it waits. */
static void wake_locked(struct coil__h2c_stream *st)
{
	if (st->waiting) {
		st->waiting = false;
		coil_sem_release(&st->wake);
	}
}

/* Under lock: have the owner look at st. */
static void post_locked(struct coil__h2c_stream *st)
{
	struct conn *h = st->h;
	if (!st->queued && !h->dead) {
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

/* Under lock, the owner: nghttp2 is done with st. Returns whether st is
 * to be freed (its requester let go), after detaching it. */
static bool owner_release_locked(struct coil__h2c_stream *st, bool *free_conn)
{
	if (st->owned)
		st->h->active--; /* a slot free */
	st->owned = false;
	st->closed = true;
	wake_locked(st);
	*free_conn = false;
	if (st->user)
		return false;
	*free_conn = detach_locked(st);
	return true;
}

/* The requester waits for the owner, the lock held (and held again after).
 * Returns 0, or -ETIMEDOUT / -ECANCELED from the caller's scopes. */
static int wait_owner(struct coil__h2c_stream *st)
{
	st->waiting = true;
	pthread_mutex_unlock(&st->h->lock);
	int r = coil_sem_acquire(&st->wake);
	pthread_mutex_lock(&st->h->lock);
	st->waiting = false; /* a release that came late leaves a unit: harmless */
	return r;
}

static struct coil__h2c_stream *find_stream(struct conn *h, int32_t id)
{
	for (struct coil__h2c_stream *st = h->streams; st; st = st->next)
		if (st->id == id)
			return st;
	return NULL;
}

/* ---- the session's callbacks (the owner) -------------------------------------- */

/* Fail st on the wire and for its requester. */
static int stream_fail(nghttp2_session *ng, struct coil__h2c_stream *st, int err)
{
	pthread_mutex_lock(&st->h->lock);
	if (!st->err)
		st->err = err;
	wake_locked(st);
	pthread_mutex_unlock(&st->h->lock);
	if (!st->rst_sent) {
		st->rst_sent = true;
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_PROTOCOL_ERROR);
	}
	return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct coil__h2c_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st)
		st->block_status = 0;
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct conn *h = ud;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct coil__h2c_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!st || st->head_done || st->err)
		return 0; /* trailers: not kept */
	if (namelen == 7 && !memcmp(name, ":status", 7)) {
		int v = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++)
			v = v * 10 + (value[i] - '0');
		st->block_status = v;
		return 0;
	}
	if (st->block_status < 200)
		return 0; /* an interim answer's fields (1xx): dropped */
	if (namelen && name[0] == ':')
		return 0;
	const struct coil_http_client_config *cfg = &h->pool->cfg;
	st->head.size += namelen + valuelen + 32;
	if (st->head.size > cfg->max_head || st->head.nfields >= cfg->max_fields)
		return stream_fail(ng, st, -EMSGSIZE);
	if (coil__h2_head_field(&st->head, name, namelen, value, valuelen, 0) < 0)
		return stream_fail(ng, st, -ENOMEM);
	if (namelen == 14 && !memcmp(name, "content-length", 14))
		st->content_length = coil__h2_head_length(value, valuelen);
	return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct conn *h = ud;
	if (frame->hd.type == NGHTTP2_GOAWAY) {
		/* No new stream here; those above last_stream_id are closed by
		 * nghttp2 (REFUSED_STREAM) and retried elsewhere. */
		h->goaway_recv = true;
		if (frame->goaway.last_stream_id > 0 && h->sent_any) { /* stream 1 processed */
			pthread_mutex_lock(&h->lock);
			h->answered = true;
			pthread_mutex_unlock(&h->lock);
		}
		pthread_mutex_lock(&h->pool->lock);
		h->usable = false;
		pthread_mutex_unlock(&h->pool->lock);
		return 0;
	}
	if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		h->ping_out = false; /* alive: the waiting streams may go */
		return 0;
	}
	if (frame->hd.type == NGHTTP2_RST_STREAM &&
	    frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) {
		/* Its connection goes on taking streams, and a move goes back
		 * to it: such a move counts against MAX_FRUITLESS even when
		 * the connection answered others. */
		struct coil__h2c_stream *st =
			nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
		if (st) {
			pthread_mutex_lock(&h->lock);
			st->rst_refused = true;
			pthread_mutex_unlock(&h->lock);
		}
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	struct coil__h2c_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!st)
		return 0;
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	pthread_mutex_lock(&h->lock);
	if (frame->hd.type == NGHTTP2_HEADERS && !st->head_done && st->block_status >= 200 &&
	    !st->err) {
		coil__h2_head_done(&st->head);
		st->status = st->block_status;
		st->head_done = true;
		h->answered = true;
		wake_locked(st);
	}
	if (end) {
		st->in_eof = true;
		wake_locked(st);
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct conn *h = ud;
	struct coil__h2c_stream *st = nghttp2_session_get_stream_user_data(ng, id);
	bool keep = false;
	if (st) {
		pthread_mutex_lock(&h->lock);
		if (st->user && !st->cancel && coil__h2_in_put(&st->in, data, len) > 0) {
			wake_locked(st);
			keep = true;
		}
		pthread_mutex_unlock(&h->lock);
	}
	if (!keep) /* nobody reads it: the window back at once */
		nghttp2_session_consume(ng, id, len);
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct conn *h = ud;
	struct coil__h2c_stream *st = nghttp2_session_get_stream_user_data(ng, id);
	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	pthread_mutex_lock(&h->lock);
	/* The connection's window back for every byte the stream holds:
	 * what is still unread stays readable, without a window. */
	size_t unconsumed = st->unconsumed + (st->in.len - st->in.off);
	st->unconsumed = 0;
	if (code == NGHTTP2_REFUSED_STREAM && !st->head_done)
		st->refused = true; /* not processed (RFC 9113 8.7) */
	else if (!st->in_eof && !st->err)
		st->err = -ECONNRESET; /* reset before the response's end */
	bool free_conn;
	bool free_st = owner_release_locked(st, &free_conn);
	pthread_mutex_unlock(&h->lock);
	if (unconsumed)
		nghttp2_session_consume_connection(ng, unconsumed);
	if (free_st)
		stream_free(st);
	(void)free_conn; /* the owner holds a reference: never the last */
	return 0;
}

/* A request's HEADERS go to the wire: from here on it may have been
 * processed. */
static int before_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct coil__h2c_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st) {
		st->wire = true;
		((struct conn *)ud)->sent_any = true;
	}
	return 0;
}

/* A request nghttp2 could not send (GOAWAY came first, the connection is
 * going away): it was never sent. */
static int on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *frame, int lib_error,
			     void *ud)
{
	struct conn *h = ud;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	pthread_mutex_lock(&h->lock);
	struct coil__h2c_stream *st = find_stream(h, frame->hd.stream_id);
	bool free_st = false, free_conn;
	if (st && st->owned && !nghttp2_session_find_stream(ng, frame->hd.stream_id)) {
		if (lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED ||
		    lib_error == NGHTTP2_ERR_SESSION_CLOSING)
			st->unsent = true;
		else if (!st->err)
			st->err = -EPROTO; /* it cannot be sent (its fields) */
		free_st = owner_release_locked(st, &free_conn);
	}
	pthread_mutex_unlock(&h->lock);
	if (free_st)
		stream_free(st);
	return 0;
}

/* The request body for nghttp2: from the requester's buffer. */
static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct coil__h2c_stream *st = src->ptr;
	struct conn *h = ud;
	pthread_mutex_lock(&h->lock);
	if (!st->user || st->cancel) {
		pthread_mutex_unlock(&h->lock);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	}
	size_t n = st->src ? st->src_len - st->src_off : 0;
	if (n > length)
		n = length;
	if (n) {
		memcpy(buf, st->src + st->src_off, n);
		st->src_off += n;
		if (st->src_off == st->src_len)
			wake_locked(st); /* taken: the writer may go on */
	}
	bool eof = st->src_end && (!st->src || st->src_off == st->src_len);
	if (eof)
		wake_locked(st);
	pthread_mutex_unlock(&h->lock);
	if (eof) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	} else if (n == 0) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* ---- the owner ------------------------------------------------------------------ */

static void submit(struct conn *h, struct coil__h2c_stream *st)
{
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = data_read};
	int32_t id =
		nghttp2_submit_request(h->ng, NULL, st->nv, st->nnv, st->has_body ? &dp : NULL, st);
	st->submitted = true;
	if (id < 0) {
		bool out_of_ids = id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE;
		if (out_of_ids) { /* never sent: a new connection takes it */
			pthread_mutex_lock(&h->pool->lock);
			h->usable = false;
			pthread_mutex_unlock(&h->pool->lock);
		}
		st->err = out_of_ids ? 0 : -ENOMEM;
		st->unsent = out_of_ids;
		st->closed = true;
		wake_locked(st);
		return;
	}
	st->id = id;
	st->owned = true;
	unsigned active = ++h->active, peak = __atomic_load_n(&h->pool->peak, __ATOMIC_RELAXED);
	while (active > peak && !__atomic_compare_exchange_n(&h->pool->peak, &peak, active, false,
							     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Under lock: st closes with its HEADERS never sent (the connection takes
 * no new stream). */
static void unsent_locked(struct coil__h2c_stream *st)
{
	st->unsent = st->closed = true;
	wake_locked(st);
}

/* Hand nghttp2 the waiting streams the peer has slots for, oldest first;
 * none while a PING waits for its ACK (the connection may be dead: they
 * stay safe to send elsewhere). */
static void run_waiting(struct conn *h)
{
	uint32_t max =
		nghttp2_session_get_remote_settings(h->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	pthread_mutex_lock(&h->lock);
	for (struct coil__h2c_stream *st; (st = h->whead);) {
		bool gone = h->goaway_recv || h->reset;
		if (!gone && (h->ping_out || h->active >= max))
			break;
		h->whead = st->wnext;
		if (!h->whead)
			h->wtail = NULL;
		st->in_wait = false;
		if (gone)
			unsent_locked(st);
		else
			submit(h, st); /* nghttp2 copies the fields */
	}
	pthread_mutex_unlock(&h->lock);
}

/* Look at the streams requesters have posted. */
static void run_queue(struct conn *h)
{
	for (;;) {
		pthread_mutex_lock(&h->lock);
		struct coil__h2c_stream *st = h->qhead;
		if (!st) {
			pthread_mutex_unlock(&h->lock);
			return;
		}
		h->qhead = st->qnext;
		if (!h->qhead)
			h->qtail = NULL;
		st->queued = false;
		size_t consumed = st->unconsumed;
		st->unconsumed = 0;
		bool resume = false, rst = false;
		if (!st->submitted && st->user && !st->in_wait && !st->closed) {
			/* Its turn comes in run_waiting. */
			st->in_wait = true;
			st->wnext = NULL;
			if (h->wtail)
				h->wtail->wnext = st;
			else
				h->whead = st;
			h->wtail = st;
		} else if (st->owned) {
			rst = st->cancel && !st->rst_sent;
			if (rst)
				st->rst_sent = true;
			resume = !rst && st->deferred &&
				 (st->src_end || (st->src && st->src_off < st->src_len));
			if (resume)
				st->deferred = false;
		}
		int32_t id = st->id;
		bool owned = st->owned;
		pthread_mutex_unlock(&h->lock);
		if (!owned)
			continue;
		if (consumed)
			nghttp2_session_consume(h->ng, id, consumed);
		if (rst)
			nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		if (resume)
			nghttp2_session_resume_data(h->ng, id);
	}
}

static int write_all(struct conn *h, const void *p, size_t n)
{
	/* With PINGs on, a peer that takes not one write (16 KB at most) in
	 * ping_timeout is lost too: the owner, stuck here, could send no
	 * PING nor read an answer (Go's WriteByteTimeout). */
	coil_scope s;
	bool bounded =
		h->pool->ping_interval && coil_scope_enter_timeout(&s, h->pool->ping_timeout) == 0;
	ssize_t w = h->tls ? coil_tls_write_all(h->tls, p, n) : coil_sock_write_all(h->fd, p, n);
	if (bounded)
		coil_scope_exit(&s);
	if (w == -ETIMEDOUT && bounded)
		h->lost = true;
	if (w < 0) {
		h->err = w == -EPIPE ? -ECONNRESET : (int)w;
		return h->err;
	}
	return 0;
}

static int write_out(void *arg, const void *p, size_t n)
{
	return write_all(arg, p, n);
}

/* Write what the session has to send (h2_out.h). */
static int send_pending(struct conn *h)
{
	return coil__h2_out_send(h->ng, h->out, &h->out_len, write_out, h, &h->err);
}

/* Read once, waiting until deadline or a wake. Returns the count, 0 at
 * the peer's end, -EAGAIN for a wake, or -errno. */
static ssize_t recv_some(struct conn *h, int64_t deadline)
{
	pthread_mutex_lock(&h->lock);
	if (h->qhead || h->closing) {
		pthread_mutex_unlock(&h->lock);
		return -EAGAIN;
	}
	coil__h2_park_locked(&h->park, deadline);
	pthread_mutex_unlock(&h->lock);
	ssize_t n = h->tls ? coil_tls_read(h->tls, h->in, IN_CAP)
			   : coil_sock_read(h->fd, h->in, IN_CAP);
	pthread_mutex_lock(&h->lock);
	bool wake = coil__h2_unpark_locked(&h->park, n);
	pthread_mutex_unlock(&h->lock);
	if (wake)
		return -EAGAIN;
	return n;
}

/* Connect (TLS: handshake, ALPN "h2") and make the session. The connect
 * and handshake run in h->park.scope, under cfg.timeout: the client's free
 * cancels it (a request that gave up leaves its owner connecting, maybe
 * to a host that never answers). */
static int conn_open(struct conn *h)
{
	const struct coil_http_client_config *cfg = &h->pool->cfg;
	int64_t deadline = cfg->timeout > 0 ? coil_now() + cfg->timeout : COIL_NO_DEADLINE;
	pthread_mutex_lock(&h->lock);
	bool closing = h->closing;
	bool scoped = !closing && coil_scope_enter(&h->park.scope, deadline) == 0;
	h->opening = scoped;
	pthread_mutex_unlock(&h->lock);
	if (closing)
		return -ECANCELED;
	int r = coil_tcp_connect(h->host, h->port);
	if (r >= 0) {
		h->fd = r;
		__atomic_add_fetch(h->pool->opened, 1, __ATOMIC_RELAXED);
		coil_tcp_nodelay(h->fd, 1);
		r = 0;
		if (cfg->tls) {
			r = coil_tls_open(&h->tls, cfg->tls, h->fd, h->host);
			if (r == 0)
				r = coil_tls_handshake(h->tls);
			const char *alpn = r == 0 ? coil_tls_alpn(h->tls) : NULL;
			if (r == 0 && (!alpn || strcmp(alpn, "h2") != 0))
				r = -EPROTONOSUPPORT; /* not h2: client.c goes HTTP/1.1 */
		}
	}
	pthread_mutex_lock(&h->lock);
	h->opening = false;
	if (scoped)
		coil_scope_exit(&h->park.scope);
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		return r;
	static const struct coil__h2_callbacks cbs = {
		.on_begin_headers = on_begin_headers,
		.on_header = on_header,
		.on_frame_recv = on_frame_recv,
		.on_data_chunk_recv = on_data_chunk,
		.on_stream_close = on_stream_close,
		.before_frame_send = before_frame_send,
		.on_frame_not_send = on_frame_not_send,
	};
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, COIL__H2_STREAM_WINDOW},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)cfg->max_head},
	};
	return coil__h2_session_open(&h->ng, false, &cbs, iv, sizeof iv / sizeof *iv, h);
}

/* A write failed with -ECONNRESET (or -EPIPE): the peer closed or reset
 * the connection, maybe with our frames unread (a server closing after its
 * GOAWAY). What it sent before is still in the socket, readable up to its
 * end: the answers of streams it processed, its GOAWAY naming them. The
 * owner reads on, writing no more, and takes no new stream. */
static void conn_reset(struct conn *h)
{
	h->reset = true;
	pthread_mutex_lock(&h->pool->lock);
	h->usable = false;
	pthread_mutex_unlock(&h->pool->lock);
}

/* The owner's loop. Returns why the connection ends (0: idle, or the
 * peer's GOAWAY with nothing left; -ETIMEDOUT with h->lost: no PING ACK). */
static int conn_loop(struct conn *h)
{
	const struct coil_http_client_config *cfg = &h->pool->cfg;
	const int64_t ping_interval = h->pool->ping_interval, ping_timeout = h->pool->ping_timeout;
	h->last_read = coil_now();
	for (;;) {
		run_queue(h);
		run_waiting(h);
		if (!h->reset && send_pending(h) < 0) {
			if (h->err != -ECONNRESET)
				return h->err;
			conn_reset(h);
		}
		pthread_mutex_lock(&h->lock);
		bool closing = h->closing, idle = h->nstreams == 0;
		int64_t since = h->idle_since;
		pthread_mutex_unlock(&h->lock);
		if (closing)
			return -ECANCELED;
		if (idle && h->goaway_recv)
			return 0;
		if (idle && h->reset)
			return h->err;
		/* Done with no GOAWAY of the peer's: nghttp2 ended it for a
		 * protocol error (the GOAWAY saying so was sent). */
		if (!nghttp2_session_want_read(h->ng) &&
		    (h->reset || !nghttp2_session_want_write(h->ng)))
			return h->goaway_recv ? 0 : h->reset ? h->err : -EPROTO;
		int64_t idle_end = idle && cfg->idle_timeout > 0 ? since + cfg->idle_timeout
								 : COIL_NO_DEADLINE;
		/* Nothing read for ping_interval: a PING (none once writing
		 * failed), and its ACK due within ping_timeout. */
		int64_t ping_due = !ping_interval || h->reset ? COIL_NO_DEADLINE
				   : h->ping_out	      ? h->ping_at + ping_timeout
							      : h->last_read + ping_interval;
		ssize_t n = recv_some(h, idle_end < ping_due ? idle_end : ping_due);
		if (n == -EAGAIN)
			continue;
		if (n == -ETIMEDOUT && coil_now() >= ping_due) {
			if (h->ping_out) {
				h->lost = true; /* the peer is gone, or hangs */
				return -ETIMEDOUT;
			}
			if (nghttp2_submit_ping(h->ng, NGHTTP2_FLAG_NONE, NULL) != 0)
				return -ENOMEM;
			h->ping_out = true;
			h->ping_at = coil_now();
			continue;
		}
		if (n == -ETIMEDOUT) {
			/* Idle for idle_timeout: close, unless a request has just
			 * come (it is attached under the pool's lock). */
			pthread_mutex_lock(&h->pool->lock);
			pthread_mutex_lock(&h->lock);
			bool still = h->nstreams == 0;
			if (still)
				h->usable = false;
			pthread_mutex_unlock(&h->lock);
			pthread_mutex_unlock(&h->pool->lock);
			if (!still)
				continue;
			nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR);
			send_pending(h);
			return 0;
		}
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		h->last_read = coil_now();
		ssize_t used = nghttp2_session_mem_recv(h->ng, (const uint8_t *)h->in, (size_t)n);
		if (used < 0) {
			/* Not HTTP/2, a protocol error (a GOAWAY may be queued;
			 * send it, then close), or out of memory: the sent
			 * streams fail with -ENOMEM, as a failed set-up fails
			 * them. */
			if (!h->reset)
				send_pending(h);
			return coil__h2_error(used);
		}
	}
}

static void *owner_main(void *arg)
{
	struct conn *h = arg;
	struct coil__h2c_pool *pool = h->pool;
	int err = conn_open(h);
	if (err == 0)
		err = conn_loop(h);
	/* Over TLS a connection that ended well (idle, the peer's GOAWAY,
	 * the client's free) ends with a close_notify, as client.c's do. */
	if (h->tls && h->ng && (err == 0 || err == -ECANCELED) && !h->reset) {
		coil_scope s;
		bool scoped = coil_scope_enter_timeout(&s, COIL__HTTP_CLOSE_NOTIFY_NS) == 0;
		coil_tls_shutdown(h->tls);
		if (scoped)
			coil_scope_exit(&s);
	}
	/* No new stream; the attached ones fail with err (those never sent
	 * as refused: they may go elsewhere). */
	pthread_mutex_lock(&pool->lock);
	h->usable = false;
	for (struct conn **pp = &pool->conns; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	/* A connect or handshake past cfg.timeout keeps -ETIMEDOUT, as over
	 * HTTP/1.1: a request that came while it went on has a later
	 * deadline of its own and learns of it from here. */
	if (h->lost)
		err = -ETIMEDOUT; /* the peer stopped answering */
	else if (err == 0 || err == -ECANCELED || (err == -ETIMEDOUT && h->ng))
		err = -ECONNRESET;
	pthread_mutex_lock(&h->lock);
	h->dead = true;
	h->err = err;
	h->qhead = h->qtail = NULL;
	h->whead = h->wtail = NULL;
	struct coil__h2c_stream *gone = NULL;
	for (struct coil__h2c_stream *st = h->streams, *next; st; st = next) {
		next = st->next;
		st->queued = st->in_wait = false;
		if (st->owned || !st->submitted) {
			if (!h->ng)
				st->err = err; /* no session: as the connect failed */
			else if (!st->wire && !st->err)
				st->unsent = true; /* never sent: may go elsewhere */
			else if (!st->in_eof && !st->err && !st->refused)
				st->err = err;
			bool free_conn;
			if (owner_release_locked(st, &free_conn)) {
				st->qnext = gone;
				gone = st;
			}
		}
	}
	pthread_mutex_unlock(&h->lock);
	while (gone) {
		struct coil__h2c_stream *st = gone;
		gone = st->qnext;
		stream_free(st);
	}
	/* The requesters touch neither the session nor the socket of a dead
	 * connection; the owner's reference goes last (a requester letting
	 * go may free h at once, from another worker). */
	if (h->ng)
		nghttp2_session_del(h->ng);
	h->ng = NULL;
	if (h->tls)
		coil_tls_free(h->tls);
	if (h->fd >= 0)
		coil_close(h->fd);
	pthread_mutex_lock(&h->lock);
	bool free_it;
	conn_unref_locked(h, &free_it);
	pthread_mutex_unlock(&h->lock);
	if (free_it)
		conn_free(h);
	coil_wg_done(&pool->owners);
	return NULL;
}

/* A usable connection to host:port with st attached, a new one when there
 * is none (its owner then connects). Returns 0 or -ENOMEM. */
static int attach(struct coil__h2c_pool *pool, struct coil__h2c_stream *st, const char *host,
		  uint16_t port)
{
	pthread_mutex_lock(&pool->lock);
	struct conn *h = pool->conns;
	while (h && !(h->usable && h->port == port && !strcmp(h->host, host)))
		h = h->next;
	bool fresh = !h;
	if (fresh) {
		h = conn_new(pool, host, port);
		if (!h) {
			pthread_mutex_unlock(&pool->lock);
			return -ENOMEM;
		}
		coil_wg_add(&pool->owners, 1);
		if (coil_task_spawn(NULL, owner_main, h) < 0) {
			coil_wg_done(&pool->owners);
			pthread_mutex_unlock(&pool->lock);
			conn_free(h);
			return -ENOMEM;
		}
		h->next = pool->conns;
		pool->conns = h;
	}
	pthread_mutex_lock(&h->lock);
	st->h = h;
	st->user = true;
	st->next = h->streams;
	st->prev = NULL;
	if (st->next)
		st->next->prev = st;
	h->streams = st;
	h->nstreams++;
	h->refs++;
	post_locked(st);
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

/* ---- the requester's side ---------------------------------------------------------- */

static bool connection_specific(const char *name, size_t len)
{
	static const char *const names[] = {"connection",	 "keep-alive", "proxy-connection",
					    "transfer-encoding", "upgrade",    "host"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (len == strlen(names[i]) && !strncasecmp(name, names[i], len))
			return true;
	return false;
}

/* rq's head as nghttp2 fields into st (:method, :scheme, :authority,
 * :path, then rq->headers with their names in lower case; a Host line
 * becomes :authority). */
static int build_fields(struct coil__h2c_stream *st, const struct coil_http_client_config *cfg,
			const struct coil_http_client_request *rq, const char *method,
			const char *target)
{
	const char *hs = rq->headers ? rq->headers : "";
	size_t lines = 0;
	for (const char *p = hs; (p = strstr(p, "\r\n")); p += 2)
		lines++;
	size_t cap = strlen(method) + strlen(target) + strlen(rq->host) + strlen(hs) + 64;
	st->nvbuf = malloc(cap);
	st->nv = malloc((lines + 6) * sizeof *st->nv);
	if (!st->nvbuf || !st->nv)
		return -ENOMEM;
	char *b = st->nvbuf;
	size_t used = 0;
	/* The authority: from a Host line, else host:port. */
	const char *auth = NULL;
	size_t auth_len = 0;
	for (const char *line = hs; *line;) {
		const char *eol = strstr(line, "\r\n");
		if (!eol)
			return -EINVAL;
		if (!strncasecmp(line, "host:", 5)) {
			auth = line + 5;
			while (*auth == ' ' || *auth == '\t')
				auth++;
			auth_len = (size_t)(eol - auth);
			while (auth_len &&
			       (auth[auth_len - 1] == ' ' || auth[auth_len - 1] == '\t'))
				auth_len--;
		}
		line = eol + 2;
	}
	char *authority = b + used;
	if (auth) {
		memcpy(authority, auth, auth_len);
		used += auth_len;
	} else {
		int n = snprintf(authority, cap - used, "%s:%u", rq->host, (unsigned)rq->port);
		auth_len = (size_t)n;
		used += (size_t)n;
	}
	size_t n = 0;
#define NV(name, value, vlen)                                                                   \
	st->nv[n++] = (nghttp2_nv){(uint8_t *)(name), (uint8_t *)(value), strlen(name), (vlen), \
				   NGHTTP2_NV_FLAG_NO_COPY_NAME}
	NV(":method", method, strlen(method));
	NV(":scheme", cfg->tls ? "https" : "http", cfg->tls ? 5u : 4u);
	NV(":authority", authority, auth_len);
	NV(":path", target, strlen(target));
#undef NV
	/* The values of the fields above are copied by nghttp2 at submit;
	 * method and target are the caller's: into nvbuf too. */
	size_t ml = strlen(method), tl = strlen(target);
	memcpy(b + used, method, ml);
	st->nv[0].value = (uint8_t *)b + used;
	used += ml;
	memcpy(b + used, target, tl);
	st->nv[3].value = (uint8_t *)b + used;
	used += tl;
	for (const char *line = hs; *line;) {
		const char *eol = strstr(line, "\r\n");
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon || colon == line)
			return -EINVAL;
		size_t nl = (size_t)(colon - line);
		const char *v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		size_t vl = (size_t)(eol - v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (!connection_specific(line, nl)) {
			char *name = b + used;
			for (size_t i = 0; i < nl; i++)
				name[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ? line[i] + 32
										  : line[i]);
			used += nl;
			char *value = b + used;
			memcpy(value, v, vl);
			used += vl;
			st->nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, nl, vl,
						   NGHTTP2_NV_FLAG_NONE};
		}
		line = eol + 2;
	}
	/* content-length when announced (nghttp2 holds the body to it) */
	if (st->has_body && (!st->streaming || st->stream_len != UINT64_MAX)) {
		char *v = b + used;
		int k = snprintf(
			v, cap - used, "%llu",
			(unsigned long long)(st->streaming ? st->stream_len : st->whole_len));
		used += (size_t)k;
		st->nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)v, 14, (size_t)k,
					   NGHTTP2_NV_FLAG_NO_COPY_NAME};
	}
	st->nnv = n;
	return 0;
}

int coil__h2c_start(struct coil__h2c_pool *pool, const struct coil_http_client_request *rq,
		    const char *method, const char *target, bool idempotent,
		    struct coil__h2c_stream **out)
{
	struct coil__h2c_stream *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	coil_sem_init(&st->wake, 0);
	st->pool = pool;
	st->idempotent = idempotent;
	st->head_request = !strcmp(method, "HEAD");
	st->content_length = -1;
	if (rq->body) {
		st->has_body = rq->body_len > 0;
		st->whole = rq->body;
		st->whole_len = rq->body_len;
	} else if (rq->body_len) {
		st->has_body = st->streaming = true;
		st->stream_len = rq->body_len == COIL_HTTP_BODY_CHUNKED ? UINT64_MAX : rq->body_len;
	}
	int r = build_fields(st, &pool->cfg, rq, method, target);
	if (r == 0) {
		st->src = st->whole;
		st->src_len = st->whole ? st->whole_len : 0;
		st->src_end = !st->streaming;
		r = attach(pool, st, rq->host, rq->port);
	}
	if (r < 0) {
		stream_free(st);
		return r;
	}
	*out = st;
	return 0;
}

/* Let go of st's connection (the stream stays the requester's). Returns
 * with st->h NULL. */
static void let_go(struct coil__h2c_stream *st)
{
	struct conn *h = st->h;
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	st->user = false;
	st->src = NULL; /* the caller's buffer: no more */
	bool owned = st->owned;
	bool free_conn = false;
	if (owned) {
		/* nghttp2 still has it: the owner resets it (unless its
		 * response is complete) and frees it once closed. */
		st->cancel = !st->in_eof;
		post_locked(st);
	} else {
		free_conn = detach_locked(st);
	}
	pthread_mutex_unlock(&h->lock);
	/* Owned: the owner frees st (maybe at once, on another worker). */
	if (free_conn)
		conn_free(h);
	if (!owned)
		stream_free(st);
}

/* A copy of st for a new try on another connection, st let go. */
static int retry(struct coil__h2c_stream **pst)
{
	struct coil__h2c_stream *st = *pst, *n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	coil_sem_init(&n->wake, 0);
	n->pool = st->pool;
	n->idempotent = st->idempotent;
	n->resent = st->resent + 1;
	pthread_mutex_lock(&st->h->lock);
	n->fruitless = st->fruitless + (!st->h->answered || st->rst_refused);
	pthread_mutex_unlock(&st->h->lock);
	n->head_request = st->head_request;
	n->has_body = st->has_body;
	n->streaming = st->streaming;
	n->stream_len = st->stream_len;
	n->whole = st->whole;
	n->whole_len = st->whole_len;
	n->content_length = -1;
	n->src = n->whole;
	n->src_len = n->whole ? n->whole_len : 0;
	n->src_end = !n->streaming;
	/* Move the fields: their pointers are into nvbuf, which moves along. */
	n->nv = st->nv;
	n->nnv = st->nnv;
	n->nvbuf = st->nvbuf;
	st->nv = NULL;
	st->nvbuf = NULL;
	char *host = strdup(st->h->host);
	uint16_t port = st->h->port;
	let_go(st);
	*pst = n;
	int r = host ? attach(n->pool, n, host, port) : -ENOMEM;
	free(host);
	return r;
}

/* Under lock: whether st may be sent again elsewhere, with no streamed
 * body byte written: refused (not processed) and idempotent, or never
 * sent (once for a request not idempotent: a second connection ending
 * before it sent it fails it); MAX_FRUITLESS times at most off
 * connections that answered nothing or refused it. */
static bool may_retry(const struct coil__h2c_stream *st)
{
	if (st->err || st->head_done || st->streamed)
		return false;
	if ((!st->h->answered || st->rst_refused) && st->fruitless >= MAX_FRUITLESS)
		return false;
	return (st->refused || st->unsent) && (st->idempotent || (st->unsent && st->resent == 0));
}

/* Under lock: whether st closed after its whole answer, its request body
 * not all sent: the server does not want the rest (a reset with NO_ERROR,
 * RFC 9113 8.1). Its writes end with -EALREADY and the answer is read, as
 * client.c does over HTTP/1.1. */
static bool answered_first(const struct coil__h2c_stream *st)
{
	return st->closed && st->head_done && st->in_eof && !st->err;
}

/* The error of st as a requester sees it. */
static int stream_error(const struct coil__h2c_stream *st)
{
	if (st->err)
		return st->err;
	if (st->refused || st->unsent)
		return -ECONNRESET; /* the server did not take it */
	if (st->h && st->h->dead && st->h->err)
		return st->h->err;
	return -ECONNRESET;
}

ssize_t coil__h2c_write(struct coil__h2c_stream **pst, const void *buf, size_t len)
{
	for (;;) {
		struct coil__h2c_stream *st = *pst;
		struct conn *h = st->h;
		if (!h)
			return -ECONNRESET;
		pthread_mutex_lock(&h->lock);
		int r = 0;
		bool again = false;
		if (st->err || st->closed) {
			again = may_retry(st);
			r = answered_first(st) ? -EALREADY : stream_error(st);
		} else {
			st->src = buf;
			st->src_len = len;
			st->src_off = 0;
			post_locked(st);
			while (!st->err && !st->closed && st->src_off < st->src_len) {
				r = wait_owner(st);
				if (r < 0)
					break;
			}
			if (r == 0 && st->src_off < st->src_len) {
				again = st->src_off == 0 && may_retry(st);
				r = answered_first(st) ? -EALREADY : stream_error(st);
			}
			st->streamed += st->src_off;
			st->src = NULL; /* the caller's buffer: no more */
		}
		pthread_mutex_unlock(&h->lock);
		if (again) { /* none of it went: all of it on a new stream */
			r = retry(pst);
			if (r < 0)
				return r;
			continue;
		}
		return r < 0 ? r : (ssize_t)len;
	}
}

int coil__h2c_response(struct coil__h2c_stream **pst)
{
	struct coil__h2c_stream *st = *pst;
	if (st->streaming && st->stream_len != UINT64_MAX && st->streamed != st->stream_len) {
		bool answered = false;
		if (st->h) {
			pthread_mutex_lock(&st->h->lock);
			answered = answered_first(st);
			pthread_mutex_unlock(&st->h->lock);
		}
		if (!answered)
			return -EMSGSIZE; /* shorter than announced: reset at the end */
	}
	for (;;) {
		struct conn *h = st->h;
		if (!h)
			return -ECONNRESET;
		pthread_mutex_lock(&h->lock);
		int r = 0;
		if (!st->src_end) {
			st->src_end = true; /* the end of a streamed body */
			post_locked(st);
		}
		/* The head, and the request body taken whole (it is the
		 * caller's until this call returns), or the end. */
		while (!st->err && !st->closed &&
		       (!st->head_done || (st->src && st->src_off < st->src_len))) {
			r = wait_owner(st);
			if (r < 0)
				break;
		}
		st->src = NULL;
		bool again = r == 0 && !st->head_done && may_retry(st);
		if (r == 0 && !st->head_done)
			r = stream_error(st);
		else if (r == 0 && st->err)
			r = st->err;
		int status = st->status;
		pthread_mutex_unlock(&h->lock);
		if (again) {
			r = retry(pst);
			st = *pst;
			if (r < 0)
				return r;
			continue;
		}
		return r < 0 ? r : status;
	}
}

int coil__h2c_header_count(const struct coil__h2c_stream *st)
{
	return (int)st->head.nfields;
}

int coil__h2c_header_at(const struct coil__h2c_stream *st, size_t i, struct coil_http_str *name,
			struct coil_http_str *value)
{
	return coil__h2_head_at(&st->head, i, name, value);
}

int64_t coil__h2c_content_length(const struct coil__h2c_stream *st)
{
	if (st->head_request || st->status == 204 || st->status == 304)
		return 0;
	return st->content_length;
}

ssize_t coil__h2c_read(struct coil__h2c_stream *st, void *buf, size_t len)
{
	struct conn *h = st->h;
	if (!h)
		return -ECONNRESET;
	pthread_mutex_lock(&h->lock);
	ssize_t r = 0;
	for (;;) {
		size_t have = st->in.len - st->in.off;
		if (have) {
			size_t n = have < len ? have : len;
			coil__h2_in_take(&st->in, buf, n);
			/* The window back (the owner consumes it). */
			if (st->owned) {
				st->unconsumed += n;
				post_locked(st);
			}
			r = (ssize_t)n;
			break;
		}
		if (st->err) {
			r = st->err;
			break;
		}
		if (st->in_eof)
			break;
		if (st->closed) {
			r = stream_error(st);
			break;
		}
		int w = wait_owner(st);
		if (w < 0) {
			r = w;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

void coil__h2c_end(struct coil__h2c_stream *st)
{
	if (!st)
		return;
	if (st->h)
		let_go(st);
	else
		stream_free(st);
}
