/*
 * TLS contexts: one SSL_CTX per context, shared by every worker (OpenSSL
 * makes SSL objects from one SSL_CTX on many threads safely; coil's own
 * settings are frozen when the first stream opens). The server's ticket
 * keys belong to the SSL_CTX, so a ticket from one worker resumes on any.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls.h"

#define DEFAULT_HANDSHAKE_NS (10 * INT64_C(1000000000))

/* A server's order (it wins): AES-128-GCM first, as Mozilla's
 * "intermediate" configuration, Go and BoringSSL order them. OpenSSL's
 * default puts AES-256-GCM with SHA-384 first: ~3% more instructions per
 * ECDSA P-256 handshake (its transcript hash is SHA-512's) and ~10% more
 * per encrypted byte (14 AES rounds instead of 10: `openssl speed -evp`
 * here, 16 KiB blocks, 3.7 against 4.0 GB/s), for no security a
 * 128-bit key lacks. TLS 1.2: the same set as OpenSSL's DEFAULT (which
 * is only a keyword at the start of a list), AES-128-GCM moved first. */
#define SERVER_TLS13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define SERVER_TLS12                                                                    \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ALL:!COMPLEMENTOFDEFAULT:" \
	"!eNULL"

static int ex_index = -1; /* SSL_CTX ex_data slot: the coil context */
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void make_ex_index(void)
{
	ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int readable(const char *path)
{
	int saved = errno;
	int r = access(path, R_OK) == 0 ? 0 : -errno;
	errno = saved;
	return r;
}

/* The client keeps the newest session (ticket) per host. Returns 1: the
 * reference is ours. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct coil__tls *t = SSL_get_app_data(ssl);
	if (t == NULL || t->host == NULL)
		return 0;
	struct coil__tls_ctx *c = t->ctx;
	pthread_mutex_lock(&c->lock);
	struct coil__tls_session *slot = NULL;
	for (int i = 0; i < COIL__TLS_SESSIONS; i++)
		if (c->sessions[i].host && strcmp(c->sessions[i].host, t->host) == 0)
			slot = &c->sessions[i];
	if (slot == NULL) {
		slot = &c->sessions[c->next_session++ % COIL__TLS_SESSIONS];
		free(slot->host);
		slot->host = strdup(t->host);
		if (slot->sess)
			SSL_SESSION_free(slot->sess);
		slot->sess = NULL;
		if (slot->host == NULL) {
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	}
	if (slot->sess)
		SSL_SESSION_free(slot->sess);
	slot->sess = sess;
	pthread_mutex_unlock(&c->lock);
	return 1;
}

SSL_SESSION *coil__tls_session_get(struct coil__tls_ctx *c, const char *host)
{
	SSL_SESSION *s = NULL;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < COIL__TLS_SESSIONS; i++)
		if (c->sessions[i].host && strcmp(c->sessions[i].host, host) == 0 &&
		    c->sessions[i].sess && SSL_SESSION_is_resumable(c->sessions[i].sess)) {
			s = c->sessions[i].sess;
			SSL_SESSION_up_ref(s);
		}
	pthread_mutex_unlock(&c->lock);
	return s;
}

/* The server picks the first of its protocols that the client offers. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	struct coil__tls_ctx *c = arg;
	unsigned char *sel;
	if (c->alpn == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_select_next_proto(&sel, outlen, c->alpn, (unsigned)c->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int ctx_new(struct coil__tls_ctx **out, int server)
{
	pthread_once(&ex_once, make_ex_index);
	struct coil__tls_ctx *c = calloc(1, sizeof *c);
	if (c == NULL)
		return -ENOMEM;
	c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (c->ssl == NULL || ex_index < 0) {
		SSL_CTX_free(c->ssl);
		free(c);
		ERR_clear_error();
		return -ENOMEM;
	}
	c->server = server;
	c->verify = !server;
	c->handshake_ns = DEFAULT_HANDSHAKE_NS;
	atomic_init(&c->refs, 1);
	atomic_init(&c->frozen, 0);
	pthread_mutex_init(&c->lock, NULL);
	SSL_CTX_set_ex_data(c->ssl, ex_index, c);
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* Partial writes: the stream hands out at most a few records' worth
	 * per call. Release buffers: an idle stream keeps no OpenSSL record
	 * buffers (its own input buffer only). */
	SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (server) {
		SSL_CTX_set_options(c->ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
		if (SSL_CTX_set_ciphersuites(c->ssl, SERVER_TLS13) != 1 ||
		    SSL_CTX_set_cipher_list(c->ssl, SERVER_TLS12) != 1) {
			SSL_CTX_free(c->ssl);
			free(c);
			ERR_clear_error();
			return -ENOMEM;
		}
		SSL_CTX_set_session_id_context(c->ssl, (const unsigned char *)"coil", 4);
		SSL_CTX_set_alpn_select_cb(c->ssl, select_alpn, c);
	} else {
		SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_CLIENT |
							       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(c->ssl, new_session);
	}
	*out = c;
	return 0;
}

int coil_tls_ctx_server(coil_tls_ctx **out, const char *cert_file, const char *key_file)
{
	if (out == NULL || cert_file == NULL || key_file == NULL)
		return -EINVAL;
	int r = readable(cert_file);
	if (r == 0)
		r = readable(key_file);
	if (r < 0)
		return r;
	struct coil__tls_ctx *c;
	if ((r = ctx_new(&c, 1)) < 0)
		return r;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1)
		r = -EBADMSG;
	else if (SSL_CTX_use_PrivateKey_file(c->ssl, key_file, SSL_FILETYPE_PEM) != 1)
		/* OpenSSL checks the key against the certificate as it loads. */
		r = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
			    ? -EKEYREJECTED
			    : -EBADMSG;
	else if (SSL_CTX_check_private_key(c->ssl) != 1)
		r = -EKEYREJECTED;
	ERR_clear_error();
	if (r < 0) {
		coil_tls_ctx_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int coil_tls_ctx_client(coil_tls_ctx **out, const char *ca_file)
{
	if (out == NULL)
		return -EINVAL;
	int r;
	if (ca_file != NULL && (r = readable(ca_file)) < 0)
		return r;
	struct coil__tls_ctx *c;
	if ((r = ctx_new(&c, 0)) < 0)
		return r;
	ERR_clear_error();
	if (ca_file != NULL ? SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL) != 1
			    : SSL_CTX_set_default_verify_paths(c->ssl) != 1)
		r = -EBADMSG;
	ERR_clear_error();
	if (r < 0) {
		coil_tls_ctx_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int coil_tls_ctx_set_alpn(coil_tls_ctx *c, const char *const *protos, size_t n)
{
	if (c == NULL || protos == NULL || n == 0)
		return -EINVAL;
	if (atomic_load(&c->frozen))
		return -EBUSY;
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = protos[i] ? strlen(protos[i]) : 0;
		if (k == 0 || k > 255)
			return -EINVAL;
		len += 1 + k;
	}
	unsigned char *w = malloc(len);
	if (w == NULL)
		return -ENOMEM;
	unsigned char *p = w;
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(protos[i]);
		*p++ = (unsigned char)k;
		memcpy(p, protos[i], k);
		p += k;
	}
	if (!c->server && SSL_CTX_set_alpn_protos(c->ssl, w, (unsigned)len) != 0) {
		free(w);
		return -ENOMEM;
	}
	free(c->alpn);
	c->alpn = w;
	c->alpn_len = len;
	return 0;
}

int coil_tls_ctx_set_verify(coil_tls_ctx *c, int on)
{
	if (c == NULL || c->server)
		return -EINVAL;
	if (atomic_load(&c->frozen))
		return -EBUSY;
	c->verify = on != 0;
	SSL_CTX_set_verify(c->ssl, on ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	return 0;
}

int coil_tls_ctx_set_ciphers(coil_tls_ctx *c, const char *tls12, const char *tls13)
{
	if (c == NULL || (tls12 == NULL && tls13 == NULL) || (tls12 && !*tls12) ||
	    (tls13 && !*tls13))
		return -EINVAL;
	if (atomic_load(&c->frozen))
		return -EBUSY;
	/* Check both on a scratch context first: a refused list changes
	 * nothing (OpenSSL keeps the old list on failure, but a TLS 1.2 list
	 * that was set cannot be taken back if the TLS 1.3 one is refused). */
	SSL_CTX *probe = SSL_CTX_new(c->server ? TLS_server_method() : TLS_client_method());
	if (probe == NULL) {
		ERR_clear_error();
		return -ENOMEM;
	}
	int ok = (tls12 == NULL || SSL_CTX_set_cipher_list(probe, tls12) == 1) &&
		 (tls13 == NULL || SSL_CTX_set_ciphersuites(probe, tls13) == 1);
	SSL_CTX_free(probe);
	if (!ok) {
		ERR_clear_error();
		return -EINVAL;
	}
	if ((tls12 && SSL_CTX_set_cipher_list(c->ssl, tls12) != 1) ||
	    (tls13 && SSL_CTX_set_ciphersuites(c->ssl, tls13) != 1)) {
		ERR_clear_error();
		return -ENOMEM;
	}
	return 0;
}

int coil_tls_ctx_set_handshake_timeout(coil_tls_ctx *c, int64_t ns)
{
	if (c == NULL)
		return -EINVAL;
	if (atomic_load(&c->frozen))
		return -EBUSY;
	c->handshake_ns = ns > 0 ? ns : 0;
	return 0;
}

void coil_tls_ctx_free(coil_tls_ctx *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	for (int i = 0; i < COIL__TLS_SESSIONS; i++) {
		free(c->sessions[i].host);
		if (c->sessions[i].sess)
			SSL_SESSION_free(c->sessions[i].sess);
	}
	pthread_mutex_destroy(&c->lock);
	SSL_CTX_free(c->ssl);
	free(c->alpn);
	free(c);
}
