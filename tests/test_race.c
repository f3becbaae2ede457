/*
 * coil_race: the first op to complete wins, the others are cancelled and
 * waited for; an op that completed anyway is reported (its bytes are in its
 * buffer, its accepted fd is returned or closed), so nothing is lost or
 * leaked. On every backend.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

#define MS COIL_NSEC_PER_MSEC

static void *read_vs_sleep(void *arg)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	char buf[16];
	memset(buf, 'x', sizeof buf);
	struct coil_race_op ops[2] = {
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = buf, .len = sizeof buf},
		{.kind = COIL_RACE_SLEEP, .ns = 10 * MS},
	};
	ck_assert_int_eq(coil_race(ops, 2, 0), 1);
	ck_assert_int_eq(ops[1].res, 0);
	ck_assert_int_eq(ops[0].res, -ECANCELED);
	ck_assert_int_eq(buf[0], 'x'); /* the cancelled read wrote nothing */
	/* nothing was consumed: data sent now is read whole */
	ck_assert_int_eq(coil_sock_write_all(sv[1], "hello", 5), 5);
	ck_assert_int_eq(coil_sock_read_exact(sv[0], buf, 5), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(sleep_wins_over_a_read_with_no_data)
{
	coil_test_run(read_vs_sleep, NULL);
}
END_TEST

static void *sender_later(void *arg)
{
	coil_sleep(5 * MS);
	coil_sock_write_all(*(int *)arg, "data", 4);
	return NULL;
}

static void *read_wins(void *arg)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, sender_later, &sv[1]), 0);
	char buf[16];
	struct coil_race_op ops[2] = {
		{.kind = COIL_RACE_SLEEP, .ns = 10 * COIL_NSEC_PER_SEC},
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = buf, .len = sizeof buf},
	};
	ck_assert_int_eq(coil_race(ops, 2, 0), 1); /* the read won; the sleep was cancelled */
	ck_assert_int_eq(ops[1].res, 4);
	ck_assert_int_eq(memcmp(buf, "data", 4), 0);
	ck_assert_int_eq(ops[0].res, -ECANCELED);
	coil_task_join(t, NULL);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(read_wins_and_the_sleep_is_cancelled)
{
	coil_test_run(read_wins, NULL);
}
END_TEST

/* Both sockets have data: whichever loses may still have read; its count
 * is reported and its bytes are in its buffer, so the two results plus
 * what is left in the sockets account for every byte sent. */
static void *both_ready(void *arg)
{
	for (int round = 0; round < 50; round++) {
		int a[2], b[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
		ck_assert_int_eq(coil_sock_write_all(a[1], "AAAA", 4), 4);
		ck_assert_int_eq(coil_sock_write_all(b[1], "BBBB", 4), 4);
		shutdown(a[1], SHUT_WR);
		shutdown(b[1], SHUT_WR);
		char ba[8], bb[8];
		struct coil_race_op ops[2] = {
			{.kind = COIL_RACE_SOCK_READ, .fd = a[0], .buf = ba, .len = sizeof ba},
			{.kind = COIL_RACE_SOCK_READ, .fd = b[0], .buf = bb, .len = sizeof bb},
		};
		int win = coil_race(ops, 2, 0);
		ck_assert(win == 0 || win == 1);
		ck_assert_int_eq(ops[win].res, 4);
		int fds[2] = {a[0], b[0]};
		char *bufs[2] = {ba, bb};
		for (int i = 0; i < 2; i++) {
			ssize_t got = ops[i].res;
			ck_assert(got == 4 || got == -ECANCELED);
			if (got == 4)
				ck_assert_int_eq(memcmp(bufs[i], i ? "BBBB" : "AAAA", 4), 0);
			char rest[8];
			ssize_t left = coil_sock_read(fds[i], rest, sizeof rest);
			ck_assert_int_eq((got == 4 ? 4 : 0) + left, 4);
		}
		coil_close(a[0]);
		coil_close(a[1]);
		coil_close(b[0]);
		coil_close(b[1]);
	}
	return NULL;
}

START_TEST(a_loser_that_completed_anyway_is_reported)
{
	coil_test_run(both_ready, NULL);
}
END_TEST

static void *two_accepts(void *arg)
{
	int before = coil_test_count_fds();
	for (int round = 0; round < 50; round++) {
		int l1 = coil_tcp_listen("127.0.0.1", 0, 8, 0), l2 = coil_tcp_listen("127.0.0.1", 0, 8, 0);
		ck_assert_int_ge(l1, 0);
		ck_assert_int_ge(l2, 0);
		int c1 = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(l1));
		int c2 = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(l2));
		ck_assert_int_ge(c1, 0);
		ck_assert_int_ge(c2, 0);
		struct coil_race_op ops[2] = {
			{.kind = COIL_RACE_ACCEPT, .fd = l1},
			{.kind = COIL_RACE_ACCEPT, .fd = l2},
		};
		int win = coil_race(ops, 2, COIL_RACE_CLOSE_LOSERS);
		ck_assert(win == 0 || win == 1);
		ck_assert_int_ge(ops[win].res, 0);
		ck_assert_int_eq(ops[!win].res, -ECANCELED);
		coil_close((int)ops[win].res);
		coil_close(c1);
		coil_close(c2);
		coil_close(l1);
		coil_close(l2);
	}
	ck_assert_int_eq(coil_test_count_fds(), before);
	return NULL;
}

START_TEST(accepts_that_lose_are_closed_never_leaked)
{
	coil_test_run(two_accepts, NULL);
}
END_TEST

static void *race_in_scope(void *arg)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	char b1[4], b2[4];
	struct coil_race_op ops[2] = {
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = b1, .len = sizeof b1},
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[1], .buf = b2, .len = sizeof b2},
	};
	coil_scope s;
	coil_scope_enter_timeout(&s, 10 * MS);
	ck_assert_int_eq(coil_race(ops, 2, 0), -ETIMEDOUT);
	coil_scope_exit(&s);
	ck_assert(ops[0].res == -ETIMEDOUT || ops[0].res == -ECANCELED);
	ck_assert(ops[1].res == -ETIMEDOUT || ops[1].res == -ECANCELED);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(a_scope_deadline_ends_the_race)
{
	coil_test_run(race_in_scope, NULL);
}
END_TEST

static void *racer(void *arg)
{
	int *sv = arg;
	char b1[4];
	struct coil_race_op ops[2] = {
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = b1, .len = sizeof b1},
		{.kind = COIL_RACE_SLEEP, .ns = 10 * COIL_NSEC_PER_SEC},
	};
	return (void *)(intptr_t)coil_race(ops, 2, 0);
}

static void *cancel_racer(void *arg)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, racer, sv), 0);
	coil_sleep(5 * MS);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);
	/* invalid arguments */
	struct coil_race_op bad = {.kind = 99};
	ck_assert_int_eq(coil_race(&bad, 1, 0), -EINVAL);
	ck_assert_int_eq(coil_race(NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(coil_race(&bad, 0, 0), -EINVAL);
	ck_assert_int_eq(coil_race(&bad, COIL_RACE_MAX + 1, 0), -EINVAL);
	struct coil_race_op nobuf = {.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .len = 4};
	ck_assert_int_eq(coil_race(&nobuf, 1, 0), -EINVAL);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(cancelling_the_task_ends_the_race)
{
	coil_test_run(cancel_racer, NULL);
	struct coil_race_op op = {.kind = COIL_RACE_SLEEP};
	ck_assert_int_eq(coil_race(&op, 1, 0), -EPERM);
}
END_TEST

/* A read of 0 bytes is coil_sock_read's: 0 at once, not a wait for data
 * it cannot take (it waited for data, or for the sleep, before). */
static void *empty_read(void *arg)
{
	(void)arg;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	char buf[4];
	struct coil_race_op ops[3] = {
		{.kind = COIL_RACE_SLEEP, .ns = 10 * COIL_NSEC_PER_SEC},
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = buf, .len = 0},
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = buf, .len = sizeof buf},
	};
	ck_assert_int_eq(coil_race(ops, 3, 0), 1);
	ck_assert_int_eq(ops[1].res, 0);
	ck_assert_int_eq(ops[0].res, -ECANCELED);
	ck_assert_int_eq(ops[2].res, -ECANCELED);
	/* nothing was taken from the socket */
	ck_assert_int_eq(coil_sock_write_all(sv[1], "abcd", 4), 4);
	ck_assert_int_eq(coil_sock_read_exact(sv[0], buf, 4), 4);
	/* still a cancellation point, as coil_sock_read(fd, buf, 0) is */
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter(&s, coil_now() - 1), 0);
	ck_assert_int_eq(coil_race(&ops[1], 1, 0), -ETIMEDOUT);
	ck_assert_int_eq(coil_scope_exit(&s), -ETIMEDOUT);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(a_zero_byte_read_wins_at_once_as_coil_sock_read_returns)
{
	coil_test_run(empty_read, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("race");
	TCase *tc = tcase_create("race");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sleep_wins_over_a_read_with_no_data);
	tcase_add_test(tc, read_wins_and_the_sleep_is_cancelled);
	tcase_add_test(tc, a_loser_that_completed_anyway_is_reported);
	tcase_add_test(tc, accepts_that_lose_are_closed_never_leaked);
	tcase_add_test(tc, a_scope_deadline_ends_the_race);
	tcase_add_test(tc, cancelling_the_task_ends_the_race);
	tcase_add_test(tc, a_zero_byte_read_wins_at_once_as_coil_sock_read_returns);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
