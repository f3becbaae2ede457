/*
 * coil_bg: a runtime on threads of its own behind command and event queues
 * (coil/bg.h), on every backend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

enum { CMD_ECHO, CMD_QUIT, EV_ECHO, EV_RESULT };

/* Echo each command back as an event, until the queue ends. */
static void *echo_main(coil_bg *bg, void *arg)
{
	struct coil_bg_command *c;
	int r;
	while ((r = coil_bg_recv(bg, &c)) == 0) {
		ck_assert_int_eq(coil_bg_emit(bg, EV_ECHO, 0, c->id, c->data, c->len), 0);
		coil_bg_command_free(c);
	}
	ck_assert_int_eq(r, -EPIPE);
	return NULL;
}

static int readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

static void expect_closed(coil_bg *bg, int result)
{
	struct coil_bg_event *ev;
	ck_assert_int_eq(coil_bg_next_event(bg, &ev, coil_test_mono_ns() + 5000000000LL), 0);
	ck_assert_int_eq(ev->kind, COIL_BG_CLOSED);
	ck_assert_int_eq(ev->result, result);
	coil_bg_event_free(ev);
	/* After stop (joined: every fd write landed), a call pays what the
	 * taker owed and the fd reads empty. */
	ck_assert_int_eq(coil_bg_stop(bg), result);
	ck_assert_int_eq(coil_bg_try_next_event(bg, &ev), -EPIPE);
	ck_assert_ptr_null(ev);
	ck_assert(!readable(coil_bg_event_fd(bg)));
}

START_TEST(commands_in_events_out_in_order_then_closed)
{
	coil_bg *bg;
	ck_assert_int_eq(coil_bg_start(&bg, NULL, 8, echo_main, NULL), 0);
	int efd = coil_bg_event_fd(bg);
	ck_assert_int_ge(efd, 0);
	ck_assert(!readable(efd));
	for (uint64_t i = 0; i < 2000; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof msg, "message %llu", (unsigned long long)i);
		ck_assert_int_eq(coil_bg_submit(bg, CMD_ECHO, i, msg, (size_t)n + 1, COIL_NO_DEADLINE), 0);
		if (i % 4 == 3) {
			for (uint64_t j = i - 3; j <= i; j++) {
				struct coil_bg_event *ev;
				ck_assert_int_eq(coil_bg_next_event(bg, &ev, COIL_NO_DEADLINE), 0);
				ck_assert_int_eq(ev->kind, EV_ECHO);
				ck_assert_int_eq(ev->id, j);
				n = snprintf(msg, sizeof msg, "message %llu", (unsigned long long)j);
				ck_assert_int_eq(ev->len, n + 1);
				ck_assert_str_eq(ev->data, msg);
				coil_bg_event_free(ev);
			}
		}
	}
	struct coil_bg_event *ev;
	/* The last event's write may land after it was taken (bg.c: a debt,
	 * paid at the next call): the fd is then readable for nothing, but
	 * only until that call. */
	if (readable(efd)) {
		ck_assert_int_eq(coil_bg_try_next_event(bg, &ev), -EAGAIN);
		ck_assert(!readable(efd));
	}
	ck_assert_int_eq(coil_bg_submit(bg, CMD_ECHO, 7, NULL, 0, COIL_NO_DEADLINE), 0);
	ck_assert_int_eq(coil_bg_next_event(bg, &ev, COIL_NO_DEADLINE), 0);
	ck_assert_ptr_null(ev->data);
	ck_assert_int_eq(ev->len, 0);
	coil_bg_event_free(ev);
	ck_assert_int_eq(coil_bg_stop(bg), 0);
	ck_assert_int_eq(coil_bg_try_submit(bg, CMD_ECHO, 1, "x", 1), -EPIPE);
	ck_assert_int_eq(coil_bg_submit(bg, CMD_ECHO, 1, "x", 1, COIL_NO_DEADLINE), -EPIPE);
	expect_closed(bg, 0);
	ck_assert_int_eq(coil_bg_stop(bg), 0); /* again: the same */
	coil_bg_free(bg);
}
END_TEST

/* Waits for the go-ahead before taking any command. */
static void *slow_main(coil_bg *bg, void *arg)
{
	coil_chan *go = arg;
	ck_assert_int_eq(coil_chan_recv(go, NULL), 0);
	return echo_main(bg, NULL);
}

START_TEST(a_full_queue_says_eagain_or_times_out_and_nothing_is_lost)
{
	coil_chan *go;
	ck_assert_int_eq(coil_chan_new_ex(&go, 0, 1, COIL_CHAN_THREADS), 0);
	coil_bg *bg;
	ck_assert_int_eq(coil_bg_start(&bg, NULL, 4, slow_main, go), 0);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert_int_eq(coil_bg_try_submit(bg, CMD_ECHO, i, &i, sizeof i), 0);
	ck_assert_int_eq(coil_bg_try_submit(bg, CMD_ECHO, 4, "x", 1), -EAGAIN);
	int64_t t0 = coil_test_mono_ns();
	ck_assert_int_eq(coil_bg_submit(bg, CMD_ECHO, 4, "x", 1, t0 + 20000000), -ETIMEDOUT);
	ck_assert_int_ge(coil_test_mono_ns() - t0, 20000000);
	struct coil_bg_event *ev;
	ck_assert_int_eq(coil_bg_try_next_event(bg, &ev), -EAGAIN);
	ck_assert_int_eq(coil_bg_next_event(bg, &ev, coil_test_mono_ns() + 10000000), -ETIMEDOUT);
	ck_assert_int_eq(coil_chan_send_until(go, NULL, COIL_NO_DEADLINE), 0);
	/* Blocking submits get through as the fiber drains (it then waits
	 * for event room: nobody takes events here). */
	for (uint64_t i = 4; i < 8; i++)
		ck_assert_int_eq(coil_bg_submit(bg, CMD_ECHO, i, &i, sizeof i, COIL_NO_DEADLINE), 0);
	/* Stop with commands and events queued: every command is received,
	 * every event kept. */
	ck_assert_int_eq(coil_bg_stop(bg), 0);
	for (uint64_t i = 0; i < 8; i++) {
		ck_assert_int_eq(coil_bg_try_next_event(bg, &ev), 0);
		ck_assert_int_eq(ev->id, i);
		ck_assert_int_eq(*(uint64_t *)ev->data, i);
		coil_bg_event_free(ev);
	}
	expect_closed(bg, 0);
	coil_bg_free(bg);
	coil_chan_free(go);
}
END_TEST

/* Emits n events without anyone reading, then returns. */
static void *flood_main(coil_bg *bg, void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++)
		ck_assert_int_eq(coil_bg_emit(bg, EV_ECHO, 0, (uint64_t)i, NULL, 0), 0);
	return NULL;
}

START_TEST(stop_while_the_runtime_waits_for_event_room_loses_nothing)
{
	coil_bg *bg;
	ck_assert_int_eq(coil_bg_start(&bg, NULL, 4, flood_main, (void *)(intptr_t)1000), 0);
	int efd = coil_bg_event_fd(bg);
	/* Main now waits for room (4 events queued). Stop must not hang. */
	ck_assert_int_eq(coil_bg_stop(bg), 0);
	for (long i = 0; i < 1000; i++) {
		ck_assert(readable(efd));
		struct coil_bg_event *ev;
		ck_assert_int_eq(coil_bg_try_next_event(bg, &ev), 0);
		ck_assert_int_eq(ev->kind, EV_ECHO);
		ck_assert_int_eq(ev->id, (uint64_t)i);
		coil_bg_event_free(ev);
	}
	expect_closed(bg, 0);
	coil_bg_free(bg);
}
END_TEST

/* Reports a timed-out sleep and a cancelled task: distinct results. */
static void *sleeps_long(void *arg)
{
	return (void *)(intptr_t)coil_sleep(3600 * 1000000000LL);
}

static void *results_main(coil_bg *bg, void *arg)
{
	coil_scope s;
	coil_scope_enter_timeout(&s, 5 * 1000000);
	int r = coil_sleep(3600 * 1000000000LL);
	coil_scope_exit(&s);
	ck_assert_int_eq(coil_bg_emit(bg, EV_RESULT, r, 1, NULL, 0), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, sleeps_long, NULL), 0);
	coil_task_yield();
	ck_assert_int_eq(coil_task_cancel(t), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq(coil_bg_emit(bg, EV_RESULT, (int)(intptr_t)res, 2, NULL, 0), 0);
	/* A fiber left running when main returns is cancelled. */
	ck_assert_int_eq(coil_task_spawn(NULL, sleeps_long, NULL), 0);
	return NULL;
}

START_TEST(timed_out_and_cancelled_are_distinct_results)
{
	coil_bg *bg;
	ck_assert_int_eq(coil_bg_start(&bg, NULL, 16, results_main, NULL), 0);
	struct coil_bg_event *ev;
	ck_assert_int_eq(coil_bg_next_event(bg, &ev, coil_test_mono_ns() + 5000000000LL), 0);
	ck_assert_int_eq(ev->id, 1);
	ck_assert_int_eq(ev->result, -ETIMEDOUT);
	coil_bg_event_free(ev);
	ck_assert_int_eq(coil_bg_next_event(bg, &ev, coil_test_mono_ns() + 5000000000LL), 0);
	ck_assert_int_eq(ev->id, 2);
	ck_assert_int_eq(ev->result, -ECANCELED);
	coil_bg_event_free(ev);
	/* main returned by itself: CLOSED comes without a stop */
	expect_closed(bg, 0);
	ck_assert_int_eq(coil_bg_stop(bg), 0);
	coil_bg_free(bg);
}
END_TEST

static void *emit_from(void *arg)
{
	coil_bg *bg = arg;
	return (void *)(intptr_t)coil_bg_emit(bg, EV_ECHO, 0, coil_worker_index(), NULL, 0);
}

static void *workers_main(coil_bg *bg, void *arg)
{
	unsigned n = coil_worker_count();
	for (unsigned w = 0; w < n; w++) {
		coil_task t;
		ck_assert_int_eq(coil_task_spawn_on(w, &t, emit_from, bg), 0);
		void *r;
		ck_assert_int_eq(coil_task_join(t, &r), 0);
		ck_assert_int_eq((intptr_t)r, 0);
	}
	return echo_main(bg, NULL);
}

START_TEST(several_workers_emit_and_bad_input_is_refused)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 3;
	coil_bg *bg;
	ck_assert_int_eq(coil_bg_start(&bg, &cfg, 8, workers_main, NULL), 0);
	for (uint64_t w = 0; w < 3; w++) {
		struct coil_bg_event *ev;
		ck_assert_int_eq(coil_bg_next_event(bg, &ev, coil_test_mono_ns() + 5000000000LL), 0);
		ck_assert_int_eq(ev->id, w);
		coil_bg_event_free(ev);
	}
	ck_assert_int_eq(coil_bg_try_submit(bg, -1, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(coil_bg_try_submit(bg, CMD_ECHO, 0, NULL, 5), -EINVAL);
	ck_assert_int_eq(coil_bg_try_submit(NULL, CMD_ECHO, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(coil_bg_emit(bg, -2, 0, 0, NULL, 0), -EINVAL);
	struct coil_bg_command *c;
	ck_assert_int_eq(coil_bg_recv(bg, &c), -EPERM); /* not a fiber */
	ck_assert_int_eq(coil_bg_stop(bg), 0);
	expect_closed(bg, 0);
	coil_bg_free(bg);

	ck_assert_int_eq(coil_bg_start(&bg, NULL, 0, echo_main, NULL), -EINVAL);
	ck_assert_int_eq(coil_bg_start(&bg, NULL, 4, NULL, NULL), -EINVAL);
	cfg.workers = 1;
	cfg.backend = "no-such-backend";
	ck_assert_int_lt(coil_bg_start(&bg, &cfg, 4, echo_main, NULL), 0);
	coil_bg_free(NULL);
	coil_bg_event_free(NULL);
	coil_bg_command_free(NULL);
}
END_TEST

static Suite *bg_suite(void)
{
	Suite *s = suite_create("bg");
	TCase *tc = tcase_create("bg");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, commands_in_events_out_in_order_then_closed);
	tcase_add_test(tc, a_full_queue_says_eagain_or_times_out_and_nothing_is_lost);
	tcase_add_test(tc, stop_while_the_runtime_waits_for_event_room_loses_nothing);
	tcase_add_test(tc, timed_out_and_cancelled_are_distinct_results);
	tcase_add_test(tc, several_workers_emit_and_bad_input_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(bg_suite());
}
