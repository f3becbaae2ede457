/* Select: ready cases, send, join, fairness, non-blocking, deadlines,
 * cancellation, close, sharing channels with plain blocked calls, and many
 * fibers selecting on shared channels with checksums. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void yield_n(int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(coil_task_yield(), 0);
}

#define RECV(ch, out) COIL_SELECT_RECV_CASE(ch, out)
#define SEND(ch, in) COIL_SELECT_SEND_CASE(ch, in)
#define JOIN(t, res) COIL_SELECT_JOIN_CASE(t, res)

/* A fiber that runs one select and records the outcome. */
struct selector {
	struct coil_select_case cs[8];
	int n;
	int64_t deadline;
	coil_scope *scope;
	int rc;
	int done;
};

static void *select_fiber(void *arg)
{
	struct selector *s = arg;
	s->rc = coil_select(s->cs, s->n, s->deadline, 0);
	s->done = 1;
	return NULL;
}

struct plain {
	coil_chan *ch;
	int value;
	int rc;
	int done;
};

static void *plain_recv(void *arg)
{
	struct plain *p = arg;
	p->rc = coil_chan_recv(p->ch, &p->value);
	p->done = 1;
	return NULL;
}

static void *plain_send(void *arg)
{
	struct plain *p = arg;
	p->rc = coil_chan_send(p->ch, &p->value);
	p->done = 1;
	return NULL;
}

/* ---- receive ------------------------------------------------------------------------ */

static void *recv_ready_main(void *arg)
{
	(void)arg;
	coil_chan *ch[4];
	ck_assert_int_eq(coil_chan_new(&ch[0], sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&ch[1], sizeof(int), 1), 0);
	ck_assert_int_eq(coil_chan_new(&ch[2], sizeof(int), 4), 0);
	ck_assert_int_eq(coil_chan_new(&ch[3], sizeof(int), COIL_CHAN_UNBOUNDED), 0);
	for (int k = 0; k < 4; k++) {
		int v = 100 + k;
		ck_assert_int_eq(coil_chan_try_send(ch[k], &v), k == 0 ? -EAGAIN : 0);
		int out[4] = {-1, -1, -1, -1};
		struct coil_select_case cs[4];
		for (int i = 0; i < 4; i++) {
			cs[i] = RECV(ch[i], &out[i]);
			cs[i].res = 12345;
		}
		/* only ch[k] has a value (k > 0) */
		if (k == 0)
			continue;
		int r = coil_select(cs, 4, COIL_NO_DEADLINE, 0);
		ck_assert_int_eq(r, k);
		ck_assert_int_eq(cs[k].res, 0);
		for (int i = 0; i < 4; i++) {
			ck_assert_int_eq(out[i], i == k ? 100 + k : -1);
			ck_assert_int_eq(coil_chan_len(ch[i]), 0);
			if (i != k)
				ck_assert_int_eq(cs[i].res, 12345); /* untouched */
		}
	}

	/* a blocked sender on a rendezvous channel is ready too */
	struct plain p = {ch[0], 7, 1, 0};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, plain_send, &p), 0);
	yield_n(2);
	int out[4] = {-1, -1, -1, -1};
	struct coil_select_case cs[4] = {RECV(ch[1], &out[1]), RECV(ch[0], &out[0]),
					 RECV(ch[2], &out[2]), RECV(ch[3], &out[3])};
	ck_assert_int_eq(coil_select(cs, 4, COIL_NO_DEADLINE, 0), 1);
	ck_assert_int_eq(out[0], 7);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(p.rc, 0);

	/* nothing ready: it waits, and the first value to come wins */
	struct selector s = {.n = 4, .deadline = COIL_NO_DEADLINE};
	for (int i = 0; i < 4; i++)
		s.cs[i] = RECV(ch[i], &out[i]);
	memset(out, 0xff, sizeof out);
	ck_assert_int_eq(coil_task_spawn(&t, select_fiber, &s), 0);
	yield_n(3);
	ck_assert_int_eq(s.done, 0);
	int v = 55;
	ck_assert_int_eq(coil_chan_try_send(ch[0], &v), 0); /* straight into out[0] */
	ck_assert_int_eq(out[0], 55);
	v = 56;
	ck_assert_int_eq(coil_chan_try_send(ch[0], &v), -EAGAIN); /* its other cases left */
	ck_assert_int_eq(coil_chan_try_send(ch[2], &v), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_eq(s.cs[0].res, 0);
	ck_assert_int_eq(out[2], -1);
	ck_assert_int_eq(coil_chan_len(ch[2]), 1);
	ck_assert_int_eq(coil_chan_try_recv(ch[2], &v), 0);
	ck_assert_int_eq(v, 56);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_chan_free(ch[i]), 0);
	return NULL;
}

START_TEST(recv_takes_from_the_one_ready_channel_among_several)
{
	coil_test_run(recv_ready_main, NULL);
}
END_TEST

/* ---- send ------------------------------------------------------------------------------- */

static void *send_main(void *arg)
{
	(void)arg;
	coil_chan *a, *b, *c;
	ck_assert_int_eq(coil_chan_new(&a, sizeof(int), 1), 0);
	ck_assert_int_eq(coil_chan_new(&b, sizeof(int), 1), 0);
	ck_assert_int_eq(coil_chan_new(&c, sizeof(int), 0), 0);
	int v = 1;
	ck_assert_int_eq(coil_chan_try_send(a, &v), 0); /* a full, b has room */
	int x = 10, y = 20, z = 30;
	struct coil_select_case cs[3] = {SEND(a, &x), SEND(b, &y), SEND(c, &z)};
	ck_assert_int_eq(coil_select(cs, 3, COIL_NO_DEADLINE, 0), 1);
	ck_assert_int_eq(cs[1].res, 0);
	ck_assert_int_eq(coil_chan_len(a), 1);
	ck_assert_int_eq(coil_chan_len(b), 1);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), 0);
	ck_assert_int_eq(v, 20);
	ck_assert_int_eq(coil_chan_try_send(b, &v), 0); /* b full again */

	/* all full: it waits; a receiver on the rendezvous channel takes z */
	struct selector s = {.n = 3, .deadline = COIL_NO_DEADLINE};
	memcpy(s.cs, cs, sizeof cs);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, select_fiber, &s), 0);
	yield_n(2);
	ck_assert_int_eq(s.done, 0);
	ck_assert_int_eq(coil_chan_recv(c, &v), 0);
	ck_assert_int_eq(v, 30);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, 2);
	ck_assert_int_eq(s.cs[2].res, 0);
	/* x and y were not sent: a and b hold only their old values */
	ck_assert_int_eq(coil_chan_try_recv(a, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), 0);
	ck_assert_int_eq(v, 20);
	ck_assert_int_eq(coil_chan_try_recv(a, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), -EAGAIN);

	/* a blocked receiver makes a send case ready; a receive from a full
	 * bounded channel, the blocked select's send case */
	struct plain p = {c, -1, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&t, plain_recv, &p), 0);
	yield_n(1);
	v = 77;
	struct coil_select_case one[2] = {RECV(a, &x), SEND(c, &v)};
	ck_assert_int_eq(coil_select(one, 2, COIL_NO_DEADLINE, 0), 1);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(p.value, 77);

	v = 5;
	ck_assert_int_eq(coil_chan_try_send(a, &v), 0);
	x = 6;
	s = (struct selector){.n = 1, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = SEND(a, &x);
	ck_assert_int_eq(coil_task_spawn(&t, select_fiber, &s), 0);
	yield_n(2);
	ck_assert_int_eq(coil_chan_recv(a, &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(coil_chan_len(a), 1); /* x took the freed slot */
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_eq(coil_chan_recv(a, &v), 0);
	ck_assert_int_eq(v, 6);

	ck_assert_int_eq(coil_chan_free(a), 0);
	ck_assert_int_eq(coil_chan_free(b), 0);
	ck_assert_int_eq(coil_chan_free(c), 0);
	return NULL;
}

START_TEST(send_cases_send_exactly_one_value)
{
	coil_test_run(send_main, NULL);
}
END_TEST

/* ---- join ------------------------------------------------------------------------------- */

static void *sleeper(void *arg)
{
	coil_sleep(2 * COIL_NSEC_PER_MSEC);
	return arg;
}

static void *quick(void *arg)
{
	return arg;
}

/* A task that ends when the test says so (gate_open), not after a time:
 * a case that must not fire yet cannot fire on a slow machine. */
static coil_chan *gate;

static void *gated(void *arg)
{
	int z;
	ck_assert_int_eq(coil_chan_recv(gate, &z), 0);
	return arg;
}

static void gate_new(void)
{
	ck_assert_int_eq(coil_chan_new(&gate, sizeof(int), 0), 0);
}

/* Let one gated task end. */
static void gate_open(void)
{
	int z = 0;
	ck_assert_int_eq(coil_chan_send(gate, &z), 0);
}

static void *join_select_self(void *arg)
{
	(void)arg;
	void *res;
	struct coil_select_case cs[1] = {JOIN(coil_task_current(), &res)};
	return (void *)(intptr_t)coil_select(cs, 1, COIL_NO_DEADLINE, 0);
}

static void *join_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 1), 0);
	int v = -1;
	void *res = NULL;

	/* blocking: the task finishes first */
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, sleeper, (void *)0x42), 0);
	struct coil_select_case cs[2] = {RECV(ch, &v), JOIN(t, &res)};
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), 1);
	ck_assert_int_eq(cs[1].res, 0);
	ck_assert_ptr_eq(res, (void *)0x42);
	ck_assert_int_eq(coil_task_join(t, NULL), -ESRCH); /* released */
	ck_assert_int_eq(v, -1);

	/* already finished at the call */
	ck_assert_int_eq(coil_task_spawn(&t, quick, (void *)0x43), 0);
	yield_n(2);
	cs[1] = JOIN(t, &res);
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, COIL_SELECT_NONBLOCK), 1);
	ck_assert_ptr_eq(res, (void *)0x43);
	ck_assert_int_eq(coil_task_detach(t), -ESRCH);

	/* result NULL is allowed */
	ck_assert_int_eq(coil_task_spawn(&t, quick, NULL), 0);
	cs[1] = JOIN(t, NULL);
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), 1);

	/* another case fires: the task stays joinable */
	gate_new();
	ck_assert_int_eq(coil_task_spawn(&t, gated, (void *)0x44), 0);
	v = 9;
	ck_assert_int_eq(coil_chan_try_send(ch, &v), 0);
	v = -1;
	cs[1] = JOIN(t, &res);
	res = NULL;
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), 0);
	ck_assert_int_eq(v, 9);
	ck_assert_ptr_eq(res, NULL);
	/* and while it waits, it is joined by select: plain join is busy */
	struct selector s = {.n = 2, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = RECV(ch, &v);
	s.cs[1] = JOIN(t, &res);
	coil_task st;
	ck_assert_int_eq(coil_task_spawn(&st, select_fiber, &s), 0);
	yield_n(1);
	ck_assert_int_eq(coil_task_join(t, NULL), -EBUSY);
	ck_assert_int_eq(coil_task_detach(t), -EBUSY);
	struct coil_select_case busy[1] = {JOIN(t, NULL)};
	busy[0].res = 1;
	ck_assert_int_eq(coil_select(busy, 1, COIL_NO_DEADLINE, 0), -EBUSY);
	ck_assert_int_eq(busy[0].res, -EBUSY);
	gate_open();
	ck_assert_int_eq(coil_task_join(st, NULL), 0);
	ck_assert_int_eq(s.rc, 1);
	ck_assert_ptr_eq(res, (void *)0x44);

	/* a channel fires while a JOIN case waits: the join is unlinked */
	ck_assert_int_eq(coil_task_spawn(&t, gated, (void *)0x45), 0);
	s.cs[1] = JOIN(t, &res);
	s.done = 0;
	ck_assert_int_eq(coil_task_spawn(&st, select_fiber, &s), 0);
	yield_n(1);
	v = 3;
	ck_assert_int_eq(coil_chan_send(ch, &v), 0);
	ck_assert_int_eq(coil_task_join(st, NULL), 0);
	ck_assert_int_eq(s.rc, 0);
	gate_open();
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x45);
	ck_assert_int_eq(coil_chan_free(gate), 0);

	/* errors */
	struct coil_select_case e[2] = {RECV(ch, &v), JOIN(t, NULL)};
	ck_assert_int_eq(coil_select(e, 2, COIL_NO_DEADLINE, 0), -ESRCH); /* joined */
	ck_assert_int_eq(e[1].res, -ESRCH);
	e[1] = JOIN(0, NULL);
	ck_assert_int_eq(coil_select(e, 2, COIL_NO_DEADLINE, 0), -ESRCH);
	ck_assert_int_eq(coil_task_spawn(&t, sleeper, NULL), 0);
	ck_assert_int_eq(coil_task_detach(t), 0);
	e[1] = JOIN(t, NULL); /* detached */
	ck_assert_int_eq(coil_select(e, 2, COIL_NO_DEADLINE, 0), -ESRCH);
	e[1] = JOIN(coil_task_current(), NULL); /* main */
	ck_assert_int_eq(coil_select(e, 2, COIL_NO_DEADLINE, 0), -EDEADLK);
	ck_assert_int_eq(coil_task_spawn(&t, join_select_self, NULL), 0);
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EDEADLK);
	ck_assert_int_eq(coil_task_spawn(&t, quick, NULL), 0);
	struct coil_select_case dup[3] = {JOIN(t, NULL), RECV(ch, &v), JOIN(t, NULL)};
	ck_assert_int_eq(coil_select(dup, 3, COIL_NO_DEADLINE, 0), -EINVAL);
	ck_assert_int_eq(dup[2].res, -EINVAL);
	ck_assert_int_eq(coil_task_detach(t), 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(join_cases_release_the_task_only_when_they_fire)
{
	coil_test_run(join_main, NULL);
}
END_TEST

/* ---- fairness ------------------------------------------------------------------------- */

#define FAIR_N 10000

static void *fair_main(void *arg)
{
	(void)arg;
	coil_chan *ch[3];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_chan_new(&ch[i], sizeof(int), 1), 0);
	int v = 0;
	/* two always-ready channels */
	ck_assert_int_eq(coil_chan_try_send(ch[0], &v), 0);
	ck_assert_int_eq(coil_chan_try_send(ch[1], &v), 0);
	int count[3] = {0};
	long bad = 0;
	for (int k = 0; k < FAIR_N; k++) {
		struct coil_select_case cs[2] = {RECV(ch[0], &v), RECV(ch[1], &v)};
		int r = coil_select(cs, 2, COIL_NO_DEADLINE, 0);
		if (r < 0 || r > 1 || cs[r].res != 0) {
			bad++;
			continue;
		}
		count[r]++;
		bad += coil_chan_try_send(ch[r], &v) != 0; /* ready again */
	}
	ck_assert_int_eq(bad, 0);
	fprintf(stderr, "fairness, 2 ready of 2: %d / %d\n", count[0], count[1]);
	ck_assert_msg(count[0] >= FAIR_N * 4 / 10 && count[0] <= FAIR_N * 6 / 10,
		      "case 0 chosen %d times of %d", count[0], FAIR_N);

	/* two ready among three, the never-ready one first: still even (a
	 * random start alone would favour the case after the idle one) */
	count[0] = count[1] = count[2] = 0;
	for (int k = 0; k < FAIR_N; k++) {
		struct coil_select_case cs[3] = {RECV(ch[2], &v), RECV(ch[0], &v),
						 RECV(ch[1], &v)};
		int r = coil_select(cs, 3, COIL_NO_DEADLINE, 0);
		if (r < 1 || r > 2) {
			bad++;
			continue;
		}
		count[r]++;
		bad += coil_chan_try_send(ch[r - 1], &v) != 0;
	}
	ck_assert_int_eq(bad, 0);
	fprintf(stderr, "fairness, 2 ready of 3: %d / %d / %d\n", count[0], count[1], count[2]);
	ck_assert_int_eq(count[0], 0);
	ck_assert_msg(count[1] >= FAIR_N * 4 / 10 && count[1] <= FAIR_N * 6 / 10,
		      "case 1 chosen %d times of %d", count[1], FAIR_N);

	/* send cases too: two channels with room */
	ck_assert_int_eq(coil_chan_try_recv(ch[0], &v), 0);
	ck_assert_int_eq(coil_chan_try_recv(ch[1], &v), 0);
	count[0] = count[1] = 0;
	for (int k = 0; k < FAIR_N; k++) {
		struct coil_select_case cs[2] = {SEND(ch[0], &v), SEND(ch[1], &v)};
		int r = coil_select(cs, 2, COIL_NO_DEADLINE, COIL_SELECT_NONBLOCK);
		if (r < 0 || r > 1) {
			bad++;
			continue;
		}
		count[r]++;
		bad += coil_chan_try_recv(ch[r], &v) != 0;
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_msg(count[0] >= FAIR_N * 4 / 10 && count[0] <= FAIR_N * 6 / 10,
		      "send case 0 chosen %d times of %d", count[0], FAIR_N);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_chan_free(ch[i]), 0);
	return NULL;
}

START_TEST(fairness_two_always_ready_cases_are_each_chosen_about_half_the_time)
{
	coil_test_run(fair_main, NULL);
}
END_TEST

/* ---- non-blocking --------------------------------------------------------------------- */

static void *nonblock_cancelled(void *arg)
{
	coil_chan *ch = arg;
	int v = -1;
	ck_assert_int_eq(coil_task_cancel(coil_task_current()), 0);
	struct coil_select_case cs[1] = {RECV(ch, &v)};
	/* blocking: a cancellation point even with a case ready */
	ck_assert_int_eq(coil_select(cs, 1, COIL_NO_DEADLINE, 0), -ECANCELED);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(coil_chan_len(ch), 1);
	/* non-blocking: like a try_ form, it still works */
	ck_assert_int_eq(coil_select(cs, 1, COIL_NO_DEADLINE, COIL_SELECT_NONBLOCK), 0);
	ck_assert_int_eq(v, 8);
	return NULL;
}

static void *nonblock_main(void *arg)
{
	(void)arg;
	coil_chan *full, *empty, *rdv;
	ck_assert_int_eq(coil_chan_new(&full, sizeof(int), 2), 0);
	ck_assert_int_eq(coil_chan_new(&empty, sizeof(int), 2), 0);
	ck_assert_int_eq(coil_chan_new(&rdv, sizeof(int), 0), 0);
	int v = 1;
	ck_assert_int_eq(coil_chan_try_send(full, &v), 0);
	v = 2;
	ck_assert_int_eq(coil_chan_try_send(full, &v), 0);
	int x = 100, y = -1, z = -1;
	struct coil_select_case cs[4] = {SEND(full, &x), RECV(empty, &y), RECV(rdv, &z),
					 SEND(rdv, &x)};
	for (int k = 0; k < 100; k++)
		ck_assert_int_eq(coil_select(cs, 4, COIL_NO_DEADLINE, COIL_SELECT_NONBLOCK),
				 -EAGAIN);
	ck_assert_int_eq(y, -1);
	ck_assert_int_eq(z, -1);
	ck_assert_int_eq(coil_chan_len(full), 2);
	ck_assert_int_eq(coil_chan_len(empty), 0);
	ck_assert_int_eq(coil_chan_try_recv(full, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(coil_chan_try_recv(full, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(coil_chan_try_recv(full, &v), -EAGAIN);
	/* nothing of the select is left in the queues */
	ck_assert_int_eq(coil_chan_try_send(rdv, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_try_recv(rdv, &v), -EAGAIN);
	/* now two are ready: room in full, a value in empty */
	v = 6;
	ck_assert_int_eq(coil_chan_try_send(empty, &v), 0);
	int r = coil_select(cs, 4, COIL_NO_DEADLINE, COIL_SELECT_NONBLOCK);
	ck_assert(r == 0 || r == 1);
	ck_assert_int_eq(cs[r].res, 0);
	if (r == 0) {
		ck_assert_int_eq(coil_chan_len(full), 1);
		ck_assert_int_eq(coil_chan_len(empty), 1);
		ck_assert_int_eq(coil_chan_try_recv(empty, &v), 0);
	} else {
		ck_assert_int_eq(y, 6);
		ck_assert_int_eq(coil_chan_len(full), 0);
	}

	/* in a cancelled task */
	v = 8;
	ck_assert_int_eq(coil_chan_try_send(empty, &v), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, nonblock_cancelled, empty), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);

	ck_assert_int_eq(coil_chan_free(full), 0);
	ck_assert_int_eq(coil_chan_free(empty), 0);
	ck_assert_int_eq(coil_chan_free(rdv), 0);
	return NULL;
}

START_TEST(nonblock_with_nothing_ready_is_eagain_and_consumes_nothing)
{
	coil_test_run(nonblock_main, NULL);
}
END_TEST

/* ---- deadlines ------------------------------------------------------------------------- */

#define DL_VALUES 200

struct dl_producer {
	coil_chan *a, *b;
};

static void *dl_produce(void *arg)
{
	struct dl_producer *p = arg;
	for (int i = 0; i < DL_VALUES; i++) {
		if (i % 20 == 0)
			coil_sleep(3 * COIL_NSEC_PER_MSEC); /* let selects time out */
		if (coil_chan_send(i & 1 ? p->b : p->a, &i) != 0)
			return (void *)1;
	}
	return NULL;
}

static void *deadline_main(void *arg)
{
	(void)arg;
	coil_chan *a, *b;
	ck_assert_int_eq(coil_chan_new(&a, sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&b, sizeof(int), 2), 0);
	int x = -1, y = -1, z = 5;
	struct coil_select_case cs[3] = {RECV(a, &x), RECV(b, &y), SEND(a, &z)};

	/* nothing comes: -ETIMEDOUT after the deadline, nothing done */
	int64_t t0 = coil_test_mono_ns();
	ck_assert_int_eq(coil_select(cs, 3, coil_now() + 20 * COIL_NSEC_PER_MSEC, 0),
			 -ETIMEDOUT);
	int64_t dt = coil_test_mono_ns() - t0;
	ck_assert_msg(dt >= 19 * COIL_NSEC_PER_MSEC, "timed out after %lld ns", (long long)dt);
	ck_assert_int_eq(x, -1);
	ck_assert_int_eq(y, -1);
	ck_assert_int_eq(coil_chan_try_send(a, &z), -EAGAIN); /* no receiver left */
	ck_assert_int_eq(coil_chan_try_recv(a, &z), -EAGAIN); /* no sender left */

	/* a deadline already passed: -ETIMEDOUT at once when nothing is ready,
	 * but a ready case still fires */
	ck_assert_int_eq(coil_select(cs, 3, coil_now() - 1, 0), -ETIMEDOUT);
	int v = 4;
	ck_assert_int_eq(coil_chan_try_send(b, &v), 0);
	ck_assert_int_eq(coil_select(cs, 3, 0, 0), 1);
	ck_assert_int_eq(y, 4);
	/* nor does a sender that would run in the same turn: the select is
	 * over before it runs, and its value stays for the next receiver */
	struct plain ps = {.ch = a, .value = 9};
	coil_task st;
	ck_assert_int_eq(coil_task_spawn(&st, plain_send, &ps), 0);
	x = -1;
	ck_assert_int_eq(coil_select(cs, 2, coil_now() - 1, 0), -ETIMEDOUT);
	ck_assert_int_eq(x, -1);
	ck_assert_int_eq(coil_chan_recv(a, &x), 0);
	ck_assert_int_eq(x, 9);
	ck_assert_int_eq(coil_task_join(st, NULL), 0);
	ck_assert_int_eq(ps.rc, 0);

	/* an enclosing scope's deadline, earlier than the select's */
	coil_scope sc;
	ck_assert_int_eq(coil_scope_enter_timeout(&sc, 5 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_select(cs, 3, coil_now() + COIL_NSEC_PER_SEC, 0), -ETIMEDOUT);
	/* and once it passed, even a ready case does not fire (like any
	 * blocking call in an expired scope) */
	ck_assert_int_eq(coil_chan_try_send(b, &v), 0);
	ck_assert_int_eq(coil_select(cs, 3, COIL_NO_DEADLINE, 0), -ETIMEDOUT);
	ck_assert_int_eq(coil_chan_len(b), 1);
	ck_assert_int_eq(coil_scope_exit(&sc), -ETIMEDOUT);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), 0);
	/* the select's deadline inside a longer scope: the scope is unharmed */
	ck_assert_int_eq(coil_scope_enter_timeout(&sc, 10 * COIL_NSEC_PER_SEC), 0);
	ck_assert_int_eq(coil_select(cs, 3, coil_now() + COIL_NSEC_PER_MSEC, 0), -ETIMEDOUT);
	ck_assert_int_eq(coil_scope_exit(&sc), 0);

	/* selects that keep timing out while values arrive: none is lost
	 * (rendezvous channels, so values come in order) */
	ck_assert_int_eq(coil_chan_free(a), 0);
	ck_assert_int_eq(coil_chan_free(b), 0);
	ck_assert_int_eq(coil_chan_new(&a, sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&b, sizeof(int), 0), 0);
	struct dl_producer p = {a, b};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, dl_produce, &p), 0);
	uint8_t seen[DL_VALUES] = {0};
	int got = 0, timeouts = 0;
	struct coil_select_case rc[2] = {RECV(a, &x), RECV(b, &y)};
	while (got < DL_VALUES / 2) {
		int r = coil_select(rc, 2, coil_now() + COIL_NSEC_PER_MSEC / 2, 0);
		if (r == -ETIMEDOUT) {
			timeouts++;
			continue;
		}
		ck_assert_int_ge(r, 0);
		ck_assert_int_eq(rc[r].res, 0);
		v = r == 0 ? x : y;
		ck_assert_int_eq(v, got);
		ck_assert_int_eq(seen[v]++, 0);
		got++;
	}
	/* the rest by plain receives */
	while (got < DL_VALUES) {
		ck_assert_int_eq(coil_chan_recv(got & 1 ? b : a, &v), 0);
		ck_assert_int_eq(v, got);
		ck_assert_int_eq(seen[v]++, 0);
		got++;
	}
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_eq(res, NULL);
	fprintf(stderr, "deadline: %d timeouts while receiving %d values\n", timeouts,
		DL_VALUES);
	ck_assert_int_gt(timeouts, 0);
	ck_assert_int_eq(coil_chan_len(b), 0);
	ck_assert_int_eq(coil_chan_free(a), 0);
	ck_assert_int_eq(coil_chan_free(b), 0);
	return NULL;
}

START_TEST(deadline_is_etimedout_and_no_value_is_lost)
{
	coil_test_run(deadline_main, NULL);
}
END_TEST

/* ---- cancellation ----------------------------------------------------------------------- */

static void *scope_select(void *arg)
{
	struct selector *s = arg;
	coil_scope sc;
	coil_scope_enter(&sc, COIL_NO_DEADLINE);
	s->scope = &sc;
	s->rc = coil_select(s->cs, s->n, s->deadline, 0);
	coil_scope_exit(&sc);
	s->done = 1;
	return NULL;
}

static void *cancel_main(void *arg)
{
	(void)arg;
	coil_chan *a, *b;
	ck_assert_int_eq(coil_chan_new(&a, sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&b, sizeof(int), 1), 0);
	int v = 1;
	ck_assert_int_eq(coil_chan_try_send(b, &v), 0); /* b full */
	coil_task j;
	gate_new();
	ck_assert_int_eq(coil_task_spawn(&j, gated, (void *)0x51), 0);

	int x = -1, y = 2;
	struct selector s = {.n = 4, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = RECV(a, &x);
	s.cs[1] = SEND(a, &y);
	s.cs[2] = SEND(b, &y);
	s.cs[3] = JOIN(j, NULL);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, select_fiber, &s), 0);
	yield_n(2);
	ck_assert_int_eq(s.done, 0);
	ck_assert_int_eq(coil_task_join(j, NULL), -EBUSY);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, -ECANCELED);
	ck_assert_int_eq(x, -1);
	/* every case left its queue; nothing was sent or consumed */
	ck_assert_int_eq(coil_chan_try_send(a, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_try_recv(a, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_len(b), 1);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), -EAGAIN); /* y not moved in */
	void *res;
	gate_open();
	ck_assert_int_eq(coil_task_join(j, &res), 0); /* still joinable */
	ck_assert_ptr_eq(res, (void *)0x51);
	ck_assert_int_eq(coil_chan_free(gate), 0);

	/* cancelling a scope around it */
	ck_assert_int_eq(coil_chan_try_send(b, &v), 0);
	s = (struct selector){.n = 2, .deadline = coil_now() + 10 * COIL_NSEC_PER_SEC};
	s.cs[0] = RECV(a, &x);
	s.cs[1] = SEND(b, &y);
	ck_assert_int_eq(coil_task_spawn(&t, scope_select, &s), 0);
	yield_n(2);
	ck_assert_int_eq(s.done, 0);
	ck_assert_int_eq(coil_scope_cancel(s.scope), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, -ECANCELED);
	ck_assert_int_eq(coil_chan_try_send(a, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_len(b), 1);

	/* cancelled right after a case fired: it keeps the case */
	ck_assert_int_eq(coil_chan_try_recv(b, &v), 0);
	ck_assert_int_eq(coil_chan_try_send(b, &v), 0);
	s = (struct selector){.n = 2, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = RECV(a, &x);
	s.cs[1] = SEND(b, &y);
	ck_assert_int_eq(coil_task_spawn(&t, select_fiber, &s), 0);
	yield_n(2);
	v = 99;
	ck_assert_int_eq(coil_chan_send(a, &v), 0);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_eq(x, 99);
	ck_assert_int_eq(coil_chan_len(b), 1);

	ck_assert_int_eq(coil_chan_free(a), 0);
	ck_assert_int_eq(coil_chan_free(b), 0);
	return NULL;
}

START_TEST(cancel_of_a_blocked_select_is_ecanceled_and_nothing_fired)
{
	coil_test_run(cancel_main, NULL);
}
END_TEST

/* ---- close ------------------------------------------------------------------------------ */

static void *close_main(void *arg)
{
	(void)arg;
	coil_chan *a, *b, *c;
	ck_assert_int_eq(coil_chan_new(&a, sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&b, sizeof(int), 1), 0);
	ck_assert_int_eq(coil_chan_new(&c, sizeof(int), 0), 0);
	int x = -1, y = 3;
	int v = 1;
	ck_assert_int_eq(coil_chan_try_send(b, &v), 0);

	/* closed before: the case is ready, with -EPIPE */
	ck_assert_int_eq(coil_chan_close(c), 0);
	struct coil_select_case cs[2] = {SEND(b, &y), RECV(c, &x)};
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), 1);
	ck_assert_int_eq(cs[1].res, -EPIPE);
	cs[1] = SEND(c, &y);
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, COIL_SELECT_NONBLOCK), 1);
	ck_assert_int_eq(cs[1].res, -EPIPE);

	/* closed while blocked */
	struct selector s = {.n = 3, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = RECV(a, &x);
	s.cs[1] = SEND(b, &y);
	s.cs[2] = SEND(a, &y); /* a send and a receive on one channel */
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, select_fiber, &s), 0);
	yield_n(2);
	ck_assert_int_eq(coil_chan_close(a), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert(s.rc == 0 || s.rc == 2);
	ck_assert_int_eq(s.cs[s.rc].res, -EPIPE);
	ck_assert_int_eq(x, -1);
	ck_assert_int_eq(coil_chan_len(b), 1); /* y was not sent */
	ck_assert_int_eq(coil_chan_free(a), 0); /* no case left on a */

	/* closing the other channel of a blocked select */
	ck_assert_int_eq(coil_chan_new(&a, sizeof(int), 0), 0);
	s = (struct selector){.n = 2, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = RECV(a, &x);
	s.cs[1] = SEND(b, &y);
	ck_assert_int_eq(coil_task_spawn(&t, select_fiber, &s), 0);
	yield_n(2);
	ck_assert_int_eq(coil_chan_close(b), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, 1);
	ck_assert_int_eq(s.cs[1].res, -EPIPE);
	ck_assert_int_eq(coil_chan_try_send(a, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), 0); /* drains the old value */
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(coil_chan_try_recv(b, &v), -EPIPE);

	ck_assert_int_eq(coil_chan_free(a), 0);
	ck_assert_int_eq(coil_chan_free(b), 0);
	ck_assert_int_eq(coil_chan_free(c), 0);
	return NULL;
}

START_TEST(closed_channel_case_fires_with_epipe)
{
	coil_test_run(close_main, NULL);
}
END_TEST

/* ---- sharing a channel with plain blocked calls ----------------------------------------- */

static void *shared_main(void *arg)
{
	(void)arg;
	coil_chan *a, *b;
	ck_assert_int_eq(coil_chan_new(&a, sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&b, sizeof(int), 0), 0);
	int x = -1, y = -1, v;

	/* a plain receiver blocked first, then the select: FIFO on a */
	struct plain p = {a, -1, 1, 0};
	coil_task tp, ts;
	ck_assert_int_eq(coil_task_spawn(&tp, plain_recv, &p), 0);
	yield_n(1);
	struct selector s = {.n = 2, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = RECV(b, &y);
	s.cs[1] = RECV(a, &x);
	ck_assert_int_eq(coil_task_spawn(&ts, select_fiber, &s), 0);
	yield_n(2);
	v = 1;
	ck_assert_int_eq(coil_chan_send(a, &v), 0);
	ck_assert_int_eq(p.value, 1);
	ck_assert_int_eq(s.done, 0);
	v = 2;
	ck_assert_int_eq(coil_chan_send(a, &v), 0);
	ck_assert_int_eq(coil_task_join(ts, NULL), 0);
	ck_assert_int_eq(s.rc, 1);
	ck_assert_int_eq(x, 2);
	ck_assert_int_eq(y, -1);
	ck_assert_int_eq(coil_task_join(tp, NULL), 0);

	/* the select first, then a plain receiver */
	s = (struct selector){.n = 2, .deadline = COIL_NO_DEADLINE};
	s.cs[0] = RECV(b, &y);
	s.cs[1] = RECV(a, &x);
	ck_assert_int_eq(coil_task_spawn(&ts, select_fiber, &s), 0);
	yield_n(1);
	p = (struct plain){a, -1, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&tp, plain_recv, &p), 0);
	yield_n(1);
	v = 3;
	ck_assert_int_eq(coil_chan_send(a, &v), 0);
	ck_assert_int_eq(x, 3);
	ck_assert_int_eq(p.done, 0);
	/* the select's case on b left with it: a send on b now blocks */
	ck_assert_int_eq(coil_chan_try_send(b, &v), -EAGAIN);
	v = 4;
	ck_assert_int_eq(coil_chan_send(a, &v), 0);
	ck_assert_int_eq(coil_task_join(tp, NULL), 0);
	ck_assert_int_eq(p.value, 4);
	ck_assert_int_eq(coil_task_join(ts, NULL), 0);
	ck_assert_int_eq(s.rc, 1);

	/* a select sending and receiving on one rendezvous channel is met by
	 * other fibers only: a plain receiver takes its send case */
	s = (struct selector){.n = 2, .deadline = COIL_NO_DEADLINE};
	x = -1;
	y = 42;
	s.cs[0] = RECV(a, &x);
	s.cs[1] = SEND(a, &y);
	ck_assert_int_eq(coil_task_spawn(&ts, select_fiber, &s), 0);
	yield_n(2);
	ck_assert_int_eq(s.done, 0);
	ck_assert_int_eq(coil_chan_recv(a, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(coil_task_join(ts, NULL), 0);
	ck_assert_int_eq(s.rc, 1);
	ck_assert_int_eq(x, -1);
	ck_assert_int_eq(coil_chan_try_send(a, &v), -EAGAIN);

	/* two selects on the same channels: each value goes to one */
	struct selector s2[2];
	coil_task t2[2];
	int xs[2] = {-1, -1}, ys[2] = {-1, -1};
	for (int i = 0; i < 2; i++) {
		s2[i] = (struct selector){.n = 2, .deadline = COIL_NO_DEADLINE};
		s2[i].cs[0] = RECV(a, &xs[i]);
		s2[i].cs[1] = RECV(b, &ys[i]);
		ck_assert_int_eq(coil_task_spawn(&t2[i], select_fiber, &s2[i]), 0);
	}
	yield_n(2);
	v = 10;
	ck_assert_int_eq(coil_chan_send(b, &v), 0);
	v = 11;
	ck_assert_int_eq(coil_chan_send(b, &v), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(coil_task_join(t2[i], NULL), 0);
		ck_assert_int_eq(s2[i].rc, 1);
		ck_assert_int_eq(xs[i], -1);
	}
	ck_assert_int_eq(ys[0], 10); /* FIFO: the first to block got the first */
	ck_assert_int_eq(ys[1], 11);

	ck_assert_int_eq(coil_chan_free(a), 0);
	ck_assert_int_eq(coil_chan_free(b), 0);
	return NULL;
}

START_TEST(select_shares_channels_with_plain_blocked_calls)
{
	coil_test_run(shared_main, NULL);
}
END_TEST

/* ---- many fibers ------------------------------------------------------------------------ */

#define MANY_CH 4
#define MANY_PROD 8
#define MANY_CONS 8
#define MANY_PER coil_test_count(5000)

struct many {
	coil_chan *ch[MANY_CH];
	uint8_t *seen;
	uint64_t sum_in, sum_out;
	long got, bad, timeouts;
	int producers_left;
};

struct many_prod {
	struct many *m;
	uint32_t id;
};

static uint64_t mix(uint64_t v)
{
	return v * 0x9e3779b97f4a7c15u ^ (v >> 7);
}

static void *many_produce(void *arg)
{
	struct many_prod *p = arg;
	struct many *m = p->m;
	for (uint32_t i = 0; i < MANY_PER; i++) {
		uint64_t v = (uint64_t)p->id * MANY_PER + i;
		struct coil_select_case cs[MANY_CH];
		for (int k = 0; k < MANY_CH; k++)
			cs[k] = SEND(m->ch[k], &v);
		int r;
		/* some producers use deadlines and retry: timed-out sends must
		 * not have sent */
		int64_t dl = (p->id & 1) ? coil_now() + 50 * COIL_NSEC_PER_USEC : COIL_NO_DEADLINE;
		while ((r = coil_select(cs, MANY_CH, dl, 0)) == -ETIMEDOUT) {
			m->timeouts++;
			dl = coil_now() + 50 * COIL_NSEC_PER_USEC;
		}
		if (r < 0 || cs[r].res != 0) {
			m->bad++;
			continue;
		}
		m->sum_in += mix(v);
		if ((i & 31) == 0)
			coil_task_yield();
	}
	if (--m->producers_left == 0)
		for (int k = 0; k < MANY_CH; k++)
			coil_chan_close(m->ch[k]);
	return NULL;
}

static void *many_consume(void *arg)
{
	struct many *m = arg;
	coil_chan *open[MANY_CH];
	int nopen = MANY_CH;
	memcpy(open, m->ch, sizeof open);
	uint64_t vals[MANY_CH];
	while (nopen > 0) {
		struct coil_select_case cs[MANY_CH];
		for (int k = 0; k < nopen; k++)
			cs[k] = RECV(open[k], &vals[k]);
		int r = coil_select(cs, nopen, COIL_NO_DEADLINE, 0);
		if (r < 0) {
			m->bad++;
			return NULL;
		}
		if (cs[r].res == -EPIPE) {
			open[r] = open[--nopen];
			continue;
		}
		uint64_t v = vals[r];
		if (cs[r].res != 0 || v >= (uint64_t)MANY_PROD * MANY_PER || m->seen[v]++) {
			m->bad++;
			continue;
		}
		m->sum_out += mix(v);
		m->got++;
	}
	return NULL;
}

static void *many_main(void *arg)
{
	size_t cap = (size_t)(uintptr_t)arg;
	struct many m = {.producers_left = MANY_PROD};
	m.seen = calloc((size_t)MANY_PROD * MANY_PER, 1);
	ck_assert_ptr_nonnull(m.seen);
	for (int k = 0; k < MANY_CH; k++)
		ck_assert_int_eq(coil_chan_new(&m.ch[k], sizeof(uint64_t), k == 0 ? 0 : cap), 0);
	coil_task tc[MANY_CONS], tp[MANY_PROD];
	struct many_prod pp[MANY_PROD];
	for (int i = 0; i < MANY_CONS; i++)
		ck_assert_int_eq(coil_task_spawn(&tc[i], many_consume, &m), 0);
	for (int i = 0; i < MANY_PROD; i++) {
		pp[i] = (struct many_prod){&m, (uint32_t)i};
		ck_assert_int_eq(coil_task_spawn(&tp[i], many_produce, &pp[i]), 0);
	}
	/* join them all through selects on JOIN cases */
	coil_task left[MANY_CONS + MANY_PROD];
	int nleft = 0;
	for (int i = 0; i < MANY_PROD; i++)
		left[nleft++] = tp[i];
	for (int i = 0; i < MANY_CONS; i++)
		left[nleft++] = tc[i];
	while (nleft > 0) {
		struct coil_select_case cs[MANY_CONS + MANY_PROD];
		void *res = (void *)1;
		for (int i = 0; i < nleft; i++)
			cs[i] = JOIN(left[i], &res);
		int r = coil_select(cs, nleft, COIL_NO_DEADLINE, 0);
		ck_assert_int_ge(r, 0);
		ck_assert_int_eq(cs[r].res, 0);
		ck_assert_ptr_eq(res, NULL);
		left[r] = left[--nleft];
	}
	fprintf(stderr, "many (cap %zu): %ld values, %ld timed-out sends\n", cap, m.got,
		m.timeouts);
	ck_assert_int_eq(m.bad, 0);
	ck_assert_int_eq(m.got, (long)MANY_PROD * MANY_PER);
	ck_assert(m.sum_in == m.sum_out);
	for (int k = 0; k < MANY_CH; k++)
		ck_assert_int_eq(coil_chan_free(m.ch[k]), 0);
	free(m.seen);
	return NULL;
}

START_TEST(many_fibers_selecting_on_shared_channels_lose_and_duplicate_nothing)
{
	coil_test_run(many_main, (void *)(uintptr_t)0);
	coil_test_run(many_main, (void *)(uintptr_t)3);
}
END_TEST

/* ---- arguments ----------------------------------------------------------------------------- */

static void *args_main(void *arg)
{
	(void)arg;
	coil_chan *ch, *z;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 1), 0);
	ck_assert_int_eq(coil_chan_new(&z, 0, 1), 0);
	int v = 1;
	ck_assert_int_eq(coil_chan_try_send(ch, &v), 0);
	struct coil_select_case cs[COIL_SELECT_MAX + 1];
	for (int i = 0; i <= COIL_SELECT_MAX; i++)
		cs[i] = RECV(ch, &v);
	ck_assert_int_eq(coil_select(NULL, 1, COIL_NO_DEADLINE, 0), -EINVAL);
	ck_assert_int_eq(coil_select(cs, 0, COIL_NO_DEADLINE, 0), -EINVAL);
	ck_assert_int_eq(coil_select(cs, -1, COIL_NO_DEADLINE, 0), -EINVAL);
	ck_assert_int_eq(coil_select(cs, COIL_SELECT_MAX + 1, COIL_NO_DEADLINE, 0), -EINVAL);
	ck_assert_int_eq(coil_select(cs, 1, COIL_NO_DEADLINE, 0x10), -EINVAL);
	/* a bad case after a ready one: nothing fires */
	cs[1] = (struct coil_select_case){0};
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), -EINVAL);
	ck_assert_int_eq(cs[1].res, -EINVAL);
	cs[1] = RECV(NULL, &v);
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), -EINVAL);
	cs[1] = SEND(ch, NULL);
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), -EINVAL);
	cs[1].kind = 99;
	ck_assert_int_eq(coil_select(cs, 2, COIL_NO_DEADLINE, 0), -EINVAL);
	ck_assert_int_eq(coil_chan_len(ch), 1);
	/* all 64 cases on one channel: fine */
	for (int i = 0; i < COIL_SELECT_MAX; i++)
		cs[i] = RECV(ch, &v);
	int r = coil_select(cs, COIL_SELECT_MAX, COIL_NO_DEADLINE, 0);
	ck_assert_int_ge(r, 0);
	ck_assert_int_lt(r, COIL_SELECT_MAX);
	/* zero-size values: buf may be NULL */
	struct coil_select_case zc[2] = {SEND(z, NULL), RECV(z, NULL)};
	ck_assert_int_eq(coil_select(zc, 1, COIL_NO_DEADLINE, 0), 0);
	ck_assert_int_eq(coil_chan_len(z), 1);
	ck_assert_int_eq(coil_select(&zc[1], 1, COIL_NO_DEADLINE, 0), 0);
	ck_assert_int_eq(coil_chan_len(z), 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	ck_assert_int_eq(coil_chan_free(z), 0);
	return NULL;
}

START_TEST(bad_arguments_and_outside_a_fiber)
{
	coil_chan *ch;
	int v = 0;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof v, 1), 0);
	struct coil_select_case cs[1] = {RECV(ch, &v)};
	ck_assert_int_eq(coil_select(cs, 1, COIL_NO_DEADLINE, 0), -EPERM);
	ck_assert_int_eq(coil_select(cs, 1, COIL_NO_DEADLINE, COIL_SELECT_NONBLOCK), -EPERM);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	coil_test_run(args_main, NULL);
}
END_TEST

static Suite *select_suite(void)
{
	Suite *s = suite_create("select");
	TCase *tc = tcase_create("select");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, recv_takes_from_the_one_ready_channel_among_several);
	tcase_add_test(tc, send_cases_send_exactly_one_value);
	tcase_add_test(tc, join_cases_release_the_task_only_when_they_fire);
	tcase_add_test(tc, fairness_two_always_ready_cases_are_each_chosen_about_half_the_time);
	tcase_add_test(tc, nonblock_with_nothing_ready_is_eagain_and_consumes_nothing);
	tcase_add_test(tc, deadline_is_etimedout_and_no_value_is_lost);
	tcase_add_test(tc, cancel_of_a_blocked_select_is_ecanceled_and_nothing_fired);
	tcase_add_test(tc, closed_channel_case_fires_with_epipe);
	tcase_add_test(tc, select_shares_channels_with_plain_blocked_calls);
	tcase_add_test(tc, many_fibers_selecting_on_shared_channels_lose_and_duplicate_nothing);
	tcase_add_test(tc, bad_arguments_and_outside_a_fiber);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(select_suite());
}
