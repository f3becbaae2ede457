/*
 * coil/tls.h: TLS streams over connected sockets (OpenSSL 3).
 *
 *     coil_tls_ctx *ctx;                      // once per process
 *     coil_tls_ctx_client(&ctx, NULL);         // system CA store, verifying
 *     ...in a fiber:
 *     int fd = coil_tcp_connect("example.org", 443);
 *     coil_tls *t;
 *     coil_tls_open(&t, ctx, fd, "example.org");
 *     coil_tls_write_all(t, req, req_len);     // handshakes first
 *     ssize_t n = coil_tls_read(t, buf, sizeof buf);
 *     coil_tls_shutdown(t);                    // close_notify
 *     coil_tls_free(t);
 *     coil_close(fd);
 *
 * The model: OpenSSL encrypts and decrypts in memory; the socket I/O is
 * coil's own (coil_sock_read / coil_sock_write), so a fiber never parks
 * inside an OpenSSL call and every call here observes the caller's scopes
 * (coil/scope.h: -ETIMEDOUT, -ECANCELED) like the coil_sock_* calls. A
 * count returned is never lost by a later cancel: bytes a write reported
 * that are still in the stream's buffer go out with the next write, read
 * or shutdown of the stream.
 *
 * A context (one SSL_CTX) is made once and shared by every worker: streams
 * may be opened from any thread. Set its options before the first stream
 * is opened (after that the setters return -EBUSY). A stream is used by
 * one fiber at a time (a second fiber calling into a stream that a first
 * one is parked in gets -EBUSY); it does not own its fd.
 *
 * Defaults: TLS 1.2 at least; renegotiation refused
 * (SSL_OP_NO_RENEGOTIATION); session resumption by tickets, the ticket
 * keys shared by every worker (one SSL_CTX), the client keeping the latest
 * session per host; clients verify the server's chain and name (SNI, and
 * the name or IP address checked against the certificate); a handshake
 * deadline of 10 s. No kernel TLS: file bodies are read into memory and
 * written through the stream. See docs/tls.md.
 *
 * Error codes of the stream calls, besides the socket's own:
 *   -EKEYREJECTED  the peer's certificate failed verification
 *                  (coil_tls_verify_error says why);
 *   -EPROTO        a TLS protocol error: not TLS, a bad record, an alert
 *                  from the peer, no common version or cipher
 *                  (coil_tls_error has OpenSSL's reason);
 *   -ECONNRESET    the peer closed the connection without close_notify
 *                  (the data may be truncated), or reset it;
 *   -EPIPE         writing after coil_tls_shutdown;
 *   -EBUSY         another fiber is inside a call on this stream;
 *   -ETIMEDOUT     a scope's deadline, or the handshake deadline, passed;
 *   -ECANCELED     the scope or the task was cancelled.
 * -EKEYREJECTED, -EPROTO and -ECONNRESET from OpenSSL stick: every later
 * call on the stream returns the same code.
 */
#ifndef COIL_TLS_H
#define COIL_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coil__tls_ctx coil_tls_ctx;
typedef struct coil__tls coil_tls;

/* ---- contexts ------------------------------------------------------------
 *
 * A context holds one SSL_CTX and the settings of the streams opened on
 * it. Thread-safe once set up: streams may be opened from every worker.
 */

/*
 * Make a server context from a PEM certificate chain file (the leaf first)
 * and its PEM private key file.
 * Returns 0 and *out, or -EINVAL (NULL argument), -ENOENT / -EACCES (a
 * file cannot be read), -EBADMSG (a file holds no usable certificate or
 * key), -EKEYREJECTED (the key does not match the certificate), -ENOMEM.
 */
COIL_API int coil_tls_ctx_server(coil_tls_ctx **out, const char *cert_file,
				 const char *key_file);

/*
 * Make a client context that trusts the CA certificates of the PEM file
 * ca_file, or the system's store (/etc/ssl/certs) when ca_file is NULL.
 * Verification of the server is on.
 * Returns 0 and *out, or -EINVAL, -ENOENT / -EACCES, -EBADMSG (no
 * certificate in ca_file), -ENOMEM.
 */
COIL_API int coil_tls_ctx_client(coil_tls_ctx **out, const char *ca_file);

/*
 * Set the ALPN protocols, most preferred first ("h2", "http/1.1"): a
 * client offers them; a server picks the first of its own list that the
 * client offers (none in common: the handshake goes on without ALPN).
 * Returns 0, or -EINVAL (c or protos NULL, n 0, a name empty or longer
 * than 255 bytes), -EBUSY (a stream was opened already), -ENOMEM.
 */
COIL_API int coil_tls_ctx_set_alpn(coil_tls_ctx *c, const char *const *protos,
				   size_t n);

/*
 * Turn a client context's verification of the server off (0) or on (1,
 * the default). Off, any certificate is accepted: for tests only.
 * Returns 0, or -EINVAL (c NULL or a server context), -EBUSY.
 */
COIL_API int coil_tls_ctx_set_verify(coil_tls_ctx *c, int on);

/*
 * Set the ciphers c offers (a client) or picks from, in its own order of
 * preference (a server), in OpenSSL's syntax: tls12 a cipher list for
 * TLS 1.2 ("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"),
 * tls13 TLS 1.3 ciphersuites ("TLS_AES_256_GCM_SHA384"); NULL keeps that
 * one as it is. A server's default puts AES-128-GCM first (Mozilla's
 * "intermediate" order: cheaper than AES-256-GCM with SHA-384, which
 * OpenSSL's default puts first), then the rest of OpenSSL's defaults; a
 * client's default is OpenSSL's. coil_tls_cipher says what a handshake
 * chose.
 * Returns 0, or -EINVAL (c NULL, both lists NULL, a list empty, or one
 * OpenSSL refuses or that names no cipher it has: nothing is changed),
 * -EBUSY (a stream was opened already), -ENOMEM.
 */
COIL_API int coil_tls_ctx_set_ciphers(coil_tls_ctx *c, const char *tls12, const char *tls13);

/*
 * Set the deadline of every handshake, ns nanoseconds from its start
 * (default 10 s; 0 or less: none but the caller's scopes). A peer that
 * stops mid-handshake then frees the stream's fiber with -ETIMEDOUT.
 * Returns 0, or -EINVAL (c NULL), -EBUSY.
 */
COIL_API int coil_tls_ctx_set_handshake_timeout(coil_tls_ctx *c, int64_t ns);

/* Drop the caller's reference to c (c NULL: nothing). Streams still open
 * keep the context alive until they are freed. */
COIL_API void coil_tls_ctx_free(coil_tls_ctx *c);

/* ---- streams ------------------------------------------------------------ */

/*
 * Open a TLS stream on the connected socket fd (the stream does not own
 * it: close it with coil_close after coil_tls_free). A client gives the
 * server's name or numeric address as host: sent as SNI (names only) and
 * checked against the certificate; host may be NULL only when
 * verification is off. A server gives NULL. Nothing is sent yet.
 * Returns 0 and *out, or -EINVAL (NULL out or c, fd < 0, a verifying
 * client without host, a server with one), -ENOMEM.
 */
COIL_API int coil_tls_open(coil_tls **out, coil_tls_ctx *c, int fd,
			   const char *host);

/*
 * Run the handshake (the first read or write does it too), within the
 * context's handshake deadline and the caller's scopes. Calling it again
 * after success returns 0 at once.
 * Returns 0, or -EKEYREJECTED, -EPROTO, -ECONNRESET, -ETIMEDOUT,
 * -ECANCELED, -EBUSY, -EINVAL, or the socket's error (-EPIPE, -EBADF...).
 */
COIL_API int coil_tls_handshake(coil_tls *t);

/*
 * Receive up to len bytes of application data. Records already received
 * and buffered are returned without waiting on the socket; records without
 * application data (session tickets, key updates) are handled and the
 * call goes on waiting. After a write failed because the peer reset or
 * shut the connection, a read still returns what the peer sent before
 * (the output that could not go is dropped). len 0 returns 0 at once.
 * Returns the count, 0 at the end (the peer's close_notify), or -EINVAL,
 * -ECONNRESET (closed without close_notify), -EPROTO, -EKEYREJECTED,
 * -ETIMEDOUT, -ECANCELED, -EBUSY, or the socket's error.
 */
COIL_API ssize_t coil_tls_read(coil_tls *t, void *buf, size_t len);

/*
 * Receive application data into a buffer the stream lends, as
 * coil_reader_read does for a socket: *data points at the bytes (one
 * record's, at most 16 KiB), valid until the next coil_tls_read_lent or
 * coil_tls_free on t. A stream holds that buffer only while it has bytes
 * to lend: it gives it back before waiting on the socket, so an idle
 * connection parked here pins none (coil_tls_read pins its caller's).
 * Returns the count (> 0), 0 at the end (the peer's close_notify), or
 * -EINVAL (t or data NULL), -ENOMEM, -ECONNRESET, -EPROTO, -EKEYREJECTED,
 * -ETIMEDOUT, -ECANCELED, -EBUSY, or the socket's error.
 */
COIL_API ssize_t coil_tls_read_lent(coil_tls *t, const void **data);

/*
 * Send up to len bytes of application data (at most about 48 KiB per
 * call: a short write, as coil_sock_write may make). The count returned is
 * encrypted and handed to the socket, or queued in the stream when a
 * socket error or cancel came after OpenSSL took the bytes (the next call
 * sends them first, or reports the socket's error).
 * Returns the count, or -EINVAL, -EPIPE (after coil_tls_shutdown, or the
 * peer's socket closed), -EPROTO, -ECONNRESET, -ETIMEDOUT, -ECANCELED,
 * -EBUSY, or the socket's error.
 */
COIL_API ssize_t coil_tls_write(coil_tls *t, const void *buf, size_t len);

/*
 * Send all len bytes, looping over short writes, and wait until they are
 * all handed to the socket.
 * Returns len, or a negative errno as coil_tls_write (then an unknown
 * prefix was sent).
 */
COIL_API ssize_t coil_tls_write_all(coil_tls *t, const void *buf, size_t len);

/*
 * Send close_notify (after what is queued): the end of this side's data.
 * The peer's data can still be read until coil_tls_read returns 0. The
 * socket is left open and its TCP side is not shut down. A second call
 * only sends what is still queued.
 * Returns 0, or -ENOTCONN (no handshake was made), -EPROTO, -ECONNRESET,
 * -ETIMEDOUT, -ECANCELED, -EBUSY, -EINVAL, or the socket's error.
 */
COIL_API int coil_tls_shutdown(coil_tls *t);

/* Free the stream (t NULL: nothing); bytes still queued are dropped. Its
 * fd stays open. The stream reads its socket through a coil_reader
 * (coil/reader.h: an idle stream holds no input buffer), which belongs to
 * the worker that first read: free the stream from a fiber of that
 * worker, inside coil_run. */
COIL_API void coil_tls_free(coil_tls *t);

/* The stream's fd, or -EINVAL (t NULL). */
COIL_API int coil_tls_fd(const coil_tls *t);

/* Whether decrypted or received bytes wait in the stream (1) or not (0):
 * if so, a coil_tls_read returns without touching the socket, and a wait
 * for the socket to become readable could wait forever. -EINVAL: t NULL. */
COIL_API int coil_tls_pending(const coil_tls *t);

/* The ALPN protocol the handshake chose ("h2"), or NULL (none, no
 * handshake yet, or t NULL). Valid until coil_tls_free. */
COIL_API const char *coil_tls_alpn(const coil_tls *t);

/* The cipher the handshake chose, in OpenSSL's name
 * ("TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"), or NULL
 * (no handshake yet, or t NULL). Valid until coil_tls_free. */
COIL_API const char *coil_tls_cipher(const coil_tls *t);

/* 1 if the handshake resumed a session, 0 if it was full (or not made),
 * -EINVAL (t NULL). */
COIL_API int coil_tls_resumed(const coil_tls *t);

/* The result of verifying the peer's certificate: 0 (X509_V_OK: verified,
 * or nothing to verify) or OpenSSL's X509_V_ERR_* number (10: expired,
 * 18: self-signed, 62: wrong host...); -EINVAL (t NULL). */
COIL_API long coil_tls_verify_result(const coil_tls *t);

/* OpenSSL's words for coil_tls_verify_result ("certificate has expired";
 * "ok" when verified): for messages. Never NULL. */
COIL_API const char *coil_tls_verify_error(const coil_tls *t);

/* OpenSSL's reason for the stream's last -EPROTO (or other TLS failure),
 * "wrong version number" for instance; "" when none. Never NULL; valid
 * until the next call on the stream. */
COIL_API const char *coil_tls_error(const coil_tls *t);

#ifdef __cplusplus
}
#endif
#endif
