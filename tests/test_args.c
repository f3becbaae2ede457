/* Invalid arguments everywhere: documented errors, never a crash. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void *noop(void *arg)
{
	return arg;
}

/* ---- outside a runtime ----------------------------------------------------------------- */

START_TEST(blocking_calls_outside_a_runtime_are_eperm)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	char buf[16] = "abc";
	coil_task t = 0;

	ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), -EPERM);
	ck_assert_int_eq(coil_sleep_until(coil_now() + COIL_NSEC_PER_MSEC), -EPERM);
	ck_assert_int_eq(coil_sock_read(sv[0], buf, sizeof buf), -EPERM);
	ck_assert_int_eq(coil_sock_write(sv[0], buf, 3), -EPERM);
	ck_assert_int_eq(coil_sock_read_exact(sv[0], buf, sizeof buf), -EPERM);
	ck_assert_int_eq(coil_sock_write_all(sv[0], buf, 3), -EPERM);
	ck_assert_int_eq(coil_sock_shutdown(sv[0], SHUT_WR), -EPERM);
	ck_assert_int_eq(coil_tcp_connect("127.0.0.1", 9), -EPERM);

	/* setting up a listener works outside; accepting does not */
	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_gt(coil_sock_port(lfd), 0);
	ck_assert_int_eq(coil_tcp_accept(lfd, NULL, NULL), -EPERM);
	int ufd = coil_udp_bind("127.0.0.1", 0);
	ck_assert_int_ge(ufd, 0);
	ck_assert_int_eq(coil_udp_recvfrom(ufd, buf, sizeof buf, NULL, NULL), -EPERM);

	ck_assert_int_eq(coil_file_open("/dev/null", O_RDONLY, 0), -EPERM);
	ck_assert_int_eq(coil_file_read(sv[0], buf, sizeof buf, -1), -EPERM);
	ck_assert_int_eq(coil_file_write(sv[0], buf, 1, -1), -EPERM);

	ck_assert_int_eq(coil_task_spawn(&t, noop, NULL), -EPERM);
	ck_assert_int_eq(coil_task_spawn(NULL, noop, NULL), -EPERM);
	struct coil_task_opts opts = {0};
	ck_assert_int_eq(coil_task_spawn_ex(&t, &opts, noop, NULL), -EPERM);
	ck_assert_int_eq(coil_task_yield(), -EPERM);
	ck_assert_int_eq(coil_task_join(1, NULL), -EPERM);
	ck_assert_int_eq(coil_task_detach(1), -EPERM);
	ck_assert_int_eq(coil_task_cancel(1), -EPERM);
	ck_assert_int_eq(coil_task_cancelled(), -EPERM);
	ck_assert(coil_task_current() == 0);
	ck_assert_ptr_null(coil_backend_name());

	/* coil_close is clean-up: it works outside a runtime too */
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
	ck_assert_int_eq(coil_close(sv[0]), -EBADF);

	close(lfd);
	close(ufd);
	close(sv[1]);
}
END_TEST

/* ---- coil_run and config ------------------------------------------------------------------- */

static void *ran_flag(void *arg)
{
	*(int *)arg = 1;
	return NULL;
}

static void expect_bad_config(const struct coil_config *cfg, const char *what)
{
	int ran = 0;
	int rc = coil_run(cfg, ran_flag, &ran, NULL);
	ck_assert_msg(rc == -EINVAL, "%s: coil_run returned %d, want -EINVAL", what, rc);
	ck_assert_msg(!ran, "%s: main fiber ran anyway", what);
}

START_TEST(bad_config_values_are_einval)
{
	struct coil_config cfg;

	coil_config_init(&cfg);
	cfg.cq_entries = cfg.sq_entries; /* at least twice sq_entries */
	expect_bad_config(&cfg, "cq_entries == sq_entries");

	coil_config_init(&cfg);
	cfg.sq_entries = 256;
	cfg.cq_entries = 128;
	expect_bad_config(&cfg, "cq_entries < sq_entries");

	coil_config_init(&cfg);
	cfg.cq_entries = 65536 * 2;
	expect_bad_config(&cfg, "cq_entries > 65536");

	coil_config_init(&cfg);
	cfg.stack_size = 4096;
	expect_bad_config(&cfg, "stack_size 4 KiB");

	coil_config_init(&cfg);
	cfg.stack_size = 16 * 1024 - 1;
	expect_bad_config(&cfg, "stack_size 16 KiB - 1");

	coil_config_init(&cfg);
	cfg.sq_entries = 0;
	expect_bad_config(&cfg, "sq_entries 0");

	/* the documented defaults, and the edges that are in range */
	coil_config_init(&cfg);
	ck_assert_uint_eq(cfg.stack_size, 128 * 1024);
	ck_assert_uint_eq(cfg.stack_cache, 1024);
	ck_assert_uint_eq(cfg.sq_entries, 256);
	ck_assert_uint_eq(cfg.cq_entries, 4096);
	ck_assert(cfg.join_children);
	cfg.stack_size = 16 * 1024;
	cfg.sq_entries = 32;
	cfg.cq_entries = 64;
	int ran = 0;
	ck_assert_int_eq(coil_run(&cfg, ran_flag, &ran, NULL), 0);
	ck_assert_int_eq(ran, 1);
	coil_config_init(&cfg);
	cfg.cq_entries = 65536;
	ran = 0;
	ck_assert_int_eq(coil_run(&cfg, ran_flag, &ran, NULL), 0);
	ck_assert_int_eq(ran, 1);
}
END_TEST

START_TEST(run_with_null_fn_is_einval)
{
	ck_assert_int_eq(coil_run(NULL, NULL, NULL, NULL), -EINVAL);
}
END_TEST

/* ---- tasks ---------------------------------------------------------------------------------- */

static void *spawn_args_main(void *arg)
{
	(void)arg;
	coil_task t = 0;
	struct coil_task_opts opts;
	ck_assert_int_eq(coil_task_spawn(&t, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_task_spawn(NULL, NULL, NULL), -EINVAL);
	memset(&opts, 0, sizeof opts);
	ck_assert_int_eq(coil_task_spawn_ex(&t, &opts, NULL, NULL), -EINVAL);
	opts.stack_size = 4096;
	ck_assert_int_eq(coil_task_spawn_ex(&t, &opts, noop, NULL), -EINVAL);
	opts.stack_size = 16 * 1024 - 1;
	ck_assert_int_eq(coil_task_spawn_ex(&t, &opts, noop, NULL), -EINVAL);
	opts.stack_size = SIZE_MAX;
	int rc = coil_task_spawn_ex(&t, &opts, noop, NULL);
	ck_assert_msg(rc == -EINVAL || rc == -ENOMEM, "stack_size SIZE_MAX: %d", rc);
	opts.stack_size = 16 * 1024;
	ck_assert_int_eq(coil_task_spawn_ex(&t, &opts, noop, (void *)9), 0);
	void *res = NULL;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_eq(res, (void *)9);
	return NULL;
}

START_TEST(spawn_with_null_fn_or_bad_stack_is_einval)
{
	coil_test_run(spawn_args_main, NULL);
}
END_TEST

/* ---- buffers and descriptors ---------------------------------------------------------------- */

static void *bad_io_main(void *arg)
{
	(void)arg;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	char buf[16];
	struct coil_stat st;
	struct iovec iov = {buf, sizeof buf};

	/* NULL buffers with a length */
	ck_assert_int_eq(coil_sock_read(sv[0], NULL, 10), -EINVAL);
	ck_assert_int_eq(coil_sock_write(sv[0], NULL, 10), -EINVAL);
	ck_assert_int_eq(coil_sock_read_exact(sv[0], NULL, 10), -EINVAL);
	ck_assert_int_eq(coil_sock_write_all(sv[0], NULL, 10), -EINVAL);
	ck_assert_int_eq(coil_file_read(sv[0], NULL, 10, -1), -EINVAL);
	ck_assert_int_eq(coil_file_write(sv[0], NULL, 10, -1), -EINVAL);
	ck_assert_int_eq(coil_file_write_all(sv[0], NULL, 10, 0), -EINVAL);
	ck_assert_int_lt(coil_udp_sendto(sv[0], NULL, 10, "127.0.0.1", 9), 0);

	/* negative descriptors */
	for (int fd = -1; fd >= -3; fd -= 2) {
		ck_assert_int_eq(coil_sock_read(fd, buf, sizeof buf), -EBADF);
		ck_assert_int_eq(coil_sock_write(fd, buf, 1), -EBADF);
		ck_assert_int_eq(coil_sock_read_exact(fd, buf, sizeof buf), -EBADF);
		ck_assert_int_eq(coil_sock_write_all(fd, buf, 1), -EBADF);
		ck_assert_int_eq(coil_sock_shutdown(fd, SHUT_RDWR), -EBADF);
		ck_assert_int_eq(coil_tcp_accept(fd, NULL, NULL), -EBADF);
		ck_assert_int_eq(coil_tcp_nodelay(fd, 1), -EBADF);
		ck_assert_int_eq(coil_sock_port(fd), -EBADF);
		ck_assert_int_eq(coil_file_read(fd, buf, sizeof buf, 0), -EBADF);
		ck_assert_int_eq(coil_file_write(fd, buf, 1, 0), -EBADF);
		ck_assert_int_eq(coil_file_write_all(fd, buf, 1, 0), -EBADF);
		ck_assert_int_eq(coil_file_readv(fd, &iov, 1, 0), -EBADF);
		ck_assert_int_eq(coil_file_writev(fd, &iov, 1, 0), -EBADF);
		ck_assert_int_eq(coil_file_sync(fd, false), -EBADF);
		ck_assert_int_eq(coil_file_stat(fd, &st), -EBADF);
		ck_assert_int_eq(coil_close(fd), -EBADF);
		ck_assert_int_eq(coil_udp_recvfrom(fd, buf, sizeof buf, NULL, NULL), -EBADF);
		ck_assert_int_eq(coil_udp_sendto(fd, buf, 1, "127.0.0.1", 9), -EBADF);
	}
	/* a descriptor number that is not open */
	int hole = dup(sv[1]);
	ck_assert_int_ge(hole, 0);
	close(hole);
	ck_assert_int_eq(coil_sock_read(hole, buf, sizeof buf), -EBADF);
	ck_assert_int_eq(coil_file_read(hole, buf, sizeof buf, 0), -EBADF);
	ck_assert_int_eq(coil_close(hole), -EBADF);

	/* offsets below -1 */
	ck_assert_int_eq(coil_file_read(sv[0], buf, sizeof buf, -2), -EINVAL);
	ck_assert_int_eq(coil_file_write(sv[0], buf, 1, -7), -EINVAL);
	ck_assert_int_eq(coil_file_readv(sv[0], &iov, 1, -2), -EINVAL);
	ck_assert_int_eq(coil_file_write_all(sv[0], buf, 1, -2), -EINVAL); /* -1 or >= 0 */

	/* iovcnt outside 1..IOV_MAX */
	ck_assert_int_eq(coil_file_readv(sv[0], &iov, 0, -1), -EINVAL);
	ck_assert_int_eq(coil_file_readv(sv[0], &iov, -1, -1), -EINVAL);
	ck_assert_int_eq(coil_file_readv(sv[0], &iov, IOV_MAX + 1, -1), -EINVAL);
	ck_assert_int_eq(coil_file_writev(sv[0], &iov, 0, -1), -EINVAL);
	ck_assert_int_eq(coil_file_writev(sv[0], &iov, -5, -1), -EINVAL);
	ck_assert_int_eq(coil_file_writev(sv[0], &iov, IOV_MAX + 1, -1), -EINVAL);

	/* shutdown with a bad "how" */
	ck_assert_int_eq(coil_sock_shutdown(sv[0], 3), -EINVAL);
	ck_assert_int_eq(coil_sock_shutdown(sv[0], -1), -EINVAL);
	ck_assert_int_eq(coil_sock_shutdown(sv[0], 42), -EINVAL);

	/* stat with no output */
	ck_assert_int_eq(coil_file_stat(sv[0], NULL), -EINVAL);
	ck_assert_int_eq(coil_file_open(NULL, O_RDONLY, 0), -EINVAL);

	/* the socketpair is still intact after all that */
	ck_assert_int_eq(coil_sock_write_all(sv[0], "ok", 2), 2);
	ck_assert_int_eq(coil_sock_read_exact(sv[1], buf, 2), 2);
	ck_assert(memcmp(buf, "ok", 2) == 0);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

START_TEST(null_buffers_einval_bad_fds_ebadf_bad_counts_einval)
{
	coil_test_run(bad_io_main, NULL);
}
END_TEST

/* ---- addresses ------------------------------------------------------------------------------- */

static void *bad_addr_main(void *arg)
{
	(void)arg;
	static const char *const bad[] = {"localhost", "nope", "", "127.0.0.1.1", "256.1.1.1",
					  "::1::2", "127.0.0.1 "};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(coil_tcp_listen(bad[i], 0, 0, 0) == -EINVAL, "listen(\"%s\")", bad[i]);
		ck_assert_msg(coil_udp_bind(bad[i], 0) < 0, "udp_bind(\"%s\")", bad[i]);
	}
	ck_assert_int_eq(coil_tcp_listen(NULL, 0, 0, 0), -EINVAL);
	/* connect takes names too (resolved on the pool; see test_net), so
	 * only the empty and NULL hosts are invalid there: the rest would
	 * ask the name service. */
	ck_assert_int_eq(coil_tcp_connect(NULL, 80), -EINVAL);
	ck_assert_int_eq(coil_tcp_connect("", 80), -EINVAL);
	/* unknown flag bits */
	ck_assert_int_eq(coil_tcp_listen("127.0.0.1", 0, 0, 0x80u), -EINVAL);
	ck_assert_int_eq(coil_tcp_listen("127.0.0.1", 0, 0, ~0u), -EINVAL);

	int u = coil_udp_bind("127.0.0.1", 0);
	ck_assert_int_ge(u, 0);
	ck_assert_int_lt(coil_udp_sendto(u, "x", 1, "localhost", 9), 0);
	ck_assert_int_lt(coil_udp_sendto(u, "x", 1, NULL, 9), 0);
	ck_assert_int_eq(coil_close(u), 0);

	/* Unix paths: NULL, empty, too long for sun_path */
	char longpath[300];
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	ck_assert_int_eq(coil_unix_listen(NULL, 0), -EINVAL);
	ck_assert_int_eq(coil_unix_listen("", 0), -EINVAL);
	ck_assert_int_eq(coil_unix_listen(longpath, 0), -EINVAL);
	ck_assert_int_eq(coil_unix_connect(longpath), -EINVAL);
	ck_assert_int_eq(coil_unix_connect(NULL), -EINVAL);
	ck_assert_int_eq(coil_unix_connect(""), -EINVAL);
	return NULL;
}

START_TEST(non_numeric_addresses_and_bad_paths_are_einval)
{
	coil_test_run(bad_addr_main, NULL);
}
END_TEST

START_TEST(listen_argument_errors_also_outside_a_runtime)
{
	ck_assert_int_eq(coil_tcp_listen("localhost", 0, 0, 0), -EINVAL);
	ck_assert_int_eq(coil_tcp_listen(NULL, 0, 0, 0), -EINVAL);
	ck_assert_int_eq(coil_tcp_listen("127.0.0.1", 0, 0, 0x80u), -EINVAL);
	char longpath[300];
	memset(longpath, 'b', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	ck_assert_int_eq(coil_unix_listen(longpath, 0), -EINVAL);
}
END_TEST

static Suite *args_suite(void)
{
	Suite *s = suite_create("args");
	TCase *tc = tcase_create("args");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, blocking_calls_outside_a_runtime_are_eperm);
	tcase_add_test(tc, bad_config_values_are_einval);
	tcase_add_test(tc, run_with_null_fn_is_einval);
	tcase_add_test(tc, spawn_with_null_fn_or_bad_stack_is_einval);
	tcase_add_test(tc, null_buffers_einval_bad_fds_ebadf_bad_counts_einval);
	tcase_add_test(tc, non_numeric_addresses_and_bad_paths_are_einval);
	tcase_add_test(tc, listen_argument_errors_also_outside_a_runtime);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(args_suite());
}
