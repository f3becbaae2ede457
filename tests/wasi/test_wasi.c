/*
 * What a wasm32-wasi libcoil says about what it does not have: each a
 * clear error, never a crash or a hang (README, "WebAssembly").
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

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
	return NULL;
}

START_TEST(making_a_socket_is_enosys)
{
	coil_test_run(sockets, NULL);
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
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(wasi_suite());
}
