/*
 * White-box: a worker's timers (sched/timers.h), the heap for deadlines
 * near enough to matter and the list for those seconds ahead, on a clock
 * the test moves itself. What the worker relies on: it never wakes after
 * an armed deadline (coil__timers_next), a timer never comes out before its
 * deadline and always at the first look at or after it, and equal
 * deadlines end in the order they were armed, wherever they waited.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

#include "sched/timers.h"
#include "test_util.h"

#define SEC ((int64_t)1000000000)
#define T0 (1000 * SEC) /* the test's clock starts here */

struct item {
	struct coil__timer tm; /* first: take_due's result is the item */
	int64_t deadline;
	int id;
	bool armed;
};

static void start(struct coil__timers *t)
{
	coil__timers_init(t);
	t->seen = T0;
}

static void arm(struct coil__timers *t, struct item *it, int64_t deadline)
{
	*it = (struct item){.deadline = deadline, .id = it->id, .armed = true};
	if (coil__timer_arm(t, &it->tm, deadline) != 0)
		ck_abort_msg("no memory for the heap");
}

static struct item *take(struct coil__timers *t, int64_t now)
{
	struct coil__timer *nomem;
	struct coil__timer *tm = coil__timers_take_due(t, now, &nomem);
	if (nomem)
		ck_abort_msg("no memory for the heap");
	return (struct item *)tm;
}

START_TEST(a_far_deadline_waits_on_the_list_and_reaches_the_heap_before_it_is_due)
{
	struct coil__timers t;
	start(&t);
	struct item near = {.id = 1}, far = {.id = 2};
	arm(&t, &near, T0 + SEC / 1000);
	arm(&t, &far, T0 + 10 * SEC);
	ck_assert(far.tm.far);
	ck_assert(!near.tm.far);
	ck_assert_uint_eq(t.near.n, 1);
	/* The worker wakes for the near one first. */
	ck_assert_int_eq(coil__timers_next(&t), T0 + SEC / 1000);
	ck_assert_ptr_eq(take(&t, T0 + SEC / 1000), &near);
	/* Then no later than a lead before the far one, for its sweep. */
	ck_assert_int_eq(coil__timers_next(&t), T0 + 10 * SEC - COIL__TIMER_LEAD_NS);
	ck_assert_ptr_null(take(&t, T0 + 5 * SEC));
	ck_assert(far.tm.far);
	ck_assert_ptr_null(take(&t, T0 + 10 * SEC - COIL__TIMER_LEAD_NS));
	ck_assert(!far.tm.far); /* swept into the heap, not yet due */
	ck_assert_int_eq(coil__timers_next(&t), T0 + 10 * SEC);
	ck_assert_ptr_null(take(&t, T0 + 10 * SEC - 1));
	ck_assert_ptr_eq(take(&t, T0 + 10 * SEC), &far);
	ck_assert(coil__timers_empty(&t));
	ck_assert_int_eq(coil__timers_next(&t), INT64_MAX);
	coil__timers_fini(&t);
}
END_TEST

START_TEST(a_disarmed_far_timer_leaves_nothing_to_wake_for)
{
	struct coil__timers t;
	start(&t);
	struct item a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	arm(&t, &a, T0 + 30 * SEC);
	arm(&t, &b, T0 + 20 * SEC);
	arm(&t, &c, T0 + 40 * SEC);
	ck_assert_uint_eq(t.nfar, 3);
	coil__timer_disarm(&t, &b.tm); /* the middle of the list */
	coil__timer_disarm(&t, &c.tm); /* its head */
	ck_assert(!coil__timer_armed(&b.tm) && !coil__timer_armed(&c.tm));
	ck_assert(coil__timer_armed(&a.tm));
	/* b's deadline may still bound the next sweep (a lower bound), never
	 * anything later than a's. */
	ck_assert_int_le(coil__timers_next(&t), T0 + 30 * SEC - COIL__TIMER_LEAD_NS);
	coil__timer_disarm(&t, &a.tm);
	ck_assert(coil__timers_empty(&t));
	ck_assert_int_eq(coil__timers_next(&t), INT64_MAX);
	coil__timer_disarm(&t, &a.tm); /* twice: a no-op */
	ck_assert(coil__timers_empty(&t));
	coil__timers_fini(&t);
}
END_TEST

START_TEST(equal_deadlines_end_in_arm_order_wherever_they_waited)
{
	struct coil__timers t;
	start(&t);
	int64_t d = T0 + 5 * SEC;
	struct item it[6];
	for (int i = 0; i < 6; i++) {
		it[i].id = i;
		/* The clock moves between arms: the first ones are far, the
		 * last near (the same deadline, seen from later). */
		t.seen = T0 + i * SEC;
		arm(&t, &it[i], d);
	}
	ck_assert(it[0].tm.far);
	ck_assert(!it[5].tm.far);
	for (int i = 0; i < 6; i++) {
		struct item *got = take(&t, d);
		ck_assert_ptr_nonnull(got);
		ck_assert_int_eq(got->id, i);
	}
	ck_assert(coil__timers_empty(&t));
	coil__timers_fini(&t);
}
END_TEST

/* The heap's growth fails while fail_realloc is set (base/heap.c grows
 * with realloc): this binary's realloc, the C library's otherwise. */
static int fail_realloc;

void *realloc(void *p, size_t n)
{
	static void *(*next)(void *, size_t);
	if (fail_realloc)
		return NULL;
	if (!next)
		next = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	return next(p, n);
}

/* A sweep that finds no room in the heap gives each due far timer back
 * disarmed (its wait ends with -ENOMEM, turn.c), one at a time, ends, and
 * leaves the others armed. */
START_TEST(a_sweep_without_memory_gives_each_timer_back_disarmed)
{
	struct coil__timers t;
	start(&t);
	struct item a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	arm(&t, &a, T0 + 5 * SEC);
	arm(&t, &b, T0 + 5 * SEC + 1);
	arm(&t, &c, T0 + 30 * SEC);
	ck_assert_uint_eq(t.nfar, 3);
	fail_realloc = 1;
	int nomems = 0;
	struct coil__timer *tm, *nomem;
	int64_t now = T0 + 4 * SEC;
	while ((tm = coil__timers_take_due(&t, now, &nomem)) || nomem) {
		if (tm || coil__timer_armed(nomem) || (nomem != &a.tm && nomem != &b.tm) ||
		    ++nomems > 2)
			break;
	}
	fail_realloc = 0;
	ck_assert_int_eq(nomems, 2);
	ck_assert(coil__timer_armed(&c.tm));
	ck_assert_uint_eq(t.nfar, 1);
	ck_assert_int_le(coil__timers_next(&t), T0 + 30 * SEC - COIL__TIMER_LEAD_NS);
	coil__timer_disarm(&t, &c.tm);
	ck_assert(coil__timers_empty(&t));
	coil__timers_fini(&t);
}
END_TEST

/* Random arms (near and far), disarms and clock steps, checked against a
 * list of what is armed: the worker's next wake is never after an armed
 * deadline, and a look at the timers gives each one out exactly at the
 * first look at or after its deadline. */
START_TEST(the_worker_never_wakes_after_an_armed_deadline)
{
	enum {
		N = 400,
		STEPS = 20000
	};
	static struct item it[N];
	struct coil__timers t;
	start(&t);
	srand(7);
	int64_t now = T0;
	for (int i = 0; i < N; i++)
		it[i] = (struct item){.id = i};
	for (int step = 0; step < STEPS; step++) {
		int i = rand() % N;
		int what = rand() % 4;
		if (what == 0 && !it[i].armed) {
			/* 0-30 s ahead: many far, some near, some at once. */
			int64_t ahead = (int64_t)(rand() % 30000) * (SEC / 1000);
			arm(&t, &it[i], now + ahead);
		} else if (what == 1 && it[i].armed) {
			coil__timer_disarm(&t, &it[i].tm);
			it[i].armed = false;
		} else {
			/* The worker's look: at its next wake, or sooner (a
			 * completion woke it). */
			int64_t next = coil__timers_next(&t);
			int64_t step_to = now + (int64_t)(rand() % 3000) * (SEC / 1000);
			now = next != INT64_MAX && next < step_to ? (next > now ? next : now)
								  : step_to;
			struct item *got;
			while ((got = take(&t, now))) {
				if (!got->armed || got->deadline > now)
					ck_abort_msg("step %d: timer %d given out early or twice",
						     step, got->id);
				got->armed = false;
			}
			int left_due = 0;
			for (int k = 0; k < N; k++)
				left_due += it[k].armed && it[k].deadline <= now;
			if (left_due)
				ck_abort_msg("step %d: %d due timers not given out", step,
					     left_due);
			t.seen = now; /* as the tick leaves it */
		}
		/* Plain tests in the loops: a Check assertion is a write to a
		 * pipe, too dear 8 million times. */
		int64_t earliest = INT64_MAX;
		for (int k = 0; k < N; k++) {
			if (coil__timer_armed(&it[k].tm) != it[k].armed)
				ck_abort_msg("step %d: timer %d armed %d, should be %d", step, k,
					     coil__timer_armed(&it[k].tm), it[k].armed);
			if (it[k].armed && it[k].deadline < earliest)
				earliest = it[k].deadline;
		}
		if (coil__timers_next(&t) > earliest)
			ck_abort_msg("step %d: next wake %lld after a deadline %lld", step,
				     (long long)coil__timers_next(&t), (long long)earliest);
	}
	coil__timers_fini(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timers");
	TCase *tc = tcase_create("timers");
	tcase_add_test(tc, a_far_deadline_waits_on_the_list_and_reaches_the_heap_before_it_is_due);
	tcase_add_test(tc, a_disarmed_far_timer_leaves_nothing_to_wake_for);
	tcase_add_test(tc, equal_deadlines_end_in_arm_order_wherever_they_waited);
	tcase_add_test(tc, the_worker_never_wakes_after_an_armed_deadline);
	tcase_add_test(tc, a_sweep_without_memory_gives_each_timer_back_disarmed);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
