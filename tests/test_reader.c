/* Readers (coil/reader.h): buffers lent by coil, the same results on every
 * backend, with the buffer ring on and off ($COIL_FEATURES), under
 * backpressure, cancellation and close. 127.0.0.1 and socketpairs only. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static struct coil_config small_pool(unsigned count, unsigned size)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.recv_buffers = count;
	cfg.recv_buffer_size = size;
	return cfg;
}

/* ---- echo through a reader, byte-exact -------------------------------------------- */

struct echo_conn {
	int fd;
	long echoed;
};

static void *reader_echo(void *arg)
{
	struct echo_conn *c = arg;
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, c->fd), 0);
	const void *p;
	ssize_t n;
	while ((n = coil_reader_read(r, &p)) > 0) {
		ck_assert_int_eq(coil_sock_write_all(c->fd, p, (size_t)n), n);
		c->echoed += n;
	}
	ck_assert_int_eq(n, 0);
	/* End of stream stays the answer. */
	ck_assert_int_eq(coil_reader_read(r, &p), 0);
	ck_assert_int_eq(coil_reader_close(r), 0);
	ck_assert_int_eq(coil_sock_shutdown(c->fd, SHUT_WR), 0);
	return NULL;
}

struct client {
	int fd;
	size_t len;
	uint64_t seed;
};

/* Write len random bytes and read them back, concurrently. */
static void *client_writer(void *arg)
{
	struct client *c = arg;
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, c->seed);
	char *buf = malloc(c->len);
	coil_test_rng_fill(&rng, buf, c->len);
	ck_assert_int_eq(coil_sock_write_all(c->fd, buf, c->len), (ssize_t)c->len);
	ck_assert_int_eq(coil_sock_shutdown(c->fd, SHUT_WR), 0);
	free(buf);
	return NULL;
}

static void *client(void *arg)
{
	struct client *c = arg;
	coil_task w;
	ck_assert_int_eq(coil_task_spawn(&w, client_writer, c), 0);
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, c->seed);
	char *want = malloc(c->len + 1), *got = malloc(c->len + 1);
	coil_test_rng_fill(&rng, want, c->len);
	ssize_t n = coil_sock_read_exact(c->fd, got, c->len + 1);
	ck_assert_int_eq(n, (ssize_t)c->len);
	ck_assert_int_eq(memcmp(want, got, c->len), 0);
	ck_assert_int_eq(coil_task_join(w, NULL), 0);
	free(want);
	free(got);
	return NULL;
}

struct echo_run {
	int conns;
	size_t max_len;
};

static void *echo_many(void *arg)
{
	struct echo_run *run = arg;
	int n = run->conns;
	struct echo_conn *ec = calloc((size_t)n, sizeof *ec);
	struct client *cl = calloc((size_t)n, sizeof *cl);
	coil_task *ts = calloc((size_t)n * 2, sizeof *ts);
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, coil_test_seed("reader_echo"));
	for (int i = 0; i < n; i++) {
		int sv[2];
		pair(sv);
		ec[i].fd = sv[0];
		cl[i] = (struct client){sv[1], coil_test_rng_range(&rng, 1, run->max_len),
					coil_test_rng_next(&rng) | 1};
		ck_assert_int_eq(coil_task_spawn(&ts[2 * i], reader_echo, &ec[i]), 0);
		ck_assert_int_eq(coil_task_spawn(&ts[2 * i + 1], client, &cl[i]), 0);
	}
	for (int i = 0; i < 2 * n; i++)
		ck_assert_int_eq(coil_task_join(ts[i], NULL), 0);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(ec[i].echoed, (long)cl[i].len);
		ck_assert_int_eq(coil_close(ec[i].fd), 0);
		ck_assert_int_eq(coil_close(cl[i].fd), 0);
	}
	free(ec);
	free(cl);
	free(ts);
	return NULL;
}

START_TEST(echo_through_readers_is_byte_exact)
{
	int fds = coil_test_count_fds();
	struct echo_run run = {40, 256 * 1024};
	coil_test_run(echo_many, &run);
	ck_assert_int_eq(coil_test_count_fds(), fds);
}
END_TEST

/* Four 64-byte buffers for 16 connections of up to 64 KiB each: most
 * receives find no buffer and wait for one (the ring's -ENOBUFS, or the
 * free list's wait): nothing is lost, nothing fails. */
START_TEST(four_small_buffers_for_sixteen_busy_readers_lose_nothing)
{
	struct coil_config cfg = small_pool(4, 64);
	struct echo_run run = {16, 64 * 1024};
	coil_test_run_cfg(&cfg, echo_many, &run);
}
END_TEST

/* ---- a reader that does not read: the data waits, in order -------------------------- */

struct blob {
	int fd;
	char *buf;
	size_t len;
};

static void *blob_writer(void *arg)
{
	struct blob *b = arg;
	ck_assert_int_eq(coil_sock_write_all(b->fd, b->buf, b->len), (ssize_t)b->len);
	return NULL;
}

static void *slow_reader(void *arg)
{
	(void)arg;
	int sv[2];
	pair(sv);
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, sv[0]), 0);
	const void *p;
	/* Arm it: a first byte. */
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_eq(coil_reader_read(r, &p), 1);
	ck_assert_int_eq(*(const char *)p, 'x');
	/* 1 MiB is written while nobody reads (more than the reader may
	 * hold and than the socket holds: the writer waits). */
	struct blob b = {sv[1], malloc(1 << 20), 1 << 20};
	for (size_t i = 0; i < b.len; i++)
		b.buf[i] = (char)(i * 7 + i / 251);
	coil_task w;
	ck_assert_int_eq(coil_task_spawn(&w, blob_writer, &b), 0);
	ck_assert_int_eq(coil_sleep(30 * 1000 * 1000), 0);
	size_t got = 0;
	while (got < b.len) {
		ssize_t n = coil_reader_read(r, &p);
		ck_assert_int_gt(n, 0);
		ck_assert_msg(memcmp(p, b.buf + got, (size_t)n) == 0, "bytes %zu..%zu differ", got,
			      got + (size_t)n);
		got += (size_t)n;
	}
	ck_assert_int_eq(got, b.len);
	ck_assert_int_eq(coil_task_join(w, NULL), 0);
	ck_assert_int_eq(coil_reader_close(r), 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	free(b.buf);
	return NULL;
}

START_TEST(data_that_arrives_while_nobody_reads_comes_in_order)
{
	coil_test_run(slow_reader, NULL);
}
END_TEST

/* ---- deadlines, cancel and close lose nothing and point at nothing -------------------- */

static void *timed_out_read_loses_nothing(void *arg)
{
	(void)arg;
	int sv[2];
	pair(sv);
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, sv[0]), 0);
	const void *p;
	coil_scope s;
	/* t0 before the scope: its deadline counts from the enter, not from the read. */
	int64_t t0 = coil_now();
	ck_assert_int_eq(coil_scope_enter_timeout(&s, 20 * 1000 * 1000), 0);
	ck_assert_int_eq(coil_reader_read(r, &p), -ETIMEDOUT);
	ck_assert_int_ge(coil_now() - t0, 20 * 1000 * 1000);
	coil_scope_exit(&s);
	ck_assert_int_eq(write(sv[1], "abc", 3), 3);
	ck_assert_int_eq(coil_reader_read(r, &p), 3);
	ck_assert_int_eq(memcmp(p, "abc", 3), 0);
	ck_assert_int_eq(coil_reader_close(r), 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

START_TEST(a_read_past_its_deadline_loses_nothing)
{
	coil_test_run(timed_out_read_loses_nothing, NULL);
}
END_TEST

struct waiting {
	coil_reader *r;
	ssize_t res;
};

static void *read_once(void *arg)
{
	struct waiting *w = arg;
	const void *p;
	w->res = coil_reader_read(w->r, &p);
	return NULL;
}

static void *close_under_a_waiting_read(void *arg)
{
	bool close_fd = arg != NULL;
	int sv[2];
	pair(sv);
	struct waiting w = {NULL, 1};
	ck_assert_int_eq(coil_reader_open(&w.r, sv[0]), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, read_once, &w), 0);
	ck_assert_int_eq(coil_sleep(5 * 1000 * 1000), 0);
	/* A second reader of the same reader is refused while one waits. */
	const void *p;
	ck_assert_int_eq(coil_reader_read(w.r, &p), -EBUSY);
	if (close_fd) {
		ck_assert_int_eq(coil_close(sv[0]), 0);
		ck_assert_int_eq(coil_task_join(t, NULL), 0);
		ck_assert_int_eq(w.res, -EBADF);
		ck_assert_int_eq(coil_reader_read(w.r, &p), -EBADF);
		ck_assert_int_eq(coil_reader_close(w.r), 0);
	} else {
		ck_assert_int_eq(coil_reader_close(w.r), 0);
		ck_assert_int_eq(coil_task_join(t, NULL), 0);
		ck_assert_int_eq(w.res, -EBADF);
		ck_assert_int_eq(coil_close(sv[0]), 0);
	}
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

START_TEST(closing_the_fd_under_a_waiting_read_gives_ebadf)
{
	coil_test_run(close_under_a_waiting_read, (void *)1);
}
END_TEST

START_TEST(closing_the_reader_under_a_waiting_read_gives_ebadf)
{
	coil_test_run(close_under_a_waiting_read, NULL);
}
END_TEST

static void *cancelled_reader(void *arg)
{
	coil_reader *r = arg;
	const void *p;
	ssize_t n = coil_reader_read(r, &p);
	ck_assert_int_eq(n, -ECANCELED);
	/* Cancelled, it still closes (clean-up is shielded). */
	ck_assert_int_eq(coil_reader_close(r), 0);
	return NULL;
}

static void *cancel_a_waiting_read(void *arg)
{
	(void)arg;
	int sv[2];
	pair(sv);
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, sv[0]), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, cancelled_reader, r), 0);
	ck_assert_int_eq(coil_sleep(5 * 1000 * 1000), 0);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

START_TEST(a_cancelled_read_returns_ecanceled_and_the_reader_still_closes)
{
	coil_test_run(cancel_a_waiting_read, NULL);
}
END_TEST

/* ---- errors, reported the same on every backend --------------------------------------- */

static void *bad_input(void *arg)
{
	(void)arg;
	coil_reader *r;
	const void *p;
	ck_assert_int_eq(coil_reader_open(NULL, 0), -EINVAL);
	ck_assert_int_eq(coil_reader_open(&r, -1), -EBADF);
	ck_assert_int_eq(coil_reader_open(&r, 1000000), -EBADF);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_reader_open(&r, fd), -ENOTSOCK);
	ck_assert_int_eq(coil_close(fd), 0);
	int u = coil_udp_bind("127.0.0.1", 0);
	ck_assert_int_ge(u, 0);
	ck_assert_int_eq(coil_reader_open(&r, u), -EINVAL);
	ck_assert_int_eq(coil_close(u), 0);
	ck_assert_int_eq(coil_reader_read(NULL, &p), -EINVAL);
	ck_assert_int_eq(coil_reader_close(NULL), -EINVAL);
	/* A reset: the error, and again at every read after. */
	int sv[2];
	pair(sv);
	ck_assert_int_eq(coil_reader_open(&r, sv[0]), 0);
	ck_assert_int_eq(coil_reader_read(r, NULL), -EINVAL);
	ck_assert_int_eq(write(sv[1], "hi", 2), 2);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	ck_assert_int_eq(coil_reader_read(r, &p), 2);
	ck_assert_int_eq(coil_reader_read(r, &p), 0);
	ck_assert_int_eq(coil_reader_read(r, &p), 0);
	ck_assert_int_eq(coil_reader_close(r), 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	return NULL;
}

START_TEST(bad_input_gets_the_same_codes_everywhere)
{
	coil_reader *r;
	const void *p;
	ck_assert_int_eq(coil_reader_open(&r, 0), -EPERM);
	ck_assert_int_eq(coil_reader_read((coil_reader *)&p, &p), -EPERM);
	coil_test_run(bad_input, NULL);
}
END_TEST

static void *read_elsewhere(void *arg)
{
	coil_reader *r = arg;
	const void *p;
	ck_assert_int_eq(coil_reader_read(r, &p), -EXDEV);
	ck_assert_int_eq(coil_reader_close(r), -EXDEV);
	return NULL;
}

static void *other_worker(void *arg)
{
	(void)arg;
	int sv[2];
	pair(sv);
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, sv[0]), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, read_elsewhere, r), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(coil_reader_close(r), 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

START_TEST(a_reader_is_its_workers_only)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 2;
	coil_test_run_cfg(&cfg, other_worker, NULL);
}
END_TEST

/* ---- idle readers, and readers left open ----------------------------------------------- */

#define IDLE 600

struct idle {
	int fd;
	char got;
};

static void *idle_reader(void *arg)
{
	struct idle *c = arg;
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, c->fd), 0);
	const void *p;
	ck_assert_int_eq(coil_reader_read(r, &p), 1);
	c->got = *(const char *)p;
	ck_assert_int_eq(coil_reader_close(r), 0);
	return NULL;
}

/* 600 readers wait on 8 buffers, holding none while they wait (the ring:
 * the kernel picks one when data comes; elsewhere: a 1-byte peek waits);
 * the last one's byte comes first, then each gets its own. */
static void *many_idle(void *arg)
{
	(void)arg;
	static struct idle c[IDLE];
	static int peer[IDLE];
	coil_task t[IDLE];
	for (int i = 0; i < IDLE; i++) {
		int sv[2];
		pair(sv);
		c[i] = (struct idle){sv[0], 0};
		peer[i] = sv[1];
		ck_assert_int_eq(coil_task_spawn(&t[i], idle_reader, &c[i]), 0);
	}
	ck_assert_int_eq(coil_sleep(10 * 1000 * 1000), 0);
	if (coil_features() & COIL_FEATURE_BUF_RING)
		ck_assert_str_eq(coil_backend_name(), "io_uring");
	/* The last one first: no idle reader may hold a buffer it needs. */
	char last = (char)('A' + (IDLE - 1) % 26);
	ck_assert_int_eq(write(peer[IDLE - 1], &last, 1), 1);
	ck_assert_int_eq(coil_task_join(t[IDLE - 1], NULL), 0);
	ck_assert_int_eq(c[IDLE - 1].got, last);
	for (int i = 0; i < IDLE - 1; i++) {
		char b = (char)('A' + i % 26);
		ck_assert_int_eq(write(peer[i], &b, 1), 1);
	}
	for (int i = 0; i < IDLE; i++) {
		if (i < IDLE - 1)
			ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(c[i].got, 'A' + i % 26);
		ck_assert_int_eq(coil_close(c[i].fd), 0);
		ck_assert_int_eq(coil_close(peer[i]), 0);
	}
	return NULL;
}

START_TEST(six_hundred_idle_readers_share_eight_buffers)
{
	struct coil_config cfg = small_pool(8, 4096);
	coil_test_run_cfg(&cfg, many_idle, NULL);
}
END_TEST

static void *leave_open(void *arg)
{
	int *sv = arg;
	pair(sv);
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, sv[0]), 0);
	ck_assert_int_eq(write(sv[1], "q", 1), 1);
	const void *p;
	ck_assert_int_eq(coil_reader_read(r, &p), 1);
	/* Not closed: coil_run closes it (and must not wait for it). */
	return NULL;
}

START_TEST(readers_left_open_are_closed_when_the_runtime_ends)
{
	int sv[2];
	int64_t t0 = coil_test_mono_ns();
	coil_test_run(leave_open, sv);
	ck_assert_int_lt(coil_test_mono_ns() - t0, 10LL * 1000 * 1000 * 1000);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reader");
	TCase *tc = tcase_create("reader");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, echo_through_readers_is_byte_exact);
	tcase_add_test(tc, four_small_buffers_for_sixteen_busy_readers_lose_nothing);
	tcase_add_test(tc, data_that_arrives_while_nobody_reads_comes_in_order);
	tcase_add_test(tc, a_read_past_its_deadline_loses_nothing);
	tcase_add_test(tc, closing_the_fd_under_a_waiting_read_gives_ebadf);
	tcase_add_test(tc, closing_the_reader_under_a_waiting_read_gives_ebadf);
	tcase_add_test(tc, a_cancelled_read_returns_ecanceled_and_the_reader_still_closes);
	tcase_add_test(tc, bad_input_gets_the_same_codes_everywhere);
	tcase_add_test(tc, a_reader_is_its_workers_only);
	tcase_add_test(tc, six_hundred_idle_readers_share_eight_buffers);
	tcase_add_test(tc, readers_left_open_are_closed_when_the_runtime_ends);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
