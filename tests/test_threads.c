/* Runtimes on several threads at once, and one thread running several in turn. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPAWNS coil_test_count(10000)
#define ECHO_CLIENTS 16
#define ECHO_LEN (64 * 1024)

/* Results are recorded, not asserted, off the test's own thread. */
struct thread_run {
	int id;
	uint64_t seed;
	int rc;              /* coil_run */
	void *result;        /* main fiber's */
	long spawn_wrong;
	long echo_wrong;
	long sleep_early;
	int errors;
	char msg[256];
	coil_task main_task;
	const char *backend;
};

#define FAIL(tr, ...)                                                                   \
	do {                                                                            \
		if (!(tr)->errors++)                                                    \
			snprintf((tr)->msg, sizeof (tr)->msg, __VA_ARGS__);             \
	} while (0)

static uintptr_t derive(uintptr_t x, int id)
{
	return x * 2654435761u + (uintptr_t)id * 1000003u + 1;
}

struct spawn_arg {
	uintptr_t i;
	int id;
};

static void *spawned(void *arg)
{
	struct spawn_arg *a = arg;
	return (void *)derive(a->i, a->id);
}

struct conn_arg {
	struct thread_run *tr;
	int fd;
};

static void *echo_once(void *arg)
{
	struct conn_arg *c = arg;
	char *buf = malloc(ECHO_LEN);
	ssize_t r = buf ? coil_sock_read_exact(c->fd, buf, ECHO_LEN) : -ENOMEM;
	if (r != ECHO_LEN)
		FAIL(c->tr, "server read_exact %zd", r);
	else if (coil_sock_write_all(c->fd, buf, ECHO_LEN) != ECHO_LEN)
		FAIL(c->tr, "server write_all failed");
	coil_close(c->fd);
	free(buf);
	return NULL;
}

struct srv_arg {
	struct thread_run *tr;
	int lfd;
};

static void *server(void *arg)
{
	struct srv_arg *s = arg;
	coil_task h[ECHO_CLIENTS];
	struct conn_arg ca[ECHO_CLIENTS];
	int n = 0;
	for (; n < ECHO_CLIENTS; n++) {
		int fd = coil_tcp_accept(s->lfd, NULL, NULL);
		if (fd < 0) {
			FAIL(s->tr, "accept %d", fd);
			break;
		}
		ca[n].tr = s->tr;
		ca[n].fd = fd;
		if (coil_task_spawn(&h[n], echo_once, &ca[n]) != 0) {
			FAIL(s->tr, "spawn handler");
			coil_close(fd);
			break;
		}
	}
	for (int i = 0; i < n; i++)
		coil_task_join(h[i], NULL);
	return NULL;
}

struct cli_arg {
	struct thread_run *tr;
	uint16_t port;
	uint64_t seed;
};

static void *client(void *arg)
{
	struct cli_arg *c = arg;
	unsigned char *out = malloc(ECHO_LEN), *in = malloc(ECHO_LEN);
	if (!out || !in) {
		FAIL(c->tr, "malloc");
		goto done;
	}
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, c->seed);
	coil_test_rng_fill(&rng, out, ECHO_LEN);
	int fd = coil_tcp_connect("127.0.0.1", c->port);
	if (fd < 0) {
		FAIL(c->tr, "connect %d", fd);
		goto done;
	}
	/* 64 KiB fits the socket buffers both ways, so write then read is safe */
	if (coil_sock_write_all(fd, out, ECHO_LEN) != ECHO_LEN ||
	    coil_sock_read_exact(fd, in, ECHO_LEN) != ECHO_LEN || memcmp(in, out, ECHO_LEN) != 0)
		c->tr->echo_wrong++;
	coil_close(fd);
done:
	free(out);
	free(in);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct thread_run *tr = arg;
	for (int i = 0; i < 20; i++) {
		int64_t deadline = coil_now() + COIL_NSEC_PER_MSEC;
		if (coil_sleep(COIL_NSEC_PER_MSEC) != 0)
			FAIL(tr, "sleep failed");
		if (coil_now() < deadline)
			tr->sleep_early++;
	}
	return NULL;
}

static void *thread_main(void *arg)
{
	struct thread_run *tr = arg;
	tr->main_task = coil_task_current();
	tr->backend = coil_backend_name();

	int lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	if (lfd < 0) {
		FAIL(tr, "listen %d", lfd);
		return NULL;
	}
	struct srv_arg sa = {tr, lfd};
	struct cli_arg ca[ECHO_CLIENTS];
	coil_task st, ct[ECHO_CLIENTS], slt;
	if (coil_task_spawn(&st, server, &sa) != 0 || coil_task_spawn(&slt, sleeper, tr) != 0) {
		FAIL(tr, "spawn");
		return NULL;
	}
	for (int i = 0; i < ECHO_CLIENTS; i++) {
		ca[i].tr = tr;
		ca[i].port = (uint16_t)coil_sock_port(lfd);
		ca[i].seed = tr->seed + (uint64_t)i;
		if (coil_task_spawn(&ct[i], client, &ca[i]) != 0)
			FAIL(tr, "spawn client");
	}

	/* 10,000 spawns while the echo and the sleeper run */
	coil_task *t = calloc(SPAWNS, sizeof *t);
	struct spawn_arg *sp = calloc(SPAWNS, sizeof *sp);
	if (!t || !sp) {
		FAIL(tr, "calloc");
		return NULL;
	}
	for (uintptr_t i = 0; i < SPAWNS; i++) {
		sp[i].i = i;
		sp[i].id = tr->id;
		if (coil_task_spawn(&t[i], spawned, &sp[i]) != 0)
			FAIL(tr, "spawn %lu", (unsigned long)i);
		if (i % 1000 == 0)
			coil_task_yield();
	}
	for (uintptr_t i = 0; i < SPAWNS; i++) {
		void *res = NULL;
		if (coil_task_join(t[i], &res) != 0 || (uintptr_t)res != derive(i, tr->id))
			tr->spawn_wrong++;
	}
	free(t);
	free(sp);
	for (int i = 0; i < ECHO_CLIENTS; i++)
		coil_task_join(ct[i], NULL);
	coil_task_join(st, NULL);
	coil_task_join(slt, NULL);
	coil_close(lfd);
	return (void *)(uintptr_t)(0x1000 + tr->id);
}

static void *thread_body(void *arg)
{
	struct thread_run *tr = arg;
	tr->rc = coil_run(NULL, thread_main, tr, &tr->result);
	if (coil_backend_name() != NULL || coil_task_current() != 0)
		FAIL(tr, "runtime state left on the thread after coil_run");
	return NULL;
}

static void check_run(const struct thread_run *tr)
{
	ck_assert_msg(tr->rc == 0, "thread %d: coil_run %d", tr->id, tr->rc);
	ck_assert_msg(tr->errors == 0, "thread %d: %d errors, first: %s", tr->id, tr->errors,
		      tr->msg);
	ck_assert_ptr_eq(tr->result, (void *)(uintptr_t)(0x1000 + tr->id));
	ck_assert_int_eq(tr->spawn_wrong, 0);
	ck_assert_int_eq(tr->echo_wrong, 0);
	ck_assert_int_eq(tr->sleep_early, 0);
	ck_assert(tr->main_task != 0);
	ck_assert_ptr_nonnull(tr->backend);
}

START_TEST(two_runtimes_on_two_threads_at_once)
{
	uint64_t seed = coil_test_seed("threads");
	struct thread_run tr[2];
	pthread_t th[2];
	memset(tr, 0, sizeof tr);
	for (int i = 0; i < 2; i++) {
		tr[i].id = i + 1;
		tr[i].seed = seed + (uint64_t)i * 1000;
		tr[i].rc = 1;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_body, &tr[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		check_run(&tr[i]);
}
END_TEST

/* a runtime on one thread is invisible to another */
struct observer {
	int in_runtime;		/* atomics: read by the other thread */
	int release;
	int rc;
};

static void *observed_main(void *arg)
{
	struct observer *o = arg;
	__atomic_store_n(&o->in_runtime, 1, __ATOMIC_RELEASE);
	int64_t give_up = coil_now() + 10 * COIL_NSEC_PER_SEC;
	while (!__atomic_load_n(&o->release, __ATOMIC_ACQUIRE) && coil_now() < give_up)
		coil_sleep(COIL_NSEC_PER_MSEC);
	return NULL;
}

static void *observed_thread(void *arg)
{
	struct observer *o = arg;
	o->rc = coil_run(NULL, observed_main, o, NULL);
	return NULL;
}

START_TEST(runtime_state_is_per_thread)
{
	struct observer o = {0, 0, 1};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, observed_thread, &o), 0);
	int64_t give_up = coil_now() + 10 * COIL_NSEC_PER_SEC;
	while (!__atomic_load_n(&o.in_runtime, __ATOMIC_ACQUIRE) && coil_now() < give_up)
		usleep(1000);
	ck_assert(__atomic_load_n(&o.in_runtime, __ATOMIC_ACQUIRE));
	/* this thread is still outside any runtime */
	ck_assert(coil_task_current() == 0);
	ck_assert_ptr_null(coil_backend_name());
	ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), -EPERM);
	ck_assert_int_eq(coil_task_yield(), -EPERM);
	/* and may run its own meanwhile */
	struct thread_run tr;
	memset(&tr, 0, sizeof tr);
	tr.id = 7;
	tr.seed = coil_test_seed("per_thread");
	thread_body(&tr);
	check_run(&tr);
	__atomic_store_n(&o.release, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(o.rc, 0);
}
END_TEST

START_TEST(two_runtimes_in_sequence_on_one_thread)
{
	uint64_t seed = coil_test_seed("sequence");
	for (int i = 0; i < 2; i++) {
		struct thread_run tr;
		memset(&tr, 0, sizeof tr);
		tr.id = 10 + i;
		tr.seed = seed + (uint64_t)i;
		thread_body(&tr);
		check_run(&tr);
	}
	ck_assert_ptr_null(coil_backend_name());
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("threads");
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, two_runtimes_on_two_threads_at_once);
	tcase_add_test(tc, runtime_state_is_per_thread);
	tcase_add_test(tc, two_runtimes_in_sequence_on_one_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(threads_suite());
}
