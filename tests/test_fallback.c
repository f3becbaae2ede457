/*
 * Falling back from io_uring: a child process installs a seccomp filter
 * that refuses io_uring_setup (as container runtimes' default profiles do),
 * then runs a real echo exchange with the default configuration: coil must
 * notice, say so in one line on stderr (unless told to be quiet), and run
 * the same program on epoll. A backend asked for by name is not replaced.
 *
 * Under qemu-user (the aarch64 preset) prctl(PR_SET_SECCOMP) fails with EINVAL:
 * qemu refuses guest filters, which would apply to its own host syscalls. But
 * qemu-user has no io_uring either (io_uring_setup is ENOSYS), so there the
 * ENOSYS test runs the real thing without a filter, and the tests that need
 * EPERM from a filter are skipped (the suite exits 77: ctest says so).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

/* Refuse io_uring_setup with err; allow everything else. */
static int refuse_io_uring(int err)
{
	const long nr[] = {__NR_io_uring_setup};
	return coil_test_refuse_syscalls(nr, &err, 1);
}

/* Can this process install a seccomp filter? Tried once, in a child. */
static bool seccomp_works(void)
{
	static int works = -1;
	if (works < 0) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			_exit(refuse_io_uring(EPERM) == 0 ? 0 : 1);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		works = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	return works;
}

/* io_uring_setup is missing altogether (qemu-user, or a kernel without it). */
static bool io_uring_missing(void)
{
#ifdef __NR_io_uring_setup
	return syscall(__NR_io_uring_setup, 0, NULL) < 0 && errno == ENOSYS;
#else
	return true;
#endif
}

/* No seccomp here: say so and skip (true), unless err is ENOSYS and
 * io_uring_setup already fails with it, which is what the filter fakes. */
static bool skip_without_seccomp(int err, int *filter_err)
{
	*filter_err = err;
	if (seccomp_works())
		return false;
	if (err == ENOSYS && io_uring_missing()) {
		*filter_err = 0;
		return false;
	}
	coil_test_skip(err == EPERM ? "cannot install a seccomp filter here (qemu-user refuses "
				      "PR_SET_SECCOMP) to make io_uring_setup fail with EPERM"
				    : "cannot install a seccomp filter here (qemu-user refuses "
				      "PR_SET_SECCOMP) to make io_uring_setup fail with ENOSYS");
	return true;
}

static void *echo_once(void *arg)
{
	int fd = coil_tcp_accept(*(int *)arg, NULL, NULL);
	if (fd < 0)
		return (void *)1;
	char buf[64];
	ssize_t n = coil_sock_read(fd, buf, sizeof buf);
	if (n > 0)
		coil_sock_write_all(fd, buf, (size_t)n);
	coil_close(fd);
	return NULL;
}

static void *echo_exchange(void *arg)
{
	(void)arg;
	if (strcmp(coil_backend_name(), "epoll") != 0)
		return (void *)10;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 8, 0);
	if (lfd < 0)
		return (void *)11;
	coil_task t;
	if (coil_task_spawn(&t, echo_once, &lfd) != 0)
		return (void *)12;
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(lfd));
	if (fd < 0)
		return (void *)13;
	char back[5] = {0};
	if (coil_sock_write_all(fd, "hello", 5) != 5 || coil_sock_read_exact(fd, back, 5) != 5 ||
	    memcmp(back, "hello", 5) != 0)
		return (void *)14;
	coil_close(fd);
	void *res = (void *)1;
	if (coil_task_join(t, &res) != 0 || res)
		return (void *)15;
	coil_close(lfd);
	return NULL;
}

struct outcome {
	int status;	/* the child's wait status */
	char err[2048];	/* what it wrote on stderr */
};

/* In a child: refuse io_uring_setup with err (0: no filter), set COIL_BACKEND
 * to backend (NULL: unset), run the echo exchange; exit code 0 = success, 1-99 = a
 * step failed, 100+ = coil_run's -errno. */
static void run_child(struct outcome *o, int err, const char *backend, bool quiet)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		if (err && refuse_io_uring(err) != 0)
			_exit(90);
		if (backend)
			setenv("COIL_BACKEND", backend, 1);
		else
			unsetenv("COIL_BACKEND");
		unsetenv("COIL_QUIET");
		struct coil_config cfg;
		coil_config_init(&cfg);
		cfg.quiet_fallback = quiet;
		void *res = (void *)99;
		int r = coil_run(&cfg, echo_exchange, NULL, &res);
		if (r < 0)
			_exit(100 + (-r > 100 ? 100 : -r));
		_exit((int)(intptr_t)res);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t n;
	while (got < sizeof o->err - 1 && (n = read(p[0], o->err + got, sizeof o->err - 1 - got)) > 0)
		got += (size_t)n;
	o->err[got] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
}

static void expect_exit(const struct outcome *o, int code)
{
	ck_assert_msg(WIFEXITED(o->status) && WEXITSTATUS(o->status) == code,
		      "child status %#x, wanted exit %d; stderr: %s", o->status, code, o->err);
}

START_TEST(seccomp_eperm_falls_back_to_epoll_with_one_line)
{
	struct outcome o;
	int err;
	if (skip_without_seccomp(EPERM, &err))
		return;
	run_child(&o, err, NULL, false);
	expect_exit(&o, 0);
	ck_assert_msg(strstr(o.err, "io_uring unavailable") && strstr(o.err, "using epoll"),
		      "no fallback line: %s", o.err);
	ck_assert_msg(strchr(o.err, '\n') == strrchr(o.err, '\n'), "more than one line: %s", o.err);
}
END_TEST

START_TEST(missing_io_uring_enosys_falls_back_too)
{
	struct outcome o;
	int err;
	if (skip_without_seccomp(ENOSYS, &err))
		return;
	run_child(&o, err, NULL, false);
	expect_exit(&o, 0);
	ck_assert_ptr_nonnull(strstr(o.err, "using epoll"));
}
END_TEST

START_TEST(quiet_fallback_prints_nothing)
{
	struct outcome o;
	int err;
	if (skip_without_seccomp(EPERM, &err))
		return;
	run_child(&o, err, NULL, true);
	expect_exit(&o, 0);
	ck_assert_msg(o.err[0] == '\0', "stderr not empty: %s", o.err);
}
END_TEST

START_TEST(io_uring_asked_by_name_is_not_replaced)
{
	struct outcome o;
	int err;
	if (skip_without_seccomp(EPERM, &err))
		return;
	run_child(&o, err, "uring", false);
	expect_exit(&o, 100 + EPERM);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fallback");
	TCase *tc = tcase_create("seccomp");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, seccomp_eperm_falls_back_to_epoll_with_one_line);
	tcase_add_test(tc, missing_io_uring_enosys_falls_back_too);
	tcase_add_test(tc, quiet_fallback_prints_nothing);
	tcase_add_test(tc, io_uring_asked_by_name_is_not_replaced);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
