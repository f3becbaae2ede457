/*
 * The io_uring limits: a tiny ring (2 SQEs, 4 CQEs, so at most 2 ops in
 * flight) must still run any number of fibers correctly: a full SQ is
 * flushed and retried, and fibers beyond the in-flight bound wait for room
 * (and can be cancelled while they wait).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

static void tiny_ring(struct coil_config *cfg)
{
	coil_config_init(cfg);
	cfg->sq_entries = 2;
	cfg->cq_entries = 4;
	cfg->max_inflight = 2; /* the default would be 16 x the CQ size */
	/* Sleeps as ops (IORING_OP_TIMEOUT on io_uring), so that they take
	 * room in the ring like any I/O. */
	cfg->coalesce_sleeps = false;
}

static void *pipe_pinger(void *arg)
{
	int *fds = arg; /* a socketpair end per fiber */
	char out[32], in[32];
	for (int i = 0; i < 20; i++) {
		int len = snprintf(out, sizeof out, "ping %d", i);
		if (coil_sock_write_all(fds[0], out, (size_t)len) != len)
			return (void *)1;
		if (coil_sock_read_exact(fds[1], in, (size_t)len) != len)
			return (void *)2;
		if (memcmp(in, out, (size_t)len) != 0)
			return (void *)3;
		if (coil_sleep(100 * COIL_NSEC_PER_USEC) != 0)
			return (void *)4;
	}
	return NULL;
}

static void *many_fibers_on_tiny_ring(void *arg)
{
	enum { N = 64 };
	int fds[N][2];
	coil_task t[N];
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds[i]), 0);
		ck_assert_int_eq(coil_task_spawn(&t[i], pipe_pinger, fds[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		void *res = (void *)-1;
		ck_assert_int_eq(coil_task_join(t[i], &res), 0);
		ck_assert_ptr_null(res);
		coil_close(fds[i][0]);
		coil_close(fds[i][1]);
	}
	return NULL;
}

START_TEST(tiny_ring_runs_64_fibers_with_io_and_timers)
{
	struct coil_config cfg;
	tiny_ring(&cfg);
	coil_test_run_cfg(&cfg, many_fibers_on_tiny_ring, NULL);
}
END_TEST

static void *long_sleeper(void *arg)
{
	return (void *)(intptr_t)coil_sleep(10 * COIL_NSEC_PER_SEC);
}

static void *short_sleeper(void *arg)
{
	return (void *)(intptr_t)coil_sleep(COIL_NSEC_PER_MSEC);
}

static void *room_waiter_cancel_main(void *arg)
{
	int64_t t0 = coil_now();
	coil_task a, b, c;
	ck_assert_int_eq(coil_task_spawn(&a, long_sleeper, NULL), 0);
	ck_assert_int_eq(coil_task_spawn(&b, long_sleeper, NULL), 0);
	ck_assert_int_eq(coil_task_spawn(&c, short_sleeper, NULL), 0);
	void *res;
	if (strcmp(coil_backend_name(), "io_uring") == 0) {
		/* a and b take both slots (they run first: the run queue is
		 * FIFO) and c parks waiting for room. Yields need no slot:
		 * spin on them for 20 ms, long enough for c's 1 ms sleep to
		 * have finished had it been given a slot it should not have
		 * (a slow machine only makes that check weaker, never wrong:
		 * c cannot get room while a and b sleep 10 s). */
		while (coil_now() - t0 < 20 * COIL_NSEC_PER_MSEC)
			coil_task_yield();
		ck_assert_int_eq(coil_task_cancel(c), 0);
		ck_assert_int_eq(coil_task_join(c, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);
	} else {
		/* Only io_uring bounds the ops in flight (by its CQ size);
		 * the readiness backends have no such bound, so c simply
		 * sleeps: wait for it to finish rather than for a time that
		 * a busy machine may not give it. */
		ck_assert_int_eq(coil_task_join(c, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, 0);
	}
	ck_assert_int_eq(coil_task_cancel(a), 0);
	ck_assert_int_eq(coil_task_cancel(b), 0);
	ck_assert_int_eq(coil_task_join(a, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);
	ck_assert_int_eq(coil_task_join(b, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);
	/* Cancelled 10 s sleepers end at once, not at their deadlines. */
	ck_assert_int_lt(coil_now() - t0, 5 * COIL_NSEC_PER_SEC);
	return NULL;
}

START_TEST(waiting_for_room_can_be_cancelled)
{
	struct coil_config cfg;
	tiny_ring(&cfg);
	coil_test_run_cfg(&cfg, room_waiter_cancel_main, NULL);
}
END_TEST

static void *room_is_given_back(void *arg)
{
	/* 3 short sleepers with room for 2: all finish, the third after room
	 * frees up. */
	coil_task t[3];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], short_sleeper, NULL), 0);
	for (int i = 0; i < 3; i++) {
		void *res = (void *)1;
		ck_assert_int_eq(coil_task_join(t[i], &res), 0);
		ck_assert_ptr_null(res);
	}
	return NULL;
}

START_TEST(fibers_beyond_the_inflight_bound_wait_and_then_run)
{
	struct coil_config cfg;
	tiny_ring(&cfg);
	coil_test_run_cfg(&cfg, room_is_given_back, NULL);
}
END_TEST

static int64_t burst_deadline;

static void *sleep_to_burst(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)coil_sleep_until(burst_deadline);
}

static void *overflow_burst(void *arg)
{
	(void)arg;
	/* 200 timers firing together, and 100 reads pending on idle sockets:
	 * far more than an 8-entry CQ holds at once. */
	enum { N = 200, R = 100 };
	int sv[R][2];
	coil_task readers[R], t[N];
	for (int i = 0; i < R; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
		ck_assert_int_eq(coil_task_spawn(&readers[i], pipe_pinger, sv[i]), 0);
	}
	burst_deadline = coil_now() + 20 * COIL_NSEC_PER_MSEC;
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], sleep_to_burst, NULL), 0);
	for (int i = 0; i < N; i++) {
		void *res = (void *)1;
		ck_assert_int_eq(coil_task_join(t[i], &res), 0);
		ck_assert_ptr_null(res);
	}
	for (int i = 0; i < R; i++) {
		void *res = (void *)1;
		ck_assert_int_eq(coil_task_join(readers[i], &res), 0);
		ck_assert_ptr_null(res);
		coil_close(sv[i][0]);
		coil_close(sv[i][1]);
	}
	return NULL;
}

/* More ops in flight than the CQ has entries (the default bound on NODROP
 * kernels is 16 x the CQ): a burst of completions that overflows the CQ is
 * kept by the kernel and flushed by coil; none is lost. */
START_TEST(completions_beyond_the_cq_size_are_not_lost)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.sq_entries = 4;
	cfg.cq_entries = 8;
	coil_test_run_cfg(&cfg, overflow_burst, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tiny_ring_runs_64_fibers_with_io_and_timers);
	tcase_add_test(tc, waiting_for_room_can_be_cancelled);
	tcase_add_test(tc, fibers_beyond_the_inflight_bound_wait_and_then_run);
	tcase_add_test(tc, completions_beyond_the_cq_size_are_not_lost);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
