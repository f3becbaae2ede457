/* Channels and oneshots: FIFO hand-over, rendezvous, close, try_ forms,
 * unbounded growth, cancellation, and a ring of many fibers. */
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

/* ---- many producers, many consumers ----------------------------------------------- */

#define MP_PRODUCERS 8
#define MP_CONSUMERS 8
#define MP_PER coil_test_count(20000)

struct mpmc {
	coil_chan *ch;
	uint8_t *seen;		/* one byte per value */
	uint64_t sum_in, sum_out;
	long got;
	int bad;
};

struct producer {
	struct mpmc *m;
	uint32_t id;
};

static void *mp_produce(void *arg)
{
	struct producer *p = arg;
	for (uint32_t i = 0; i < MP_PER; i++) {
		uint64_t v = (uint64_t)p->id * MP_PER + i;
		/* no ck_assert in hot loops: each one writes to Check's pipe */
		if (coil_chan_send(p->m->ch, &v) != 0)
			p->m->bad++;
		p->m->sum_in += v * 2654435761u;
		if ((i & 63) == 0)
			coil_task_yield();
	}
	return NULL;
}

static void *mp_consume(void *arg)
{
	struct mpmc *m = arg;
	uint64_t v;
	int r;
	uint64_t last[MP_PRODUCERS];
	memset(last, 0xff, sizeof last);
	while ((r = coil_chan_recv(m->ch, &v)) == 0) {
		if (v >= (uint64_t)MP_PRODUCERS * MP_PER || m->seen[v]++) {
			m->bad++;
			continue;
		}
		/* per producer, one consumer sees increasing values */
		uint64_t pid = v / MP_PER;
		if (last[pid] != UINT64_MAX && v <= last[pid])
			m->bad++;
		last[pid] = v;
		m->sum_out += v * 2654435761u;
		m->got++;
	}
	ck_assert_int_eq(r, -EPIPE);
	return NULL;
}

static void *mpmc_main(void *arg)
{
	size_t cap = (size_t)(uintptr_t)arg;
	struct mpmc m = {0};
	m.seen = calloc((size_t)MP_PRODUCERS * MP_PER, 1);
	ck_assert_int_eq(coil_chan_new(&m.ch, sizeof(uint64_t), cap), 0);
	coil_task prod[MP_PRODUCERS], cons[MP_CONSUMERS];
	struct producer p[MP_PRODUCERS];
	for (int i = 0; i < MP_CONSUMERS; i++)
		ck_assert_int_eq(coil_task_spawn(&cons[i], mp_consume, &m), 0);
	for (int i = 0; i < MP_PRODUCERS; i++) {
		p[i] = (struct producer){&m, (uint32_t)i};
		ck_assert_int_eq(coil_task_spawn(&prod[i], mp_produce, &p[i]), 0);
	}
	for (int i = 0; i < MP_PRODUCERS; i++)
		ck_assert_int_eq(coil_task_join(prod[i], NULL), 0);
	ck_assert_int_eq(coil_chan_close(m.ch), 0);
	for (int i = 0; i < MP_CONSUMERS; i++)
		ck_assert_int_eq(coil_task_join(cons[i], NULL), 0);
	ck_assert_int_eq(m.bad, 0);
	ck_assert_int_eq(m.got, (long)MP_PRODUCERS * MP_PER);
	ck_assert(m.sum_in == m.sum_out);
	ck_assert_int_eq(coil_chan_free(m.ch), 0);
	free(m.seen);
	return NULL;
}

START_TEST(bounded_many_producers_many_consumers_checksum)
{
	coil_test_run(mpmc_main, (void *)(uintptr_t)16);
}
END_TEST

START_TEST(rendezvous_many_producers_many_consumers_checksum)
{
	coil_test_run(mpmc_main, (void *)(uintptr_t)0);
}
END_TEST

START_TEST(unbounded_many_producers_many_consumers_checksum)
{
	coil_test_run(mpmc_main, (void *)(uintptr_t)COIL_CHAN_UNBOUNDED);
}
END_TEST

/* ---- rendezvous --------------------------------------------------------------------- */

struct sender {
	coil_chan *ch;
	int value;
	int rc;
	int done;
};

static void *send_one(void *arg)
{
	struct sender *s = arg;
	s->rc = coil_chan_send(s->ch, &s->value);
	s->done = 1;
	return NULL;
}

static void *recv_one(void *arg)
{
	struct sender *s = arg;
	s->rc = coil_chan_recv(s->ch, &s->value);
	s->done = 1;
	return NULL;
}

static void *rendezvous_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 0), 0);
	ck_assert_uint_eq(coil_chan_cap(ch), 0);
	int v = 1;
	/* no receiver: a send would block */
	ck_assert_int_eq(coil_chan_try_send(ch, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), -EAGAIN);

	struct sender s = {ch, 42, 1, 0};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, send_one, &s), 0);
	yield_n(5);
	ck_assert_msg(!s.done, "a rendezvous send completed with no receiver");
	ck_assert_int_eq(coil_chan_len(ch), 0);
	ck_assert_int_eq(coil_chan_recv(ch, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, 0);

	/* a waiting receiver makes try_send succeed, straight into its buffer */
	struct sender r = {ch, 0, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&t, recv_one, &r), 0);
	yield_n(1);
	v = 77;
	ck_assert_int_eq(coil_chan_try_send(ch, &v), 0);
	ck_assert_int_eq(r.value, 77); /* copied before the receiver runs */
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(r.rc, 0);

	/* a waiting sender makes try_recv succeed */
	s = (struct sender){ch, 99, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&t, send_one, &s), 0);
	yield_n(1);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), 0);
	ck_assert_int_eq(v, 99);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(rendezvous_send_completes_only_when_a_receiver_takes_it)
{
	coil_test_run(rendezvous_main, NULL);
}
END_TEST

/* ---- FIFO ------------------------------------------------------------------------------ */

static void *fifo_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 2), 0);
	int v;
	v = 0;
	ck_assert_int_eq(coil_chan_send(ch, &v), 0);
	v = 1;
	ck_assert_int_eq(coil_chan_send(ch, &v), 0);
	ck_assert_int_eq(coil_chan_len(ch), 2);
	/* three senders block on the full channel, in order 2, 3, 4 */
	struct sender s[3];
	coil_task t[3];
	for (int i = 0; i < 3; i++) {
		s[i] = (struct sender){ch, 2 + i, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], send_one, &s[i]), 0);
		yield_n(1);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(s[i].done, 0);
	/* blocked receivers, too, are served first come first served */
	for (int want = 0; want < 5; want++) {
		ck_assert_int_eq(coil_chan_recv(ch, &v), 0);
		ck_assert_int_eq(v, want);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(s[i].rc, 0);
	}
	struct sender r[3];
	for (int i = 0; i < 3; i++) {
		r[i] = (struct sender){ch, -1, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], recv_one, &r[i]), 0);
		yield_n(1);
	}
	for (int i = 0; i < 3; i++) {
		v = 10 + i;
		ck_assert_int_eq(coil_chan_send(ch, &v), 0);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(r[i].value, 10 + i);
	}
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(blocked_senders_and_receivers_are_served_fifo)
{
	coil_test_run(fifo_main, NULL);
}
END_TEST

/* ---- close ------------------------------------------------------------------------------ */

static void *close_receivers_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 4), 0);
	struct sender r[5];
	coil_task t[5];
	for (int i = 0; i < 5; i++) {
		r[i] = (struct sender){ch, 0, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], recv_one, &r[i]), 0);
	}
	yield_n(2);
	ck_assert_int_eq(coil_chan_free(ch), -EBUSY);
	ck_assert_int_eq(coil_chan_close(ch), 0);
	ck_assert_int_eq(coil_chan_close(ch), -EALREADY);
	ck_assert_int_eq(coil_chan_closed(ch), 1);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(r[i].rc, -EPIPE);
	}
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(close_wakes_blocked_receivers_with_epipe)
{
	coil_test_run(close_receivers_main, NULL);
}
END_TEST

static void *close_senders_main(void *arg)
{
	size_t cap = (size_t)(uintptr_t)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), cap), 0);
	int v;
	for (int i = 0; i < (int)cap; i++)
		ck_assert_int_eq(coil_chan_send(ch, &i), 0);
	struct sender s[3];
	coil_task t[3];
	for (int i = 0; i < 3; i++) {
		s[i] = (struct sender){ch, 100 + i, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], send_one, &s[i]), 0);
	}
	yield_n(2);
	ck_assert_int_eq(coil_chan_close(ch), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(s[i].rc, -EPIPE);
	}
	v = 5;
	ck_assert_int_eq(coil_chan_send(ch, &v), -EPIPE);
	ck_assert_int_eq(coil_chan_try_send(ch, &v), -EPIPE);
	/* what was buffered is drained first, and nothing of the senders */
	for (int i = 0; i < (int)cap; i++) {
		ck_assert_int_eq(coil_chan_recv(ch, &v), 0);
		ck_assert_int_eq(v, i);
	}
	ck_assert_int_eq(coil_chan_recv(ch, &v), -EPIPE);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), -EPIPE);
	ck_assert_int_eq(coil_chan_len(ch), 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(close_wakes_blocked_senders_and_buffered_values_drain_first)
{
	coil_test_run(close_senders_main, (void *)(uintptr_t)3);
	coil_test_run(close_senders_main, (void *)(uintptr_t)0);
}
END_TEST

/* ---- try_ forms ------------------------------------------------------------------------- */

static void *try_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 2), 0);
	int v = 1;
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_try_send(ch, &v), 0);
	v = 2;
	ck_assert_int_eq(coil_chan_try_send(ch, &v), 0);
	v = 3;
	ck_assert_int_eq(coil_chan_try_send(ch, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_len(ch), 2);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(coil_chan_close(ch), 0);
	ck_assert_int_eq(coil_chan_try_send(ch, &v), -EPIPE);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), -EPIPE);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(try_forms_return_eagain_instead_of_blocking)
{
	coil_test_run(try_main, NULL);
}
END_TEST

/* ---- unbounded ------------------------------------------------------------------------ */

#define UNB_N coil_test_count(1000000)

static void *unb_consume(void *arg)
{
	coil_chan *ch = arg;
	uint32_t v, want = 0;
	long bad = 0;
	while (coil_chan_recv(ch, &v) == 0)
		if (v != want++)
			bad++;
	return (void *)(intptr_t)(bad + (want != UNB_N));
}

static void *unbounded_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(uint32_t), COIL_CHAN_UNBOUNDED), 0);
	ck_assert(coil_chan_cap(ch) == COIL_CHAN_UNBOUNDED);
	/* 1M sends with no receiver: none blocks */
	long bad = 0;
	for (uint32_t i = 0; i < UNB_N; i++)
		bad += coil_chan_try_send(ch, &i) != 0;
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(coil_chan_len(ch), UNB_N);
	uint32_t v;
	for (uint32_t i = 0; i < UNB_N; i++)
		bad += coil_chan_recv(ch, &v) != 0 || v != i;
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), -EAGAIN);
	/* and streaming, a consumer running alongside */
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, unb_consume, ch), 0);
	for (uint32_t i = 0; i < UNB_N; i++) {
		bad += coil_chan_send(ch, &i) != 0;
		if (i % 1000 == 0)
			coil_task_yield();
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(coil_chan_close(ch), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	/* freeing with values still buffered frees them too (ASan checks) */
	ck_assert_int_eq(coil_chan_new(&ch, 24, COIL_CHAN_UNBOUNDED), 0);
	char big[24] = "x";
	for (int i = 0; i < 5000; i++)
		bad += coil_chan_send(ch, big) != 0;
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(unbounded_carries_1m_messages_in_order)
{
	coil_test_run(unbounded_main, NULL);
}
END_TEST

/* ---- element sizes ---------------------------------------------------------------------- */

struct blob {
	char text[61];
	uint64_t n;
};

static void *sizes_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	/* zero-size values: a counting signal */
	ck_assert_int_eq(coil_chan_new(&ch, 0, 3), 0);
	ck_assert_int_eq(coil_chan_send(ch, NULL), 0);
	ck_assert_int_eq(coil_chan_try_send(ch, NULL), 0);
	ck_assert_int_eq(coil_chan_len(ch), 2);
	ck_assert_int_eq(coil_chan_recv(ch, NULL), 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	ck_assert_int_eq(coil_chan_new(&ch, 0, COIL_CHAN_UNBOUNDED), 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(coil_chan_send(ch, NULL), 0);
	ck_assert_int_eq(coil_chan_len(ch), 1000);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	/* odd-sized structs, copied whole */
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(struct blob), 3), 0);
	for (uint64_t i = 0; i < 10; i++) {
		struct blob b, out;
		memset(&b, 0, sizeof b);
		snprintf(b.text, sizeof b.text, "blob number %llu", (unsigned long long)i);
		b.n = i * 3;
		ck_assert_int_eq(coil_chan_send(ch, &b), 0);
		ck_assert_int_eq(coil_chan_recv(ch, &out), 0);
		ck_assert(memcmp(&b, &out, sizeof b) == 0);
	}
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(zero_size_and_struct_values_are_copied_whole)
{
	coil_test_run(sizes_main, NULL);
}
END_TEST

/* ---- oneshot ------------------------------------------------------------------------------ */

struct os_probe {
	coil_oneshot *os;
	int rc;
	int value;
};

static void *os_recv(void *arg)
{
	struct os_probe *p = arg;
	p->rc = coil_oneshot_recv(p->os, &p->value);
	return NULL;
}

static void *oneshot_main(void *arg)
{
	(void)arg;
	coil_oneshot *os;
	int v = 5;
	/* sent before the receive */
	ck_assert_int_eq(coil_oneshot_new(&os, sizeof(int)), 0);
	ck_assert_int_eq(coil_oneshot_try_recv(os, &v), -EAGAIN);
	v = 5;
	ck_assert_int_eq(coil_oneshot_send(os, &v), 0);
	ck_assert_int_eq(coil_oneshot_send(os, &v), -EALREADY);
	ck_assert_int_eq(coil_oneshot_close(os), 0); /* after a send: harmless */
	v = 0;
	ck_assert_int_eq(coil_oneshot_recv(os, &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(coil_oneshot_recv(os, &v), -EPIPE); /* already taken */
	ck_assert_int_eq(coil_oneshot_free(os), 0);

	/* a blocked receiver gets the value */
	ck_assert_int_eq(coil_oneshot_new(&os, sizeof(int)), 0);
	struct os_probe p = {os, 1, 0};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, os_recv, &p), 0);
	yield_n(2);
	ck_assert_int_eq(coil_oneshot_free(os), -EBUSY);
	v = 8;
	ck_assert_int_eq(coil_oneshot_send(os, &v), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(p.rc, 0);
	ck_assert_int_eq(p.value, 8);
	ck_assert_int_eq(coil_oneshot_free(os), 0);

	/* the sender gives up: the blocked receiver gets -EPIPE */
	ck_assert_int_eq(coil_oneshot_new(&os, sizeof(int)), 0);
	p = (struct os_probe){os, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&t, os_recv, &p), 0);
	yield_n(2);
	ck_assert_int_eq(coil_oneshot_close(os), 0);
	ck_assert_int_eq(coil_oneshot_close(os), -EALREADY);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(p.rc, -EPIPE);
	ck_assert_int_eq(coil_oneshot_send(os, &v), -EPIPE);
	ck_assert_int_eq(coil_oneshot_try_recv(os, &v), -EPIPE);
	ck_assert_int_eq(coil_oneshot_free(os), 0);
	return NULL;
}

START_TEST(oneshot_delivers_one_value_or_epipe)
{
	coil_test_run(oneshot_main, NULL);
}
END_TEST

/* ---- cancellation ---------------------------------------------------------------------------- */

static void *cancel_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 0), 0);
	int v = 0;

	/* a blocked receiver */
	struct sender r = {ch, -1, 1, 0};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, recv_one, &r), 0);
	yield_n(2);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_cancel(t), 0); /* idempotent */
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(r.rc, -ECANCELED);
	ck_assert_int_eq(r.value, -1);
	ck_assert_int_eq(coil_chan_try_send(ch, &v), -EAGAIN); /* it left the queue */

	/* a blocked sender: its value is not delivered */
	struct sender s = {ch, 7, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&t, send_one, &s), 0);
	yield_n(2);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(s.rc, -ECANCELED);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), -EAGAIN);

	/* cancelled after the value was handed over: it keeps it */
	r = (struct sender){ch, -1, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&t, recv_one, &r), 0);
	yield_n(1);
	v = 11;
	ck_assert_int_eq(coil_chan_send(ch, &v), 0);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.value, 11);
	ck_assert_int_eq(coil_chan_free(ch), 0);

	/* the middle one of three blocked senders: the others keep order */
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 1), 0);
	v = 0;
	ck_assert_int_eq(coil_chan_send(ch, &v), 0);
	struct sender ss[3];
	coil_task ts[3];
	for (int i = 0; i < 3; i++) {
		ss[i] = (struct sender){ch, 1 + i, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&ts[i], send_one, &ss[i]), 0);
		yield_n(1);
	}
	ck_assert_int_eq(coil_task_cancel(ts[1]), 0);
	int want[] = {0, 1, 3};
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(coil_chan_recv(ch, &v), 0);
		ck_assert_int_eq(v, want[i]);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_task_join(ts[i], NULL), 0);
	ck_assert_int_eq(ss[0].rc, 0);
	ck_assert_int_eq(ss[1].rc, -ECANCELED);
	ck_assert_int_eq(ss[2].rc, 0);
	ck_assert_int_eq(coil_chan_len(ch), 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(cancel_of_blocked_send_and_recv_is_ecanceled_and_channel_stays_consistent)
{
	coil_test_run(cancel_main, NULL);
}
END_TEST

static void *cancelled_self(void *arg)
{
	coil_chan *ch = arg;
	int v = 3;
	ck_assert_int_eq(coil_task_cancel(coil_task_current()), 0);
	/* ready or not, a cancelled task's blocking call does nothing */
	ck_assert_int_eq(coil_chan_send(ch, &v), -ECANCELED);
	ck_assert_int_eq(coil_chan_len(ch), 0);
	ck_assert_int_eq(coil_chan_try_send(ch, &v), 0);
	ck_assert_int_eq(coil_chan_recv(ch, &v), -ECANCELED);
	ck_assert_int_eq(coil_chan_len(ch), 1);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), 0); /* clean-up still works */
	ck_assert_int_eq(coil_chan_close(ch), 0);
	return NULL;
}

static void *cancelled_main(void *arg)
{
	(void)arg;
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 4), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, cancelled_self, ch), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	return NULL;
}

START_TEST(cancelled_task_blocking_calls_do_nothing_try_forms_still_work)
{
	coil_test_run(cancelled_main, NULL);
}
END_TEST

/* ---- arguments ------------------------------------------------------------------------------- */

START_TEST(bad_arguments_and_outside_a_runtime)
{
	coil_chan *ch = NULL;
	int v = 1;
	ck_assert_int_eq(coil_chan_new(NULL, 4, 1), -EINVAL);
	ck_assert_int_eq(coil_chan_new(&ch, SIZE_MAX / 2, 4), -EINVAL);
	ck_assert_int_eq(coil_chan_new(&ch, 1 << 20, 1 << 20), -EINVAL);
	ck_assert_int_eq(coil_chan_send(NULL, &v), -EINVAL);
	ck_assert_int_eq(coil_chan_recv(NULL, &v), -EINVAL);
	ck_assert_int_eq(coil_chan_try_send(NULL, &v), -EINVAL);
	ck_assert_int_eq(coil_chan_try_recv(NULL, &v), -EINVAL);
	ck_assert_int_eq(coil_chan_close(NULL), -EINVAL);
	ck_assert_int_eq(coil_chan_len(NULL), -EINVAL);
	ck_assert_int_eq(coil_chan_closed(NULL), -EINVAL);
	ck_assert_int_eq(coil_chan_free(NULL), 0);

	ck_assert_int_eq(coil_chan_new(&ch, sizeof v, 2), 0);
	ck_assert_int_eq(coil_chan_send(ch, NULL), -EINVAL);
	ck_assert_int_eq(coil_chan_recv(ch, NULL), -EINVAL);
	/* blocking calls need a fiber; the try_ forms do not */
	ck_assert_int_eq(coil_chan_send(ch, &v), -EPERM);
	ck_assert_int_eq(coil_chan_recv(ch, &v), -EPERM);
	ck_assert_int_eq(coil_chan_try_send(ch, &v), 0);
	ck_assert_int_eq(coil_chan_try_recv(ch, &v), 0);
	ck_assert_int_eq(coil_chan_free(ch), 0);

	coil_oneshot *os;
	ck_assert_int_eq(coil_oneshot_new(NULL, 4), -EINVAL);
	ck_assert_int_eq(coil_oneshot_send(NULL, &v), -EINVAL);
	ck_assert_int_eq(coil_oneshot_recv(NULL, &v), -EINVAL);
	ck_assert_int_eq(coil_oneshot_close(NULL), -EINVAL);
	ck_assert_int_eq(coil_oneshot_free(NULL), 0);
	ck_assert_int_eq(coil_oneshot_new(&os, sizeof v), 0);
	ck_assert_int_eq(coil_oneshot_recv(os, &v), -EPERM);
	ck_assert_int_eq(coil_oneshot_free(os), 0);
}
END_TEST

/* ---- a ring of fibers ---------------------------------------------------------------------- */

/*
 * 100k fibers pass tokens around rings of rendezvous channels. Every parked
 * fiber holds a stack, and every stack's guard page costs two memory
 * mappings, so vm.max_map_count (65530 by default) caps how many can be
 * parked at once (about 32k): the 100k fibers run as rings of at most that
 * many, one after another.
 */
#define RING_TOTAL ((int)coil_test_count(100000))
#define RING_TOKENS 4
#define RING_LAPS 3

struct ring {
	coil_chan **ch;	/* n + 1: fiber i reads ch[i], writes ch[i + 1] */
	int n;
};

struct ring_node {
	struct ring *ring;
	int i;
};

static void *ring_node(void *arg)
{
	struct ring_node *nd = arg;
	struct ring *rg = nd->ring;
	uint64_t tok;
	for (int k = 0; k < RING_TOKENS * RING_LAPS; k++) {
		if (coil_chan_recv(rg->ch[nd->i], &tok) != 0)
			return (void *)1;
		tok++;
		if (coil_chan_send(rg->ch[nd->i + 1], &tok) != 0)
			return (void *)1;
	}
	return NULL;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void *ring_main(void *arg)
{
	(void)arg;
	long maxmap = read_long("/proc/sys/vm/max_map_count");
	long room = maxmap > 0 ? (maxmap - count_maps() - 4096) / 2 : RING_TOTAL;
	int per = room < RING_TOTAL ? (int)room : RING_TOTAL;
	ck_assert_msg(per >= 1000, "vm.max_map_count %ld leaves room for %d fibers", maxmap, per);
	fprintf(stderr, "ring: %d fibers in rings of up to %d (vm.max_map_count %ld)\n",
		RING_TOTAL, per, maxmap);
	struct coil_task_opts opts = {.stack_size = 16 * 1024};
	int done = 0;
	while (done < RING_TOTAL) {
		int n = RING_TOTAL - done < per ? RING_TOTAL - done : per;
		struct ring rg = {calloc((size_t)n + 1, sizeof(coil_chan *)), n};
		struct ring_node *nodes = calloc((size_t)n, sizeof *nodes);
		coil_task *t = calloc((size_t)n, sizeof *t);
		ck_assert(rg.ch && nodes && t);
		long bad = 0;
		for (int i = 0; i <= n; i++)
			bad += coil_chan_new(&rg.ch[i], sizeof(uint64_t), 0) != 0;
		for (int i = 0; i < n; i++) {
			nodes[i] = (struct ring_node){&rg, i};
			bad += coil_task_spawn_ex(&t[i], &opts, ring_node, &nodes[i]) != 0;
		}
		ck_assert_int_eq(bad, 0);
		uint64_t sum = 0, tok;
		for (uint64_t k = 0; k < RING_TOKENS; k++) {
			tok = k * 1000000000u;
			ck_assert_int_eq(coil_chan_send(rg.ch[0], &tok), 0);
		}
		for (int k = 0; k < RING_TOKENS * (RING_LAPS - 1); k++) {
			ck_assert_int_eq(coil_chan_recv(rg.ch[n], &tok), 0);
			ck_assert_int_eq(coil_chan_send(rg.ch[0], &tok), 0);
		}
		for (int k = 0; k < RING_TOKENS; k++) {
			ck_assert_int_eq(coil_chan_recv(rg.ch[n], &tok), 0);
			sum += tok;
		}
		uint64_t want = 0;
		for (uint64_t k = 0; k < RING_TOKENS; k++)
			want += k * 1000000000u + (uint64_t)RING_LAPS * (uint64_t)n;
		ck_assert_msg(sum == want, "ring checksum %llu, want %llu",
			      (unsigned long long)sum, (unsigned long long)want);
		for (int i = 0; i < n; i++) {
			void *res = (void *)1;
			bad += coil_task_join(t[i], &res) != 0 || res != NULL;
		}
		for (int i = 0; i <= n; i++)
			bad += coil_chan_free(rg.ch[i]) != 0;
		ck_assert_int_eq(bad, 0);
		free(rg.ch);
		free(nodes);
		free(t);
		done += n;
	}
	return NULL;
}

START_TEST(ring_of_channels_100k_fibers_pass_tokens)
{
	coil_test_run(ring_main, NULL);
}
END_TEST

static Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc = tcase_create("chan");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bounded_many_producers_many_consumers_checksum);
	tcase_add_test(tc, rendezvous_many_producers_many_consumers_checksum);
	tcase_add_test(tc, unbounded_many_producers_many_consumers_checksum);
	tcase_add_test(tc, rendezvous_send_completes_only_when_a_receiver_takes_it);
	tcase_add_test(tc, blocked_senders_and_receivers_are_served_fifo);
	tcase_add_test(tc, close_wakes_blocked_receivers_with_epipe);
	tcase_add_test(tc, close_wakes_blocked_senders_and_buffered_values_drain_first);
	tcase_add_test(tc, try_forms_return_eagain_instead_of_blocking);
	tcase_add_test(tc, unbounded_carries_1m_messages_in_order);
	tcase_add_test(tc, zero_size_and_struct_values_are_copied_whole);
	tcase_add_test(tc, oneshot_delivers_one_value_or_epipe);
	tcase_add_test(tc, cancel_of_blocked_send_and_recv_is_ecanceled_and_channel_stays_consistent);
	tcase_add_test(tc, cancelled_task_blocking_calls_do_nothing_try_forms_still_work);
	tcase_add_test(tc, bad_arguments_and_outside_a_runtime);
	suite_add_tcase(s, tc);
	tc = tcase_create("ring");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, ring_of_channels_100k_fibers_pass_tokens);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(chan_suite());
}
