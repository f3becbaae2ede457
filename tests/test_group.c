/* Task groups: wait for all, wait for the next, cancel all, free. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_finished;

/* Sleep arg milliseconds, then return arg * 10. */
static void *sleeper(void *arg)
{
	int ms = (int)(intptr_t)arg;
	int r = coil_sleep(ms * COIL_NSEC_PER_MSEC);
	g_finished++;
	if (r < 0)
		return (void *)(intptr_t)r;
	return (void *)(intptr_t)(ms * 10);
}

static void *group_wait_main(void *arg)
{
	(void)arg;
	coil_group *g;
	ck_assert_int_eq(coil_group_new(&g), 0);
	ck_assert_int_eq(coil_group_wait(g), 0); /* empty: at once */
	g_finished = 0;
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(coil_group_spawn(g, NULL, sleeper, (void *)(intptr_t)(1 + i % 5)), 0);
	ck_assert_int_eq(coil_group_running(g), 50);
	ck_assert_int_eq(coil_group_free(g), -EBUSY);
	ck_assert_int_eq(coil_group_wait(g), 0);
	ck_assert_int_eq(g_finished, 50);
	ck_assert_int_eq(coil_group_running(g), 0);
	ck_assert_int_eq(coil_group_finished(g), 0); /* wait drops the results */
	ck_assert_int_eq(coil_group_wait_next(g, NULL, NULL), -ECHILD);
	/* reusable after a wait */
	ck_assert_int_eq(coil_group_spawn(g, NULL, sleeper, (void *)(intptr_t)1), 0);
	ck_assert_int_eq(coil_group_wait(g), 0);
	ck_assert_int_eq(coil_group_free(g), 0);
	return NULL;
}

START_TEST(group_wait_returns_when_every_child_has_finished)
{
	coil_test_run(group_wait_main, NULL);
}
END_TEST

static int64_t next_base;
static int next_finished[5], next_nfinished;

/* Sleeps until next_base + arg ms: deadlines fixed at spawn time, so their
 * order does not depend on when each child first runs (a loaded machine or
 * qemu may stall between two children's starts). */
static void *sleeper_from_base(void *arg)
{
	int ms = (int)(intptr_t)arg;
	coil_sleep_until(next_base + ms * COIL_NSEC_PER_MSEC);
	/* The order the children really finished in: a machine stalled past
	 * every deadline (qemu under load) finishes them in the order they
	 * first ran, and the group must hand them out in that order. */
	next_finished[next_nfinished++] = ms;
	return (void *)(intptr_t)(ms * 10);
}

static void *group_next_main(void *arg)
{
	(void)arg;
	coil_group *g;
	ck_assert_int_eq(coil_group_new(&g), 0);
	/* spawned slowest first: they finish fastest first */
	int ms[] = {40, 30, 20, 10, 1};
	coil_task t[5];
	next_base = coil_now();
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(coil_group_spawn(g, &t[i], sleeper_from_base, (void *)(intptr_t)ms[i]), 0);
	ck_assert_int_eq(coil_group_try_next(g, NULL, NULL), -EAGAIN);
	for (int n = 0; n < 5; n++) {
		coil_task who = 0;
		void *res = NULL;
		ck_assert_int_eq(coil_group_wait_next(g, &who, &res), 0);
		ck_assert_int_gt(next_nfinished, n);
		int k = 0;
		while (ms[k] != next_finished[n])
			k++;
		ck_assert(who == t[k]);
		ck_assert_int_eq((int)(intptr_t)res, ms[k] * 10);
	}
	ck_assert_int_eq(coil_group_wait_next(g, NULL, NULL), -ECHILD);
	ck_assert_int_eq(coil_group_try_next(g, NULL, NULL), -ECHILD);
	/* children are the group's: not joinable */
	ck_assert_int_eq(coil_group_spawn(g, &t[0], sleeper, (void *)(intptr_t)1), 0);
	ck_assert_int_eq(coil_task_join(t[0], NULL), -ESRCH);
	ck_assert_int_eq(coil_group_wait(g), 0);
	/* finished ones are handed out in finishing order, also after the fact */
	ck_assert_int_eq(coil_group_spawn(g, &t[0], sleeper, (void *)(intptr_t)5), 0);
	ck_assert_int_eq(coil_group_spawn(g, &t[1], sleeper, (void *)(intptr_t)1), 0);
	/* wait for both to finish (not for a time: a stalled machine may run
	 * the children later than any sleep of ours ends) */
	while (coil_group_finished(g) < 2)
		ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_group_finished(g), 2);
	coil_task who;
	ck_assert_int_eq(coil_group_try_next(g, &who, NULL), 0);
	ck_assert(who == t[1]);
	ck_assert_int_eq(coil_group_wait_next(g, &who, NULL), 0);
	ck_assert(who == t[0]);
	/* unclaimed results are freed with the group */
	ck_assert_int_eq(coil_group_spawn(g, NULL, sleeper, (void *)(intptr_t)1), 0);
	while (coil_group_finished(g) < 1)
		ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_group_free(g), 0);
	return NULL;
}

START_TEST(group_wait_next_hands_out_children_in_finishing_order)
{
	coil_test_run(group_next_main, NULL);
}
END_TEST

static void *group_cancel_main(void *arg)
{
	(void)arg;
	coil_group *g;
	ck_assert_int_eq(coil_group_new(&g), 0);
	g_finished = 0;
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(coil_group_spawn(g, NULL, sleeper, (void *)(intptr_t)10000), 0);
	ck_assert_int_eq(coil_task_yield(), 0); /* all parked in their sleep */
	ck_assert_int_eq(coil_group_cancel(g), 20);
	/* spawned after the cancel: starts cancelled */
	ck_assert_int_eq(coil_group_spawn(g, NULL, sleeper, (void *)(intptr_t)10000), 0);
	int n = 0;
	void *res;
	while (coil_group_wait_next(g, NULL, &res) == 0) {
		ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);
		n++;
	}
	ck_assert_int_eq(n, 21);
	ck_assert_int_eq(g_finished, 21);
	ck_assert_int_eq(coil_task_cancelled(), 0); /* the owner is not cancelled */
	ck_assert_int_eq(coil_group_free(g), 0);
	return NULL;
}

START_TEST(group_cancel_cancels_every_child)
{
	coil_test_run(group_cancel_main, NULL);
}
END_TEST

/* The owner is cancelled while it waits: its children are cancelled and it
 * returns only once they all have finished. */
struct owner {
	int rc;
	int running_after;
	int waiting; /* its children are spawned: it waits (or is about to) */
};

static void *owner_fiber(void *arg)
{
	struct owner *o = arg;
	coil_group *g;
	ck_assert_int_eq(coil_group_new(&g), 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(coil_group_spawn(g, NULL, sleeper, (void *)(intptr_t)10000), 0);
	__atomic_store_n(&o->waiting, 1, __ATOMIC_RELEASE);
	o->rc = coil_group_wait(g);
	o->running_after = (int)coil_group_running(g);
	ck_assert_int_eq(coil_group_free(g), 0);
	return NULL;
}

static void *owner_cancel_main(void *arg)
{
	(void)arg;
	struct owner o = {1, -1, 0};
	g_finished = 0;
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, owner_fiber, &o), 0);
	coil_test_wait_flag(&o.waiting);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(o.rc, -ECANCELED);
	ck_assert_int_eq(o.running_after, 0);
	ck_assert_int_eq(g_finished, 10);
	return NULL;
}

START_TEST(cancelled_owner_wait_cancels_children_and_outlives_them)
{
	coil_test_run(owner_cancel_main, NULL);
}
END_TEST

static coil_group *g_shared;
static int g_next_rc;

static void *wait_next_fiber(void *arg)
{
	(void)arg;
	g_next_rc = coil_group_wait_next(g_shared, NULL, NULL);
	return NULL;
}

static void *cancel_next_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_group_new(&g_shared), 0);
	ck_assert_int_eq(coil_group_spawn(g_shared, NULL, sleeper, (void *)(intptr_t)20), 0);
	coil_task t;
	g_next_rc = 1;
	ck_assert_int_eq(coil_task_spawn(&t, wait_next_fiber, NULL), 0);
	ck_assert_int_eq(coil_task_yield(), 0);
	ck_assert_int_eq(coil_group_free(g_shared), -EBUSY);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(g_next_rc, -ECANCELED);
	/* the child ran on and its result is still there */
	void *res = NULL;
	ck_assert_int_eq(coil_group_wait_next(g_shared, NULL, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, 200);
	ck_assert_int_eq(coil_group_free(g_shared), 0);
	return NULL;
}

START_TEST(cancel_of_wait_next_is_ecanceled_and_children_keep_running)
{
	coil_test_run(cancel_next_main, NULL);
}
END_TEST

static void *quick(void *arg)
{
	return arg;
}

static void *many_main(void *arg)
{
	(void)arg;
	coil_group *g;
	ck_assert_int_eq(coil_group_new(&g), 0);
	uint64_t want = 0, got = 0;
	for (uintptr_t round = 0; round < 10; round++) {
		long bad = 0;
		for (uintptr_t i = 1; i <= coil_test_count(10000); i++) {
			bad += coil_group_spawn(g, NULL, quick, (void *)(i + round)) != 0;
			want += i + round;
		}
		ck_assert_int_eq(bad, 0);
		void *res;
		while (coil_group_wait_next(g, NULL, &res) == 0)
			got += (uintptr_t)res;
	}
	ck_assert(want == got);
	ck_assert_int_eq(coil_group_free(g), 0);
	return NULL;
}

START_TEST(group_of_100k_short_children_sums_their_results)
{
	coil_test_run(many_main, NULL);
}
END_TEST

START_TEST(bad_arguments_and_outside_a_runtime)
{
	coil_group *g;
	ck_assert_int_eq(coil_group_new(NULL), -EINVAL);
	ck_assert_int_eq(coil_group_spawn(NULL, NULL, quick, NULL), -EINVAL);
	ck_assert_int_eq(coil_group_wait(NULL), -EINVAL);
	ck_assert_int_eq(coil_group_wait_next(NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_group_try_next(NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_group_cancel(NULL), -EINVAL);
	ck_assert_int_eq(coil_group_running(NULL), -EINVAL);
	ck_assert_int_eq(coil_group_finished(NULL), -EINVAL);
	ck_assert_int_eq(coil_group_free(NULL), 0);
	ck_assert_int_eq(coil_group_new(&g), 0);
	ck_assert_int_eq(coil_group_spawn(g, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_group_spawn(g, NULL, quick, NULL), -EPERM);
	ck_assert_int_eq(coil_group_wait(g), -EPERM);
	ck_assert_int_eq(coil_group_wait_next(g, NULL, NULL), -EPERM);
	ck_assert_int_eq(coil_group_try_next(g, NULL, NULL), -ECHILD);
	ck_assert_int_eq(coil_group_free(g), 0);
}
END_TEST

static Suite *group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("group");
	tcase_set_timeout(tc, 120); /* 100k children: see test_task.c */
	tcase_add_test(tc, group_wait_returns_when_every_child_has_finished);
	tcase_add_test(tc, group_wait_next_hands_out_children_in_finishing_order);
	tcase_add_test(tc, group_cancel_cancels_every_child);
	tcase_add_test(tc, cancelled_owner_wait_cancels_children_and_outlives_them);
	tcase_add_test(tc, cancel_of_wait_next_is_ecanceled_and_children_keep_running);
	tcase_add_test(tc, group_of_100k_short_children_sums_their_results);
	tcase_add_test(tc, bad_arguments_and_outside_a_runtime);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(group_suite());
}
