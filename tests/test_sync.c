/* Fiber-aware synchronisation: mutex, condition variable, semaphore, wait
 * group, event, once. */
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

/* A small log of who did what, in order. */
struct log {
	char buf[128];
	int n;
};

static void log_put(struct log *l, char c)
{
	ck_assert_int_lt(l->n, (int)sizeof l->buf - 1);
	l->buf[l->n++] = c;
}

/* ---- mutex ------------------------------------------------------------------------- */

struct mx_shared {
	coil_mutex m;
	int inside;
	int max_inside;
	long counter;
	struct log log;
};

struct mx_worker {
	struct mx_shared *s;
	char id;
	int rounds;
	int rc;
};

static void *mx_worker(void *arg)
{
	struct mx_worker *w = arg;
	for (int i = 0; i < w->rounds; i++) {
		ck_assert_int_eq(coil_mutex_lock(&w->s->m), 0);
		if (++w->s->inside > w->s->max_inside)
			w->s->max_inside = w->s->inside;
		long c = w->s->counter;
		coil_task_yield(); /* others run and try to get in */
		w->s->counter = c + 1;
		w->s->inside--;
		ck_assert_int_eq(coil_mutex_unlock(&w->s->m), 0);
	}
	return NULL;
}

static void *mx_exclusion_main(void *arg)
{
	(void)arg;
	static struct mx_shared s;
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(coil_mutex_init(&s.m), 0);
	struct mx_worker w[10];
	coil_task t[10];
	for (int i = 0; i < 10; i++) {
		w[i] = (struct mx_worker){&s, (char)('a' + i), 200, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], mx_worker, &w[i]), 0);
	}
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(s.counter, 2000);
	ck_assert_int_eq(s.max_inside, 1);
	ck_assert_int_eq(coil_mutex_destroy(&s.m), 0);
	return NULL;
}

START_TEST(mutex_excludes_fibers_that_yield_inside)
{
	coil_test_run(mx_exclusion_main, NULL);
}
END_TEST

static void *mx_lock_log(void *arg)
{
	struct mx_worker *w = arg;
	w->rc = coil_mutex_lock(&w->s->m);
	if (w->rc == 0) {
		log_put(&w->s->log, w->id);
		ck_assert_int_eq(coil_mutex_unlock(&w->s->m), 0);
	}
	return NULL;
}

static void *mx_handoff_main(void *arg)
{
	(void)arg;
	static struct mx_shared s;
	memset(&s, 0, sizeof s); /* zero bytes: an unlocked mutex */
	ck_assert_int_eq(coil_mutex_lock(&s.m), 0);
	ck_assert_int_eq(coil_mutex_lock(&s.m), -EDEADLK);
	ck_assert_int_eq(coil_mutex_try_lock(&s.m), -EBUSY);
	ck_assert_int_eq(coil_mutex_destroy(&s.m), -EBUSY);
	struct mx_worker w[3];
	coil_task t[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct mx_worker){&s, (char)('A' + i), 1, 1};
		ck_assert_int_eq(coil_task_spawn(&t[i], mx_lock_log, &w[i]), 0);
		yield_n(1); /* queue them in order A, B, C */
	}
	/* Unlock hands the mutex to A at once: the unlocker cannot take it
	 * back, even though A has not run yet. */
	ck_assert_int_eq(coil_mutex_unlock(&s.m), 0);
	ck_assert_int_eq(coil_mutex_try_lock(&s.m), -EBUSY);
	ck_assert_int_eq(coil_mutex_unlock(&s.m), -EPERM); /* not ours now */
	/* and locking again queues behind B and C */
	ck_assert_int_eq(coil_mutex_lock(&s.m), 0);
	log_put(&s.log, 'M');
	ck_assert_int_eq(coil_mutex_unlock(&s.m), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(w[i].rc, 0);
	}
	ck_assert_str_eq(s.log.buf, "ABCM");
	ck_assert_int_eq(coil_mutex_destroy(&s.m), 0);
	return NULL;
}

START_TEST(mutex_unlock_hands_off_fifo_so_waiters_cannot_starve)
{
	coil_test_run(mx_handoff_main, NULL);
}
END_TEST

static void *mx_cancel_main(void *arg)
{
	(void)arg;
	static struct mx_shared s;
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(coil_mutex_lock(&s.m), 0);
	struct mx_worker w[3];
	coil_task t[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct mx_worker){&s, (char)('A' + i), 1, 1};
		ck_assert_int_eq(coil_task_spawn(&t[i], mx_lock_log, &w[i]), 0);
		yield_n(1);
	}
	ck_assert_int_eq(coil_task_cancel(t[1]), 0);
	ck_assert_int_eq(coil_task_join(t[1], NULL), 0);
	ck_assert_int_eq(w[1].rc, -ECANCELED);
	ck_assert_int_eq(coil_mutex_unlock(&s.m), 0);
	for (int i = 0; i < 3; i += 2) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(w[i].rc, 0);
	}
	ck_assert_str_eq(s.log.buf, "AC");
	/* consistent: free, and lockable */
	ck_assert_int_eq(coil_mutex_try_lock(&s.m), 0);
	ck_assert_int_eq(coil_mutex_unlock(&s.m), 0);
	ck_assert_int_eq(coil_mutex_destroy(&s.m), 0);
	return NULL;
}

START_TEST(cancel_of_fiber_blocked_in_lock_is_ecanceled_and_it_never_owns)
{
	coil_test_run(mx_cancel_main, NULL);
}
END_TEST

/* ---- condition variable ----------------------------------------------------------- */

struct cv_shared {
	coil_mutex m;
	coil_cond c;
	int ready;	/* items available */
	int woken;
	int done;
	struct log log;
};

struct cv_waiter {
	struct cv_shared *s;
	char id;
	int rc;
};

/* Wait for one item; take it. */
static void *cv_take(void *arg)
{
	struct cv_waiter *w = arg;
	struct cv_shared *s = w->s;
	ck_assert_int_eq(coil_mutex_lock(&s->m), 0);
	while (s->ready == 0) {
		w->rc = coil_cond_wait(&s->c, &s->m);
		if (w->rc < 0)
			break;
		s->woken++;
	}
	if (w->rc == 0) {
		s->ready--;
		log_put(&s->log, w->id);
	}
	ck_assert_int_eq(coil_mutex_unlock(&s->m), 0); /* held on every return */
	return NULL;
}

static void *cv_main(void *arg)
{
	(void)arg;
	static struct cv_shared s;
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(coil_cond_init(&s.c), 0);
	struct cv_waiter w[4];
	coil_task t[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct cv_waiter){&s, (char)('A' + i), 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], cv_take, &w[i]), 0);
		yield_n(1);
	}
	ck_assert_int_eq(coil_cond_destroy(&s.c), -EBUSY);
	/* signal: exactly one waiter wakes, the first */
	ck_assert_int_eq(coil_mutex_lock(&s.m), 0);
	s.ready = 1;
	ck_assert_int_eq(coil_cond_signal(&s.c), 0);
	ck_assert_int_eq(coil_mutex_unlock(&s.m), 0);
	yield_n(3);
	ck_assert_int_eq(s.woken, 1);
	ck_assert_str_eq(s.log.buf, "A");
	/* broadcast: all three wake, and with three items all three take */
	ck_assert_int_eq(coil_mutex_lock(&s.m), 0);
	s.ready = 3;
	ck_assert_int_eq(coil_cond_broadcast(&s.c), 3);
	ck_assert_int_eq(coil_mutex_unlock(&s.m), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(w[i].rc, 0);
	}
	ck_assert_int_eq(s.woken, 4);
	ck_assert_str_eq(s.log.buf, "ABCD");
	ck_assert_int_eq(coil_cond_signal(&s.c), 0); /* nobody waits: nothing */
	ck_assert_int_eq(coil_cond_broadcast(&s.c), 0);
	ck_assert_int_eq(coil_cond_destroy(&s.c), 0);
	return NULL;
}

START_TEST(cond_signal_wakes_first_waiter_broadcast_wakes_all)
{
	coil_test_run(cv_main, NULL);
}
END_TEST

static void *cv_cancel_main(void *arg)
{
	(void)arg;
	static struct cv_shared s;
	memset(&s, 0, sizeof s);
	struct cv_waiter w[3];
	coil_task t[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct cv_waiter){&s, (char)('A' + i), 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], cv_take, &w[i]), 0);
		yield_n(1);
	}
	/* Cancel B while we hold the mutex: it must get the mutex back before
	 * it returns, so it waits for our unlock. */
	ck_assert_int_eq(coil_mutex_lock(&s.m), 0);
	ck_assert_int_eq(coil_task_cancel(t[1]), 0);
	yield_n(5);
	ck_assert_int_eq(w[1].rc, 0); /* not returned yet: it needs the mutex */
	/* the cancelled waiter consumed no signal: A gets this one */
	s.ready = 1;
	ck_assert_int_eq(coil_cond_signal(&s.c), 0);
	ck_assert_int_eq(coil_mutex_unlock(&s.m), 0);
	ck_assert_int_eq(coil_task_join(t[1], NULL), 0);
	ck_assert_int_eq(w[1].rc, -ECANCELED);
	ck_assert_int_eq(coil_task_join(t[0], NULL), 0);
	ck_assert_int_eq(w[0].rc, 0);
	/* and a cancel with the mutex free */
	ck_assert_int_eq(coil_task_cancel(t[2]), 0);
	ck_assert_int_eq(coil_task_join(t[2], NULL), 0);
	ck_assert_int_eq(w[2].rc, -ECANCELED);
	ck_assert_str_eq(s.log.buf, "A");
	ck_assert_int_eq(coil_cond_destroy(&s.c), 0);
	ck_assert_int_eq(coil_mutex_destroy(&s.m), 0);
	/* waiting without owning the mutex */
	ck_assert_int_eq(coil_cond_wait(&s.c, &s.m), -EPERM);
	return NULL;
}

START_TEST(cancel_of_cond_waiter_is_ecanceled_with_the_mutex_held)
{
	coil_test_run(cv_cancel_main, NULL);
}
END_TEST

/* ---- semaphore ---------------------------------------------------------------------- */

struct sem_shared {
	coil_sem sem;
	int inside, max_inside, entered;
};

static void *sem_worker(void *arg)
{
	struct sem_shared *s = arg;
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(coil_sem_acquire(&s->sem), 0);
		if (++s->inside > s->max_inside)
			s->max_inside = s->inside;
		s->entered++;
		yield_n(2);
		s->inside--;
		ck_assert_int_eq(coil_sem_release(&s->sem), 0);
	}
	return NULL;
}

static int g_sem_rc;

static void *sem_acquire_once(void *arg)
{
	g_sem_rc = coil_sem_acquire(arg);
	return NULL;
}

static void *sem_main(void *arg)
{
	(void)arg;
	static struct sem_shared s;
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(coil_sem_init(&s.sem, 3), 0);
	ck_assert_int_eq(coil_sem_value(&s.sem), 3);
	coil_task t[10];
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(coil_task_spawn(&t[i], sem_worker, &s), 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(s.max_inside, 3);
	ck_assert_int_eq(s.entered, 200);
	ck_assert_int_eq(coil_sem_value(&s.sem), 3);

	/* try_acquire counts down to EAGAIN */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(coil_sem_try_acquire(&s.sem), 0);
	ck_assert_int_eq(coil_sem_try_acquire(&s.sem), -EAGAIN);
	ck_assert_int_eq(coil_sem_value(&s.sem), 0);

	/* a blocked acquirer, cancelled: the unit released later is not lost */
	coil_task c;
	g_sem_rc = 1;
	ck_assert_int_eq(coil_task_spawn(&c, sem_acquire_once, &s.sem), 0);
	yield_n(2);
	ck_assert_int_eq(coil_sem_destroy(&s.sem), -EBUSY);
	ck_assert_int_eq(coil_task_cancel(c), 0);
	ck_assert_int_eq(coil_task_join(c, NULL), 0);
	ck_assert_int_eq(g_sem_rc, -ECANCELED);
	ck_assert_int_eq(coil_sem_release(&s.sem), 0);
	ck_assert_int_eq(coil_sem_value(&s.sem), 1);

	/* a blocked acquirer gets the released unit directly */
	ck_assert_int_eq(coil_sem_try_acquire(&s.sem), 0);
	g_sem_rc = 1;
	ck_assert_int_eq(coil_task_spawn(&c, sem_acquire_once, &s.sem), 0);
	yield_n(2);
	ck_assert_int_eq(coil_sem_release(&s.sem), 0);
	ck_assert_int_eq(coil_sem_value(&s.sem), 0);
	ck_assert_int_eq(coil_task_join(c, NULL), 0);
	ck_assert_int_eq(g_sem_rc, 0);
	ck_assert_int_eq(coil_sem_destroy(&s.sem), 0);

	/* the static initialiser */
	static coil_sem st = COIL_SEM_INIT(2);
	ck_assert_int_eq(coil_sem_value(&st), 2);
	ck_assert_int_eq(coil_sem_acquire(&st), 0);
	ck_assert_int_eq(coil_sem_value(&st), 1);
	return NULL;
}

struct holder {
	coil_mutex m;
	coil_cond c;
	int held_after;
};

static void *hold_mutex_a_while(void *arg)
{
	struct holder *h = arg;
	coil_mutex_lock(&h->m);
	coil_sleep(30 * COIL_NSEC_PER_MSEC);
	coil_mutex_unlock(&h->m);
	return NULL;
}

static void *cond_deadline_main(void *arg)
{
	struct holder h;
	memset(&h, 0, sizeof h);
	ck_assert_int_eq(coil_mutex_init(&h.m), 0);
	ck_assert_int_eq(coil_cond_init(&h.c), 0);
	ck_assert_int_eq(coil_mutex_lock(&h.m), 0);
	int64_t t0 = coil_now();
	ck_assert_int_eq(coil_cond_wait_until(&h.c, &h.m, t0 + 10 * COIL_NSEC_PER_MSEC), -ETIMEDOUT);
	ck_assert_int_ge(coil_now() - t0, 10 * COIL_NSEC_PER_MSEC);
	/* m is held again: unlock works */
	ck_assert_int_eq(coil_mutex_unlock(&h.m), 0);

	/* A scope deadline that passes while the mutex is held by another
	 * fiber: the wait ends, the re-lock still completes (shielded). */
	coil_task t;
	ck_assert_int_eq(coil_mutex_lock(&h.m), 0);
	ck_assert_int_eq(coil_task_spawn(&t, hold_mutex_a_while, &h), 0);
	coil_scope s;
	coil_scope_enter_timeout(&s, 5 * COIL_NSEC_PER_MSEC);
	/* the child takes the mutex while we wait, and holds it past our deadline */
	ck_assert_int_eq(coil_cond_wait(&h.c, &h.m), -ETIMEDOUT);
	coil_scope_exit(&s);
	ck_assert_int_eq(coil_mutex_unlock(&h.m), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	return NULL;
}

START_TEST(cond_wait_deadline_times_out_with_the_mutex_held)
{
	coil_test_run(cond_deadline_main, NULL);
}
END_TEST

START_TEST(semaphore_counts_units_and_hands_them_to_waiters)
{
	coil_test_run(sem_main, NULL);
}
END_TEST

/* ---- wait group ---------------------------------------------------------------------- */

struct wg_shared {
	coil_wg wg;
	int finished;
	int waiters_saw[3];
};

static void *wg_worker(void *arg)
{
	struct wg_shared *s = arg;
	ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
	/* Atomic: the workers may run on several workers at once. */
	__atomic_add_fetch(&s->finished, 1, __ATOMIC_RELAXED);
	ck_assert_int_eq(coil_wg_done(&s->wg), 0);
	return NULL;
}

struct wg_waiter {
	struct wg_shared *s;
	int i;
	int rc;
};

static void *wg_wait_one(void *arg)
{
	struct wg_waiter *w = arg;
	w->rc = coil_wg_wait(&w->s->wg);
	w->s->waiters_saw[w->i] = w->s->finished;
	return NULL;
}

static void *wg_main(void *arg)
{
	(void)arg;
	static struct wg_shared s;
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(coil_wg_wait(&s.wg), 0); /* zero: at once */
	ck_assert_int_eq(coil_wg_add(&s.wg, 10), 0);
	ck_assert_int_eq(coil_wg_count(&s.wg), 10);
	struct wg_waiter ww[3];
	coil_task wt[3];
	for (int i = 0; i < 3; i++) {
		ww[i] = (struct wg_waiter){&s, i, 1};
		ck_assert_int_eq(coil_task_spawn(&wt[i], wg_wait_one, &ww[i]), 0);
	}
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(coil_task_spawn(NULL, wg_worker, &s), 0);
	ck_assert_int_eq(coil_wg_wait(&s.wg), 0);
	ck_assert_int_eq(s.finished, 10);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(coil_task_join(wt[i], NULL), 0);
		ck_assert_int_eq(ww[i].rc, 0);
		ck_assert_int_eq(s.waiters_saw[i], 10);
	}
	ck_assert_int_eq(coil_wg_add(&s.wg, -1), -EINVAL); /* below zero */
	ck_assert_int_eq(coil_wg_done(&s.wg), -EINVAL);
	ck_assert_int_eq(coil_wg_count(&s.wg), 0);
	ck_assert_int_eq(coil_wg_add(&s.wg, INT64_MAX), 0);
	ck_assert_int_eq(coil_wg_add(&s.wg, 1), -EINVAL); /* overflow */
	ck_assert_int_eq(coil_wg_add(&s.wg, -INT64_MAX), 0);

	/* a cancelled waiter leaves; the count is untouched */
	ck_assert_int_eq(coil_wg_add(&s.wg, 1), 0);
	ww[0] = (struct wg_waiter){&s, 0, 1};
	ck_assert_int_eq(coil_task_spawn(&wt[0], wg_wait_one, &ww[0]), 0);
	yield_n(2);
	ck_assert_int_eq(coil_wg_destroy(&s.wg), -EBUSY);
	ck_assert_int_eq(coil_task_cancel(wt[0]), 0);
	ck_assert_int_eq(coil_task_join(wt[0], NULL), 0);
	ck_assert_int_eq(ww[0].rc, -ECANCELED);
	ck_assert_int_eq(coil_wg_count(&s.wg), 1);
	ck_assert_int_eq(coil_wg_done(&s.wg), 0);
	ck_assert_int_eq(coil_wg_destroy(&s.wg), 0);
	return NULL;
}

START_TEST(wait_group_wakes_every_waiter_when_count_reaches_zero)
{
	coil_test_run(wg_main, NULL);
}
END_TEST

/* ---- event ---------------------------------------------------------------------------- */

struct ev_waiter {
	coil_event *e;
	int rc;
	int woke;
};

static void *ev_wait_one(void *arg)
{
	struct ev_waiter *w = arg;
	w->rc = coil_event_wait(w->e);
	w->woke = 1;
	return NULL;
}

static void *event_main(void *arg)
{
	(void)arg;
	static coil_event e = COIL_EVENT_INIT;
	/* a permit stored with nobody waiting; permits do not add up */
	ck_assert_int_eq(coil_event_notify_one(&e), 0);
	ck_assert_int_eq(coil_event_notify_one(&e), 0);
	ck_assert_int_eq(coil_event_wait(&e), 0);
	struct ev_waiter w[4];
	coil_task t[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct ev_waiter){&e, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], ev_wait_one, &w[i]), 0);
	}
	yield_n(3);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(w[i].woke, 0); /* the second permit was not kept */
	/* notify_one wakes exactly the first */
	ck_assert_int_eq(coil_event_notify_one(&e), 0);
	yield_n(3);
	ck_assert_int_eq(w[0].woke, 1);
	ck_assert_int_eq(w[0].rc, 0);
	for (int i = 1; i < 4; i++)
		ck_assert_int_eq(w[i].woke, 0);
	/* cancel one; notify_all wakes the other two and stores nothing */
	ck_assert_int_eq(coil_task_cancel(t[2]), 0);
	ck_assert_int_eq(coil_event_notify_all(&e), 2);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(w[1].rc, 0);
	ck_assert_int_eq(w[2].rc, -ECANCELED);
	ck_assert_int_eq(w[3].rc, 0);
	w[0] = (struct ev_waiter){&e, 1, 0};
	ck_assert_int_eq(coil_task_spawn(&t[0], ev_wait_one, &w[0]), 0);
	yield_n(3);
	ck_assert_int_eq(w[0].woke, 0);
	ck_assert_int_eq(coil_event_destroy(&e), -EBUSY);
	ck_assert_int_eq(coil_event_notify_one(&e), 0);
	ck_assert_int_eq(coil_task_join(t[0], NULL), 0);
	ck_assert_int_eq(w[0].rc, 0);
	ck_assert_int_eq(coil_event_destroy(&e), 0);
	return NULL;
}

START_TEST(event_notify_one_wakes_one_or_keeps_a_permit_notify_all_wakes_all)
{
	coil_test_run(event_main, NULL);
}
END_TEST

/* ---- once ---------------------------------------------------------------------------------- */

struct once_shared {
	coil_once once;
	int calls;
	int fail_first;
	int value;
};

static int once_init(void *arg)
{
	struct once_shared *s = arg;
	s->calls++;
	/* block inside: concurrent callers must wait, not run it again */
	ck_assert_int_eq(coil_sleep(2 * COIL_NSEC_PER_MSEC), 0);
	if (s->fail_first) {
		s->fail_first = 0;
		return -EIO;
	}
	s->value = 42;
	return 0;
}

struct once_caller {
	struct once_shared *s;
	int rc;
	int saw;
};

static void *once_call(void *arg)
{
	struct once_caller *c = arg;
	c->rc = coil_once_call(&c->s->once, once_init, c->s);
	c->saw = c->s->value;
	return NULL;
}

static void *once_main(void *arg)
{
	(void)arg;
	static struct once_shared s;
	memset(&s, 0, sizeof s);
	struct once_caller c[10];
	coil_task t[10];
	for (int i = 0; i < 10; i++) {
		c[i] = (struct once_caller){&s, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], once_call, &c[i]), 0);
	}
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		ck_assert_int_eq(c[i].rc, 0);
		ck_assert_int_eq(c[i].saw, 42);
	}
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(coil_once_call(&s.once, once_init, &s), 0);
	ck_assert_int_eq(s.calls, 1);

	/* a failed initialisation is retried by the next caller */
	static struct once_shared f;
	memset(&f, 0, sizeof f);
	f.fail_first = 1;
	for (int i = 0; i < 4; i++) {
		c[i] = (struct once_caller){&f, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], once_call, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	/* Whichever caller came first (the callers may run on two workers,
	 * in any order) saw the failure; every other one the value. */
	int failed = 0;
	for (int i = 0; i < 4; i++) {
		if (c[i].rc == -EIO) {
			failed++;
			continue;
		}
		ck_assert_int_eq(c[i].rc, 0);
		ck_assert_int_eq(c[i].saw, 42);
	}
	ck_assert_int_eq(failed, 1);
	ck_assert_int_eq(f.calls, 2);

	/* a waiter cancelled while the first caller runs fn */
	static struct once_shared g;
	memset(&g, 0, sizeof g);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct once_caller){&g, 1, 0};
		ck_assert_int_eq(coil_task_spawn(&t[i], once_call, &c[i]), 0);
	}
	yield_n(2);
	ck_assert_int_eq(coil_task_cancel(t[1]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(c[0].rc, 0);
	ck_assert_int_eq(c[1].rc, -ECANCELED);
	ck_assert_int_eq(g.calls, 1);
	return NULL;
}

START_TEST(once_runs_init_once_while_concurrent_callers_wait)
{
	coil_test_run(once_main, NULL);
}
END_TEST

/* ---- arguments ------------------------------------------------------------------------------ */

static int noop_init(void *arg)
{
	(void)arg;
	return 0;
}

START_TEST(bad_arguments_and_outside_a_runtime)
{
	ck_assert_int_eq(coil_mutex_init(NULL), -EINVAL);
	ck_assert_int_eq(coil_mutex_lock(NULL), -EINVAL);
	ck_assert_int_eq(coil_mutex_try_lock(NULL), -EINVAL);
	ck_assert_int_eq(coil_mutex_unlock(NULL), -EINVAL);
	ck_assert_int_eq(coil_mutex_destroy(NULL), -EINVAL);
	ck_assert_int_eq(coil_cond_init(NULL), -EINVAL);
	ck_assert_int_eq(coil_cond_wait(NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_cond_signal(NULL), -EINVAL);
	ck_assert_int_eq(coil_cond_broadcast(NULL), -EINVAL);
	ck_assert_int_eq(coil_sem_init(NULL, 1), -EINVAL);
	ck_assert_int_eq(coil_sem_acquire(NULL), -EINVAL);
	ck_assert_int_eq(coil_sem_try_acquire(NULL), -EINVAL);
	ck_assert_int_eq(coil_sem_release(NULL), -EINVAL);
	ck_assert_int_eq(coil_sem_value(NULL), -EINVAL);
	ck_assert_int_eq(coil_wg_init(NULL), -EINVAL);
	ck_assert_int_eq(coil_wg_add(NULL, 1), -EINVAL);
	ck_assert_int_eq(coil_wg_wait(NULL), -EINVAL);
	ck_assert_int_eq(coil_event_init(NULL), -EINVAL);
	ck_assert_int_eq(coil_event_wait(NULL), -EINVAL);
	ck_assert_int_eq(coil_event_notify_one(NULL), -EINVAL);
	ck_assert_int_eq(coil_event_notify_all(NULL), -EINVAL);
	ck_assert_int_eq(coil_once_call(NULL, noop_init, NULL), -EINVAL);

	coil_mutex m = COIL_MUTEX_INIT;
	coil_cond c = COIL_COND_INIT;
	coil_sem s;
	coil_wg wg = COIL_WG_INIT;
	coil_event e = COIL_EVENT_INIT;
	coil_once o = COIL_ONCE_INIT;
	ck_assert_int_eq(coil_once_call(&o, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_sem_init(&s, 0), 0);
	ck_assert_int_eq(coil_mutex_lock(&m), -EPERM);
	ck_assert_int_eq(coil_mutex_try_lock(&m), -EPERM);
	ck_assert_int_eq(coil_mutex_unlock(&m), -EPERM);
	ck_assert_int_eq(coil_cond_wait(&c, &m), -EPERM);
	ck_assert_int_eq(coil_sem_acquire(&s), -EPERM);
	ck_assert_int_eq(coil_wg_add(&wg, 1), 0);
	ck_assert_int_eq(coil_wg_wait(&wg), -EPERM);
	ck_assert_int_eq(coil_event_wait(&e), -EPERM);
	ck_assert_int_eq(coil_once_call(&o, noop_init, NULL), -EPERM);
	/* the non-blocking side works anywhere */
	ck_assert_int_eq(coil_sem_release(&s), 0);
	ck_assert_int_eq(coil_sem_try_acquire(&s), 0);
	ck_assert_int_eq(coil_event_notify_one(&e), 0);
	ck_assert_int_eq(coil_wg_done(&wg), 0);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("sync");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, mutex_excludes_fibers_that_yield_inside);
	tcase_add_test(tc, mutex_unlock_hands_off_fifo_so_waiters_cannot_starve);
	tcase_add_test(tc, cancel_of_fiber_blocked_in_lock_is_ecanceled_and_it_never_owns);
	tcase_add_test(tc, cond_signal_wakes_first_waiter_broadcast_wakes_all);
	tcase_add_test(tc, cancel_of_cond_waiter_is_ecanceled_with_the_mutex_held);
	tcase_add_test(tc, semaphore_counts_units_and_hands_them_to_waiters);
	tcase_add_test(tc, wait_group_wakes_every_waiter_when_count_reaches_zero);
	tcase_add_test(tc, event_notify_one_wakes_one_or_keeps_a_permit_notify_all_wakes_all);
	tcase_add_test(tc, once_runs_init_once_while_concurrent_callers_wait);
	tcase_add_test(tc, bad_arguments_and_outside_a_runtime);
	tcase_add_test(tc, cond_wait_deadline_times_out_with_the_mutex_held);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(sync_suite());
}
