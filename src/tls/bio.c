/*
 * The stream's BIO: OpenSSL reads ciphertext from t->in (bytes a
 * coil_reader lent) and writes it to t->out (the stream's buffer); the
 * stream moves them from and to the socket with coil's ops. Reading an empty t->in is a retry (SSL_ERROR_WANT_READ),
 * or the end once the socket said so. Writing always succeeds: t->out
 * grows, and the stream bounds what it asks OpenSSL to write per call, so
 * SSL_write never sees WANT_WRITE (whose retry would have to repeat the
 * same arguments).
 */
#include <openssl/bio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *b, char *dst, int n)
{
	struct coil__tls *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (t->in_len == 0) {
		if (t->in_eof)
			return 0;
		BIO_set_retry_read(b);
		return -1;
	}
	size_t k = (size_t)n < t->in_len ? (size_t)n : t->in_len;
	memcpy(dst, t->in, k);
	t->in += k;
	t->in_len -= k;
	return (int)k;
}

static int bio_write(BIO *b, const char *src, int n)
{
	struct coil__tls *t = BIO_get_data(b);
	struct coil__tls_buf *out = &t->out;
	BIO_clear_retry_flags(b);
	if (out->off == out->len)
		out->off = out->len = 0;
	if (out->p == NULL && (out->p = coil__tls_block_get()) != NULL)
		out->cap = COIL__TLS_BLOCK;
	if (out->len + (size_t)n > out->cap) {
		size_t cap = out->cap ? out->cap : COIL__TLS_BLOCK;
		while (cap < out->len + (size_t)n)
			cap *= 2;
		unsigned char *p = realloc(out->p, cap);
		if (p == NULL)
			return -1; /* SSL_ERROR_SYSCALL: the stream fails */
		out->p = p;
		out->cap = cap;
	}
	memcpy(out->p + out->len, src, (size_t)n);
	out->len += (size_t)n;
	return n;
}

static int bio_puts(BIO *b, const char *s)
{
	return bio_write(b, s, (int)strlen(s));
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct coil__tls *t = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* the stream sends t->out after every call */
	case BIO_CTRL_PENDING:
		return (long)t->in_len;
	case BIO_CTRL_WPENDING:
		return (long)(t->out.len - t->out.off);
	case BIO_CTRL_EOF:
		return t->in_eof && t->in_len == 0;
	case BIO_CTRL_GET_CLOSE:
		return BIO_get_shutdown(b);
	case BIO_CTRL_SET_CLOSE:
		BIO_set_shutdown(b, (int)num);
		return 1;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void make_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "coil_tls");
	if (m == NULL)
		return;
	BIO_meth_set_read(m, bio_read);
	BIO_meth_set_write(m, bio_write);
	BIO_meth_set_puts(m, bio_puts);
	BIO_meth_set_ctrl(m, bio_ctrl);
	BIO_meth_set_create(m, bio_create);
	method = m;
}

BIO *coil__tls_bio_new(struct coil__tls *t)
{
	pthread_once(&method_once, make_method);
	if (method == NULL)
		return NULL;
	BIO *b = BIO_new(method);
	if (b != NULL)
		BIO_set_data(b, t);
	return b;
}
