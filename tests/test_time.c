/* The monotonic clock and sleeping. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(now_is_monotonic_and_matches_clock_monotonic)
{
	int64_t prev = coil_now();
	for (int i = 0; i < 200000; i++) {
		int64_t n = coil_now();
		ck_assert_msg(n >= prev, "coil_now went back: %lld < %lld", (long long)n,
			      (long long)prev);
		prev = n;
	}
	for (int i = 0; i < 1000; i++) {
		int64_t a = coil_test_mono_ns();
		int64_t n = coil_now();
		int64_t b = coil_test_mono_ns();
		ck_assert_msg(a <= n && n <= b, "coil_now %lld outside [%lld, %lld]",
			      (long long)n, (long long)a, (long long)b);
	}
}
END_TEST

static void *now_inside(void *arg)
{
	(void)arg;
	int64_t a = coil_test_mono_ns();
	int64_t n = coil_now();
	int64_t b = coil_test_mono_ns();
	return (void *)(intptr_t)(a <= n && n <= b);
}

START_TEST(now_works_inside_a_runtime)
{
	ck_assert_ptr_eq(coil_test_run(now_inside, NULL), (void *)1);
}
END_TEST

/* ---- never early ---------------------------------------------------------------------- */

struct sleeper {
	int64_t ns;     /* how long */
	int until;      /* use coil_sleep_until */
	int rc;
	int64_t early;  /* > 0: woke this many ns before the deadline */
	int woke;
};

static void *sleeper_fiber(void *arg)
{
	struct sleeper *s = arg;
	int64_t deadline;
	if (s->until) {
		deadline = coil_now() + s->ns;
		s->rc = coil_sleep_until(deadline);
	} else {
		deadline = coil_now() + s->ns;
		s->rc = coil_sleep(s->ns);
	}
	int64_t now = coil_now();
	s->early = now < deadline ? deadline - now : 0;
	s->woke = 1;
	return NULL;
}

struct sleepers {
	struct sleeper *s;
	size_t n;
	size_t stack;
};

static void *sleepers_main(void *arg)
{
	struct sleepers *ss = arg;
	coil_task *t = calloc(ss->n, sizeof *t);
	ck_assert_ptr_nonnull(t);
	struct coil_task_opts opts;
	memset(&opts, 0, sizeof opts);
	opts.stack_size = ss->stack;
	for (size_t i = 0; i < ss->n; i++)
		ck_assert_int_eq(coil_task_spawn_ex(&t[i], &opts, sleeper_fiber, &ss->s[i]), 0);
	for (size_t i = 0; i < ss->n; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	free(t);
	return NULL;
}

static void check_sleepers(struct sleepers *ss)
{
	for (size_t i = 0; i < ss->n; i++) {
		struct sleeper *s = &ss->s[i];
		ck_assert_msg(s->woke, "sleeper %zu never woke", i);
		ck_assert_msg(s->rc == 0, "sleeper %zu: rc %d", i, s->rc);
		ck_assert_msg(s->early == 0, "sleeper %zu (%s %lld ns) woke %lld ns early", i,
			      s->until ? "until" : "sleep", (long long)s->ns,
			      (long long)s->early);
	}
}

START_TEST(sleep_never_wakes_before_its_deadline)
{
	uint64_t seed = coil_test_seed("never_early");
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, seed);
	struct sleepers ss = {calloc(1000, sizeof(struct sleeper)), 1000, 0};
	ck_assert_ptr_nonnull(ss.s);
	for (size_t i = 0; i < ss.n; i++) {
		/* 0..20 ms, with a spread of sub-millisecond values too */
		ss.s[i].ns = (int64_t)coil_test_rng_range(&rng, 0, 20 * 1000 * 1000);
		ss.s[i].until = (int)(i & 1);
	}
	coil_test_run(sleepers_main, &ss);
	check_sleepers(&ss);
	free(ss.s);
}
END_TEST

START_TEST(ten_thousand_concurrent_sleepers_all_wake)
{
	uint64_t seed = coil_test_seed("many_sleepers");
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, seed);
	/* more sleepers than the default cq_entries (4096) bound */
	struct sleepers ss = {calloc(10000, sizeof(struct sleeper)), 10000, 64 * 1024};
	ck_assert_ptr_nonnull(ss.s);
	for (size_t i = 0; i < ss.n; i++)
		ss.s[i].ns = (int64_t)coil_test_rng_range(&rng, 1, 50) * COIL_NSEC_PER_MSEC;
	coil_test_run(sleepers_main, &ss); /* a lost wake-up: a hang */
	check_sleepers(&ss);
	free(ss.s);
}
END_TEST

/* ---- zero and past deadlines --------------------------------------------------------- */

static int g_other_ran;

static void *mark_ran(void *arg)
{
	(void)arg;
	g_other_ran++;
	return NULL;
}

/* each form must return 0 at once (a sleep of INT64_MIN read as a huge
 * unsigned wait shows as a hang), and (as it yields) let a queued task run */
static void *zero_main(void *arg)
{
	(void)arg;
	for (int form = 0; form < 5; form++) {
		coil_task t;
		int before = g_other_ran;
		ck_assert_int_eq(coil_task_spawn(&t, mark_ran, NULL), 0);
		int rc;
		switch (form) {
		case 0: rc = coil_sleep(0); break;
		case 1: rc = coil_sleep(-5 * COIL_NSEC_PER_SEC); break;
		case 2: rc = coil_sleep_until(0); break;
		case 3: rc = coil_sleep_until(coil_now() - COIL_NSEC_PER_SEC); break;
		default: rc = coil_sleep(INT64_MIN); break;
		}
		ck_assert_msg(rc == 0, "form %d: rc %d", form, rc);
		ck_assert_msg(g_other_ran == before + 1, "form %d did not yield", form);
		ck_assert_int_eq(coil_task_join(t, NULL), 0);
	}
	return NULL;
}

START_TEST(zero_and_past_sleeps_return_zero_promptly_and_yield)
{
	g_other_ran = 0;
	coil_test_run(zero_main, NULL);
	ck_assert_int_eq(g_other_ran, 5);
}
END_TEST

/* ---- order --------------------------------------------------------------------------- */

struct order {
	char log[8];
	int n;
};

struct order_sleeper {
	struct order *o;
	int64_t ms;
	char id;
};

static void *order_fiber(void *arg)
{
	struct order_sleeper *s = arg;
	ck_assert_int_eq(coil_sleep(s->ms * COIL_NSEC_PER_MSEC), 0);
	s->o->log[s->o->n++] = s->id;
	return NULL;
}

static void spawn_order_sleepers(coil_task *t, struct order_sleeper *s, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], order_fiber, &s[i]), 0);
}

static void join_all(coil_task *t, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
}

static void *order_main(void *arg)
{
	struct order *o = arg;
	/* spawned longest first so that FIFO order would be wrong */
	struct order_sleeper s[3] = {{o, 90, 'c'}, {o, 50, 'b'}, {o, 10, 'a'}};
	coil_task t[3];
	spawn_order_sleepers(t, s, 3);
	join_all(t, 3);
	return NULL;
}

START_TEST(sleepers_wake_in_deadline_order)
{
	static struct order o;
	memset(&o, 0, sizeof o);
	coil_test_run(order_main, &o);
	ck_assert_str_eq(o.log, "abc");
}
END_TEST

/* ---- deadlines seconds ahead (the far list of sched/timers.h) ------------------------ */

static void *scoped_fiber(void *arg)
{
	int64_t *late = arg;
	coil_scope s;
	int64_t deadline = coil_now() + 2150 * COIL_NSEC_PER_MSEC;
	ck_assert_int_eq(coil_scope_enter(&s, deadline), 0);
	ck_assert_int_eq(coil_sleep(10 * COIL_NSEC_PER_SEC), -ETIMEDOUT);
	*late = coil_now() - deadline;
	coil_scope_exit(&s);
	return NULL;
}

static void *far_main(void *arg)
{
	struct order *o = arg;
	/* Beyond COIL__TIMER_FAR_NS, longest first; a near sleeper beside
	 * them, and a scope's deadline as far. */
	struct order_sleeper s[4] = {{o, 2300, 'd'}, {o, 2200, 'c'}, {o, 2100, 'b'}, {o, 20, 'a'}};
	struct sleepers ss = {calloc(8, sizeof(struct sleeper)), 8, 0};
	ck_assert_ptr_nonnull(ss.s);
	for (size_t i = 0; i < ss.n; i++) {
		ss.s[i].ns = 2050 * COIL_NSEC_PER_MSEC + (int64_t)i * 37 * COIL_NSEC_PER_MSEC;
		ss.s[i].until = (int)(i & 1);
	}
	int64_t late = -1;
	coil_task t[6];
	spawn_order_sleepers(t, s, 4);
	ck_assert_int_eq(coil_task_spawn(&t[4], sleepers_main, &ss), 0);
	ck_assert_int_eq(coil_task_spawn(&t[5], scoped_fiber, &late), 0);
	join_all(t, 6);
	check_sleepers(&ss);
	free(ss.s);
	ck_assert_int_ge(late, 0); /* the scope's deadline: not early either */
	return NULL;
}

START_TEST(deadlines_seconds_ahead_end_in_order_and_never_early)
{
	static struct order o;
	memset(&o, 0, sizeof o);
	coil_test_run(far_main, &o);
	ck_assert_str_eq(o.log, "abcd");
}
END_TEST

#ifndef __wasi__ /* coil_loop: not in the WASI build (one thread, no host loop) */
/* A coil_loop host that sleeps as coil_loop_timeout says is never told to
 * sleep past a deadline seconds ahead (the far list's sweep bounds it), and
 * the sleep ends, not early. */
struct loop_sleep {
	int64_t ns, deadline, woke;
	int r;
};

static void *loop_sleeper(void *arg)
{
	struct loop_sleep *s = arg;
	int64_t deadline = coil_now() + s->ns;
	__atomic_store_n(&s->deadline, deadline, __ATOMIC_RELAXED);
	s->r = coil_sleep_until(deadline);
	s->woke = coil_now();
	return NULL;
}

START_TEST(a_loop_host_is_never_told_to_sleep_past_a_far_deadline)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	struct loop_sleep s = {.ns = 2300 * COIL_NSEC_PER_MSEC};
	const char *coalesce = getenv("COIL_COALESCE_SLEEPS");
	bool kernel_sleeps = coalesce && !strcmp(coalesce, "0");
	ck_assert_int_eq(coil_loop_spawn(l, NULL, loop_sleeper, &s), 0);
	for (int ticks = 0;; ticks++) {
		ck_assert_int_lt(ticks, 1000);
		int r = coil_loop_tick(l, 0, 0);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		int64_t before = coil_now();
		int64_t to = coil_loop_timeout(l);
		if (to < 0 && kernel_sleeps) {
			/* The sleep is an IORING_OP_TIMEOUT: the loop's fd says. */
			struct pollfd p = {.fd = coil_loop_fd(l), .events = POLLIN};
			ck_assert_int_ge(poll(&p, 1, -1), 0);
			continue;
		}
		ck_assert_int_ge(to, 0); /* -1 would be "no timer": for ever */
		ck_assert(to == 0 || before + to <= s.deadline); /* 0: due, or past */
		struct timespec ts = {to / COIL_NSEC_PER_SEC, to % COIL_NSEC_PER_SEC};
		nanosleep(&ts, NULL);
	}
	ck_assert_int_eq(s.r, 0);
	ck_assert_int_ge(s.woke, s.deadline);
	ck_assert_int_eq(coil_loop_free(l), 0);
}
END_TEST
#endif

/* ---- a sleep of "forever" does not overflow into the past ------------------------- */

struct forever {
	int rc;
	int woke;
};

static void *forever_fiber(void *arg)
{
	struct forever *f = arg;
	f->rc = coil_sleep(INT64_MAX);
	f->woke = 1;
	return NULL;
}

static void *forever_until_fiber(void *arg)
{
	struct forever *f = arg;
	f->rc = coil_sleep_until(INT64_MAX);
	f->woke = 1;
	return NULL;
}

static void *forever_main(void *arg)
{
	struct forever *f = arg;
	coil_task t[2];
	ck_assert_int_eq(coil_task_spawn(&t[0], forever_fiber, &f[0]), 0);
	ck_assert_int_eq(coil_task_spawn(&t[1], forever_until_fiber, &f[1]), 0);
	ck_assert_int_eq(coil_sleep(50 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_msg(!f[0].woke, "coil_sleep(INT64_MAX) returned %d at once", f[0].rc);
	ck_assert_msg(!f[1].woke, "coil_sleep_until(INT64_MAX) returned %d at once", f[1].rc);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(coil_task_cancel(t[i]), 0);
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(f[i].rc, -ECANCELED);
	}
	return NULL;
}

START_TEST(sleep_int64_max_does_not_overflow_into_the_past)
{
	static struct forever f[2];
	memset(f, 0, sizeof f);
	coil_test_run(forever_main, f);
}
END_TEST

START_TEST(sleep_outside_a_runtime_is_eperm)
{
	ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), -EPERM);
	ck_assert_int_eq(coil_sleep(0), -EPERM);
	ck_assert_int_eq(coil_sleep_until(coil_now() + COIL_NSEC_PER_MSEC), -EPERM);
}
END_TEST

static Suite *time_suite(void)
{
	Suite *s = suite_create("time");
	TCase *tc = tcase_create("clock");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, now_is_monotonic_and_matches_clock_monotonic);
	tcase_add_test(tc, now_works_inside_a_runtime);
	suite_add_tcase(s, tc);

	tc = tcase_create("sleep");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, sleep_never_wakes_before_its_deadline);
	tcase_add_test(tc, ten_thousand_concurrent_sleepers_all_wake);
	tcase_add_test(tc, zero_and_past_sleeps_return_zero_promptly_and_yield);
	tcase_add_test(tc, sleepers_wake_in_deadline_order);
	tcase_add_test(tc, deadlines_seconds_ahead_end_in_order_and_never_early);
#ifndef __wasi__
	tcase_add_test(tc, a_loop_host_is_never_told_to_sleep_past_a_far_deadline);
#endif
	tcase_add_test(tc, sleep_int64_max_does_not_overflow_into_the_past);
	tcase_add_test(tc, sleep_outside_a_runtime_is_eperm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(time_suite());
}
