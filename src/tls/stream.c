/*
 * TLS streams: OpenSSL runs on memory (tls/bio.c), coil moves the bytes.
 * Every OpenSSL call here goes through ssl_call, which clears the thread's
 * error queue before it (a fiber may resume after another fiber of this
 * worker left errors there) and after it when it failed, and remembers
 * the reason of a failure; every call is followed by a flush of what
 * OpenSSL wrote (a finished handshake, session tickets and key updates
 * leave bytes without any WANT_WRITE). A fiber parks only in
 * coil_reader_read / coil_sock_write, never inside OpenSSL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "coil/net.h"
#include "coil/scope.h"
#include "sched/scope.h"
#include "tls/tls.h"

#define RECORD_MAX COIL__TLS_BLOCK
/* Ciphertext queued before it is flushed: three records per send. */
#define OUT_BATCH (3 * (RECORD_MAX + 512))
/* Room for an error code that OpenSSL has no reason text for. */
#define REASON_MAX 160
/* Between writes a stream keeps at most this much output buffer (an
 * idle one keeps none: idle_release). */
#define OUT_KEEP (16 * 1024)

enum call { HANDSHAKE, READ, WRITE, SHUTDOWN };

/* Empty the thread's error queue. ERR_clear_error wipes all 16 slots
 * whether or not they hold anything: done around every OpenSSL call it was
 * ~5% of the instructions of an HTTPS 4 KiB file request (callgrind). A
 * peek finds the queue empty for a fraction of that. */
static void err_clean(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* Run one OpenSSL call on a clean error queue; returns SSL_get_error's
 * verdict (SSL_ERROR_NONE on success) and the bytes moved in *done. */
static int ssl_call(struct coil__tls *t, enum call what, void *buf, size_t len, size_t *done)
{
	int r;
	*done = 0;
	err_clean();
	switch (what) {
	case HANDSHAKE:
		r = SSL_do_handshake(t->ssl);
		break;
	case READ:
		r = SSL_read_ex(t->ssl, buf, len, done);
		break;
	case WRITE:
		r = SSL_write_ex(t->ssl, buf, len, done);
		break;
	default:
		r = SSL_shutdown(t->ssl);
		if (r == 0)
			r = 1; /* sent; the peer's close_notify is read later */
		break;
	}
	int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) {
		unsigned long code = ERR_peek_error();
		/* OpenSSL's reason strings are static: keep the pointer. */
		const char *why = code ? ERR_reason_error_string(code) : NULL;
		if (why != NULL)
			t->reason = why;
		else if (code == 0)
			t->reason = t->in_eof ? "unexpected eof" : "system error";
		else if (t->reason_buf != NULL || (t->reason_buf = malloc(REASON_MAX)) != NULL) {
			ERR_error_string_n(code, t->reason_buf, REASON_MAX);
			t->reason = t->reason_buf;
		} else {
			t->reason = "TLS error";
		}
	}
	/* A failure leaves its errors: take them away from the thread's
	 * next OpenSSL user. A success found the queue clean and leaves it
	 * so (the peek costs ~180 instructions, twice per request). */
	if (e != SSL_ERROR_NONE)
		err_clean();
	return e;
}

/* The code for a failed OpenSSL call; it sticks to the stream. */
static int fail(struct coil__tls *t, int e)
{
	int code;
	long v = SSL_get_verify_result(t->ssl);
	if (t->ctx->verify && v != X509_V_OK)
		code = -EKEYREJECTED;
	else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN || t->in_eof)
		code = -ECONNRESET;
	else
		code = -EPROTO;
	if (t->err == 0)
		t->err = code;
	return t->err;
}

/* The output buffer goes: back to the cache if it is a block. */
static void out_release(struct coil__tls_buf *o)
{
	if (o->cap == COIL__TLS_BLOCK)
		coil__tls_block_put(o->p);
	else
		free(o->p);
	o->p = NULL;
	o->cap = 0;
}

/* Send everything queued in t->out. */
static int flush(struct coil__tls *t)
{
	struct coil__tls_buf *o = &t->out;
	while (o->off < o->len) {
		ssize_t w = coil_sock_write(t->fd, o->p + o->off, o->len - o->off);
		if (w < 0)
			return (int)w;
		o->off += (size_t)w;
	}
	o->off = o->len = 0;
	if (o->cap > OUT_KEEP)
		out_release(o);
	return 0;
}

/* The socket takes no more of our bytes (the peer reset the connection
 * or shut it): what t->out holds can never arrive, but what the peer sent
 * before may still wait in the socket. A read drops the output and goes
 * on reading; writes keep failing on the socket. Returns 0. */
static int output_lost(struct coil__tls *t)
{
	t->out.off = t->out.len = 0;
	return 0;
}

/* Have the reader lend the next bytes of the socket (OpenSSL took all of
 * the last ones: it asks for more only when t->in is empty). Returns > 0,
 * 0 (end: OpenSSL sees it next), or -errno; a cancel or deadline loses
 * nothing (the reader keeps what came). */
static ssize_t fill(struct coil__tls *t)
{
	if (t->in_len > 0)
		return (ssize_t)t->in_len;
	if (t->in_eof)
		return 0;
	if (t->rd == NULL) {
		int r = coil_reader_open(&t->rd, t->fd);
		if (r < 0)
			return r;
	}
	const void *p;
	ssize_t r = coil_reader_read(t->rd, &p);
	if (r > 0) {
		t->in = p;
		t->in_len = (size_t)r;
	} else if (r == 0) {
		t->in_eof = 1;
	}
	return r;
}

/* Claim the stream for the calling fiber. */
static int enter(struct coil__tls *t)
{
	if (t == NULL)
		return -EINVAL;
	if (t->busy)
		return -EBUSY;
	if (t->err)
		return t->err;
	t->busy = 1;
	return 0;
}

static int handshake_locked(struct coil__tls *t)
{
	if (t->handshaken)
		return 0;
	coil_scope s;
	int scoped = 0, r;
	if (t->ctx->handshake_ns > 0) {
		if ((r = coil_scope_enter_timeout(&s, t->ctx->handshake_ns)) < 0)
			return r;
		scoped = 1;
	}
	for (;;) {
		size_t n;
		int e = ssl_call(t, HANDSHAKE, NULL, 0, &n);
		int f = flush(t); /* alerts too: the peer learns why */
		if (e == SSL_ERROR_NONE) {
			r = f;
			break;
		}
		if (e == SSL_ERROR_WANT_READ) {
			ssize_t k = f < 0 ? f : fill(t);
			if (k < 0) {
				r = (int)k;
				break;
			}
			continue;
		}
		if (e == SSL_ERROR_WANT_WRITE && f == 0)
			continue;
		r = f < 0 && e == SSL_ERROR_WANT_WRITE ? f : fail(t, e);
		break;
	}
	if (scoped)
		coil__scope_leave(&s);
	if (r == 0) {
		const unsigned char *p;
		unsigned len;
		SSL_get0_alpn_selected(t->ssl, &p, &len);
		if (len > 0) {
			t->alpn = len < sizeof t->alpn_short ? t->alpn_short : malloc(len + 1);
			if (t->alpn == NULL) /* no protocol said is a wrong one */
				return t->err = -ENOMEM;
			memcpy(t->alpn, p, len);
			t->alpn[len] = '\0';
		}
		t->handshaken = 1;
	}
	return r;
}

int coil_tls_open(coil_tls **out, coil_tls_ctx *c, int fd, const char *host)
{
	if (out == NULL || c == NULL || fd < 0 || (c->server && host != NULL))
		return -EINVAL;
	if (!c->server && c->verify && (host == NULL || host[0] == '\0'))
		return -EINVAL;
	struct coil__tls *t = calloc(1, sizeof *t);
	if (t == NULL)
		return -ENOMEM;
	t->fd = fd;
	t->ctx = c;
	ERR_clear_error();
	t->ssl = SSL_new(c->ssl);
	BIO *bio = t->ssl ? coil__tls_bio_new(t) : NULL;
	if (bio == NULL)
		goto nomem;
	SSL_set_bio(t->ssl, bio, bio);
	SSL_set_app_data(t->ssl, t);
	if (c->server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (host != NULL && (t->host = strdup(host)) == NULL)
			goto nomem;
		if (host != NULL) {
			unsigned char addr[16];
			int ip = inet_pton(AF_INET, host, addr) == 1 ||
				 inet_pton(AF_INET6, host, addr) == 1;
			/* SNI carries names only (RFC 6066). */
			if (!ip && SSL_set_tlsext_host_name(t->ssl, host) != 1)
				goto nomem;
			if (c->verify) {
				X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
				X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
				if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
					: X509_VERIFY_PARAM_set1_host(vp, host, 0)) != 1)
					goto nomem;
			}
			SSL_SESSION *sess = coil__tls_session_get(c, host);
			if (sess != NULL) {
				SSL_set_session(t->ssl, sess);
				SSL_SESSION_free(sess);
			}
		}
	}
	ERR_clear_error();
	atomic_store(&c->frozen, 1);
	atomic_fetch_add(&c->refs, 1);
	*out = t;
	return 0;
nomem:
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t->host);
	free(t);
	return -ENOMEM;
}

int coil_tls_handshake(coil_tls *t)
{
	int r = enter(t);
	if (r < 0)
		return r;
	r = handshake_locked(t);
	t->busy = 0;
	return r;
}

/* Give back what an idle stream needs not hold before it waits on the
 * socket: the output buffer (all of it was sent) and the lending buffer. */
static void idle_release(struct coil__tls *t)
{
	out_release(&t->out);
	coil__tls_block_put(t->plain);
	t->plain = NULL;
}

/* Whether SSL_read could only say WANT_READ: the reader lent no bytes,
 * OpenSSL holds no record, the handshake is over and no close_notify came
 * (after one, SSL_read says 0 again at once). Asking OpenSSL to learn it
 * costs a failing SSL_read per request, ~3k instructions (callgrind). */
static int nothing_to_read(struct coil__tls *t)
{
	return t->in_len == 0 && !t->in_eof && !SSL_has_pending(t->ssl) &&
	       SSL_is_init_finished(t->ssl) &&
	       !(SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN);
}

/* coil_tls_read, or with lend set coil_tls_read_lent: buf is then the
 * stream's own t->plain, taken per record and given back before waiting. */
static ssize_t read_locked(struct coil__tls *t, void *buf, size_t len, const void **lend)
{
	int r;
	ssize_t res;
	if ((r = handshake_locked(t)) < 0)
		return r;
	for (;;) {
		size_t n = 0;
		int e = SSL_ERROR_WANT_READ;
		if (!nothing_to_read(t)) {
			if (lend != NULL) {
				if (t->plain == NULL && (t->plain = coil__tls_block_get()) == NULL)
					return -ENOMEM;
				buf = t->plain;
				len = RECORD_MAX;
			}
			e = ssl_call(t, READ, buf, len, &n);
		}
		int f = flush(t); /* a key update's answer, an alert */
		if (f == -ECONNRESET || f == -EPIPE)
			f = output_lost(t);
		if (e == SSL_ERROR_NONE) {
			res = (ssize_t)n; /* a flush error shows on the next call */
			if (lend != NULL)
				*lend = t->plain;
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			res = 0;
			break;
		}
		if (f < 0) {
			res = f;
			break;
		}
		if (e == SSL_ERROR_WANT_READ) {
			/* No application data yet (maybe a ticket or a key
			 * update was all there was): wait on the socket,
			 * holding no output or lending buffer. */
			idle_release(t);
			ssize_t k = fill(t);
			if (k < 0) {
				res = k;
				break;
			}
			continue;
		}
		if (e == SSL_ERROR_WANT_WRITE)
			continue;
		res = fail(t, e);
		break;
	}
	return res;
}

ssize_t coil_tls_read(coil_tls *t, void *buf, size_t len)
{
	if (t != NULL && buf == NULL && len > 0)
		return -EINVAL;
	int r = enter(t);
	if (r < 0)
		return r;
	ssize_t res = len == 0 ? 0 : read_locked(t, buf, len, NULL);
	t->busy = 0;
	return res;
}

ssize_t coil_tls_read_lent(coil_tls *t, const void **data)
{
	if (t != NULL && data == NULL)
		return -EINVAL;
	int r = enter(t);
	if (r < 0)
		return r;
	ssize_t res = read_locked(t, NULL, 0, data);
	if (res <= 0) {
		coil__tls_block_put(t->plain); /* nothing lent */
		t->plain = NULL;
	}
	t->busy = 0;
	return res;
}

ssize_t coil_tls_write(coil_tls *t, const void *buf, size_t len)
{
	if (t != NULL && buf == NULL && len > 0)
		return -EINVAL;
	int r = enter(t);
	if (r < 0)
		return r;
	ssize_t res;
	if ((r = handshake_locked(t)) < 0 || (r = flush(t)) < 0) {
		res = r;
		goto out;
	}
	if (t->shut) {
		res = -EPIPE;
		goto out;
	}
	size_t done = 0;
	int e = SSL_ERROR_NONE;
	/* OpenSSL writes a record per call (partial writes) into t->out,
	 * which always takes it: no WANT_WRITE, no retry with equal args. */
	while (done < len && t->out.len - t->out.off + RECORD_MAX + 512 <= OUT_BATCH) {
		size_t chunk = len - done < RECORD_MAX ? len - done : RECORD_MAX;
		size_t n;
		e = ssl_call(t, WRITE, (char *)buf + done, chunk, &n);
		if (e == SSL_ERROR_WANT_READ && done == 0) {
			/* Not in TLS 1.3 or without renegotiation, but if
			 * OpenSSL needs the peer first: read, then repeat the
			 * same call (its retry must have the same arguments). */
			ssize_t k = flush(t);
			if (k == 0)
				k = fill(t);
			if (k < 0) {
				res = k;
				goto out;
			}
			continue;
		}
		if (e != SSL_ERROR_NONE)
			break;
		done += n;
	}
	int f = flush(t);
	if (done > 0)
		res = (ssize_t)done; /* taken; queued bytes go out next call */
	else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		res = f < 0 ? f : -EAGAIN; /* cannot happen: the loop goes on */
	else if (e != SSL_ERROR_NONE)
		res = fail(t, e);
	else
		res = f;
out:
	t->busy = 0;
	return res;
}

ssize_t coil_tls_write_all(coil_tls *t, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t w = coil_tls_write(t, (const char *)buf + done, len - done);
		if (w < 0)
			return w;
		done += (size_t)w;
	}
	int r = enter(t);
	if (r < 0)
		return r;
	r = flush(t);
	t->busy = 0;
	return r < 0 ? r : (ssize_t)len;
}

int coil_tls_shutdown(coil_tls *t)
{
	int r = enter(t);
	if (r < 0)
		return r;
	if (!t->handshaken) {
		r = -ENOTCONN;
	} else if (!t->shut) {
		size_t n;
		int e = ssl_call(t, SHUTDOWN, NULL, 0, &n);
		if (e == SSL_ERROR_NONE) {
			t->shut = 1;
			r = flush(t);
		} else {
			int f = flush(t);
			r = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? f : fail(t, e);
			if (r == 0)
				t->shut = 1;
		}
	} else {
		r = flush(t);
	}
	t->busy = 0;
	return r;
}

void coil_tls_free(coil_tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl); /* frees the BIO */
	ERR_clear_error();
	coil_tls_ctx_free(t->ctx);
	if (t->rd != NULL)
		coil_reader_close(t->rd);
	out_release(&t->out);
	coil__tls_block_put(t->plain);
	if (t->alpn != t->alpn_short)
		free(t->alpn);
	free(t->reason_buf);
	free(t->host);
	free(t);
}

int coil_tls_fd(const coil_tls *t)
{
	return t ? t->fd : -EINVAL;
}

void coil__tls_keep_buffers(coil_tls *t, bool keep)
{
	if (keep) {
		SSL_clear_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	} else {
		SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
		/* Not while OpenSSL holds part of a record: 3.0.14 and later
		 * refuse then, earlier ones free it and read into the freed
		 * buffer when the rest comes (CVE-2024-4741). The mode frees
		 * them after the next record instead. */
		if (!SSL_has_pending(t->ssl))
			SSL_free_buffers(t->ssl);
	}
}

int coil_tls_pending(const coil_tls *t)
{
	if (t == NULL)
		return -EINVAL;
	return SSL_has_pending(t->ssl) || t->in_len > 0;
}

const char *coil_tls_alpn(const coil_tls *t)
{
	return t && t->handshaken ? t->alpn : NULL;
}

const char *coil_tls_cipher(const coil_tls *t)
{
	if (t == NULL || !t->handshaken)
		return NULL;
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
	return c ? SSL_CIPHER_get_name(c) : NULL;
}

int coil_tls_resumed(const coil_tls *t)
{
	if (t == NULL)
		return -EINVAL;
	return t->handshaken && SSL_session_reused(t->ssl);
}

long coil_tls_verify_result(const coil_tls *t)
{
	if (t == NULL)
		return -EINVAL;
	return SSL_get_verify_result(t->ssl);
}

const char *coil_tls_verify_error(const coil_tls *t)
{
	if (t == NULL)
		return "invalid argument";
	return X509_verify_cert_error_string(SSL_get_verify_result(t->ssl));
}

const char *coil_tls_error(const coil_tls *t)
{
	return t && t->reason ? t->reason : "";
}
