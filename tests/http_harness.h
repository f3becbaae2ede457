/*
 * What the HTTP suites (test_http.c, test_h2.c) share: a server run by a
 * fiber of its own, the wait for its connections to end, and the harness
 * of the hostile-client tests, parameterised by each suite's handler,
 * healthy request and heap slack.
 */
#ifndef COIL_TEST_HTTP_HARNESS_H
#define COIL_TEST_HTTP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

/* A server under test: coil_http_server_run(s, handler, ctx) in task. */
struct http_srv {
	coil_http_server *s;
	coil_task task;
	int port;
	coil_http_handler handler;
	void *ctx;
	int run_result; /* coil_http_server_run's, once the task ended */
};

/* Open a server on cfg (NULL: the defaults) on an ephemeral port and
 * spawn the fiber that serves it with handler and ctx. */
void http_srv_start(struct http_srv *sv, const struct coil_http_config *cfg,
		    coil_http_handler handler, void *ctx);

/* Cancel the serving fiber, join it, assert that run returned 0 and close
 * the server. */
void http_srv_stop(struct http_srv *sv);

/* Until the server holds no connection: polled, bounded (a connection
 * ends a few wake-ups after its client left). */
void http_srv_wait_no_connections(struct http_srv *sv);

/* A server's short timeout for a test, times $CK_TIMEOUT_MULTIPLIER (the
 * sanitizer and stress presets): a head's deadline runs from the accept,
 * and a loaded machine may take that long to read its first bytes. */
int64_t http_test_timeout(int64_t ns);

/* ---- hostile clients ----------------------------------------------------
 * Each attack runs twice on a server with the suite's short timeouts;
 * after each run a healthy request is served, the server's connection
 * count returns to 0 (coil_http_server_connections), the process has the
 * fds it had before, and the heap in use did not grow from the first run
 * to the second (a leak per attack would; the first run warms the
 * caches). The heap is glibc's count (mallinfo2), not RSS, which freed
 * memory does not lower. Under ASan the leak checker has the last word:
 * its mallinfo2 says nothing. */

/* The heap in use, glibc's count (mallinfo2: not under ASan). */
size_t http_heap_in_use(void);

typedef void (*http_attack_fn)(struct http_srv *sv);

/* What a suite's attacks share. */
struct http_attack_suite {
	/* Set the short timeouts and limits on a cfg fresh from
	 * coil_http_config_init. */
	void (*config)(struct coil_http_config *cfg);
	/* Start the suite's server (its handler and ctx) on cfg. */
	void (*start)(struct http_srv *sv, const struct coil_http_config *cfg);
	/* A request the server must answer well before and after each run. */
	http_attack_fn healthy;
	/* The heap's growth allowed from the first run to the second on one
	 * worker (each further worker adds the buffers it may keep). */
	size_t heap_slack;
};

struct http_attack {
	const struct http_attack_suite *suite;
	http_attack_fn attack;
	/* The attack's own settings over the suite's (NULL: none): a limit
	 * the attack runs into, short, so that the test waits for it only
	 * as long as its point needs. */
	void (*config)(struct coil_http_config *cfg);
};

/* The coil_fn of an attack test: arg is a struct http_attack. */
void *http_attack_main(void *arg);

/* A Check test that runs attack through suite's harness. */
#define HTTP_ATTACK_TEST(name, suite_, attack_) HTTP_ATTACK_TEST_CFG(name, suite_, attack_, NULL)

/* The same with config (struct http_attack) over the suite's settings. */
#define HTTP_ATTACK_TEST_CFG(name, suite_, attack_, config_)              \
	START_TEST(name)                                                  \
	{                                                                 \
		struct http_attack a = {&(suite_), (attack_), (config_)}; \
		coil_test_run(http_attack_main, &a);                      \
	}                                                                 \
	END_TEST

#endif
