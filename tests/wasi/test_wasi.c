/*
 * What a wasm32-wasi libcoil says about what it does not have: each a
 * clear error, never a crash or a hang (README, "WebAssembly").
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coil.h>

#include "test_util.h"

static void *nothing(void *arg)
{
	return arg;
}

START_TEST(more_than_one_worker_is_enotsup)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 2;
	ck_assert_int_eq(coil_run(&cfg, nothing, NULL, NULL), -ENOTSUP);
	/* 0 ("one per CPU") is one here */
	cfg.workers = 0;
	ck_assert_int_eq(coil_run(&cfg, nothing, NULL, NULL), 0);
	/* and through the environment */
	setenv("COIL_WORKERS", "2", 1);
	coil_config_init(&cfg);
	ck_assert_int_eq(coil_run(&cfg, nothing, NULL, NULL), -ENOTSUP);
	unsetenv("COIL_WORKERS");
}
END_TEST

START_TEST(only_the_wasi_backend)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	const char *others[] = {"uring", "epoll", "poll", "kqueue"};
	for (int i = 0; i < 4; i++) {
		cfg.backend = others[i];
		ck_assert_int_eq(coil_run(&cfg, nothing, NULL, NULL), -ENOTSUP);
	}
	cfg.backend = "nonsense";
	ck_assert_int_eq(coil_run(&cfg, nothing, NULL, NULL), -EINVAL);
}
END_TEST

static void *backend_name(void *arg)
{
	(void)arg;
	ck_assert_str_eq(coil_backend_name(), "wasi");
	return NULL;
}

START_TEST(the_default_backend_is_wasi)
{
	coil_test_run(backend_name, NULL);
}
END_TEST

static void *sockets(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_tcp_listen("127.0.0.1", 0, 16, 0), -ENOSYS);
	ck_assert_int_eq(coil_tcp_connect("127.0.0.1", 1), -ENOSYS);
	ck_assert_int_eq(coil_unix_listen("/tmp/coil-wasi.sock", 16), -ENOSYS);
	ck_assert_int_eq(coil_unix_connect("/tmp/coil-wasi.sock"), -ENOSYS);
	ck_assert_int_eq(coil_udp_bind("127.0.0.1", 0), -ENOSYS);
	coil_server *srv = NULL;
	ck_assert_int_eq(coil_server_open(&srv, "127.0.0.1", 0, 16, COIL_SERVE_HANDOFF), -ENOSYS);
	ck_assert_int_eq(coil_server_open(&srv, "127.0.0.1", 0, 16, COIL_SERVE_REUSEPORT), -ENOSYS);
	ck_assert_ptr_null(srv);
	return NULL;
}

START_TEST(making_a_socket_is_enosys)
{
	coil_test_run(sockets, NULL);
}
END_TEST

/* Every call that would use a socket, on an fd the host did give: -ENOSYS
 * on each, never the host's answer. Under Node's WASI the preview 1 sock_*
 * calls crashed the whole process (SIGSEGV) on stdin and stdout, which it
 * types as sockets: the WASI libcoil makes none of them (wasi/shim/sys/socket.h,
 * docs/wasi.md). */
static void every_socket_call_is_enosys_on(int fd, int file)
{
	char buf[4] = "abc";
	ck_assert_int_eq(coil_tcp_accept(fd, NULL, NULL), -ENOSYS);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	ck_assert_int_eq(coil_tcp_accept(fd, (struct sockaddr *)&peer, &plen), -ENOSYS);
	ck_assert_int_eq(coil_sock_read(fd, buf, sizeof buf), -ENOSYS);
	ck_assert_int_eq(coil_sock_read_exact(fd, buf, sizeof buf), -ENOSYS);
	ck_assert_int_eq(coil_sock_write(fd, buf, sizeof buf), -ENOSYS);
	ck_assert_int_eq(coil_sock_write_all(fd, buf, sizeof buf), -ENOSYS);
	ck_assert_int_eq(coil_sock_shutdown(fd, SHUT_WR), -ENOSYS);
	ck_assert_int_eq(coil_sock_shutdown(fd, SHUT_RDWR), -ENOSYS);
	ck_assert_int_eq(coil_sock_splice(fd, fd, 1), -ENOSYS);
	ck_assert_int_eq(coil_sock_sendfile(fd, file, 0, 1), -ENOSYS);
	ck_assert_int_eq(coil_udp_sendto(fd, buf, 1, "127.0.0.1", 9), -ENOSYS);
	ck_assert_int_eq(coil_udp_recvfrom(fd, buf, sizeof buf, NULL, NULL), -ENOSYS);
	ck_assert_int_eq(coil_tcp_nodelay(fd, 1), -ENOSYS);
	ck_assert_int_eq(coil_sock_port(fd), -ENOSYS);
}

static void *socket_calls(void *arg)
{
	(void)arg;
	const char *path = "/tmp/coil-wasi-sock-calls";
	int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(file, 0);
	ck_assert_int_eq(write(file, "x", 1), 1);
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dir, 0);
	/* stdin and stdout (a pipe or /dev/null under ctest, a socket when
	 * the host was given one), a regular file, a directory */
	int fds[] = {0, 1, file, dir};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		every_socket_call_is_enosys_on(fds[i], file);
	/* the fd is still checked first */
	ck_assert_int_eq(coil_sock_read(-1, NULL, 0), -EBADF);
	ck_assert_int_eq(coil_tcp_accept(-1, NULL, NULL), -EBADF);
	close(dir);
	close(file);
	unlink(path);
	return NULL;
}

START_TEST(using_a_socket_is_enosys_on_every_fd)
{
	coil_test_run(socket_calls, NULL);
}
END_TEST

static Suite *wasi_suite(void)
{
	Suite *s = suite_create("wasi");
	TCase *tc = tcase_create("limits");
	tcase_add_test(tc, more_than_one_worker_is_enotsup);
	tcase_add_test(tc, only_the_wasi_backend);
	tcase_add_test(tc, the_default_backend_is_wasi);
	tcase_add_test(tc, making_a_socket_is_enosys);
	tcase_add_test(tc, using_a_socket_is_enosys_on_every_fd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(wasi_suite());
}
