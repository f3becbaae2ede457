/* TLS streams (coil/tls.h) between coil clients and servers over
 * 127.0.0.1, with certificates made for the run (tests/tls_certs.sh). */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls.h" /* whitebox: what a stream holds */

static char certs[256];

static const char *cert(const char *name)
{
	static __thread char path[8][320];
	static __thread int i;
	char *p = path[i++ % 8];
	snprintf(p, 320, "%s/%s", certs, name);
	return p;
}

static void make_certs(void)
{
	coil_test_tmp_dir(certs, sizeof certs, "tls");
	char cmd[600];
	snprintf(cmd, sizeof cmd, "sh %s %s", COIL_TLS_CERTS_SH, certs);
	if (system(cmd) != 0)
		certs[0] = '\0';
}

static void remove_certs(void)
{
	if (certs[0] == '\0')
		return;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
	(void)!system(cmd);
}

/* ---- a server of one connection, a client ---------------------------------------- */

struct peer;
typedef long (*peer_fn)(coil_tls *t, struct peer *p);

struct peer {
	coil_tls_ctx *ctx;
	int lfd;
	int port;
	peer_fn fn;
	const char *host; /* the client's */
	void *data;
	long result;
	coil_task task;
};

static void *server_main(void *arg)
{
	struct peer *p = arg;
	int fd = coil_tcp_accept(p->lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	coil_tls *t;
	ck_assert_int_eq(coil_tls_open(&t, p->ctx, fd, NULL), 0);
	p->result = p->fn(t, p);
	coil_tls_free(t);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

/* Listen and start a server running fn on the one connection it takes. */
static void server_start(struct peer *p, coil_tls_ctx *ctx, peer_fn fn)
{
	p->ctx = ctx;
	p->fn = fn;
	p->lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(p->lfd, 0);
	p->port = coil_sock_port(p->lfd);
	ck_assert_int_gt(p->port, 0);
	ck_assert_int_eq(coil_task_spawn(&p->task, server_main, p), 0);
}

static long server_wait(struct peer *p)
{
	ck_assert_int_eq(coil_task_join(p->task, NULL), 0);
	ck_assert_int_eq(coil_close(p->lfd), 0);
	return p->result;
}

/* Connect to port, open a client stream on ctx for host, run fn. */
static long client_run(coil_tls_ctx *ctx, int port, const char *host, peer_fn fn, void *data)
{
	struct peer c = {.ctx = ctx, .host = host, .data = data};
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
	ck_assert_int_ge(fd, 0);
	coil_tls *t;
	ck_assert_int_eq(coil_tls_open(&t, ctx, fd, host), 0);
	long r = fn(t, &c);
	coil_tls_free(t);
	ck_assert_int_eq(coil_close(fd), 0);
	return r;
}

static coil_tls_ctx *server_ctx(const char *name)
{
	char pem[64], key[64];
	snprintf(pem, sizeof pem, "%s.pem", name);
	snprintf(key, sizeof key, "%s.key", name);
	coil_tls_ctx *c;
	ck_assert_int_eq(coil_tls_ctx_server(&c, cert(pem), cert(key)), 0);
	return c;
}

static coil_tls_ctx *client_ctx(void)
{
	coil_tls_ctx *c;
	ck_assert_int_eq(coil_tls_ctx_client(&c, cert("ca.pem")), 0);
	return c;
}

#define NEED_CERTS()                                                      \
	do {                                                              \
		if (certs[0] == '\0') {                                   \
			coil_test_skip("no openssl CLI to make certificates"); \
			return;                                           \
		}                                                         \
	} while (0)

/* A test that runs fiber_main in a runtime, skipped without certificates. */
#define TLS_TEST(name, fiber_main)               \
	START_TEST(name)                         \
	{                                        \
		NEED_CERTS();                    \
		coil_test_run(fiber_main, NULL); \
	}                                        \
	END_TEST

/* One connection: a server running server (with server_data) on sc, a
 * client running client (with client_data) on cc for host. A NULL sc or
 * cc: a fresh one for the session, of the "server" certificate or the
 * test CA. */
struct session {
	coil_tls_ctx *sc, *cc;
	peer_fn server, client;
	void *server_data, *client_data;
	const char *host;
	long client_want; /* the client's result: checked here */
};

/* Run the session; returns the server's result, for the caller to check. */
static long session_run(const struct session *x)
{
	coil_tls_ctx *sc = x->sc ? x->sc : server_ctx("server");
	coil_tls_ctx *cc = x->cc ? x->cc : client_ctx();
	struct peer s = {.data = x->server_data};
	server_start(&s, sc, x->server);
	ck_assert_int_eq(client_run(cc, s.port, x->host, x->client, x->client_data),
			 x->client_want);
	long r = server_wait(&s);
	if (!x->sc)
		coil_tls_ctx_free(sc);
	if (!x->cc)
		coil_tls_ctx_free(cc);
	return r;
}

/* Read until end or len; returns the count, or the error. */
static long read_all(coil_tls *t, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = coil_tls_read(t, buf + got, len - got);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

/* ---- round trips ------------------------------------------------------------------ */

static long echo_server(coil_tls *t, struct peer *p)
{
	char buf[4096];
	long total = 0;
	for (;;) {
		ssize_t r = coil_tls_read(t, buf, sizeof buf);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		ssize_t w = coil_tls_write_all(t, buf, (size_t)r);
		if (w != r)
			return w < 0 ? w : -EIO;
		total += r;
	}
	int r = coil_tls_shutdown(t);
	return r < 0 ? r : total;
}

static long hello_client(coil_tls *t, struct peer *c)
{
	ck_assert_int_eq(coil_tls_handshake(t), 0);
	if (c->host != NULL) { /* verified */
		ck_assert_int_eq(coil_tls_verify_result(t), 0);
		ck_assert_str_eq(coil_tls_verify_error(t), "ok");
	}
	ck_assert_int_eq(coil_tls_write_all(t, "hello", 5), 5);
	char buf[16];
	ck_assert_int_eq(read_all(t, buf, 5), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_eq(coil_tls_shutdown(t), 0);
	ck_assert_int_eq(coil_tls_write(t, "x", 1), -EPIPE);
	ck_assert_int_eq(coil_tls_read(t, buf, sizeof buf), 0); /* the server's close_notify */
	return 0;
}

static void *small_round_trip(void *arg)
{
	int fds = coil_test_count_fds();
	coil_tls_ctx *sc = server_ctx("server"), *cc = client_ctx();
	/* By name, then by address: the certificate's IP name is checked. */
	const char *hosts[] = {"localhost", "127.0.0.1"};
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(session_run(&(struct session){.sc = sc, .cc = cc,
			.server = echo_server, .client = hello_client, .host = hosts[i]}), 5);
	coil_tls_ctx_free(sc);
	coil_tls_ctx_free(cc);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

TLS_TEST(client_and_server_round_trip_and_close_notify_both_ways, small_round_trip)

/* Says "bye" and close_notify, then keeps the connection open until the
 * client's close_notify: the client's reads after ours must not wait for
 * the socket. */
static long bye_server(coil_tls *t, struct peer *p)
{
	(void)p;
	if (coil_tls_write_all(t, "bye", 3) != 3)
		return -EIO;
	int r = coil_tls_shutdown(t);
	if (r < 0)
		return r;
	char buf[8];
	return coil_tls_read(t, buf, sizeof buf); /* 0: the client's close_notify */
}

static long bye_client(coil_tls *t, struct peer *c)
{
	(void)c;
	char buf[8];
	const void *lent;
	ck_assert_int_eq(read_all(t, buf, 3), 3);
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, 5 * COIL_NSEC_PER_SEC), 0);
	ck_assert_int_eq(coil_tls_read(t, buf, sizeof buf), 0);
	ck_assert_int_eq(coil_tls_read(t, buf, sizeof buf), 0);
	ck_assert_int_eq(coil_tls_read_lent(t, &lent), 0);
	coil_scope_exit(&s);
	ck_assert_int_eq(coil_tls_shutdown(t), 0);
	return 0;
}

static void *reads_after_close_notify_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(session_run(&(struct session){.server = bye_server,
		.client = bye_client, .host = "localhost"}), 0);
	return NULL;
}

TLS_TEST(every_read_after_close_notify_is_0_at_once_while_the_socket_is_open,
	 reads_after_close_notify_main)

#define BIG (1024 * 1024)

/* n bytes of the pseudo-random stream of seed (malloc'ed). */
static unsigned char *pattern_n(uint64_t seed, size_t n)
{
	unsigned char *b = malloc(n);
	ck_assert_ptr_nonnull(b);
	struct coil_test_rng r;
	coil_test_rng_init(&r, seed);
	coil_test_rng_fill(&r, b, n);
	return b;
}

static unsigned char *pattern(uint64_t seed)
{
	return pattern_n(seed, BIG);
}

/* Read a MiB up to the client's close_notify, check it, answer a MiB. */
static long big_server(coil_tls *t, struct peer *p)
{
	unsigned char *want = pattern(1), *got = malloc(BIG + 1);
	long n = read_all(t, (char *)got, BIG + 1);
	ck_assert_int_eq(n, BIG);
	ck_assert(memcmp(got, want, BIG) == 0);
	free(want);
	free(got);
	unsigned char *back = pattern(2);
	ck_assert_int_eq(coil_tls_write_all(t, back, BIG), BIG);
	free(back);
	return coil_tls_shutdown(t);
}

static long big_client(coil_tls *t, struct peer *c)
{
	unsigned char *out = pattern(1);
	/* A write takes at most a few records: a short count. */
	ssize_t w = coil_tls_write(t, out, BIG);
	ck_assert_int_gt(w, 0);
	ck_assert_int_lt(w, BIG);
	ck_assert_int_eq(coil_tls_write_all(t, out + w, BIG - (size_t)w), BIG - w);
	ck_assert_int_eq(coil_tls_shutdown(t), 0); /* half-close: still reading */
	free(out);
	unsigned char *want = pattern(2), *got = malloc(BIG + 1);
	ck_assert_int_eq(read_all(t, (char *)got, BIG + 1), BIG);
	ck_assert(memcmp(got, want, BIG) == 0);
	free(want);
	free(got);
	return 0;
}

static void *big_round_trip(void *arg)
{
	ck_assert_int_eq(session_run(&(struct session){.server = big_server,
		.client = big_client, .host = "localhost"}), 0);
	return NULL;
}

TLS_TEST(one_mib_each_way_with_half_close_and_short_writes, big_round_trip)

/* ---- lending reads ---------------------------------------------------------------- */

/* coil_tls_read_lent lends a record's bytes, and gives its buffer back
 * before it waits on the socket: a wait that ends at once (a deadline
 * already past) leaves the stream holding none, and the stream goes on
 * after it. */
static long lent_server(coil_tls *t, struct peer *p)
{
	(void)p;
	const void *d;
	ck_assert_int_eq(coil_tls_read_lent(t, NULL), -EINVAL);
	ck_assert_int_eq(coil_tls_read_lent(NULL, &d), -EINVAL);
	ssize_t n = coil_tls_read_lent(t, &d);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(memcmp(d, "ping", 4), 0);
	ck_assert_ptr_eq(d, t->plain); /* whitebox: the stream's buffer */
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, 1), 0);
	n = coil_tls_read_lent(t, &d);
	coil_scope_exit(&s);
	ck_assert_int_eq(n, -ETIMEDOUT);
	ck_assert_ptr_null(t->plain); /* idle: no buffer held */
	ck_assert_ptr_null(t->out.p);
	ck_assert_int_eq(coil_tls_write_all(t, "pong", 4), 4);
	long total = 0;
	while ((n = coil_tls_read_lent(t, &d)) > 0) {
		ck_assert_int_eq(memcmp(d, &"more"[total], (size_t)n), 0);
		total += n;
	}
	ck_assert_ptr_null(t->plain);
	return n < 0 ? n : total;
}

static long lent_client(coil_tls *t, struct peer *c)
{
	(void)c;
	char buf[4];
	ck_assert_int_eq(coil_tls_write_all(t, "ping", 4), 4);
	ck_assert_int_eq(read_all(t, buf, 4), 4);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	ck_assert_int_eq(coil_tls_write_all(t, "more", 4), 4);
	ck_assert_int_eq(coil_tls_shutdown(t), 0);
	return 0;
}

static void *lent_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(session_run(&(struct session){.server = lent_server, .client = lent_client,
							 .host = "localhost"}), 4);
	return NULL;
}
TLS_TEST(read_lent_lends_a_record_and_holds_no_buffer_while_waiting, lent_main)

/* ---- ALPN, resumption ------------------------------------------------------------- */

static long alpn_server(coil_tls *t, struct peer *p)
{
	int r = coil_tls_handshake(t);
	if (r < 0)
		return r;
	const char *a = coil_tls_alpn(t);
	snprintf(p->data, 32, "%s", a ? a : "(none)");
	return echo_server(t, p);
}

static long alpn_client(coil_tls *t, struct peer *c)
{
	ck_assert_int_eq(coil_tls_handshake(t), 0);
	const char *a = coil_tls_alpn(t);
	snprintf(c->data, 32, "%s", a ? a : "(none)");
	return hello_client(t, c);
}

static void alpn_case(coil_tls_ctx *sc, const char *const *offer, size_t n, const char *want)
{
	coil_tls_ctx *cc = client_ctx();
	ck_assert_int_eq(coil_tls_ctx_set_alpn(cc, offer, n), 0);
	char s_alpn[32], c_alpn[32];
	ck_assert_int_eq(session_run(&(struct session){.sc = sc, .cc = cc,
		.server = alpn_server, .server_data = s_alpn, .client = alpn_client,
		.client_data = c_alpn, .host = "localhost"}), 5);
	ck_assert_str_eq(s_alpn, want);
	ck_assert_str_eq(c_alpn, want);
	coil_tls_ctx_free(cc);
}

static void *alpn_main(void *arg)
{
	coil_tls_ctx *sc = server_ctx("server");
	const char *const mine[] = {"h2", "http/1.1"};
	ck_assert_int_eq(coil_tls_ctx_set_alpn(sc, mine, 2), 0);
	const char *const both[] = {"http/1.1", "h2"}, *const h1[] = {"http/1.1"},
			  *const other[] = {"spdy/3"};
	alpn_case(sc, both, 2, "h2"); /* the server's preference */
	alpn_case(sc, h1, 1, "http/1.1");
	alpn_case(sc, other, 1, "(none)");
	/* Settings are frozen once a stream was opened. */
	ck_assert_int_eq(coil_tls_ctx_set_alpn(sc, mine, 2), -EBUSY);
	const char *const bad[] = {""};
	coil_tls_ctx *cc = client_ctx();
	ck_assert_int_eq(coil_tls_ctx_set_alpn(cc, bad, 1), -EINVAL);
	ck_assert_int_eq(coil_tls_ctx_set_alpn(cc, NULL, 1), -EINVAL);
	coil_tls_ctx_free(cc);
	coil_tls_ctx_free(sc);
	return NULL;
}

TLS_TEST(alpn_picks_the_servers_first_protocol_the_client_offers, alpn_main)

static long resumed_server(coil_tls *t, struct peer *p)
{
	int r = coil_tls_handshake(t);
	if (r < 0)
		return r;
	*(int *)p->data = coil_tls_resumed(t);
	return echo_server(t, p);
}

static long resumed_client(coil_tls *t, struct peer *c)
{
	long r = hello_client(t, c); /* reads the tickets too */
	*(int *)c->data = coil_tls_resumed(t);
	return r;
}

static void *resumption_main(void *arg)
{
	coil_tls_ctx *sc = server_ctx("server"), *cc = client_ctx();
	int sres[2], cres[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(session_run(&(struct session){.sc = sc, .cc = cc,
			.server = resumed_server, .server_data = &sres[i],
			.client = resumed_client, .client_data = &cres[i], .host = "localhost"}), 5);
	ck_assert_int_eq(sres[0], 0);
	ck_assert_int_eq(cres[0], 0);
	ck_assert_int_eq(sres[1], 1);
	ck_assert_int_eq(cres[1], 1);
	coil_tls_ctx_free(sc);
	coil_tls_ctx_free(cc);
	return NULL;
}

TLS_TEST(second_handshake_resumes_the_session_by_ticket, resumption_main)

/* ---- ciphers ---------------------------------------------------------------------- */

static long cipher_server(coil_tls *t, struct peer *p)
{
	int r = coil_tls_handshake(t);
	if (r < 0)
		return r;
	const char *c = coil_tls_cipher(t);
	snprintf(p->data, 64, "%s", c ? c : "(none)");
	return echo_server(t, p);
}

static long cipher_client(coil_tls *t, struct peer *c)
{
	ck_assert_ptr_null(coil_tls_cipher(t)); /* no handshake yet */
	ck_assert_int_eq(coil_tls_handshake(t), 0);
	const char *n = coil_tls_cipher(t);
	snprintf(c->data, 64, "%s", n ? n : "(none)");
	return hello_client(t, c);
}

/* One session between sc and a client context made by client_ctx() with
 * the client lists given (NULL: its defaults); both sides must report
 * want. */
static void cipher_case(coil_tls_ctx *sc, const char *c12, const char *c13, const char *want)
{
	coil_tls_ctx *cc = client_ctx();
	if (c12 || c13)
		ck_assert_int_eq(coil_tls_ctx_set_ciphers(cc, c12, c13), 0);
	char s_name[64], c_name[64];
	ck_assert_int_eq(session_run(&(struct session){.sc = sc, .cc = cc,
		.server = cipher_server, .server_data = s_name, .client = cipher_client,
		.client_data = c_name, .host = "localhost"}), 5);
	ck_assert_str_eq(s_name, want);
	ck_assert_str_eq(c_name, want);
	coil_tls_ctx_free(cc);
}

static void *ciphers_main(void *arg)
{
	(void)arg;
	/* OpenSSL's client offers AES-256-GCM first: the server's order wins
	 * and puts AES-128-GCM first. */
	coil_tls_ctx *sc = server_ctx("server");
	cipher_case(sc, NULL, NULL, "TLS_AES_128_GCM_SHA256");
	/* A client that offers only another suite gets it. */
	cipher_case(sc, NULL, "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256");
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(sc, NULL, "TLS_AES_128_GCM_SHA256"), -EBUSY);
	coil_tls_ctx_free(sc);

	/* A server's own order. */
	sc = server_ctx("server");
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(sc, NULL, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"),
			 0);
	cipher_case(sc, NULL, NULL, "TLS_AES_256_GCM_SHA384");
	coil_tls_ctx_free(sc);

	/* Bad lists change nothing. */
	sc = server_ctx("server");
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(NULL, "DEFAULT", NULL), -EINVAL);
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(sc, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(sc, "", NULL), -EINVAL);
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(sc, "NO-SUCH-CIPHER", NULL), -EINVAL);
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(sc, NULL, "TLS_NO_SUCH_SUITE"), -EINVAL);
	/* A good TLS 1.2 list beside a refused TLS 1.3 one: neither is set. */
	ck_assert_int_eq(coil_tls_ctx_set_ciphers(sc, "ECDHE-ECDSA-CHACHA20-POLY1305",
						  "TLS_NO_SUCH_SUITE"),
			 -EINVAL);
	cipher_case(sc, NULL, NULL, "TLS_AES_128_GCM_SHA256");
	coil_tls_ctx_free(sc);
	return NULL;
}

TLS_TEST(the_server_prefers_aes128_gcm_and_set_ciphers_changes_its_order, ciphers_main)

/* ---- verification ----------------------------------------------------------------- */

static long handshake_only(coil_tls *t, struct peer *p)
{
	return coil_tls_handshake(t);
}

struct refusal {
	long verify;
	char why[128];
};

static long refusing_client(coil_tls *t, struct peer *c)
{
	struct refusal *r = c->data;
	int h = coil_tls_handshake(t);
	r->verify = coil_tls_verify_result(t);
	snprintf(r->why, sizeof r->why, "%s", coil_tls_verify_error(t));
	/* The failure sticks. */
	ck_assert_int_eq(coil_tls_write(t, "x", 1), h);
	return h;
}

static void refuse(const char *name, const char *host, long want_verify)
{
	coil_tls_ctx *sc = server_ctx(name);
	struct refusal r;
	long sr = session_run(&(struct session){.sc = sc, .server = handshake_only,
		.client = refusing_client, .client_data = &r, .host = host,
		.client_want = -EKEYREJECTED});
	ck_assert_msg(sr == -EPROTO || sr == -ECONNRESET, "server: %ld", sr);
	ck_assert_int_eq(r.verify, want_verify);
	ck_assert_str_ne(r.why, "ok");
	coil_tls_ctx_free(sc);
}

static void *refusals_main(void *arg)
{
	refuse("expired", "localhost", X509_V_ERR_CERT_HAS_EXPIRED);
	refuse("self", "localhost", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	refuse("wronghost", "localhost", X509_V_ERR_HOSTNAME_MISMATCH);
	refuse("server", "other.example", X509_V_ERR_HOSTNAME_MISMATCH);
	refuse("server", "127.0.0.2", X509_V_ERR_IP_ADDRESS_MISMATCH);
	return NULL;
}

TLS_TEST(clients_refuse_expired_self_signed_and_wrong_host_with_ekeyrejected, refusals_main)

static void *insecure_main(void *arg)
{
	/* Verification off (tests only): the self-signed server is taken. */
	coil_tls_ctx *sc = server_ctx("self"), *cc;
	ck_assert_int_eq(coil_tls_ctx_client(&cc, NULL), 0);
	int fd = 0;
	coil_tls *t;
	ck_assert_int_eq(coil_tls_open(&t, cc, fd, NULL), -EINVAL); /* verifying: needs a host */
	ck_assert_int_eq(coil_tls_ctx_set_verify(cc, 0), 0);
	ck_assert_int_eq(session_run(&(struct session){.sc = sc, .cc = cc,
		.server = echo_server, .client = hello_client, .host = NULL}), 5);
	ck_assert_int_eq(coil_tls_ctx_set_verify(sc, 0), -EINVAL);
	coil_tls_ctx_free(sc);
	coil_tls_ctx_free(cc);
	return NULL;
}

TLS_TEST(verification_off_accepts_a_self_signed_server, insecure_main)

START_TEST(contexts_report_unreadable_bad_and_mismatched_files)
{
	NEED_CERTS();
	coil_tls_ctx *c;
	ck_assert_int_eq(coil_tls_ctx_server(&c, cert("nope.pem"), cert("server.key")), -ENOENT);
	ck_assert_int_eq(coil_tls_ctx_server(&c, cert("server.pem"), cert("self.key")), -EKEYREJECTED);
	ck_assert_int_eq(coil_tls_ctx_server(&c, cert("ca.srl"), cert("server.key")), -EBADMSG);
	ck_assert_int_eq(coil_tls_ctx_server(&c, NULL, cert("server.key")), -EINVAL);
	ck_assert_int_eq(coil_tls_ctx_client(&c, cert("nope.pem")), -ENOENT);
	ck_assert_int_eq(coil_tls_ctx_client(&c, cert("ca.srl")), -EBADMSG);
	ck_assert_int_eq(coil_tls_ctx_client(NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_tls_read(NULL, NULL, 0), -EINVAL);
	ck_assert_ptr_null(coil_tls_alpn(NULL));
}
END_TEST

/* ---- bad peers -------------------------------------------------------------------- */

struct raw {
	int port;
	const char *send; /* then wait for the server to close */
	size_t len;
};

static void *raw_client(void *arg)
{
	struct raw *r = arg;
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)r->port);
	ck_assert_int_ge(fd, 0);
	if (r->len)
		ck_assert_int_eq(coil_sock_write_all(fd, r->send, r->len), (ssize_t)r->len);
	char buf[256];
	while (coil_sock_read(fd, buf, sizeof buf) > 0)
		;
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

static long handshake_reason(coil_tls *t, struct peer *p)
{
	int r = coil_tls_handshake(t);
	snprintf(p->data, 160, "%s", coil_tls_error(t));
	if (r < 0 && ERR_peek_error() != 0)
		return -EUCLEAN; /* a failure must not leave its errors to the thread */
	return r;
}

static void *bad_peer_main(void *arg)
{
	int fds = coil_test_count_fds();
	coil_tls_ctx *sc = server_ctx("server");
	ck_assert_int_eq(coil_tls_ctx_set_handshake_timeout(sc, 200 * COIL_NSEC_PER_MSEC), 0);
	const char *cases[][2] = {
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", NULL},  /* garbage: -EPROTO */
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", NULL}, /* stops mid-ClientHello */
		{"", NULL},                                   /* says nothing */
	};
	long want[] = {-EPROTO, -ETIMEDOUT, -ETIMEDOUT};
	for (int i = 0; i < 3; i++) {
		char reason[160] = "";
		struct peer s = {.data = reason};
		server_start(&s, sc, handshake_reason);
		struct raw r = {.port = s.port, .send = cases[i][0], .len = strlen(cases[i][0])};
		coil_task c;
		ck_assert_int_eq(coil_task_spawn(&c, raw_client, &r), 0);
		ck_assert_int_eq(server_wait(&s), want[i]);
		if (want[i] == -EPROTO)
			ck_assert_msg(reason[0] != '\0', "no reason for -EPROTO");
		ck_assert_int_eq(coil_task_join(c, NULL), 0);
	}
	coil_tls_ctx_free(sc);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}

TLS_TEST(garbage_and_stalled_handshakes_end_with_eproto_and_the_deadline, bad_peer_main)

/* A proxy between a client and the server that passes every byte, both
 * ways, in a write of its own: TLS records arrive one byte at a time. */
struct pipe_half {
	int from, to;
};

static void *trickle(void *arg)
{
	struct pipe_half *h = arg;
	char buf[4096];
	for (;;) {
		ssize_t r = coil_sock_read(h->from, buf, sizeof buf);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (coil_sock_write(h->to, buf + i, 1) != 1)
				return NULL;
	}
	coil_sock_shutdown(h->to, SHUT_WR);
	return NULL;
}

struct proxy {
	int lfd, port, upstream;
	coil_task task;
};

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	int a = coil_tcp_accept(p->lfd, NULL, NULL);
	ck_assert_int_ge(a, 0);
	int b = coil_tcp_connect("127.0.0.1", (uint16_t)p->upstream);
	ck_assert_int_ge(b, 0);
	coil_tcp_nodelay(a, 1);
	coil_tcp_nodelay(b, 1);
	struct pipe_half up = {a, b}, down = {b, a};
	coil_task t1, t2;
	ck_assert_int_eq(coil_task_spawn(&t1, trickle, &up), 0);
	ck_assert_int_eq(coil_task_spawn(&t2, trickle, &down), 0);
	coil_task_join(t1, NULL);
	coil_task_join(t2, NULL);
	coil_close(a);
	coil_close(b);
	return NULL;
}

static void *trickle_main(void *arg)
{
	coil_tls_ctx *sc = server_ctx("server"), *cc = client_ctx();
	struct peer s;
	server_start(&s, sc, echo_server);
	struct proxy p = {.upstream = s.port};
	p.lfd = coil_tcp_listen("127.0.0.1", 0, 4, 0);
	p.port = coil_sock_port(p.lfd);
	ck_assert_int_eq(coil_task_spawn(&p.task, proxy_main, &p), 0);
	ck_assert_int_eq(client_run(cc, p.port, "localhost", hello_client, NULL), 0);
	ck_assert_int_eq(server_wait(&s), 5);
	ck_assert_int_eq(coil_task_join(p.task, NULL), 0);
	coil_close(p.lfd);
	coil_tls_ctx_free(sc);
	coil_tls_ctx_free(cc);
	return NULL;
}

TLS_TEST(records_split_one_byte_per_write_still_make_a_session, trickle_main)

/* ---- the traps of OpenSSL over memory --------------------------------------------- */

/* The server sends one record, then waits for the client's "done": the
 * client must drain OpenSSL's buffer without waiting on the socket. */
static long one_record_server(coil_tls *t, struct peer *p)
{
	ck_assert_int_eq(coil_tls_write_all(t, "abcdefgh", 8), 8);
	char buf[8];
	ck_assert_int_eq(read_all(t, buf, 4), 4);
	ck_assert_mem_eq(buf, "done", 4);
	return coil_tls_shutdown(t);
}

static long byte_reader(coil_tls *t, struct peer *c)
{
	char got[9] = {0};
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(coil_tls_read(t, got + i, 1), 1);
		ck_assert_int_eq(coil_tls_pending(t), i < 7);
	}
	ck_assert_str_eq(got, "abcdefgh");
	/* Another fiber of this thread left errors in OpenSSL's queue: the
	 * stream's calls must not take them for their own. */
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
	ERR_raise(ERR_LIB_SYS, EBADF);
	ck_assert_int_eq(coil_tls_write_all(t, "done", 4), 4);
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
	ck_assert_int_eq(coil_tls_read(t, got, 1), 0);
	return 0;
}

static void *pending_main(void *arg)
{
	ck_assert_int_eq(session_run(&(struct session){.server = one_record_server,
		.client = byte_reader, .host = "localhost"}), 0);
	return NULL;
}

TLS_TEST(buffered_record_is_read_without_the_socket_and_error_queue_is_ours, pending_main)

/* The client's first read meets the server's session tickets (records
 * without application data) before the data; a read whose deadline passes
 * loses nothing; a peer that closes without close_notify is -ECONNRESET. */
static long late_server(coil_tls *t, struct peer *p)
{
	int r = coil_tls_handshake(t);
	if (r < 0)
		return r;
	char buf[2];
	ck_assert_int_eq(read_all(t, buf, 2), 2); /* "go": the client timed out once */
	ck_assert_int_eq(coil_tls_write_all(t, "data", 4), 4);
	return 0; /* no close_notify: coil_close only */
}

static long late_client(coil_tls *t, struct peer *c)
{
	ck_assert_int_eq(coil_tls_handshake(t), 0);
	char buf[8];
	coil_scope sc;
	ck_assert_int_eq(coil_scope_enter_timeout(&sc, 50 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_tls_read(t, buf, sizeof buf), -ETIMEDOUT);
	coil_scope_exit(&sc);
	ck_assert_int_eq(coil_tls_write_all(t, "go", 2), 2);
	ck_assert_int_eq(read_all(t, buf, 4), 4);
	ck_assert_mem_eq(buf, "data", 4);
	ssize_t r = coil_tls_read(t, buf, sizeof buf);
	ck_assert_int_eq(r, -ECONNRESET);
	ck_assert_int_eq(coil_tls_read(t, buf, sizeof buf), -ECONNRESET);
	return 0;
}

static void *late_main(void *arg)
{
	ck_assert_int_eq(session_run(&(struct session){.server = late_server,
		.client = late_client, .host = "localhost"}), 0);
	return NULL;
}

TLS_TEST(tickets_alone_keep_a_read_waiting_and_a_timed_out_read_loses_nothing, late_main)

/* A plain OpenSSL server on a thread of its own (blocking sockets) that
 * sends a KeyUpdate record alone, asking for the client's: the client's
 * read handles it and goes on to the data, and its next record, under
 * its new keys, must reach the server. */
struct ossl_server {
	int lfd, port;
	char got[4];
	int ok;
	pthread_t thread;
};

static void *ossl_server_main(void *arg)
{
	struct ossl_server *o = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert("server.pem")) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cert("server.key"), SSL_FILETYPE_PEM) != 1)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_num_tickets(ctx, 0);
	int fd = accept(o->lfd, NULL, NULL);
	SSL *s = fd >= 0 ? SSL_new(ctx) : NULL;
	size_t n = 0;
	if (s != NULL && SSL_set_fd(s, fd) == 1 && SSL_accept(s) == 1 &&
	    SSL_write(s, "one", 3) == 3 &&
	    SSL_key_update(s, SSL_KEY_UPDATE_REQUESTED) == 1 && SSL_do_handshake(s) == 1 &&
	    SSL_write(s, "two", 3) == 3 && SSL_read_ex(s, o->got, 3, &n) == 1 && n == 3) {
		o->ok = 1;
		SSL_shutdown(s);
	}
	SSL_free(s);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return NULL;
}

static long key_update_client(coil_tls *t, struct peer *c)
{
	char buf[8];
	ck_assert_int_eq(read_all(t, buf, 6), 6);
	ck_assert_mem_eq(buf, "onetwo", 6);
	ck_assert_int_eq(coil_tls_write_all(t, "ack", 3), 3);
	ssize_t r = coil_tls_read(t, buf, sizeof buf);
	ck_assert_msg(r == 0 || r == -ECONNRESET, "after the server's close: %zd", r);
	return 0;
}

static void *key_update_main(void *arg)
{
	struct ossl_server o = {0};
	o.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	ck_assert_int_eq(bind(o.lfd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(o.lfd, 4), 0);
	ck_assert_int_eq(getsockname(o.lfd, (struct sockaddr *)&a, &al), 0);
	ck_assert_int_eq(pthread_create(&o.thread, NULL, ossl_server_main, &o), 0);
	coil_tls_ctx *cc = client_ctx();
	ck_assert_int_eq(client_run(cc, ntohs(a.sin_port), "localhost", key_update_client, NULL), 0);
	ck_assert_int_eq(pthread_join(o.thread, NULL), 0);
	close(o.lfd);
	ck_assert_int_eq(o.ok, 1);
	ck_assert_mem_eq(o.got, "ack", 3);
	coil_tls_ctx_free(cc);
	return NULL;
}

TLS_TEST(key_update_from_an_openssl_server_is_answered_mid_read, key_update_main)

/* ---- HTTPS through coil/http.h (cfg.tls) ------------------------------------------ */

/* A small file's head and body leave in one record (response.c). */
#define SMALL_FILE 4096

struct https {
	coil_tls_ctx *cc;
	coil_task server; /* the fiber running the server: cancelled at the end */
	int file, port;
};

static int file_handler(coil_http_request *req, coil_http_response *res, void *ctx)
{
	struct https *h = ctx;
	struct coil_http_str target = coil_http_request_target(req);
	size_t len = target.len == 6 && !memcmp(target.ptr, "/small", 6) ? SMALL_FILE : BIG;
	int r = coil_http_response_length(res, len);
	if (r < 0)
		return r;
	ssize_t n = coil_http_response_sendfile(res, h->file, 0, len);
	return n == (ssize_t)len ? 0 : -EIO;
}

static long https_client(coil_tls *t, struct peer *c);

static void *https_get(void *arg)
{
	struct https *h = arg;
	ck_assert_int_eq(client_run(h->cc, h->port, "localhost", https_client, NULL), 0);
	ck_assert_int_eq(coil_task_cancel(h->server), 0);
	return NULL;
}

static long https_client(coil_tls *t, struct peer *c)
{
	const char req[] = "GET /f HTTP/1.1\r\nHost: localhost\r\n\r\n";
	ck_assert_int_eq(coil_tls_write_all(t, req, sizeof req - 1), sizeof req - 1);
	size_t cap = BIG + 4096, len = 0;
	char *buf = malloc(cap);
	char *body = NULL;
	while (!body || (size_t)(buf + len - body) < BIG) {
		ssize_t n = coil_tls_read(t, buf + len, cap - len);
		ck_assert_int_gt(n, 0);
		len += (size_t)n;
		if (!body) {
			char *e = memmem(buf, len, "\r\n\r\n", 4);
			if (e)
				body = e + 4;
		}
	}
	ck_assert(memmem(buf, (size_t)(body - buf), "200 OK", 6) != NULL);
	ck_assert_str_eq(coil_tls_alpn(t), "http/1.1");
	unsigned char *want = pattern(3);
	ck_assert(memcmp(body, want, BIG) == 0);
	free(buf);
	/* A small file: head and body in the first record that comes. */
	const char small[] = "GET /small HTTP/1.1\r\nHost: localhost\r\n\r\n";
	ck_assert_int_eq(coil_tls_write_all(t, small, sizeof small - 1), sizeof small - 1);
	const void *d;
	ssize_t n = coil_tls_read_lent(t, &d);
	ck_assert_int_gt(n, 0);
	const char *end = memmem(d, (size_t)n, "\r\n\r\n", 4);
	ck_assert_ptr_nonnull(end);
	ck_assert_int_eq(n, (end + 4 - (const char *)d) + SMALL_FILE);
	ck_assert(memcmp(end + 4, want, SMALL_FILE) == 0);
	free(want);
	return 0;
}

static void *https_main(void *arg)
{
	char path[256];
	coil_test_tmp_path(path, sizeof path, "tls-file");
	int f = coil_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(f, 0);
	unsigned char *data = pattern(3);
	ck_assert_int_eq(coil_file_write_all(f, data, BIG, 0), BIG);
	free(data);
	coil_tls_ctx *sc = server_ctx("server"), *cc = client_ctx();
	const char *const h1[] = {"http/1.1"};
	ck_assert_int_eq(coil_tls_ctx_set_alpn(sc, h1, 1), 0);
	ck_assert_int_eq(coil_tls_ctx_set_alpn(cc, h1, 1), 0);
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	cfg.tls = sc;
	struct https h = {.file = f, .cc = cc, .server = coil_task_current()};
	coil_http_server *srv;
	ck_assert_int_eq(coil_http_server_open(&srv, &cfg), 0);
	h.port = coil_http_server_port(srv);
	coil_task get;
	ck_assert_int_eq(coil_task_spawn(&get, https_get, &h), 0);
	ck_assert_int_eq(coil_http_server_run(srv, file_handler, &h), 0);
	ck_assert_int_eq(coil_task_join(get, NULL), 0);
	ck_assert_int_eq(coil_http_server_close(srv), 0);
	coil_close(f);
	unlink(path);
	coil_tls_ctx_free(sc);
	coil_tls_ctx_free(cc);
	return NULL;
}

TLS_TEST(https_server_sends_a_file_through_the_stream, https_main)

/* A write whose socket is full when its deadline passes: every byte it
 * reported arrives once, in order, after the rest is written. */
#define FULL (4 * 1024 * 1024)

struct stuck {
	coil_event go;
};

static long slow_reader(coil_tls *t, struct peer *p)
{
	struct stuck *st = p->data;
	/* The default receive buffer: one smaller than the sender's MSS moves
	 * a segment per persist timer (~200 ms), and 4 MiB takes a minute. */
	int r = coil_tls_handshake(t);
	if (r < 0)
		return r;
	ck_assert_int_eq(coil_event_wait(&st->go), 0); /* the client's write timed out */
	unsigned char *want = pattern_n(4, FULL), *got = malloc(FULL + 1);
	long n = read_all(t, (char *)got, FULL + 1);
	ck_assert_int_eq(n, FULL);
	ck_assert(memcmp(got, want, FULL) == 0);
	free(want);
	free(got);
	return coil_tls_shutdown(t);
}

static long stuck_writer(coil_tls *t, struct peer *c)
{
	struct stuck *st = c->data;
	int small = 8192;
	setsockopt(coil_tls_fd(t), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	ck_assert_int_eq(coil_tls_handshake(t), 0);
	unsigned char *out = pattern_n(4, FULL);
	size_t total = 0;
	ssize_t w = 0;
	coil_scope sc;
	ck_assert_int_eq(coil_scope_enter_timeout(&sc, 100 * COIL_NSEC_PER_MSEC), 0);
	while (total < FULL && (w = coil_tls_write(t, out + total, FULL - total)) > 0)
		total += (size_t)w;
	coil_scope_exit(&sc);
	ck_assert_msg(w == -ETIMEDOUT, "the socket never filled: %zd after %zu bytes", w, total);
	int big = FULL;
	setsockopt(coil_tls_fd(t), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	ck_assert_int_eq(coil_event_notify_one(&st->go), 0);
	ck_assert_int_eq(coil_tls_write_all(t, out + total, FULL - total), (ssize_t)(FULL - total));
	ck_assert_int_eq(coil_tls_shutdown(t), 0);
	char b[4];
	ck_assert_int_eq(coil_tls_read(t, b, sizeof b), 0);
	free(out);
	return 0;
}

static void *stuck_main(void *arg)
{
	/* With SEND_ZC too: a record that would wait for this reader, which
	 * waits for the writer, goes out copied (docs/features.md). */
	struct stuck st;
	ck_assert_int_eq(coil_event_init(&st.go), 0);
	ck_assert_int_eq(session_run(&(struct session){.server = slow_reader, .server_data = &st,
		.client = stuck_writer, .client_data = &st, .host = "localhost"}), 0);
	coil_event_destroy(&st.go);
	return NULL;
}

/* ---- an answer that came before the peer reset the connection ---------------- */

static const char early_answer[] = "the answer, sent before the reset";

/* Answers at once, waits until the client's TCP has every byte of it, then
 * resets the connection (SO_LINGER 0) without reading what the client
 * sends. */
static long answer_then_reset_server(coil_tls *t, struct peer *p)
{
	(void)p;
	size_t n = sizeof early_answer - 1;
	ck_assert_int_eq(coil_tls_write_all(t, early_answer, n), (ssize_t)n);
	int fd = coil_tls_fd(t);
	int queued;
	while (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0)
		ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
	struct linger hard = {.l_onoff = 1, .l_linger = 0};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
	return 0;
}

/* Writes a body the server never reads until the reset fails the write,
 * then reads the answer that arrived before the reset. */
static long write_into_a_reset_then_read_client(coil_tls *t, struct peer *p)
{
	(void)p;
	size_t len = 16u << 20;
	char *body = calloc(1, len);
	ck_assert_ptr_nonnull(body);
	ssize_t w = coil_tls_write_all(t, body, len);
	free(body);
	ck_assert(w == -ECONNRESET || w == -EPIPE);
	char buf[sizeof early_answer];
	long r = read_all(t, buf, sizeof early_answer - 1);
	if (r < 0)
		return r;
	ck_assert_int_eq(r, (long)sizeof early_answer - 1);
	ck_assert(memcmp(buf, early_answer, (size_t)r) == 0);
	return r;
}

static void *answer_before_reset_main(void *arg)
{
	(void)arg;
	struct session x = {.server = answer_then_reset_server,
			    .client = write_into_a_reset_then_read_client,
			    .host = "localhost",
			    .client_want = (long)sizeof early_answer - 1};
	ck_assert_int_eq(session_run(&x), 0);
	return NULL;
}
TLS_TEST(a_read_after_a_failed_write_returns_what_came_before_the_reset,
	 answer_before_reset_main)

TLS_TEST(a_write_timed_out_on_a_full_socket_loses_nothing_it_reported, stuck_main)

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, client_and_server_round_trip_and_close_notify_both_ways);
	tcase_add_test(tc, every_read_after_close_notify_is_0_at_once_while_the_socket_is_open);
	tcase_add_test(tc, one_mib_each_way_with_half_close_and_short_writes);
	tcase_add_test(tc, read_lent_lends_a_record_and_holds_no_buffer_while_waiting);
	tcase_add_test(tc, alpn_picks_the_servers_first_protocol_the_client_offers);
	tcase_add_test(tc, second_handshake_resumes_the_session_by_ticket);
	tcase_add_test(tc, the_server_prefers_aes128_gcm_and_set_ciphers_changes_its_order);
	tcase_add_test(tc, clients_refuse_expired_self_signed_and_wrong_host_with_ekeyrejected);
	tcase_add_test(tc, verification_off_accepts_a_self_signed_server);
	tcase_add_test(tc, contexts_report_unreadable_bad_and_mismatched_files);
	tcase_add_test(tc, garbage_and_stalled_handshakes_end_with_eproto_and_the_deadline);
	tcase_add_test(tc, records_split_one_byte_per_write_still_make_a_session);
	tcase_add_test(tc, buffered_record_is_read_without_the_socket_and_error_queue_is_ours);
	tcase_add_test(tc, tickets_alone_keep_a_read_waiting_and_a_timed_out_read_loses_nothing);
	tcase_add_test(tc, key_update_from_an_openssl_server_is_answered_mid_read);
	tcase_add_test(tc, https_server_sends_a_file_through_the_stream);
	tcase_add_test(tc, a_write_timed_out_on_a_full_socket_loses_nothing_it_reported);
	tcase_add_test(tc, a_read_after_a_failed_write_returns_what_came_before_the_reset);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(tls_suite());
}
