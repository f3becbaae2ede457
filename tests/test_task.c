/* Tasks: spawn, join, detach, yield, cancel, and coil_run() itself. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uintptr_t derive(uintptr_t x)
{
	return (x * UINT64_C(0x9e3779b97f4a7c15)) ^ (x >> 7) ^ 0xc011u;
}

/* ---- many tasks ---------------------------------------------------------------- */

#define MANY coil_test_count(100000)

static void *many_child(void *arg)
{
	return (void *)derive((uintptr_t)arg);
}

static void *many_main(void *arg)
{
	(void)arg;
	coil_task *t = calloc(MANY, sizeof *t);
	ck_assert_ptr_nonnull(t);
	for (uintptr_t i = 0; i < MANY; i++) {
		int rc = coil_task_spawn(&t[i], many_child, (void *)i);
		ck_assert_msg(rc == 0, "spawn %lu: %d", (unsigned long)i, rc);
		ck_assert(t[i] != 0);
	}
	long wrong = 0;
	for (uintptr_t i = 0; i < MANY; i++) {
		void *res = NULL;
		int rc = coil_task_join(t[i], &res);
		ck_assert_msg(rc == 0, "join %lu: %d", (unsigned long)i, rc);
		if ((uintptr_t)res != derive(i))
			wrong++;
	}
	free(t);
	return (void *)wrong;
}

START_TEST(spawn_and_join_100k_tasks_each_returns_its_value)
{
	long wrong = (long)coil_test_run(many_main, NULL);
	ck_assert_int_eq(wrong, 0);
}
END_TEST

/* ---- ordering ------------------------------------------------------------------ */

struct log {
	char buf[256];
	int n;
};

struct logger {
	struct log *log;
	char id;
	int rounds;
};

static void *log_once(void *arg)
{
	struct logger *l = arg;
	l->log->buf[l->log->n++] = l->id;
	return NULL;
}

static void *spawn_order_main(void *arg)
{
	struct log *log = arg;
	struct logger l[3] = {{log, 'A', 0}, {log, 'B', 0}, {log, 'C', 0}};
	coil_task t[3];
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(coil_task_spawn(&t[i], log_once, &l[i]), 0);
		/* queued, not run at once */
		ck_assert_msg(log->n == 0, "spawned task ran before the spawner yielded");
	}
	ck_assert_int_eq(coil_task_yield(), 0);
	/* all three were runnable when we yielded, so all ran, in spawn order */
	ck_assert_str_eq(log->buf, "ABC");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	return NULL;
}

START_TEST(spawned_tasks_run_fifo_only_after_spawner_yields)
{
	static struct log log;
	memset(&log, 0, sizeof log);
	coil_test_run(spawn_order_main, &log);
	ck_assert_str_eq(log.buf, "ABC");
}
END_TEST

static void *log_rounds(void *arg)
{
	struct logger *l = arg;
	for (int i = 0; i < l->rounds; i++) {
		l->log->buf[l->log->n++] = l->id;
		ck_assert_int_eq(coil_task_yield(), 0);
	}
	return NULL;
}

static void *yield_rr_main(void *arg)
{
	struct log *log = arg;
	struct logger l[3] = {{log, 'A', 5}, {log, 'B', 5}, {log, 'C', 5}};
	coil_task t[3];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], log_rounds, &l[i]), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	return NULL;
}

START_TEST(yield_round_robins_three_tasks)
{
	static struct log log;
	memset(&log, 0, sizeof log);
	coil_test_run(yield_rr_main, &log);
	ck_assert_str_eq(log.buf, "ABCABCABCABCABC");
}
END_TEST

static void *yield_alone_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(coil_task_yield(), 0);
	return (void *)1;
}

START_TEST(yield_with_nothing_else_runnable_returns)
{
	ck_assert_ptr_eq(coil_test_run(yield_alone_main, NULL), (void *)1);
}
END_TEST

/* ---- detach and join_children ------------------------------------------------- */

static int g_flag;
static int g_sleep_rc;
static int g_cancelled_after;

static void *set_flag_after_sleep(void *arg)
{
	g_sleep_rc = coil_sleep((int64_t)(intptr_t)arg);
	g_cancelled_after = coil_task_cancelled();
	/* Atomic: a detached child may run on another worker. */
	__atomic_store_n(&g_flag, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *detached_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_task_spawn(NULL, set_flag_after_sleep,
					 (void *)(intptr_t)(5 * COIL_NSEC_PER_MSEC)),
			 0);
	int64_t give_up = coil_now() + 5 * COIL_NSEC_PER_SEC;
	while (!__atomic_load_n(&g_flag, __ATOMIC_ACQUIRE) && coil_now() < give_up)
		ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
	return NULL;
}

static void *log_flag(void *arg)
{
	(void)arg;
	g_flag++;
	return NULL;
}

static void *detach_handle_main(void *arg)
{
	(void)arg;
	coil_task t;
	g_flag = 0;
	ck_assert_int_eq(coil_task_spawn(&t, log_flag, NULL), 0);
	ck_assert_int_eq(coil_task_detach(t), 0);
	ck_assert_int_eq(coil_task_detach(t), -ESRCH); /* no longer joinable */
	ck_assert_int_eq(coil_task_join(t, NULL), -ESRCH);
	for (int i = 0; i < 10 && !g_flag; i++)
		ck_assert_int_eq(coil_task_yield(), 0);
	ck_assert_int_eq(g_flag, 1);
	return NULL;
}

START_TEST(detached_task_runs_to_completion)
{
	g_flag = 0;
	g_sleep_rc = 1;
	coil_test_run(detached_main, NULL);
	ck_assert_int_eq(g_flag, 1);
	ck_assert_int_eq(g_sleep_rc, 0);
}
END_TEST

START_TEST(detach_releases_the_handle_and_task_still_runs)
{
	coil_test_run(detach_handle_main, NULL);
}
END_TEST

static void *leave_sleeping_child(void *arg)
{
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, set_flag_after_sleep, arg), 0);
	ck_assert_int_eq(coil_task_yield(), 0); /* child is now parked in its sleep */
	ck_assert_int_eq(g_flag, 0);
	return (void *)7; /* without joining */
}

START_TEST(run_waits_for_unjoined_children_by_default)
{
	g_flag = 0;
	g_sleep_rc = 1;
	int64_t t0 = coil_now();
	void *res = coil_test_run(leave_sleeping_child,
				  (void *)(intptr_t)(50 * COIL_NSEC_PER_MSEC));
	int64_t took = coil_now() - t0;
	ck_assert_ptr_eq(res, (void *)7);
	ck_assert_msg(g_flag == 1, "child had not finished when coil_run returned");
	ck_assert_int_eq(g_sleep_rc, 0);
	ck_assert_int_eq(g_cancelled_after, 0);
	ck_assert_msg(took >= 50 * COIL_NSEC_PER_MSEC, "coil_run returned after %lld ns",
		      (long long)took);
}
END_TEST

START_TEST(run_cancels_children_when_join_children_false)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	ck_assert(cfg.join_children); /* documented default */
	cfg.join_children = false;
	g_flag = 0;
	g_sleep_rc = 1;
	/* an hour: a child that is not cancelled shows as a hang */
	void *res = coil_test_run_cfg(&cfg, leave_sleeping_child,
				      (void *)(intptr_t)(3600 * COIL_NSEC_PER_SEC));
	ck_assert_ptr_eq(res, (void *)7);
	ck_assert_msg(g_flag == 1, "cancelled child did not wind down");
	ck_assert_int_eq(g_sleep_rc, -ECANCELED);
	ck_assert_int_eq(g_cancelled_after, 1);
}
END_TEST

static void *leave_detached_sleeper(void *arg)
{
	(void)arg;
	/* an hour: coil_run waiting for it shows as a hang */
	ck_assert_int_eq(coil_task_spawn(NULL, set_flag_after_sleep,
					 (void *)(intptr_t)(3600 * COIL_NSEC_PER_SEC)),
			 0);
	ck_assert_int_eq(coil_task_yield(), 0);
	return NULL;
}

START_TEST(run_cancels_detached_tasks_when_main_returns)
{
	g_flag = 0;
	g_sleep_rc = 1;
	coil_test_run(leave_detached_sleeper, NULL);
	/* if the fiber was resumed to wind down, its sleep saw the cancel */
	if (g_flag)
		ck_assert_int_eq(g_sleep_rc, -ECANCELED);
}
END_TEST

/* ---- join errors ------------------------------------------------------------------ */

static void *ret_arg(void *arg)
{
	return arg;
}

static void *join_self_child(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)coil_task_join(coil_task_current(), NULL);
}

static void *join_errors_main(void *arg)
{
	uint64_t seed = *(uint64_t *)arg;
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, seed);

	ck_assert_int_eq(coil_task_join(0, NULL), -ESRCH);
	for (int i = 0; i < 100; i++) {
		coil_task bogus = coil_test_rng_next(&rng) | (UINT64_C(1) << 63);
		ck_assert_int_eq(coil_task_join(bogus, NULL), -ESRCH);
	}

	/* already joined */
	coil_task t;
	void *res = NULL;
	ck_assert_int_eq(coil_task_spawn(&t, ret_arg, (void *)0x55), 0);
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x55);
	ck_assert_int_eq(coil_task_join(t, &res), -ESRCH);

	/* a later task does not answer to the old handle (generation) */
	coil_task t2;
	ck_assert_int_eq(coil_task_spawn(&t2, ret_arg, (void *)0x66), 0);
	ck_assert(t2 != t);
	ck_assert_int_eq(coil_task_join(t, &res), -ESRCH);
	ck_assert_int_eq(coil_task_join(t2, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x66);

	/* detached, before and after it finished */
	ck_assert_int_eq(coil_task_spawn(&t, ret_arg, NULL), 0);
	ck_assert_int_eq(coil_task_detach(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), -ESRCH);
	ck_assert_int_eq(coil_task_yield(), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), -ESRCH);

	/* yourself: the main fiber and a child */
	ck_assert_int_eq(coil_task_join(coil_task_current(), NULL), -EDEADLK);
	ck_assert_int_eq(coil_task_spawn(&t, join_self_child, NULL), 0);
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EDEADLK);

	/* detach errors */
	ck_assert_int_eq(coil_task_detach(0), -ESRCH);
	ck_assert_int_eq(coil_task_detach(coil_test_rng_next(&rng) | (UINT64_C(1) << 63)),
			 -ESRCH);
	return NULL;
}

START_TEST(join_reports_esrch_and_edeadlk)
{
	uint64_t seed = coil_test_seed("join_errors");
	coil_test_run(join_errors_main, &seed);
}
END_TEST

static coil_task g_target;
static int g_first_join_rc;
static void *g_first_join_res;

static void *sleep_then_ret(void *arg)
{
	ck_assert_int_eq(coil_sleep(30 * COIL_NSEC_PER_MSEC), 0);
	return arg;
}

static void *first_joiner(void *arg)
{
	(void)arg;
	g_first_join_rc = coil_task_join(g_target, &g_first_join_res);
	return NULL;
}

static void *join_busy_main(void *arg)
{
	(void)arg;
	coil_task j;
	ck_assert_int_eq(coil_task_spawn(&g_target, sleep_then_ret, (void *)0x77), 0);
	ck_assert_int_eq(coil_task_spawn(&j, first_joiner, NULL), 0);
	ck_assert_int_eq(coil_task_yield(), 0); /* target sleeps, j parks in join */
	ck_assert_int_eq(coil_task_join(g_target, NULL), -EBUSY);
	ck_assert_int_eq(coil_task_join(j, NULL), 0);
	ck_assert_int_eq(g_first_join_rc, 0);
	ck_assert_ptr_eq(g_first_join_res, (void *)0x77);
	ck_assert_int_eq(coil_task_join(g_target, NULL), -ESRCH);
	return NULL;
}

static void *recv_then_42(void *arg)
{
	int v;
	coil_chan_recv(arg, &v);
	return (void *)(intptr_t)42;
}

static void *join_target(void *arg)
{
	void *res = NULL;
	int r = coil_task_join(*(coil_task *)arg, &res);
	return (void *)(intptr_t)(r == 0 ? (intptr_t)res : r);
}

static void *finished_but_not_yet_reaped_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 1), 0);
	coil_task child, joiner;
	ck_assert_int_eq(coil_task_spawn(&child, recv_then_42, ch), 0);
	ck_assert_int_eq(coil_task_spawn(&joiner, join_target, &child), 0);
	coil_task_yield(); /* the child parks on the channel, the joiner on the child */
	int v = 1;
	ck_assert_int_eq(coil_chan_send(ch, &v), 0);
	/* The child runs, finishes and wakes its joiner, which runs after us:
	 * the child is finished but still the joiner's, so another join or a
	 * detach must not take it (it would be released twice). */
	coil_task_yield();
	ck_assert_int_eq(coil_task_join(child, NULL), -EBUSY);
	ck_assert_int_eq(coil_task_detach(child), -EBUSY);
	void *res = NULL;
	ck_assert_int_eq(coil_task_join(joiner, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, 42);
	ck_assert_int_eq(coil_task_join(child, NULL), -ESRCH);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(a_finished_task_belongs_to_its_joiner_until_reaped)
{
	coil_test_run(finished_but_not_yet_reaped_main, NULL);
}
END_TEST

START_TEST(second_joiner_gets_ebusy)
{
	g_first_join_rc = 1;
	coil_test_run(join_busy_main, NULL);
}
END_TEST

/* ---- cancel ------------------------------------------------------------------------ */

struct cancel_probe {
	int ran;
	int cancelled_before;
	int sleep_rc;
	int cancelled_after;
	int second_sleep_rc;
	int yield_rc;
};

static void *cancel_victim(void *arg)
{
	struct cancel_probe *p = arg;
	p->cancelled_before = coil_task_cancelled();
	__atomic_store_n(&p->ran, 1, __ATOMIC_RELEASE);
	p->sleep_rc = coil_sleep(3600 * COIL_NSEC_PER_SEC); /* ends only by the cancel */
	p->cancelled_after = coil_task_cancelled();
	p->second_sleep_rc = coil_sleep(COIL_NSEC_PER_MSEC);
	p->yield_rc = coil_task_yield();
	return (void *)0x99;
}

static void *cancel_main(void *arg)
{
	struct cancel_probe *p = arg;
	coil_task t;
	void *res = NULL;
	ck_assert_int_eq(coil_task_spawn(&t, cancel_victim, p), 0);
	coil_test_wait_flag(&p->ran); /* the victim parks now (or finds the cancel first) */
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x99);
	ck_assert_int_eq(coil_task_cancelled(), 0); /* only the victim */
	return NULL;
}

START_TEST(cancel_wakes_a_sleeping_task_with_ecanceled)
{
	static struct cancel_probe p;
	memset(&p, 0, sizeof p);
	p.sleep_rc = 1;
	coil_test_run(cancel_main, &p);
	ck_assert_int_eq(p.cancelled_before, 0);
	ck_assert_int_eq(p.sleep_rc, -ECANCELED);
	ck_assert_int_eq(p.cancelled_after, 1);
	ck_assert_int_eq(p.second_sleep_rc, -ECANCELED);
	ck_assert_int_eq(p.yield_rc, 0);
}
END_TEST

static void *cancel_before_run_main(void *arg)
{
	struct cancel_probe *p = arg;
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, cancel_victim, p), 0);
	ck_assert_int_eq(coil_task_cancel(t), 0); /* still queued */
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(coil_task_cancel(t), -ESRCH); /* joined: gone */
	ck_assert_int_eq(coil_task_cancel(0), -ESRCH);
	return NULL;
}

START_TEST(cancel_before_first_run_makes_first_sleep_fail)
{
	static struct cancel_probe p;
	memset(&p, 0, sizeof p);
	p.sleep_rc = 1;
	coil_test_run(cancel_before_run_main, &p);
	if (p.ran) {
		ck_assert_int_eq(p.sleep_rc, -ECANCELED);
		ck_assert_int_eq(p.cancelled_before, 1);
	}
}
END_TEST

/* a joiner that is cancelled gets -ECANCELED and the target stays joinable */
static coil_task g_join_target;
static int g_cancelled_join_rc;

static void *cancelled_joiner(void *arg)
{
	(void)arg;
	g_cancelled_join_rc = coil_task_join(g_join_target, NULL);
	return NULL;
}

static void *cancel_joiner_main(void *arg)
{
	(void)arg;
	coil_task j;
	void *res = NULL;
	ck_assert_int_eq(coil_task_spawn(&g_join_target, sleep_then_ret, (void *)0x42), 0);
	ck_assert_int_eq(coil_task_spawn(&j, cancelled_joiner, NULL), 0);
	ck_assert_int_eq(coil_task_yield(), 0);
	ck_assert_int_eq(coil_task_cancel(j), 0);
	ck_assert_int_eq(coil_task_join(j, NULL), 0);
	ck_assert_int_eq(g_cancelled_join_rc, -ECANCELED);
	ck_assert_int_eq(coil_task_join(g_join_target, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x42);
	return NULL;
}

START_TEST(cancelled_joiner_gets_ecanceled_target_stays_joinable)
{
	g_cancelled_join_rc = 1;
	coil_test_run(cancel_joiner_main, NULL);
}
END_TEST

/* ---- identity, run(), backend name ----------------------------------------------- */

/* Writes the handle into *arg: a coil_task is 64 bits, a pointer may be 32
 * (wasm32). */
static void *report_current(void *arg)
{
	*(coil_task *)arg = coil_task_current();
	return NULL;
}

static void *current_main(void *arg)
{
	(void)arg;
	coil_task me = coil_task_current();
	ck_assert(me != 0);
	coil_task t1, t2, r1 = 0, r2 = 0;
	ck_assert_int_eq(coil_task_spawn(&t1, report_current, &r1), 0);
	ck_assert_int_eq(coil_task_spawn(&t2, report_current, &r2), 0);
	coil_task h1 = t1, h2 = t2;
	ck_assert_int_eq(coil_task_join(t1, NULL), 0);
	ck_assert_int_eq(coil_task_join(t2, NULL), 0);
	ck_assert(r1 == h1);
	ck_assert(r2 == h2);
	ck_assert(h1 != me && h2 != me && h1 != h2);
	ck_assert(coil_task_current() == me);
	ck_assert_int_eq(coil_task_cancelled(), 0);
	return NULL;
}

START_TEST(task_current_names_the_caller_inside_zero_outside)
{
	ck_assert(coil_task_current() == 0);
	ck_assert_int_eq(coil_task_cancelled(), -EPERM);
	coil_test_run(current_main, NULL);
	ck_assert(coil_task_current() == 0);
}
END_TEST

static void *ret_cookie(void *arg)
{
	return (void *)((uintptr_t)arg ^ 0xabcdefu);
}

START_TEST(run_passes_arg_and_returns_main_result)
{
	void *res = NULL;
	ck_assert_int_eq(coil_run(NULL, ret_cookie, (void *)0x1234, &res), 0);
	ck_assert_ptr_eq(res, (void *)(0x1234 ^ 0xabcdefu));
	/* result may be NULL */
	ck_assert_int_eq(coil_run(NULL, ret_cookie, (void *)0x1, NULL), 0);
}
END_TEST

START_TEST(run_with_null_fn_is_einval)
{
	void *res = (void *)0x5;
	ck_assert_int_eq(coil_run(NULL, NULL, NULL, &res), -EINVAL);
	struct coil_config cfg;
	coil_config_init(&cfg);
	ck_assert_int_eq(coil_run(&cfg, NULL, NULL, NULL), -EINVAL);
}
END_TEST

static void *nested_run_child(void *arg)
{
	return (void *)(intptr_t)coil_run(NULL, ret_cookie, arg, NULL);
}

static void *nested_run_main(void *arg)
{
	ck_assert_int_eq(coil_run(NULL, ret_cookie, arg, NULL), -EBUSY);
	coil_task t;
	void *res = NULL;
	ck_assert_int_eq(coil_task_spawn(&t, nested_run_child, NULL), 0);
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EBUSY);
	return (void *)3;
}

START_TEST(nested_run_is_ebusy)
{
	ck_assert_ptr_eq(coil_test_run(nested_run_main, NULL), (void *)3);
}
END_TEST

static void *use_stack(void *arg)
{
	size_t n = (size_t)arg;
	volatile char *p = __builtin_alloca(n);
	p[0] = 1;
	p[n / 2] = 2;
	p[n - 1] = 3;
	return (void *)(uintptr_t)(p[0] + p[n / 2] + p[n - 1]);
}

static void *stack_sizes_main(void *arg)
{
	(void)arg;
	static const size_t sizes[] = {16 * 1024, 20000, 64 * 1024, 1024 * 1024,
				       8 * 1024 * 1024};
	const size_t n = sizeof sizes / sizeof sizes[0];
	coil_task t[sizeof sizes / sizeof sizes[0] + 1];
	struct coil_task_opts opts;
	for (size_t i = 0; i < n; i++) {
		memset(&opts, 0, sizeof opts);
		opts.stack_size = sizes[i];
		/* use about half of the requested size */
		ck_assert_int_eq(coil_task_spawn_ex(&t[i], &opts, use_stack,
						    (void *)(sizes[i] / 2)),
				 0);
	}
	memset(&opts, 0, sizeof opts); /* 0: the runtime's default, 128 KiB */
	ck_assert_int_eq(coil_task_spawn_ex(&t[n], &opts, use_stack, (void *)(48 * 1024)), 0);
	for (size_t i = 0; i <= n; i++) {
		void *res = NULL;
		ck_assert_int_eq(coil_task_join(t[i], &res), 0);
		ck_assert_int_eq((int)(uintptr_t)res, 6);
	}
	return NULL;
}

START_TEST(spawn_ex_custom_stack_sizes_are_usable)
{
	coil_test_run(stack_sizes_main, NULL);
}
END_TEST

static void *backend_main(void *arg)
{
	(void)arg;
	return (void *)coil_backend_name();
}

START_TEST(backend_name_inside_runtime_only)
{
	ck_assert_ptr_null(coil_backend_name());
	const char *name = coil_test_run(backend_main, NULL);
	ck_assert_ptr_nonnull(name);
	ck_assert(name[0] != '\0');
	/* The suite really runs on the backend ctest asked for. */
	const char *want = getenv("COIL_BACKEND");
	if (want && strcmp(want, "uring") == 0)
		ck_assert_str_eq(name, "io_uring");
	else if (want && *want)
		ck_assert_str_eq(name, want);
	ck_assert_ptr_null(coil_backend_name());
}
END_TEST

static void *fd_main(void *arg)
{
	(void)arg;
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, sleep_then_ret, NULL), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	return NULL;
}

START_TEST(run_leaves_no_fds_open)
{
	int before = coil_test_count_fds();
	for (int i = 0; i < 5; i++)
		coil_test_run(fd_main, NULL);
	ck_assert_int_eq(coil_test_count_fds(), before);
}
END_TEST

/* ---- deadlock ----------------------------------------------------------------------- */

static coil_task g_peer_a, g_peer_b;

static void *join_peer_b(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)coil_task_join(g_peer_b, NULL);
}

static void *join_peer_a(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)coil_task_join(g_peer_a, NULL);
}

static void *mutual_join_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_task_spawn(&g_peer_a, join_peer_b, NULL), 0);
	ck_assert_int_eq(coil_task_spawn(&g_peer_b, join_peer_a, NULL), 0);
	/* both park joining each other; the main fiber returns and, with
	 * join_children, the runtime waits for them: nothing can wake anyone */
	ck_assert_int_eq(coil_task_yield(), 0);
	return NULL;
}

START_TEST(run_reports_edeadlk_for_two_tasks_joining_each_other)
{
	int rc = coil_run(NULL, mutual_join_main, NULL, NULL); /* undetected: a hang */
	ck_assert_int_eq(rc, -EDEADLK);
	ck_assert_ptr_null(coil_backend_name()); /* torn down */
	/* and a new runtime works after that */
	ck_assert_ptr_eq(coil_test_run(ret_arg, (void *)0x11), (void *)0x11);
}
END_TEST

static coil_task g_main_task;
static int g_child_join_main_rc = 1;

static void *join_main_child(void *arg)
{
	(void)arg;
	g_child_join_main_rc = coil_task_join(g_main_task, NULL);
	return NULL;
}

static void *main_joins_child_joining_main(void *arg)
{
	(void)arg;
	coil_task t;
	g_main_task = coil_task_current();
	ck_assert_int_eq(coil_task_spawn(&t, join_main_child, NULL), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	return (void *)5;
}

START_TEST(main_joining_child_that_joins_main_deadlocks_or_esrch)
{
	/*
	 * The header does not say whether the main fiber is joinable. Either
	 * it is, and the child parks joining main while main parks joining
	 * the child (-EDEADLK from coil_run), or it is not, and the child's
	 * join is -ESRCH and everything finishes.
	 */
	void *res = NULL;
	int rc = coil_run(NULL, main_joins_child_joining_main, NULL, &res);
	fprintf(stderr, "main joining a child that joins main: coil_run %d, child's join %d\n",
		rc, g_child_join_main_rc);
	if (rc == 0) {
		ck_assert_int_eq(g_child_join_main_rc, -ESRCH);
		ck_assert_ptr_eq(res, (void *)5);
	} else {
		ck_assert_int_eq(rc, -EDEADLK);
		ck_assert_int_eq(g_child_join_main_rc, 1); /* still parked */
	}
}
END_TEST

static Suite *task_suite(void)
{
	Suite *s = suite_create("task");
	TCase *tc = tcase_create("spawn_join");
	/* 100k live stacks: seconds of mmap on a quiet machine, many times
	 * that when others share the cores (the timeout catches a hang) */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, spawn_and_join_100k_tasks_each_returns_its_value);
	tcase_add_test(tc, spawned_tasks_run_fifo_only_after_spawner_yields);
	tcase_add_test(tc, yield_round_robins_three_tasks);
	tcase_add_test(tc, yield_with_nothing_else_runnable_returns);
	tcase_add_test(tc, spawn_ex_custom_stack_sizes_are_usable);
	tcase_add_test(tc, join_reports_esrch_and_edeadlk);
	tcase_add_test(tc, second_joiner_gets_ebusy);
	tcase_add_test(tc, a_finished_task_belongs_to_its_joiner_until_reaped);
	suite_add_tcase(s, tc);

	tc = tcase_create("detach_children");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, detached_task_runs_to_completion);
	tcase_add_test(tc, detach_releases_the_handle_and_task_still_runs);
	tcase_add_test(tc, run_waits_for_unjoined_children_by_default);
	tcase_add_test(tc, run_cancels_children_when_join_children_false);
	tcase_add_test(tc, run_cancels_detached_tasks_when_main_returns);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cancel_wakes_a_sleeping_task_with_ecanceled);
	tcase_add_test(tc, cancel_before_first_run_makes_first_sleep_fail);
	tcase_add_test(tc, cancelled_joiner_gets_ecanceled_target_stays_joinable);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, task_current_names_the_caller_inside_zero_outside);
	tcase_add_test(tc, run_passes_arg_and_returns_main_result);
	tcase_add_test(tc, run_with_null_fn_is_einval);
	tcase_add_test(tc, nested_run_is_ebusy);
	tcase_add_test(tc, backend_name_inside_runtime_only);
	tcase_add_test(tc, run_leaves_no_fds_open);
	tcase_add_test(tc, run_reports_edeadlk_for_two_tasks_joining_each_other);
	tcase_add_test(tc, main_joining_child_that_joins_main_deadlocks_or_esrch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(task_suite());
}
