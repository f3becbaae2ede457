/* The HTTP suites' shared server and hostile-client harness
 * (http_harness.h). */
#define _GNU_SOURCE
#include "http_harness.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static void *http_srv_run(void *arg)
{
	struct http_srv *sv = arg;
	sv->run_result = coil_http_server_run(sv->s, sv->handler, sv->ctx);
	return NULL;
}

void http_srv_start(struct http_srv *sv, const struct coil_http_config *cfg,
		    coil_http_handler handler, void *ctx)
{
	memset(sv, 0, sizeof *sv);
	sv->handler = handler;
	sv->ctx = ctx;
	ck_assert_int_eq(coil_http_server_open(&sv->s, cfg), 0);
	sv->port = coil_http_server_port(sv->s);
	ck_assert_int_gt(sv->port, 0);
	ck_assert_int_eq(coil_task_spawn(&sv->task, http_srv_run, sv), 0);
}

void http_srv_stop(struct http_srv *sv)
{
	ck_assert_int_eq(coil_task_cancel(sv->task), 0);
	ck_assert_int_eq(coil_task_join(sv->task, NULL), 0);
	ck_assert_int_eq(sv->run_result, 0);
	ck_assert_int_eq(coil_http_server_close(sv->s), 0);
}

void http_srv_wait_no_connections(struct http_srv *sv)
{
	int64_t until = coil_now() + 30 * COIL_NSEC_PER_SEC;
	unsigned n;
	while ((n = coil_http_server_connections(sv->s)) != 0) {
		ck_assert_msg(coil_now() < until, "the server still holds %u connections", n);
		coil_sleep(COIL_NSEC_PER_MSEC);
	}
}

int64_t http_test_timeout(int64_t ns)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	long k = m ? strtol(m, NULL, 10) : 1;
	return ns * (k > 1 ? k : 1);
}

size_t http_heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2(); /* every arena */
	return m.uordblks + m.hblkhd;
}

void *http_attack_main(void *arg)
{
	const struct http_attack *a = arg;
	const struct http_attack_suite *suite = a->suite;
	int fds = coil_test_count_fds();
	struct coil_http_config cfg;
	coil_http_config_init(&cfg);
	suite->config(&cfg);
	if (a->config)
		a->config(&cfg);
	struct http_srv sv;
	suite->start(&sv, &cfg);
	suite->healthy(&sv); /* what the runtime opens once (per worker) is open now */
	http_srv_wait_no_connections(&sv);
	int fds_serving = coil_test_count_fds();
	size_t heap[2];
	for (int round = 0; round < 2; round++) {
		a->attack(&sv);
		suite->healthy(&sv);
		http_srv_wait_no_connections(&sv);
		ck_assert_int_eq(coil_test_count_fds(), fds_serving);
		heap[round] = http_heap_in_use();
	}
	/* Each worker keeps the buffers of its last connections for the next
	 * (src/http/conn.c, about 41 KiB each): the second run may land on a
	 * worker whose cache the first did not warm. */
	size_t slack = suite->heap_slack + (size_t)(coil_worker_count() - 1) * 4 * 48 * 1024;
	ck_assert_msg(heap[1] <= heap[0] + slack, "heap in use grew by %zu bytes in one attack",
		      heap[1] - heap[0]);
	http_srv_stop(&sv);
	ck_assert_int_eq(coil_test_count_fds(), fds);
	return NULL;
}
