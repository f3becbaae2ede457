/* Closing fds: whatever waits on the fd ends with -EBADF, on every backend
 * and worker; and on io_uring a close cancels only when requests on that
 * fd are in flight, each by its user_data (a reader's multishot, a plain
 * read or write), never by fd (a walk of every request pending in the
 * ring, in the kernel), so closing many connections stays linear whether
 * their fibers wait or not. The io_uring counts are read through
 * coil__uring_fd_cancels, _multi_cancels, _op_cancels and _fd_reqs
 * (io/backend.h); the other backends check the results alone.
 * Socketpairs only. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/backend.h"

#define NPAIRS 16

static bool on_uring(void)
{
	return strcmp(coil_backend_name(), "io_uring") == 0;
}

/* The cancels queued for closes so far: by fd, by a multishot's
 * user_data, by an op's. */
struct cancels {
	unsigned long by_fd, by_multi, by_op;
};

static struct cancels cancels_now(void)
{
	return (struct cancels){coil__uring_fd_cancels(), coil__uring_multi_cancels(),
				coil__uring_op_cancels()};
}

/* Check the cancels queued since before (on io_uring: the others queue
 * none). None is ever by fd here: every request is named. */
static void expect_cancels(struct cancels before, unsigned long by_multi, unsigned long by_op)
{
	struct cancels now = cancels_now();
	if (!on_uring())
		by_multi = by_op = 0;
	ck_assert_uint_eq(now.by_fd - before.by_fd, 0);
	ck_assert_uint_eq(now.by_multi - before.by_multi, by_multi);
	ck_assert_uint_eq(now.by_op - before.by_op, by_op);
}

static void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* Reads one byte of *arg's fd: the result. */
static void *read_byte(void *arg)
{
	char c;
	return (void *)(intptr_t)coil_sock_read(*(int *)arg, &c, 1);
}

/* Writes 4 KiB to *arg's fd, whose socket is full: the result. */
static void *write_full(void *arg)
{
	static const char buf[4096];
	return (void *)(intptr_t)coil_sock_write(*(int *)arg, buf, sizeof buf);
}

/* Fill fd's send side (its peer does not read): a write then waits. */
static void fill(int fd)
{
	static const char buf[4096];
	while (write(fd, buf, sizeof buf) > 0) {
	}
	ck_assert_int_eq(errno, EAGAIN);
}

/* Reads fd through a reader until the end (peer closed) and closes the
 * reader: its multishot recv (io_uring) ended with the end of stream. */
static void *reader_to_end(void *arg)
{
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, *(int *)arg), 0);
	const void *p;
	ssize_t n, total = 0;
	while ((n = coil_reader_read(r, &p)) > 0)
		total += n;
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(coil_reader_close(r), 0);
	return (void *)(intptr_t)total;
}

/* Reads one chunk (or the error a close of the fd ends its wait with)
 * through a reader and closes it with its multishot still armed:
 * coil_reader_close stops it and waits for its end. */
static void *reader_one_chunk(void *arg)
{
	coil_reader *r;
	ck_assert_int_eq(coil_reader_open(&r, *(int *)arg), 0);
	const void *p;
	ssize_t n = coil_reader_read(r, &p);
	ck_assert_int_eq(coil_reader_close(r), 0);
	return (void *)(intptr_t)n;
}

static void *idle_closes(void *arg)
{
	(void)arg;
	int sv[NPAIRS][2];
	coil_task t[NPAIRS];
	/* Each fd had a request of its own that ended before the close: a
	 * read (detached fibers may run on another worker, which then met
	 * the fd), a reader that saw the end of stream (the idle keep-alive
	 * connection whose client left), a reader closed while armed. */
	for (int i = 0; i < NPAIRS; i++) {
		pair(sv[i]);
		int kind = i % 3;
		if (kind == 1) {
			ck_assert_int_eq(write(sv[i][1], "ab", 2), 2);
			ck_assert_int_eq(close(sv[i][1]), 0);
			sv[i][1] = -1;
		} else {
			ck_assert_int_eq(write(sv[i][1], "a", 1), 1);
		}
		coil_fn fn = kind == 0 ? read_byte : kind == 1 ? reader_to_end : reader_one_chunk;
		ck_assert_int_eq(coil_task_spawn(&t[i], fn, &sv[i][0]), 0);
	}
	for (int i = 0; i < NPAIRS; i++) {
		void *res;
		ck_assert_int_eq(coil_task_join(t[i], &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, i % 3 == 1 ? 2 : 1);
		if (on_uring())
			ck_assert_int_eq(coil__uring_fd_reqs(sv[i][0]), 0);
	}
	struct cancels before = cancels_now();
	for (int i = 0; i < NPAIRS; i++) {
		ck_assert_int_eq(coil_close(sv[i][0]), 0);
		if (sv[i][1] >= 0)
			ck_assert_int_eq(coil_close(sv[i][1]), 0);
	}
	/* Nothing was in flight on any of them, on any worker. */
	expect_cancels(before, 0, 0);
	return NULL;
}

/* Closing fds nothing is waiting on queues no cancel: the usual close
 * (an idle connection whose client left) costs no walk of the ring. */
START_TEST(closing_fds_nothing_waits_on_queues_no_cancel)
{
	coil_test_run(idle_closes, NULL);
}
END_TEST

/* Yield until a fiber of this worker has its request on fd in flight: on
 * io_uring its SQE is counted; elsewhere a few turns let it park. */
static void wait_parked(int fd)
{
	for (int i = 0; i < 1000; i++) {
		int n = coil__uring_fd_reqs(fd);
		if (n > 0 || (n < 0 && i >= 3))
			return;
		ck_assert_int_eq(coil_task_yield(), 0);
	}
	ck_abort_msg("the reader of fd %d never parked", fd);
}

static void *busy_close(void *arg)
{
	(void)arg;
	unsigned me = (unsigned)coil_worker_index();
	coil_fn fns[2] = {read_byte, reader_one_chunk};
	for (int k = 0; k < 2; k++) {
		int sv[2];
		pair(sv);
		coil_task t;
		ck_assert_int_eq(coil_task_spawn_on(me, &t, fns[k], &sv[0]), 0);
		wait_parked(sv[0]);
		struct cancels before = cancels_now();
		ck_assert_int_eq(coil_close(sv[0]), 0);
		void *res;
		ck_assert_int_eq(coil_task_join(t, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, -EBADF);
		/* One cancel by user_data: the plain read's, the reader's
		 * multishot's. */
		expect_cancels(before, k == 1, k == 0);
		if (on_uring())
			ck_assert_int_eq(coil__uring_fd_reqs(sv[0]), 0);
		ck_assert_int_eq(coil_close(sv[1]), 0);
	}
	return NULL;
}

/* A read waiting on the fd (a plain read, a reader's multishot recv) still
 * ends at once with -EBADF when another fiber closes the fd: one cancel. */
START_TEST(closing_an_fd_a_read_waits_on_ends_it_with_ebadf)
{
	coil_test_run(busy_close, NULL);
}
END_TEST

/* Yield until fibers of this worker have n requests on fd in flight. */
static void wait_reqs(int fd, int n)
{
	for (int i = 0; i < 1000; i++) {
		int have = coil__uring_fd_reqs(fd);
		if (have >= n || (have < 0 && i >= 3))
			return;
		ck_assert_int_eq(coil_task_yield(), 0);
	}
	ck_abort_msg("fd %d never had %d requests in flight", fd, n);
}

static void *two_waits_close(void *arg)
{
	(void)arg;
	unsigned me = (unsigned)coil_worker_index();
	coil_fn reads[2] = {read_byte, reader_one_chunk};
	for (int k = 0; k < 2; k++) {
		int sv[2];
		pair(sv);
		fill(sv[0]);
		coil_task tr, tw;
		ck_assert_int_eq(coil_task_spawn_on(me, &tr, reads[k], &sv[0]), 0);
		ck_assert_int_eq(coil_task_spawn_on(me, &tw, write_full, &sv[0]), 0);
		wait_reqs(sv[0], 2);
		struct cancels before = cancels_now();
		ck_assert_int_eq(coil_close(sv[0]), 0);
		void *res;
		ck_assert_int_eq(coil_task_join(tr, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, -EBADF);
		ck_assert_int_eq(coil_task_join(tw, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, -EBADF);
		/* Two cancels by user_data: the write's, and the plain
		 * read's or the reader's multishot's. */
		expect_cancels(before, k == 1, k == 0 ? 2 : 1);
		if (on_uring())
			ck_assert_int_eq(coil__uring_fd_reqs(sv[0]), 0);
		ck_assert_int_eq(coil_close(sv[1]), 0);
	}
	return NULL;
}

/* A read and a write waiting on one fd both end with -EBADF at its close,
 * each cancelled by its own user_data (with registered files too). */
START_TEST(closing_an_fd_a_read_and_a_write_wait_on_cancels_each_by_name)
{
	for (int fixed = 0; fixed < 2; fixed++) {
		struct coil_config cfg;
		coil_config_init(&cfg);
		if (fixed)
			cfg.features_on = COIL_FEATURE_FIXED_FILES;
		coil_test_run_cfg(&cfg, two_waits_close, NULL);
	}
}
END_TEST

/* Worker 1's count of requests on fd, read on worker 1. */
static void *far_reqs(void *arg)
{
	return (void *)(intptr_t)coil__uring_fd_reqs(*(int *)arg);
}

static void wait_parked_far(int fd)
{
	for (int i = 0; i < 1000; i++) {
		coil_task t;
		void *n;
		ck_assert_int_eq(coil_task_spawn_on(1, &t, far_reqs, &fd), 0);
		ck_assert_int_eq(coil_task_join(t, &n), 0);
		if ((int)(intptr_t)n > 0 || ((int)(intptr_t)n < 0 && i >= 3))
			return;
	}
	ck_abort_msg("the reader of fd %d on worker 1 never parked", fd);
}

static void *far_closes(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_worker_index(), 0);
	/* Worker 1 read from the fd and is done with it: the close asks it
	 * to let go (it met the fd), and it has nothing to cancel. */
	int sv[2];
	pair(sv);
	ck_assert_int_eq(write(sv[1], "a", 1), 1);
	coil_task t;
	void *res;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, read_byte, &sv[0]), 0);
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, 1);
	struct cancels before = cancels_now();
	ck_assert_int_eq(coil_close(sv[0]), 0);
	expect_cancels(before, 0, 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	/* A read parked on worker 1 (a plain read, a reader): its cancel
	 * there, none here. */
	coil_fn fns[2] = {read_byte, reader_one_chunk};
	for (int k = 0; k < 2; k++) {
		pair(sv);
		ck_assert_int_eq(coil_task_spawn_on(1, &t, fns[k], &sv[0]), 0);
		wait_parked_far(sv[0]);
		before = cancels_now();
		ck_assert_int_eq(coil_close(sv[0]), 0);
		ck_assert_int_eq(coil_task_join(t, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, -EBADF);
		expect_cancels(before, k == 1, k == 0);
		ck_assert_int_eq(coil_close(sv[1]), 0);
	}
	return NULL;
}

/* The same across workers (io/fd.h): with and without registered files. */
START_TEST(closing_on_another_worker_cancels_only_where_a_read_waits)
{
	for (int fixed = 0; fixed < 2; fixed++) {
		struct coil_config cfg;
		coil_config_init(&cfg);
		cfg.workers = 2;
		if (fixed)
			cfg.features_on = COIL_FEATURE_FIXED_FILES;
		coil_test_run_cfg(&cfg, far_closes, NULL);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("close");
	TCase *tc = tcase_create("close");
	tcase_add_test(tc, closing_fds_nothing_waits_on_queues_no_cancel);
	tcase_add_test(tc, closing_an_fd_a_read_waits_on_ends_it_with_ebadf);
	tcase_add_test(tc, closing_an_fd_a_read_and_a_write_wait_on_cancels_each_by_name);
	tcase_add_test(tc, closing_on_another_worker_cancels_only_where_a_read_waits);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
