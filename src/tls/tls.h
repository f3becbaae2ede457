/* src/tls: what the context, the BIO and the stream share (internal). */
#ifndef COIL_TLS_INTERNAL_H
#define COIL_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "coil/reader.h"
#include "coil/tls.h"

/* Sessions a client context keeps for resumption: the latest per host. */
#define COIL__TLS_SESSIONS 32

struct coil__tls_session {
	char *host;
	SSL_SESSION *sess;
};

struct coil__tls_ctx {
	SSL_CTX *ssl;
	int server;
	int verify;
	int64_t handshake_ns;
	unsigned char *alpn; /* wire format: length-prefixed names */
	size_t alpn_len;
	atomic_int refs;
	atomic_int frozen; /* a stream was opened: settings are read-only */
	pthread_mutex_t lock; /* sessions[] */
	struct coil__tls_session sessions[COIL__TLS_SESSIONS];
	unsigned next_session;
};

/* A byte buffer: [off, len) holds data, cap its size. */
struct coil__tls_buf {
	unsigned char *p;
	size_t off, len, cap;
};

struct coil__tls {
	SSL *ssl;
	struct coil__tls_ctx *ctx;
	int fd;
	int busy;
	int err;        /* sticky: the first fatal TLS error */
	int in_eof;     /* the socket read 0 */
	int handshaken;
	int shut;       /* close_notify sent */
	/* Ciphertext received: lent by the reader (valid until its next
	 * read), taken by OpenSSL before the stream reads again. An idle
	 * stream thus holds no input buffer (coil/reader.h). */
	coil_reader *rd;
	const unsigned char *in;
	size_t in_len;
	struct coil__tls_buf out; /* ciphertext OpenSSL wrote, to send */
	unsigned char *plain; /* coil_tls_read_lent's buffer, a block */
	char *host;
	/* Kept small: an idle connection holds this struct. */
	char *alpn;           /* the protocol chosen: alpn_short, or malloc'ed */
	char alpn_short[16];  /* "h2", "http/1.1" */
	const char *reason;   /* why it failed: OpenSSL's static text, or ... */
	char *reason_buf;     /* ... an error code formatted here (rare) */
};

/* Plaintext per SSL_write: one record; also the size of a cached block. */
#define COIL__TLS_BLOCK 16384

/* A COIL__TLS_BLOCK-byte block from the thread's cache (or malloc; NULL
 * when out of memory), and back: the lending buffer and the output buffer
 * are taken per request and given back before a stream waits, so that an
 * idle stream holds neither and a busy one mallocs neither. */
unsigned char *coil__tls_block_get(void);
void coil__tls_block_put(unsigned char *p);

/* A stream gives OpenSSL's record buffers (~16 KiB each way) back after
 * every record (SSL_MODE_RELEASE_BUFFERS): an idle stream holds none, and
 * each record mallocs and frees them again (~1.2k instructions of an HTTPS
 * request's ~22k). With keep, it holds them from record to record, for a
 * connection whose records follow one another (HTTP keep-alive); without,
 * it gives them back now and after every record again. */
void coil__tls_keep_buffers(coil_tls *t, bool keep);

/* A BIO over t->in / t->out (never blocks: empty in is a retry). */
BIO *coil__tls_bio_new(struct coil__tls *t);

/* Client session cache of ctx: take a reference to host's session (NULL
 * when none); store a new one (takes the reference). */
SSL_SESSION *coil__tls_session_get(struct coil__tls_ctx *c, const char *host);

#endif
