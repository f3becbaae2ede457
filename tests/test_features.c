/* The kernel-feature ladder (enum coil_feature): a feature forced on is
 * used where the backend has it, one kept off never is, bad settings are
 * refused, and what a feature changes gives the same results. Loopback
 * only. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "io/accepts.h" /* white-box: the multishot accept's stop */
#include "io/backend.h" /* white-box: coil__uring_zc_sends */
#include "io/optable.h" /* white-box: every op has its row */

static bool on_uring(void)
{
	return strcmp(coil_backend_name(), "io_uring") == 0;
}

/* A default config with feature bit forced on, or kept off. */
static struct coil_config with_feature(unsigned bit, bool on)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	if (on)
		cfg.features_on = bit;
	else
		cfg.features_off = bit;
	return cfg;
}

/* Whether the running kernel is at least major.minor. */
static bool kernel_at_least(unsigned major, unsigned minor)
{
	struct utsname un;
	unsigned ma, mi;
	ck_assert_int_eq(uname(&un), 0);
	ck_assert_int_eq(sscanf(un.release, "%u.%u", &ma, &mi), 2);
	return ma > major || (ma == major && mi >= minor);
}

struct want {
	unsigned bit;
	bool on;
};

/* What a worker reports once it has used each feature (the buffer ring
 * is set up by the first reader). */
static void *report(void *arg)
{
	struct want *w = arg;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, sv[0]), 0);
	void *buf;
	ck_assert_int_eq(coil_iobuf_alloc(&buf, 4096), 0);
	unsigned have = coil_features() & w->bit;
	ck_assert_int_eq(coil_iobuf_free(buf), 0);
	/* io_uring on this project's kernels (6.1+) has every feature but
	 * recv bundles (6.10); the readiness backends have none. */
	bool kernel_has = w->bit != COIL_FEATURE_RECV_BUNDLE || kernel_at_least(6, 10);
	ck_assert_uint_eq(have, w->on && on_uring() && kernel_has ? w->bit : 0);
	ck_assert_int_eq(coil_reader_close(r), 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

static const unsigned features[] = {COIL_FEATURE_BUF_RING, COIL_FEATURE_SQPOLL,
				    COIL_FEATURE_SEND_ZC, COIL_FEATURE_ACCEPT_MULTI,
				    COIL_FEATURE_FIXED_BUFS, COIL_FEATURE_NOWAIT_READS,
				    COIL_FEATURE_RECV_BUNDLE};

START_TEST(forced_on_is_used_and_kept_off_is_not)
{
	ck_assert_uint_eq(coil_features(), 0);
	for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
		struct coil_config cfg;
		coil_config_init(&cfg);
		cfg.features_on = features[i];
		struct want w = {features[i], true};
		coil_test_run_cfg(&cfg, report, &w);
		coil_config_init(&cfg);
		cfg.features_off = features[i];
		w.on = false;
		coil_test_run_cfg(&cfg, report, &w);
		/* Off wins over on. */
		cfg.features_on = features[i];
		coil_test_run_cfg(&cfg, report, &w);
	}
}
END_TEST

START_TEST(bad_feature_settings_are_refused)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.features_on = 1u << 30;
	ck_assert_int_eq(coil_run(&cfg, report, NULL, NULL), -EINVAL);
	coil_config_init(&cfg);
	cfg.recv_buffer_size = 10;
	ck_assert_int_eq(coil_run(&cfg, report, NULL, NULL), -EINVAL);
	coil_config_init(&cfg);
	cfg.recv_buffers = 0;
	ck_assert_int_eq(coil_run(&cfg, report, NULL, NULL), -EINVAL);
	/* An unknown name in $COIL_FEATURES is refused, not ignored. */
	setenv("COIL_FEATURES", "bufring,warp_drive", 1);
	ck_assert_int_eq(coil_run(NULL, report, NULL, NULL), -EINVAL);
	unsetenv("COIL_FEATURES");
}
END_TEST

/* ---- zero-copy sends: the buffer is the caller's again when the call returns ---------- */

#define ZC_TOTAL (8 << 20)
#define ZC_CHUNK (256 << 10)

static void *zc_sink(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *got = malloc(ZC_CHUNK);
	size_t total = 0;
	for (;;) {
		ssize_t n = coil_sock_read(fd, got, ZC_CHUNK);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		/* Byte k of the stream is (k / ZC_CHUNK) & 0xff: a sender
		 * that reused its buffer too early would show the next
		 * chunk's value here. */
		ssize_t bad = -1;
		for (ssize_t i = 0; i < n && bad < 0; i++)
			if ((unsigned char)got[i] != (((total + (size_t)i) / ZC_CHUNK) & 0xff))
				bad = i;
		ck_assert_msg(bad < 0, "byte %zu of the stream is %u, not %zu", total + (size_t)bad,
			      bad < 0 ? 0u : (unsigned char)got[bad],
			      bad < 0 ? 0 : ((total + (size_t)bad) / ZC_CHUNK) & 0xff);
		total += (size_t)n;
	}
	free(got);
	return (void *)(intptr_t)total;
}

static void *zc_exchange(void *arg)
{
	(void)arg;
	int l = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(l, 0);
	int c = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(l));
	ck_assert_int_ge(c, 0);
	int s = coil_tcp_accept(l, NULL, NULL);
	ck_assert_int_ge(s, 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, zc_sink, (void *)(intptr_t)s), 0);
	char *buf = malloc(ZC_CHUNK);
	for (size_t sent = 0; sent < ZC_TOTAL; sent += ZC_CHUNK) {
		/* One buffer, refilled as soon as each write returns. */
		memset(buf, (int)((sent / ZC_CHUNK) & 0xff), ZC_CHUNK);
		ck_assert_int_eq(coil_sock_write_all(c, buf, ZC_CHUNK), ZC_CHUNK);
	}
	free(buf);
	ck_assert_int_eq(coil_sock_shutdown(c, SHUT_WR), 0);
	void *total;
	ck_assert_int_eq(coil_task_join(t, &total), 0);
	ck_assert_int_eq((intptr_t)total, ZC_TOTAL);
	if (on_uring())
		ck_assert_uint_eq(coil_features() & COIL_FEATURE_SEND_ZC, COIL_FEATURE_SEND_ZC);
	ck_assert_int_eq(coil_close(s), 0);
	ck_assert_int_eq(coil_close(c), 0);
	ck_assert_int_eq(coil_close(l), 0);
	return NULL;
}

START_TEST(zero_copy_sends_are_byte_exact_and_free_the_buffer_on_return)
{
	unsigned mins[] = {0, 16 << 10, 1 << 20};
	for (size_t i = 0; i < sizeof mins / sizeof mins[0]; i++) {
		struct coil_config cfg;
		coil_config_init(&cfg);
		cfg.features_on = COIL_FEATURE_SEND_ZC;
		cfg.send_zc_min = mins[i];
		coil_test_run_cfg(&cfg, zc_exchange, NULL);
	}
}
END_TEST

/* A peer that stops reading: the writes go zero-copy while they fit its
 * window, then copied, so the one its deadline ends returns (-ETIMEDOUT)
 * and the buffer is the caller's again. Every byte reported sent arrives
 * once the peer reads, none from the buffer scribbled on after. */
static void *zc_deaf(void *arg)
{
	(void)arg;
	int l = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(l, 0);
	/* A small window (the accepted socket's, from the listener's): the
	 * writer's send buffer holds more than the peer takes unread. */
	int small = 16 << 10;
	ck_assert_int_eq(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	int c = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(l));
	ck_assert_int_ge(c, 0);
	int s = coil_tcp_accept(l, NULL, NULL);
	ck_assert_int_ge(s, 0);
	unsigned char *out = malloc(ZC_TOTAL);
	for (size_t k = 0; k < ZC_TOTAL; k++)
		out[k] = (unsigned char)((k / ZC_CHUNK) & 0xff); /* zc_sink's pattern */
	unsigned long zc0 = coil__uring_zc_sends();
	size_t total = 0;
	ssize_t w = 0;
	coil_scope sc;
	ck_assert_int_eq(coil_scope_enter_timeout(&sc, 200 * COIL_NSEC_PER_MSEC), 0);
	while (total < ZC_TOTAL && (w = coil_sock_write(c, out + total, 4096)) > 0)
		total += (size_t)w;
	coil_scope_exit(&sc);
	ck_assert_msg(w == -ETIMEDOUT, "the socket never filled: %zd after %zu bytes", w, total);
	memset(out, 0xee, ZC_TOTAL);
	if (on_uring())
		ck_assert_uint_gt(coil__uring_zc_sends() - zc0, 0); /* the first, at least */
	ck_assert_int_eq(coil_sock_shutdown(c, SHUT_WR), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, zc_sink, (void *)(intptr_t)s), 0);
	void *got;
	ck_assert_int_eq(coil_task_join(t, &got), 0);
	ck_assert_int_eq((intptr_t)got, (intptr_t)total);
	free(out);
	ck_assert_int_eq(coil_close(s), 0);
	ck_assert_int_eq(coil_close(c), 0);
	ck_assert_int_eq(coil_close(l), 0);
	return NULL;
}

START_TEST(a_zero_copy_write_to_a_peer_that_stopped_reading_keeps_its_deadline)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.features_on = COIL_FEATURE_SEND_ZC;
	cfg.send_zc_min = 0;
	coil_test_run_cfg(&cfg, zc_deaf, NULL);
}
END_TEST

/* ---- SQPOLL with several workers: one kernel thread, every wake arrives ------------- */

static void *ping(void *arg)
{
	coil_chan **ch = arg;
	long v;
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(coil_chan_recv(ch[0], &v), 0);
		v++;
		ck_assert_int_eq(coil_chan_send(ch[1], &v), 0);
	}
	return NULL;
}

static void *sqpoll_workers(void *arg)
{
	(void)arg;
	coil_chan *ch[2];
	ck_assert_int_eq(coil_chan_new(&ch[0], sizeof(long), 0), 0);
	ck_assert_int_eq(coil_chan_new(&ch[1], sizeof(long), 0), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, ping, ch), 0);
	long v = 0;
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(coil_chan_send(ch[0], &v), 0);
		ck_assert_int_eq(coil_chan_recv(ch[1], &v), 0);
	}
	ck_assert_int_eq(v, 2000);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	if (on_uring())
		ck_assert_uint_eq(coil_features() & COIL_FEATURE_SQPOLL, COIL_FEATURE_SQPOLL);
	coil_chan_free(ch[0]);
	coil_chan_free(ch[1]);
	return NULL;
}

START_TEST(sqpoll_rings_of_four_workers_cross_wake)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.features_on = COIL_FEATURE_SQPOLL;
	cfg.workers = 4;
	coil_test_run_cfg(&cfg, sqpoll_workers, NULL);
}
END_TEST

/* ---- multishot accept: every connection served once, none left open ------------------ */

#define CLIENTS 300

struct served {
	long count;
	coil_task server;
};

static void serve(int fd, void *ctx)
{
	struct served *sv = ctx;
	char b;
	/* Counted before the answer: the client (maybe on another worker)
	 * finishes as soon as it has it. */
	if (coil_sock_read(fd, &b, 1) == 1) {
		__atomic_add_fetch(&sv->count, 1, __ATOMIC_SEQ_CST);
		coil_sock_write(fd, &b, 1);
	}
	coil_close(fd);
}

struct run_server {
	coil_server *s;
	struct served *sv;
};

static void *server_fiber(void *arg)
{
	struct run_server *rs = arg;
	return (void *)(intptr_t)coil_server_run(rs->s, serve, rs->sv);
}

static void *one_client(void *arg)
{
	int port = (int)(intptr_t)arg;
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
	ck_assert_int_ge(fd, 0);
	char b = 'k';
	ck_assert_int_eq(coil_sock_write(fd, &b, 1), 1);
	ck_assert_int_eq(coil_sock_read(fd, &b, 1), 1);
	ck_assert_int_eq(coil_close(fd), 0);
	return NULL;
}

/* A burst of clients that connect and leave at once: the server may still
 * hold accepted connections nobody took when it is cancelled. */
static void *connect_and_go(void *arg)
{
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)(intptr_t)arg);
	if (fd >= 0)
		coil_close(fd);
	return NULL;
}

static void *accept_burst(void *arg)
{
	(void)arg;
	struct served sv = {0, 0};
	coil_server *s;
	ck_assert_int_eq(coil_server_open(&s, "127.0.0.1", 0, 512, COIL_SERVE_HANDOFF), 0);
	int port = coil_server_port(s);
	struct run_server rs = {s, &sv};
	coil_task st;
	ck_assert_int_eq(coil_task_spawn(&st, server_fiber, &rs), 0);
	coil_task t[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], one_client, (void *)(intptr_t)port), 0);
	for (int i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(__atomic_load_n(&sv.count, __ATOMIC_SEQ_CST), CLIENTS);
	for (int i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], connect_and_go, (void *)(intptr_t)port), 0);
	for (int i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(coil_task_cancel(st), 0);
	void *r;
	ck_assert_int_eq(coil_task_join(st, &r), 0);
	ck_assert_int_eq((intptr_t)r, -ECANCELED);
	ck_assert_int_eq(coil_server_close(s), 0);
	return NULL;
}

START_TEST(servers_accept_every_connection_once_and_leave_none_open)
{
	int fds = coil_test_count_fds();
	for (int on = 0; on < 2; on++) {
		struct coil_config cfg = with_feature(COIL_FEATURE_ACCEPT_MULTI, on);
		coil_test_run_cfg(&cfg, accept_burst, NULL);
		ck_assert_int_eq(coil_test_count_fds(), fds);
	}
}
END_TEST

/* Connections the multishot accept took and nobody asked for are closed
 * by its stop. */
static void *queued_then_stopped(void *arg)
{
	(void)arg;
	int l = coil_tcp_listen("127.0.0.1", 0, 64, 0);
	ck_assert_int_ge(l, 0);
	int port = coil_sock_port(l);
	int fds = coil_test_count_fds();
	struct coil__accepts a;
	if (!on_uring()) {
		ck_assert_int_eq(coil__accepts_start(&a, l), -ENOTSUP);
		ck_assert_int_eq(coil_close(l), 0);
		return NULL;
	}
	ck_assert_int_eq(coil__accepts_start(&a, l), 0);
	int c[5];
	for (int i = 0; i < 5; i++)
		ck_assert_int_ge(c[i] = coil_tcp_connect("127.0.0.1", (uint16_t)port), 0);
	int first = coil__accepts_next(&a);
	ck_assert_int_ge(first, 0);
	ck_assert_int_eq(coil_sleep(20 * 1000 * 1000), 0); /* the other 4 are taken meanwhile */
	ck_assert_int_eq(coil_test_count_fds(), fds + 5 + 5);
	coil__accepts_stop(&a);
	ck_assert_int_eq(coil_test_count_fds(), fds + 5 + 1);
	ck_assert_int_eq(coil_close(first), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(coil_close(c[i]), 0);
	ck_assert_int_eq(coil_close(l), 0);
	return NULL;
}

START_TEST(a_stopped_multishot_accept_closes_what_nobody_took)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.features_on = COIL_FEATURE_ACCEPT_MULTI;
	coil_test_run_cfg(&cfg, queued_then_stopped, NULL);
}
END_TEST

/* ---- I/O buffers: registered on io_uring, the same bytes everywhere -------------------- */

static bool want_fixed = true;

static void *iobufs(void *arg)
{
	(void)arg;
	void *b[4];
	ck_assert_int_eq(coil_iobuf_alloc(NULL, 4096), -EINVAL);
	ck_assert_int_eq(coil_iobuf_alloc(&b[0], 0), -EINVAL);
	ck_assert_int_eq(coil_iobuf_alloc(&b[0], 8192 + 1), -EINVAL);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(coil_iobuf_alloc(&b[i], 8192), 0);
		ck_assert_int_eq((uintptr_t)b[i] % 4096, 0);
	}
	ck_assert_int_eq(coil_iobuf_alloc(&b[0], 1), -ENOMEM); /* 4 of 4 out */
	ck_assert_uint_eq(coil_features() & COIL_FEATURE_FIXED_BUFS,
			  on_uring() && want_fixed ? COIL_FEATURE_FIXED_BUFS : 0);
	char path[256];
	coil_test_tmp_path(path, sizeof path, "iobuf");
	for (int direct = 0; direct < 2; direct++) {
		int fd = coil_file_open(path, O_RDWR | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0600);
		if (direct && fd == -EINVAL)
			break; /* a file system without O_DIRECT (tmpfs) */
		ck_assert_int_ge(fd, 0);
		/* Written from two buffers, read back into the other two, at
		 * offsets and at the file position. */
		memset(b[0], 'a', 8192);
		memset(b[1], 'b', 8192);
		ck_assert_int_eq(coil_file_write(fd, b[0], 8192, 0), 8192);
		ck_assert_int_eq(coil_file_write(fd, b[1], 8192, 8192), 8192);
		memset(b[2], 0, 8192);
		memset(b[3], 0, 8192);
		ck_assert_int_eq(coil_file_read(fd, b[3], 8192, 8192), 8192);
		ck_assert_int_eq(coil_file_read(fd, b[2], 4096, 0), 4096);
		ck_assert_int_eq(memcmp(b[2], b[0], 4096), 0);
		ck_assert_int_eq(memcmp(b[3], b[1], 8192), 0);
		ck_assert_int_eq(coil_file_read(fd, b[2], 8192, -1), 8192); /* position 0 */
		ck_assert_int_eq(memcmp(b[2], b[0], 8192), 0);
		ck_assert_int_eq(coil_close(fd), 0);
	}
	unlink(path);
	char plain;
	ck_assert_int_eq(coil_iobuf_free(&plain), -EINVAL);
	ck_assert_int_eq(coil_iobuf_free((char *)b[0] + 1), -EINVAL);
	ck_assert_int_eq(coil_iobuf_free(NULL), -EINVAL);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_iobuf_free(b[i]), 0);
	ck_assert_int_eq(coil_iobuf_alloc(&b[0], 8192), 0);
	ck_assert_int_eq(coil_iobuf_free(b[0]), 0);
	return NULL;
}

static void *iobufs_plain(void *arg)
{
	want_fixed = false;
	return iobufs(arg);
}

START_TEST(io_buffers_read_and_write_the_same_bytes_everywhere)
{
	void *p;
	ck_assert_int_eq(coil_iobuf_alloc(&p, 4096), -EPERM);
	ck_assert_int_eq(coil_iobuf_free(&p), -EPERM);
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.io_buffers = 4;
	cfg.io_buffer_size = 8192;
	coil_test_run_cfg(&cfg, iobufs, NULL);
	cfg.features_off = COIL_FEATURE_FIXED_BUFS;
	coil_test_run_cfg(&cfg, iobufs_plain, NULL);
}
END_TEST

/* A buffer freed twice was listed free twice: two later allocations
 * shared it (and frees past the count wrote beyond the free list). */
static void *iobuf_double_free(void *arg)
{
	(void)arg;
	void *a, *b[4];
	ck_assert_int_eq(coil_iobuf_alloc(&a, 4096), 0);
	ck_assert_int_eq(coil_iobuf_free(a), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(coil_iobuf_free(a), -EINVAL);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(coil_iobuf_alloc(&b[i], 4096), 0);
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(b[i], b[j]);
	}
	ck_assert_int_eq(coil_iobuf_alloc(&a, 4096), -ENOMEM);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_iobuf_free(b[i]), 0);
	return NULL;
}

START_TEST(an_io_buffer_freed_twice_is_refused_and_never_lent_twice)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.io_buffers = 4;
	cfg.io_buffer_size = 4096;
	coil_test_run_cfg(&cfg, iobuf_double_free, NULL);
}
END_TEST

/* ---- sendfile: a file's bytes on a socket, exact, on every backend ------------------- */

#define SF_SIZE (6 << 20)

static void *sf_sink(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *got = malloc(SF_SIZE + 1);
	size_t n = 0;
	for (;;) {
		/* Slowly at first: the sender must wait for room. */
		if (n < (1 << 20))
			coil_sleep(1000 * 1000);
		ssize_t r = coil_sock_read(fd, got + n, SF_SIZE + 1 - n);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	ck_assert_int_eq(n, SF_SIZE - 4096);
	bool same = true;
	for (size_t i = 0; i < n && same; i++)
		same = got[i] == (char)((i + 4096) * 31 / 4093);
	ck_assert_msg(same, "the bytes received differ from the file's");
	free(got);
	return NULL;
}

static void *sendfile_main(void *arg)
{
	(void)arg;
	char path[256];
	coil_test_tmp_path(path, sizeof path, "sendfile");
	int f = coil_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(f, 0);
	char *data = malloc(SF_SIZE);
	for (size_t i = 0; i < SF_SIZE; i++)
		data[i] = (char)(i * 31 / 4093);
	ck_assert_int_eq(coil_file_write_all(f, data, SF_SIZE, 0), SF_SIZE);
	free(data);
	int l = coil_tcp_listen("127.0.0.1", 0, 4, 0);
	int c = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(l));
	int s = coil_tcp_accept(l, NULL, NULL);
	ck_assert_int_ge(s, 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, sf_sink, (void *)(intptr_t)c), 0);
	/* From offset 4096 to past the end: short at the end, then 0. */
	size_t sent = 0;
	while (sent < SF_SIZE - 4096) {
		ssize_t n = coil_sock_sendfile(s, f, 4096 + (int64_t)sent, SF_SIZE);
		ck_assert_int_gt(n, 0);
		sent += (size_t)n;
	}
	ck_assert_int_eq(coil_sock_sendfile(s, f, SF_SIZE, 100), 0);
	ck_assert_int_eq(coil_sock_sendfile(s, f, -1, 100), -EINVAL);
	ck_assert_int_eq(coil_sock_sendfile(-1, f, 0, 100), -EBADF);
	ck_assert_int_eq(coil_sock_shutdown(s, SHUT_WR), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(coil_close(s), 0);
	ck_assert_int_eq(coil_close(c), 0);
	ck_assert_int_eq(coil_close(l), 0);
	ck_assert_int_eq(coil_close(f), 0);
	unlink(path);
	return NULL;
}

START_TEST(sendfile_sends_the_files_bytes_exactly)
{
	ck_assert_int_eq(coil_sock_sendfile(1, 0, 0, 1), -EPERM);
	int fds = coil_test_count_fds();
	coil_test_run(sendfile_main, NULL);
	ck_assert_int_eq(coil_test_count_fds(), fds);
}
END_TEST

/* ---- inline reads of cached pages: the same bytes, hit or miss ------------------------ */

static void *nowait_reads(void *arg)
{
	(void)arg;
	char path[256];
	coil_test_tmp_path(path, sizeof path, "nowait");
	int f = coil_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(f, 0);
	static char data[1 << 20], got[1 << 20];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)(i * 13 / 7);
	ck_assert_int_eq(coil_file_write_all(f, data, sizeof data, 0), sizeof data);
	for (int round = 0; round < 3; round++) {
		/* Round 1: the pages are dropped first, so each read misses
		 * the cache (-EAGAIN inline) and the ring reads it. */
		if (round == 1) {
			ck_assert_int_eq(coil_file_sync(f, false), 0);
			ck_assert_int_eq(posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED), 0);
		}
		memset(got, 0, sizeof got);
		for (size_t off = 0; off < sizeof data; off += 4096)
			ck_assert_int_eq(coil_file_read(f, got + off, 4096, (int64_t)off), 4096);
		ck_assert_int_eq(memcmp(got, data, sizeof data), 0);
	}
	/* At and past the end, as pread(2). */
	ck_assert_int_eq(coil_file_read(f, got, 4096, sizeof data), 0);
	ck_assert_int_eq(coil_file_read(f, got, 4096, sizeof data - 10), 10);
	ck_assert_int_eq(coil_close(f), 0);
	unlink(path);
	return NULL;
}

START_TEST(inline_reads_give_the_same_bytes_hit_or_miss)
{
	for (int on = 0; on < 2; on++) {
		struct coil_config cfg = with_feature(COIL_FEATURE_NOWAIT_READS, on);
		coil_test_run_cfg(&cfg, nowait_reads, NULL);
	}
}
END_TEST

/* ---- registered files ----------------------------------------------------------- */

static void upair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* What the peer of a closed end reads within 2 s: 0 (the end), or the
 * bytes that wrongly reached it, or -ETIMEDOUT (the file stayed open). */
static ssize_t peer_reads(int fd, char *buf, size_t len)
{
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, 2 * COIL_NSEC_PER_SEC), 0);
	ssize_t n = coil_sock_read(fd, buf, len);
	coil_scope_exit(&s);
	return n;
}

static void *write_one(void *arg)
{
	int fd = (int)(intptr_t)arg;
	ck_assert_int_eq(coil_sock_write_all(fd, "new", 3), 3);
	return NULL;
}

static void write_on(unsigned worker, int fd)
{
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(worker, &t, write_one, (void *)(intptr_t)fd), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
}

/* After coil_close(old), a new pair: the end that got old's number (if
 * one did) carries bytes to its own peer only. */
static void reuse_reaches_the_new_file(int old, unsigned writer_worker)
{
	int nv[2];
	upair(nv);
	int mine = nv[0] == old ? 0 : nv[1] == old ? 1 : 0;
	write_on(writer_worker, nv[mine]);
	char buf[8];
	ck_assert_int_eq(coil_sock_read_exact(nv[!mine], buf, 3), 3);
	ck_assert_int_eq(memcmp(buf, "new", 3), 0);
	ck_assert_int_eq(coil_close(nv[0]), 0);
	ck_assert_int_eq(coil_close(nv[1]), 0);
}

/* sv[0] used on `user` (registered there when the feature is on), then
 * closed on this worker: its peer sees the end, with nothing of a new fd
 * of the same number, which reaches its own peer. eof_first: look for the
 * end before the new fd is used (the close itself must let go of the
 * file), else after (the new fd must not reach the old file even if the
 * user's worker has not yet heard of the close). */
static void close_after_use(unsigned user, bool eof_first)
{
	int sv[2];
	upair(sv);
	write_on(user, sv[0]);
	char buf[8];
	ck_assert_int_eq(coil_sock_read_exact(sv[1], buf, 3), 3);
	int old = sv[0];
	ck_assert_int_eq(coil_close(sv[0]), 0);
	if (eof_first)
		ck_assert_int_eq(peer_reads(sv[1], buf, sizeof buf), 0);
	reuse_reaches_the_new_file(old, user);
	ck_assert_int_eq(peer_reads(sv[1], buf, sizeof buf), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
}

static void *closes_on_one_worker(void *arg)
{
	(void)arg;
	close_after_use(0, true);
	return NULL;
}

static void *closes_across_workers(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_worker_index(), 0);
	close_after_use(1, true);
	close_after_use(1, false);
	return NULL;
}

START_TEST(a_closed_fd_lets_go_of_its_registered_file_on_every_worker)
{
	for (int on = 0; on < 2; on++) {
		struct coil_config cfg = with_feature(COIL_FEATURE_FIXED_FILES, on);
		coil_test_run_cfg(&cfg, closes_on_one_worker, NULL);
		cfg.workers = 2;
		coil_test_run_cfg(&cfg, closes_across_workers, NULL);
	}
}
END_TEST

/* ---- the op table: a row per op, each whole -------------------------------- */

/* An opcode added without its row leaves a zero row (the table's
 * _Static_assert only sees the count): every backend would misroute it. */
START_TEST(every_op_has_a_whole_row_in_the_op_table)
{
	for (int i = 0; i < COIL__OP_COUNT; i++) {
		const struct coil__opdef *d = &coil__optable[i];
		ck_assert_msg(d->name != NULL, "opcode %d has no row", i);
		if (d->flags & COIL__OPF_URING_ONLY) {
			ck_assert_msg(d->route == COIL__ROUTE_NONE, "%s: io_uring's only, yet routed", d->name);
			continue;
		}
		ck_assert_msg(d->route != COIL__ROUTE_NONE, "%s: no readiness route", d->name);
		if (d->route == COIL__ROUTE_POOL || d->route == COIL__ROUTE_FILE ||
		    (d->flags & COIL__OPF_POOL_STANDS_IN))
			ck_assert_msg(d->blocking != NULL, "%s: the pool cannot do it", d->name);
		if (d->route != COIL__ROUTE_POOL)
			ck_assert_msg(d->try != NULL, "%s: no readiness try", d->name);
		if (d->route == COIL__ROUTE_FD || d->route == COIL__ROUTE_FILE)
			ck_assert_msg(d->dir == COIL__DIR_READ || d->dir == COIL__DIR_WRITE,
				      "%s: no direction to wait in", d->name);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("features");
	TCase *tc = tcase_create("features");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, forced_on_is_used_and_kept_off_is_not);
	tcase_add_test(tc, bad_feature_settings_are_refused);
	tcase_add_test(tc, zero_copy_sends_are_byte_exact_and_free_the_buffer_on_return);
	tcase_add_test(tc, a_zero_copy_write_to_a_peer_that_stopped_reading_keeps_its_deadline);
	tcase_add_test(tc, sqpoll_rings_of_four_workers_cross_wake);
	tcase_add_test(tc, servers_accept_every_connection_once_and_leave_none_open);
	tcase_add_test(tc, a_stopped_multishot_accept_closes_what_nobody_took);
	tcase_add_test(tc, io_buffers_read_and_write_the_same_bytes_everywhere);
	tcase_add_test(tc, an_io_buffer_freed_twice_is_refused_and_never_lent_twice);
	tcase_add_test(tc, sendfile_sends_the_files_bytes_exactly);
	tcase_add_test(tc, inline_reads_give_the_same_bytes_hit_or_miss);
	tcase_add_test(tc, a_closed_fd_lets_go_of_its_registered_file_on_every_worker);
	tcase_add_test(tc, every_op_has_a_whole_row_in_the_op_table);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
