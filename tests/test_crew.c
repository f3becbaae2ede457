/*
 * Several workers in one runtime: what crosses between their threads.
 * Fibers are placed on explicit workers (coil_task_spawn_on) so that each
 * exchange below really crosses; results are checked after coil_run, on
 * counters the fibers update with atomics.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct coil_config workers_cfg(unsigned n)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = n;
	return cfg;
}

static void *run_on(unsigned n, coil_fn fn, void *arg)
{
	struct coil_config cfg = workers_cfg(n);
	return coil_test_run_cfg(&cfg, fn, arg);
}

#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* ---- basics -------------------------------------------------------------------- */

static void *where_am_i(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)coil_worker_index();
}

static void *index_and_count_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_worker_count(), 3);
	ck_assert_int_eq(coil_worker_index(), 0);
	for (unsigned w = 0; w < 3; w++) {
		coil_task t;
		ck_assert_int_eq(coil_task_spawn_on(w, &t, where_am_i, NULL), 0);
		void *res;
		ck_assert_int_eq(coil_task_join(t, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, (int)w);
	}
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(3, &t, where_am_i, NULL), -EINVAL);
	struct coil_task_opts o = {.flags = 0x80};
	ck_assert_int_eq(coil_task_spawn_ex(&t, &o, where_am_i, NULL), -EINVAL);
	return NULL;
}

START_TEST(worker_index_count_and_spawn_on)
{
	ck_assert_int_eq(coil_worker_index(), -EPERM);
	ck_assert_int_eq(coil_worker_count(), -EPERM);
	run_on(3, index_and_count_main, NULL);
	struct coil_config cfg = workers_cfg(257);
	ck_assert_int_eq(coil_run(&cfg, index_and_count_main, NULL, NULL), -EINVAL);
}
END_TEST

static void *cpus_of_worker(void *arg)
{
	(void)arg;
	cpu_set_t set;
	ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
	return (void *)(intptr_t)CPU_COUNT(&set);
}

static void *pinned_main(void *arg)
{
	(void)arg;
	for (unsigned w = 0; w < 2; w++) {
		coil_task t;
		ck_assert_int_eq(coil_task_spawn_on(w, &t, cpus_of_worker, NULL), 0);
		void *n;
		ck_assert_int_eq(coil_task_join(t, &n), 0);
		ck_assert_int_eq((int)(intptr_t)n, 1); /* one CPU each */
	}
	return NULL;
}

START_TEST(pinned_workers_run_on_one_cpu_each_and_the_caller_gets_its_mask_back)
{
	cpu_set_t before, after;
	ck_assert_int_eq(sched_getaffinity(0, sizeof before, &before), 0);
	struct coil_config cfg = workers_cfg(2);
	cfg.pin_workers = true;
	coil_test_run_cfg(&cfg, pinned_main, NULL);
	ck_assert_int_eq(sched_getaffinity(0, sizeof after, &after), 0);
	ck_assert(CPU_EQUAL(&before, &after));
}
END_TEST

/* ---- channels: 8 producers, 8 consumers, 4 workers ------------------------------ */

#define PRODUCERS 8
#define CONSUMERS 8
#define PER_PRODUCER coil_test_count(20000)

struct mpmc {
	coil_chan *ch;
	uint8_t *seen;		/* per message: times received */
	long received;
	long dup;
};

struct prod_arg {
	struct mpmc *m;
	int id;
};

static void *producer(void *arg)
{
	struct prod_arg *a = arg;
	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		uint32_t v = (uint32_t)a->id * PER_PRODUCER + i;
		ck_assert_int_eq(coil_chan_send(a->m->ch, &v), 0);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct mpmc *m = arg;
	uint32_t v;
	int r;
	while ((r = coil_chan_recv(m->ch, &v)) == 0) {
		if (ADD(&m->seen[v], 1) != 1)
			ADD(&m->dup, 1);
		ADD(&m->received, 1);
	}
	ck_assert_int_eq(r, -EPIPE);
	return NULL;
}

static void *mpmc_main(void *arg)
{
	struct mpmc *m = arg;
	coil_task prod[PRODUCERS], cons[CONSUMERS];
	struct prod_arg pa[PRODUCERS];
	unsigned n = (unsigned)coil_worker_count();
	for (int i = 0; i < CONSUMERS; i++)
		ck_assert_int_eq(coil_task_spawn_on((unsigned)i % n, &cons[i], consumer, m), 0);
	for (int i = 0; i < PRODUCERS; i++) {
		pa[i] = (struct prod_arg){m, i};
		ck_assert_int_eq(coil_task_spawn_on((unsigned)(i + 1) % n, &prod[i], producer, &pa[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++)
		ck_assert_int_eq(coil_task_join(prod[i], NULL), 0);
	ck_assert_int_eq(coil_chan_close(m->ch), 0);
	for (int i = 0; i < CONSUMERS; i++)
		ck_assert_int_eq(coil_task_join(cons[i], NULL), 0);
	return NULL;
}

static void mpmc_with_capacity(size_t cap)
{
	struct mpmc m = {0};
	ck_assert_int_eq(coil_chan_new(&m.ch, sizeof(uint32_t), cap), 0);
	m.seen = calloc(PRODUCERS * PER_PRODUCER, 1);
	run_on(4, mpmc_main, &m);
	ck_assert_int_eq(m.dup, 0);
	ck_assert_int_eq(m.received, PRODUCERS * PER_PRODUCER);
	for (long i = 0; i < PRODUCERS * PER_PRODUCER; i++)
		ck_assert_msg(m.seen[i] == 1, "message %ld seen %d times", i, m.seen[i]);
	ck_assert_int_eq(coil_chan_free(m.ch), 0);
	free(m.seen);
}

START_TEST(chan_8_producers_8_consumers_4_workers_exactly_once)
{
	mpmc_with_capacity(16);
	mpmc_with_capacity(0);
	mpmc_with_capacity(COIL_CHAN_UNBOUNDED);
}
END_TEST

/* Each producer's values arrive in its order (FIFO per sender across
 * threads): one consumer, checked per producer. */
static void *ordered_consumer(void *arg)
{
	struct mpmc *m = arg;
	uint32_t next[PRODUCERS] = {0};
	uint32_t v;
	while (coil_chan_recv(m->ch, &v) == 0) {
		uint32_t p = v / PER_PRODUCER, i = v % PER_PRODUCER;
		if (i != next[p])
			ADD(&m->dup, 1);
		next[p] = i + 1;
		ADD(&m->received, 1);
	}
	return NULL;
}

static void *order_main(void *arg)
{
	struct mpmc *m = arg;
	coil_task prod[PRODUCERS], cons;
	struct prod_arg pa[PRODUCERS];
	ck_assert_int_eq(coil_task_spawn_on(0, &cons, ordered_consumer, m), 0);
	for (int i = 0; i < PRODUCERS; i++) {
		pa[i] = (struct prod_arg){m, i};
		ck_assert_int_eq(coil_task_spawn_on((unsigned)i % 2, &prod[i], producer, &pa[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++)
		ck_assert_int_eq(coil_task_join(prod[i], NULL), 0);
	coil_chan_close(m->ch);
	ck_assert_int_eq(coil_task_join(cons, NULL), 0);
	return NULL;
}

START_TEST(each_senders_values_arrive_in_order_across_workers)
{
	struct mpmc m = {0};
	ck_assert_int_eq(coil_chan_new(&m.ch, sizeof(uint32_t), 8), 0);
	run_on(2, order_main, &m);
	ck_assert_int_eq(m.dup, 0);
	ck_assert_int_eq(m.received, PRODUCERS * PER_PRODUCER);
	coil_chan_free(m.ch);
}
END_TEST

/* ---- select across workers -------------------------------------------------------- */

#define SEL_PER coil_test_count(20000)

struct selx {
	coil_chan *a, *b, *done;
	long got_a, got_b;
};

static void *send_n(void *arg)
{
	coil_chan *ch = arg;
	for (uint32_t i = 0; i < SEL_PER; i++)
		ck_assert_int_eq(coil_chan_send(ch, &i), 0);
	return NULL;
}

static void *selector(void *arg)
{
	struct selx *s = arg;
	uint32_t va, vb;
	for (;;) {
		struct coil_select_case c[2] = {
			{.kind = COIL_SELECT_RECV, .chan = s->a, .buf = &va},
			{.kind = COIL_SELECT_RECV, .chan = s->b, .buf = &vb},
		};
		int i = coil_select(c, 2, COIL_NO_DEADLINE, 0);
		ck_assert_int_ge(i, 0);
		if (c[i].res == -EPIPE)
			break;
		ck_assert_int_eq(c[i].res, 0);
		ADD(i == 0 ? &s->got_a : &s->got_b, 1);
	}
	return NULL;
}

static void *select_main(void *arg)
{
	struct selx *s = arg;
	coil_task sel[4], pa, pb;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_task_spawn_on((unsigned)i % 2, &sel[i], selector, s), 0);
	ck_assert_int_eq(coil_task_spawn_on(1, &pa, send_n, s->a), 0);
	ck_assert_int_eq(coil_task_spawn_on(0, &pb, send_n, s->b), 0);
	coil_task_join(pa, NULL);
	coil_task_join(pb, NULL);
	/* Selectors leave at the first -EPIPE, on either channel. */
	coil_chan_close(s->a);
	coil_chan_close(s->b);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_task_join(sel[i], NULL), 0);
	return NULL;
}

START_TEST(select_over_channels_fed_from_other_workers_loses_nothing)
{
	for (size_t cap = 0; cap <= 4; cap += 4) {
		struct selx s = {0};
		ck_assert_int_eq(coil_chan_new(&s.a, sizeof(uint32_t), cap), 0);
		ck_assert_int_eq(coil_chan_new(&s.b, sizeof(uint32_t), cap), 0);
		run_on(2, select_main, &s);
		ck_assert_int_eq(s.got_a, SEL_PER);
		ck_assert_int_eq(s.got_b, SEL_PER);
		ck_assert_int_eq(coil_chan_free(s.a), 0);
		ck_assert_int_eq(coil_chan_free(s.b), 0);
	}
}
END_TEST

static void *sleepy(void *arg)
{
	coil_sleep(20 * 1000 * 1000);
	return arg;
}

static void *select_join_main(void *arg)
{
	(void)arg;
	coil_chan *never;
	ck_assert_int_eq(coil_chan_new(&never, 4, 0), 0);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, sleepy, (void *)0x5a), 0);
	uint32_t v;
	void *res = NULL;
	struct coil_select_case c[2] = {
		{.kind = COIL_SELECT_RECV, .chan = never, .buf = &v},
		{.kind = COIL_SELECT_JOIN, .task = t, .result = &res},
	};
	ck_assert_int_eq(coil_select(c, 2, COIL_NO_DEADLINE, 0), 1);
	ck_assert_ptr_eq(res, (void *)0x5a);
	/* The handle was released by the select. */
	ck_assert_int_eq(coil_task_join(t, NULL), -ESRCH);
	ck_assert_int_eq(coil_chan_free(never), 0);
	return NULL;
}

START_TEST(select_join_case_on_a_task_of_another_worker)
{
	run_on(2, select_join_main, NULL);
}
END_TEST

/* ---- join, cancel, groups ---------------------------------------------------------- */

static void *slow_double(void *arg)
{
	coil_sleep(2 * 1000 * 1000);
	return (void *)((intptr_t)arg * 2);
}

static void *joiner_on_1(void *arg)
{
	coil_task t = (coil_task)(uintptr_t)arg;
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	return res;
}

static void *join_main(void *arg)
{
	(void)arg;
	/* Joined from worker 0, the task on worker 1, in both orders (the
	 * target done before the join, and after). */
	for (int i = 0; i < 50; i++) {
		coil_task t;
		ck_assert_int_eq(coil_task_spawn_on(1, &t, slow_double, (void *)(intptr_t)i), 0);
		if (i % 2)
			coil_sleep(5 * 1000 * 1000);
		void *res;
		ck_assert_int_eq(coil_task_join(t, &res), 0);
		ck_assert_int_eq((int)(intptr_t)res, 2 * i);
		ck_assert_int_eq(coil_task_join(t, NULL), -ESRCH);
	}
	/* A task of worker 0 joined by a fiber of worker 2. */
	coil_task t, j;
	ck_assert_int_eq(coil_task_spawn_on(0, &t, slow_double, (void *)21), 0);
	ck_assert_int_eq(coil_task_spawn_on(2, &j, joiner_on_1, (void *)(uintptr_t)t), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(j, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, 42);
	/* Detach from another worker: it reaps itself. */
	ck_assert_int_eq(coil_task_spawn_on(1, &t, slow_double, NULL), 0);
	ck_assert_int_eq(coil_task_detach(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), -ESRCH);
	return NULL;
}

START_TEST(join_and_detach_tasks_of_other_workers)
{
	run_on(3, join_main, NULL);
}
END_TEST

struct io_cancel {
	int fds[2];
	ssize_t got;
	int joined;
};

static void *blocked_reader(void *arg)
{
	struct io_cancel *c = arg;
	char buf[64];
	c->got = coil_sock_read(c->fds[0], buf, sizeof buf);
	return NULL;
}

static void *io_cancel_main(void *arg)
{
	struct io_cancel *c = arg;
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, blocked_reader, c), 0);
	coil_sleep(10 * 1000 * 1000); /* parked in its read on worker 1 */
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	c->joined = 1;
	return NULL;
}

START_TEST(cancel_from_another_worker_ends_a_read_in_flight)
{
	struct io_cancel c = {.got = 1};
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, c.fds), 0);
	run_on(2, io_cancel_main, &c);
	ck_assert_int_eq(c.joined, 1);
	ck_assert_int_eq((int)c.got, -ECANCELED);
	close(c.fds[0]);
	close(c.fds[1]);
}
END_TEST

/* ---- a close reaches every worker ------------------------------------------- */

#define MS (1000 * 1000)

/* A reader on worker 1: reads a byte at a time from fd (a socket, or a
 * pipe through coil_file_read) until a read does not return one byte, under
 * a 20 s deadline; counts the bytes it got. */
struct far_reader {
	int fd;
	bool sock;
	int got;  /* atomic */
	int done; /* atomic: it returned */
};

static void *far_read(void *arg)
{
	struct far_reader *fr = arg;
	coil_scope s;
	coil_scope_enter_timeout(&s, 20 * COIL_NSEC_PER_SEC);
	ssize_t r;
	for (;;) {
		char c;
		r = fr->sock ? coil_sock_read(fr->fd, &c, 1) : coil_file_read(fr->fd, &c, 1, -1);
		if (r != 1)
			break;
		__atomic_add_fetch(&fr->got, 1, __ATOMIC_RELEASE);
	}
	coil_scope_exit(&s);
	__atomic_store_n(&fr->done, 1, __ATOMIC_RELEASE);
	return (void *)(intptr_t)r;
}

/* Start fr on the last worker (1 of 2; the only one of a one-worker
 * runtime) and see it read one byte (written to feed): it is then in its
 * next read. The short sleep after lets that read park; on a slow machine
 * it only makes the test weaker (the read starts after the close and
 * fails with -EBADF anyway), never wrong. */
static coil_task start_far_reader(struct far_reader *fr, int feed)
{
	coil_task t;
	unsigned last = (unsigned)coil_worker_count() - 1;
	ck_assert_int_eq(coil_task_spawn_on(last, &t, far_read, fr), 0);
	ck_assert_int_eq(write(feed, "x", 1), 1);
	while (__atomic_load_n(&fr->got, __ATOMIC_ACQUIRE) < 1 &&
	       !__atomic_load_n(&fr->done, __ATOMIC_ACQUIRE))
		coil_sleep(MS);
	coil_sleep(5 * MS);
	return t;
}

static void *nothing(void *arg)
{
	return arg;
}

/* Each test runs twice: as configured, and with registered files asked for
 * (io_uring's fixed slots; the other backends ignore it). */
static void run_both_on(unsigned workers, coil_fn fn)
{
	for (int fixed = 0; fixed < 2; fixed++) {
		struct coil_config cfg = workers_cfg(workers);
		if (fixed)
			cfg.features_on = COIL_FEATURE_FIXED_FILES;
		coil_test_run_cfg(&cfg, fn, NULL);
	}
}

static void run_both(coil_fn fn)
{
	run_both_on(2, fn);
}

static void *close_far_main(void *arg)
{
	(void)arg;
	int sv[2], p[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	struct far_reader rs = {.fd = sv[0], .sock = true}, rp = {.fd = p[0], .sock = false};
	coil_task ts = start_far_reader(&rs, sv[1]);
	coil_task tp = start_far_reader(&rp, p[1]);
	ck_assert_int_eq(coil_close(sv[0]), 0);
	ck_assert_int_eq(coil_close(p[0]), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(ts, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EBADF); /* not -ETIMEDOUT 20 s later */
	ck_assert_int_eq(coil_task_join(tp, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EBADF);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	ck_assert_int_eq(coil_close(p[1]), 0);
	return NULL;
}

/* coil_close on worker 0 ends a read parked on worker 1 at once, with
 * -EBADF, as it does on its own worker. */
START_TEST(close_fails_a_parked_reader_on_another_worker_with_ebadf)
{
	run_both(close_far_main);
}
END_TEST

/* The same close from outside the readers' runtime: a plain thread, a
 * fiber of a one-worker runtime, a fiber on worker 1 of another two-worker
 * runtime. */
enum outside { OUT_PLAIN, OUT_RUNTIME1, OUT_RUNTIME2 };
static enum outside outside_how;

struct outside_close {
	int fds[2];
	int r[2];
	int done; /* atomic */
};

static void *close_both(void *arg)
{
	struct outside_close *oc = arg;
	for (int i = 0; i < 2; i++)
		oc->r[i] = coil_close(oc->fds[i]);
	return NULL;
}

static void *close_on_worker1(void *arg)
{
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, close_both, arg), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	return NULL;
}

static void *outside_closer(void *arg)
{
	struct outside_close *oc = arg;
	if (outside_how == OUT_PLAIN) {
		close_both(oc);
	} else {
		struct coil_config cfg = workers_cfg(outside_how == OUT_RUNTIME1 ? 1 : 2);
		coil_test_run_cfg(&cfg, outside_how == OUT_RUNTIME1 ? close_both : close_on_worker1, oc);
	}
	__atomic_store_n(&oc->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *close_outside_main(void *arg)
{
	(void)arg;
	int sv[2], p[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	struct far_reader rs = {.fd = sv[0], .sock = true}, rp = {.fd = p[0], .sock = false};
	coil_task ts = start_far_reader(&rs, sv[1]);
	coil_task tp = start_far_reader(&rp, p[1]);
	struct outside_close oc = {.fds = {sv[0], p[0]}};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, outside_closer, &oc), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(ts, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EBADF); /* not -ETIMEDOUT 20 s later */
	ck_assert_int_eq(coil_task_join(tp, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EBADF);
	/* The closer may still wait for this worker's answer: keep turning
	 * until it is done, then join it. */
	while (!__atomic_load_n(&oc.done, __ATOMIC_ACQUIRE))
		coil_sleep(MS);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(oc.r[0], 0);
	ck_assert_int_eq(oc.r[1], 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	ck_assert_int_eq(coil_close(p[1]), 0);
	return NULL;
}

START_TEST(close_from_a_plain_thread_fails_a_parked_reader_with_ebadf)
{
	outside_how = OUT_PLAIN;
	run_both(close_outside_main);
}
END_TEST

START_TEST(close_from_another_runtime_fails_a_parked_reader_with_ebadf)
{
	outside_how = OUT_RUNTIME1;
	run_both(close_outside_main);
	outside_how = OUT_RUNTIME2;
	run_both(close_outside_main);
}
END_TEST

/* The same with the readers in a one-worker runtime (forced: the suite's
 * workers2 variant would make it two): it used to mark nothing, so its
 * reads waited out their deadline. */
START_TEST(close_from_a_plain_thread_fails_a_parked_one_worker_reader_with_ebadf)
{
	unsetenv("COIL_WORKERS");
	outside_how = OUT_PLAIN;
	run_both_on(1, close_outside_main);
}
END_TEST

START_TEST(close_from_another_runtime_fails_a_parked_one_worker_reader_with_ebadf)
{
	unsetenv("COIL_WORKERS");
	outside_how = OUT_RUNTIME1;
	run_both_on(1, close_outside_main);
	outside_how = OUT_RUNTIME2;
	run_both_on(1, close_outside_main);
}
END_TEST

/* A socketpair one end of which takes number n (the lowest free, which n
 * is right after its close): *mine is that end, *other the peer. */
static void socketpair_at(int n, int *mine, int *other)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_msg(sv[0] == n || sv[1] == n, "fd %d not reused (got %d, %d)", n, sv[0], sv[1]);
	*mine = sv[0] == n ? sv[0] : sv[1];
	*other = sv[0] == n ? sv[1] : sv[0];
}

static void *reuse_main(void *arg)
{
	(void)arg;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	/* Worker 1 waits on sv[0] (epoll: registers it) and gives up. */
	struct far_reader fr = {.fd = sv[0], .sock = true};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, far_read, &fr), 0);
	coil_sleep(5 * MS);
	ck_assert_int_eq(coil_task_cancel(t), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -ECANCELED);
	/* Worker 0 closes it; a new socket takes the number. */
	int n = sv[0];
	ck_assert_int_eq(coil_close(n), 0);
	int mine, other;
	socketpair_at(n, &mine, &other);
	/* A read of the new fd on worker 1 is woken by its data. */
	struct far_reader fr2 = {.fd = mine, .sock = true};
	coil_task t2 = start_far_reader(&fr2, other);
	ck_assert_int_eq(write(other, "y", 1), 1);
	/* Never woken, it ends at its deadline instead. */
	while (__atomic_load_n(&fr2.got, __ATOMIC_ACQUIRE) < 2 &&
	       !__atomic_load_n(&fr2.done, __ATOMIC_ACQUIRE))
		coil_sleep(MS);
	ck_assert_int_eq(__atomic_load_n(&fr2.got, __ATOMIC_ACQUIRE), 2);
	ck_assert_int_eq(coil_close(other), 0);
	ck_assert_int_eq(coil_task_join(t2, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, 0); /* the peer's end */
	ck_assert_int_eq(__atomic_load_n(&fr2.got, __ATOMIC_ACQUIRE), 2);
	ck_assert_int_eq(coil_close(mine), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

/* epoll kept "registered" for a number on the worker that had used it, so
 * a new fd of that number was never woken there (io/fd.h). */
START_TEST(reused_fd_number_wakes_a_reader_on_a_worker_that_used_it_before)
{
	run_both(reuse_main);
}
END_TEST

static void *stale_main(void *arg)
{
	(void)arg;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct far_reader fr = {.fd = sv[0], .sock = true};
	coil_task t = start_far_reader(&fr, sv[1]);
	/* Close the reader's fd; a new connection takes the number at once
	 * and has data waiting. */
	int n = sv[0];
	ck_assert_int_eq(coil_close(n), 0);
	int mine, other;
	socketpair_at(n, &mine, &other);
	ck_assert_int_eq(write(other, "z", 1), 1);
	/* Make worker 1 go round (poll(2) then looks at the number again). */
	coil_task k;
	ck_assert_int_eq(coil_task_spawn_on(1, &k, nothing, NULL), 0);
	ck_assert_int_eq(coil_task_join(k, NULL), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	/* The stale reader ended with the close; it never read the new fd. */
	ck_assert_int_eq((int)(intptr_t)res, -EBADF);
	ck_assert_int_eq(__atomic_load_n(&fr.got, __ATOMIC_ACQUIRE), 1);
	char c = 0;
	ck_assert_int_eq(coil_sock_read(mine, &c, 1), 1);
	ck_assert_int_eq(c, 'z');
	ck_assert_int_eq(coil_close(mine), 0);
	ck_assert_int_eq(coil_close(other), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

/* A reader parked on worker 1 when worker 0 closed its fd must not read the
 * new fd that took the number (poll(2) did, and TSan saw the recv). */
START_TEST(stale_reader_never_reads_the_fd_that_took_its_number)
{
	run_both(stale_main);
}
END_TEST

/* A plain thread closes the reader's fd and makes a socket that takes the
 * number, with data waiting. */
struct reuse_outside {
	int n;
	int mine, other;
	int done; /* atomic */
};

static void *close_and_reuse(void *arg)
{
	struct reuse_outside *ro = arg;
	ck_assert_int_eq(coil_close(ro->n), 0);
	socketpair_at(ro->n, &ro->mine, &ro->other);
	ck_assert_int_eq(write(ro->other, "z", 1), 1);
	__atomic_store_n(&ro->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *stale_outside_main(void *arg)
{
	(void)arg;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct far_reader fr = {.fd = sv[0], .sock = true};
	coil_task t = start_far_reader(&fr, sv[1]);
	struct reuse_outside ro = {.n = sv[0]};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, close_and_reuse, &ro), 0);
	void *res;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, -EBADF);
	while (!__atomic_load_n(&ro.done, __ATOMIC_ACQUIRE))
		coil_sleep(MS);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	/* The stale reader ended with the close; it never read the new fd. */
	ck_assert_int_eq(__atomic_load_n(&fr.got, __ATOMIC_ACQUIRE), 1);
	char c = 0;
	ck_assert_int_eq(coil_sock_read(ro.mine, &c, 1), 1);
	ck_assert_int_eq(c, 'z');
	ck_assert_int_eq(coil_close(ro.mine), 0);
	ck_assert_int_eq(coil_close(ro.other), 0);
	ck_assert_int_eq(coil_close(sv[1]), 0);
	return NULL;
}

/* The same with the reader in a one-worker runtime and the close (and the
 * new socket) on a plain thread. */
START_TEST(stale_reader_of_one_worker_never_reads_the_fd_a_plain_thread_reused)
{
	unsetenv("COIL_WORKERS");
	run_both_on(1, stale_outside_main);
}
END_TEST

/* More workers listed than a close's bits (32): places 0 and 32 share a
 * bit. Each worker in turn closes the fds of readers parked on all the
 * others; the one that shares its bit must not take the other's mark for
 * its own. */
#define CROWD 33

struct crowd {
	struct far_reader fr[CROWD];
	int peer[CROWD];
	unsigned closer;
};

static void *close_crowd(void *arg)
{
	struct crowd *c = arg;
	for (unsigned i = 0; i < CROWD; i++)
		if (i != c->closer)
			ck_assert_int_eq(coil_close(c->fr[i].fd), 0);
	return NULL;
}

static void *crowd_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(coil_worker_count(), CROWD);
	for (unsigned j = 0; j < CROWD; j++) {
		struct crowd c = {.closer = j};
		coil_task t[CROWD];
		for (unsigned i = 0; i < CROWD; i++) {
			if (i == j)
				continue;
			int sv[2], type = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
			ck_assert_int_eq(socketpair(AF_UNIX, type, 0, sv), 0);
			c.fr[i] = (struct far_reader){.fd = sv[0], .sock = true};
			c.peer[i] = sv[1];
			ck_assert_int_eq(coil_task_spawn_on(i, &t[i], far_read, &c.fr[i]), 0);
			ck_assert_int_eq(write(sv[1], "x", 1), 1);
		}
		/* Each read one byte: now in their next read (see
		 * start_far_reader). */
		for (unsigned i = 0; i < CROWD; i++)
			while (i != j && __atomic_load_n(&c.fr[i].got, __ATOMIC_ACQUIRE) < 1 &&
			       !__atomic_load_n(&c.fr[i].done, __ATOMIC_ACQUIRE))
				coil_sleep(MS);
		coil_sleep(5 * MS);
		coil_task k;
		ck_assert_int_eq(coil_task_spawn_on(j, &k, close_crowd, &c), 0);
		ck_assert_int_eq(coil_task_join(k, NULL), 0);
		for (unsigned i = 0; i < CROWD; i++) {
			if (i == j)
				continue;
			void *res;
			ck_assert_int_eq(coil_task_join(t[i], &res), 0);
			ck_assert_msg((int)(intptr_t)res == -EBADF,
				      "reader on %u, closer on %u: %d", i, j, (int)(intptr_t)res);
			ck_assert_int_eq(coil_close(c.peer[i]), 0);
		}
	}
	return NULL;
}

START_TEST(close_reaches_a_reader_whose_worker_shares_the_closers_bit)
{
	run_both_on(CROWD, crowd_main);
}
END_TEST

struct scope_x {
	coil_scope *scope;
	coil_chan *ready, *never;
	int r;
};

static void *scoped_waiter(void *arg)
{
	struct scope_x *x = arg;
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter(&s, COIL_NO_DEADLINE), 0);
	x->scope = &s;
	int one = 1;
	ck_assert_int_eq(coil_chan_send(x->ready, &one), 0);
	int v;
	x->r = coil_chan_recv(x->never, &v);
	ck_assert_int_eq(coil_scope_exit(&s), -ECANCELED);
	return NULL;
}

static void *scope_main(void *arg)
{
	struct scope_x *x = arg;
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, scoped_waiter, x), 0);
	int v;
	ck_assert_int_eq(coil_chan_recv(x->ready, &v), 0);
	coil_sleep(2 * 1000 * 1000);
	ck_assert_int_eq(coil_scope_cancel(x->scope), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	return NULL;
}

START_TEST(scope_cancelled_from_another_worker)
{
	struct scope_x x = {0};
	ck_assert_int_eq(coil_chan_new(&x.ready, sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&x.never, sizeof(int), 0), 0);
	run_on(2, scope_main, &x);
	ck_assert_int_eq(x.r, -ECANCELED);
	coil_chan_free(x.ready);
	coil_chan_free(x.never);
}
END_TEST

static void *group_child(void *arg)
{
	coil_sleep(1000 * 1000);
	return (void *)(intptr_t)coil_worker_index();
}

static void *group_main(void *arg)
{
	(void)arg;
	coil_group *g;
	ck_assert_int_eq(coil_group_new(&g), 0);
	int per[4] = {0};
	for (int i = 0; i < 64; i++) {
		struct coil_task_opts o = {.flags = COIL_TASK_ON_WORKER, .worker = (unsigned)i % 4};
		ck_assert_int_eq(coil_group_spawn_ex(g, NULL, &o, group_child, NULL), 0);
	}
	for (int i = 0; i < 64; i++) {
		void *res;
		ck_assert_int_eq(coil_group_wait_next(g, NULL, &res), 0);
		per[(intptr_t)res]++;
	}
	ck_assert_int_eq(coil_group_wait_next(g, NULL, NULL), -ECHILD);
	for (int w = 0; w < 4; w++)
		ck_assert_int_eq(per[w], 16);
	/* Cancel a group whose children sleep on every worker. */
	for (int i = 0; i < 16; i++) {
		struct coil_task_opts o = {.flags = COIL_TASK_ON_WORKER, .worker = (unsigned)i % 4};
		ck_assert_int_eq(coil_group_spawn_ex(g, NULL, &o, sleepy, NULL), 0);
	}
	ck_assert_int_eq(coil_group_cancel(g), 16);
	ck_assert_int_eq(coil_group_wait(g), 0);
	ck_assert_int_eq(coil_group_running(g), 0);
	ck_assert_int_eq(coil_group_free(g), 0);
	return NULL;
}

START_TEST(group_with_children_on_four_workers)
{
	run_on(4, group_main, NULL);
}
END_TEST

/* ---- a deadline while the holder is on another worker ---------------------------------- */

/* A fiber of worker 1 waits, under a scope deadline, for a mutex or a
 * channel that a fiber of worker 0 holds; worker 0 then waits for the
 * waiter's verdict with no deadline, so nothing but worker 1's own timer
 * can end the wait: a deadline that waits for another worker's next event
 * hangs here (caught by the test timeout), whatever the machine's speed. */
enum { HELD_MUTEX, HELD_CHAN_RECV, HELD_CHAN_SEND, HELD_KINDS };
#define HELD_ROUNDS 20

struct held {
	coil_mutex m;
	coil_chan *empty, *full, *verdict;
	int kind;
};

static void *held_waiter(void *arg)
{
	struct held *h = arg;
	coil_scope s;
	int64_t until = coil_now() + 2 * COIL_NSEC_PER_MSEC;
	ck_assert_int_eq(coil_scope_enter(&s, until), 0);
	int v = 1, r;
	if (h->kind == HELD_MUTEX)
		r = coil_mutex_lock(&h->m);
	else if (h->kind == HELD_CHAN_RECV)
		r = coil_chan_recv(h->empty, &v);
	else
		r = coil_chan_send(h->full, &v);
	int late = coil_now() >= until; /* never early */
	ck_assert_int_eq(coil_scope_exit(&s), -ETIMEDOUT);
	int verdict[2] = {r, late};
	ck_assert_int_eq(coil_chan_send(h->verdict, verdict), 0);
	return NULL;
}

static void *held_main(void *arg)
{
	struct held *h = arg;
	int v = 0;
	ck_assert_int_eq(coil_chan_try_send(h->full, &v), 0);
	for (int round = 0; round < HELD_ROUNDS; round++) {
		ck_assert_int_eq(coil_mutex_lock(&h->m), 0);
		coil_task t;
		ck_assert_int_eq(coil_task_spawn_on(1, &t, held_waiter, h), 0);
		int verdict[2];
		ck_assert_int_eq(coil_chan_recv(h->verdict, verdict), 0);
		ck_assert_int_eq(verdict[0], -ETIMEDOUT);
		ck_assert_int_eq(verdict[1], 1);
		ck_assert_int_eq(coil_mutex_unlock(&h->m), 0);
		ck_assert_int_eq(coil_task_join(t, NULL), 0);
	}
	return NULL;
}

START_TEST(deadline_ends_a_wait_for_what_another_worker_holds)
{
	for (int kind = 0; kind < HELD_KINDS; kind++) {
		struct held h = {.kind = kind};
		ck_assert_int_eq(coil_mutex_init(&h.m), 0);
		ck_assert_int_eq(coil_chan_new(&h.empty, sizeof(int), 0), 0);
		ck_assert_int_eq(coil_chan_new(&h.full, sizeof(int), 1), 0);
		ck_assert_int_eq(coil_chan_new(&h.verdict, 2 * sizeof(int), 0), 0);
		run_on(2, held_main, &h);
		coil_chan_free(h.empty);
		coil_chan_free(h.full);
		coil_chan_free(h.verdict);
	}
}
END_TEST

/* ---- locks --------------------------------------------------------------------------- */

#define LOCKERS 8
#define LOCK_ROUNDS 2000

struct locks {
	coil_mutex m;
	coil_cond cv;
	coil_sem sem;
	coil_wg wg;
	coil_event ev;
	coil_once once;
	long counter;		/* under m, plain */
	int inside;		/* holders of sem */
	int max_inside;
	int once_runs;
	int queue;		/* under m: items for the cond consumer */
};

static int once_fn(void *arg)
{
	struct locks *l = arg;
	ADD(&l->once_runs, 1);
	coil_sleep(1000 * 1000);
	return 0;
}

static void *locker(void *arg)
{
	struct locks *l = arg;
	ck_assert_int_eq(coil_once_call(&l->once, once_fn, l), 0);
	for (int i = 0; i < LOCK_ROUNDS; i++) {
		ck_assert_int_eq(coil_mutex_lock(&l->m), 0);
		l->counter++;
		if (i % 100 == 0) {
			l->queue++;
			coil_cond_signal(&l->cv);
		}
		ck_assert_int_eq(coil_mutex_unlock(&l->m), 0);
		if (i % 50 == 0) {
			ck_assert_int_eq(coil_sem_acquire(&l->sem), 0);
			int in = ADD(&l->inside, 1);
			int mx = LOAD(&l->max_inside);
			while (in > mx && !__atomic_compare_exchange_n(&l->max_inside, &mx, in, false,
								     __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			}
			coil_task_yield();
			ADD(&l->inside, -1);
			ck_assert_int_eq(coil_sem_release(&l->sem), 0);
		}
	}
	ck_assert_int_eq(coil_wg_done(&l->wg), 0);
	return NULL;
}

static void *cond_consumer(void *arg)
{
	struct locks *l = arg;
	int taken = 0;
	ck_assert_int_eq(coil_mutex_lock(&l->m), 0);
	while (taken < LOCKERS * (LOCK_ROUNDS / 100)) {
		while (l->queue == 0)
			ck_assert_int_eq(coil_cond_wait(&l->cv, &l->m), 0);
		taken += l->queue;
		l->queue = 0;
	}
	ck_assert_int_eq(coil_mutex_unlock(&l->m), 0);
	ck_assert_int_eq(coil_event_wait(&l->ev), 0);
	return (void *)(intptr_t)taken;
}

static void *locks_main(void *arg)
{
	struct locks *l = arg;
	unsigned n = (unsigned)coil_worker_count();
	coil_task cons;
	ck_assert_int_eq(coil_task_spawn_on(n - 1, &cons, cond_consumer, l), 0);
	ck_assert_int_eq(coil_wg_add(&l->wg, LOCKERS), 0);
	for (int i = 0; i < LOCKERS; i++)
		ck_assert_int_eq(coil_task_spawn_on((unsigned)i % n, NULL, locker, l), 0);
	ck_assert_int_eq(coil_wg_wait(&l->wg), 0);
	ck_assert_int_eq(coil_event_notify_one(&l->ev), 0);
	void *taken;
	ck_assert_int_eq(coil_task_join(cons, &taken), 0);
	ck_assert_int_eq((int)(intptr_t)taken, LOCKERS * (LOCK_ROUNDS / 100));
	return NULL;
}

START_TEST(mutex_cond_sem_wg_event_once_across_four_workers)
{
	struct locks l;
	memset(&l, 0, sizeof l);
	coil_sem_init(&l.sem, 2);
	run_on(4, locks_main, &l);
	ck_assert_int_eq(l.counter, LOCKERS * LOCK_ROUNDS);
	ck_assert_int_eq(l.once_runs, 1);
	ck_assert_int_le(l.max_inside, 2);
	ck_assert_int_eq(coil_mutex_destroy(&l.m), 0);
	ck_assert_int_eq(coil_sem_value(&l.sem), 2);
}
END_TEST

/* ---- plain threads --------------------------------------------------------------------- */

#define THREAD_MSGS coil_test_count(100000) /* a multiple of 1000 */

struct feed {
	coil_chan *ch, *back;
	long sum;
	long count;
	int send_rc;
	long back_sum;
};

static void *feeder_thread(void *arg)
{
	struct feed *f = arg;
	for (uint32_t i = 1; i <= THREAD_MSGS; i++) {
		int r = coil_chan_send_until(f->ch, &i, COIL_NO_DEADLINE);
		if (r < 0) {
			f->send_rc = r;
			return NULL;
		}
	}
	coil_chan_close(f->ch);
	/* And the other way: values from the fibers, with a deadline. */
	uint32_t v;
	int r;
	while ((r = coil_chan_recv_until(f->back, &v, coil_now() + 3600 * COIL_NSEC_PER_SEC)) == 0)
		f->back_sum += v;
	if (r != -EPIPE)
		f->send_rc = r;
	return NULL;
}

static void *fed_fiber(void *arg)
{
	struct feed *f = arg;
	uint32_t v;
	while (coil_chan_recv(f->ch, &v) == 0) {
		ADD(&f->sum, v);
		ADD(&f->count, 1);
		if (v % 1000 == 0)
			ck_assert_int_eq(coil_chan_send(f->back, &v), 0);
	}
	return NULL;
}

static void *feed_main(void *arg)
{
	struct feed *f = arg;
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, feeder_thread, f), 0);
	coil_task t[4];
	unsigned n = (unsigned)coil_worker_count();
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_task_spawn_on((unsigned)i % n, &t[i], fed_fiber, f), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	coil_chan_close(f->back);
	/* pthread_join would block the worker: joined after coil_run. */
	return (void *)(uintptr_t)th;
}

static void plain_thread_feeds(unsigned workers, size_t cap)
{
	struct feed f = {0};
	ck_assert_int_eq(coil_chan_new_ex(&f.ch, sizeof(uint32_t), cap, COIL_CHAN_THREADS), 0);
	ck_assert_int_eq(coil_chan_new_ex(&f.back, sizeof(uint32_t), COIL_CHAN_UNBOUNDED,
					 COIL_CHAN_THREADS), 0);
	pthread_t th = (pthread_t)(uintptr_t)run_on(workers, feed_main, &f);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.send_rc, 0);
	ck_assert_int_eq(f.count, THREAD_MSGS);
	ck_assert_int_eq(f.sum, (long)THREAD_MSGS * (THREAD_MSGS + 1) / 2);
	ck_assert_int_eq(f.back_sum, 1000L * (THREAD_MSGS / 1000) * (THREAD_MSGS / 1000 + 1) / 2);
	ck_assert_int_eq(coil_chan_free(f.ch), 0);
	ck_assert_int_eq(coil_chan_free(f.back), 0);
}

START_TEST(plain_thread_producer_feeds_fibers)
{
	plain_thread_feeds(1, 0);
	plain_thread_feeds(1, 64);
	plain_thread_feeds(2, 0);
	plain_thread_feeds(2, COIL_CHAN_UNBOUNDED);
}
END_TEST

START_TEST(plain_thread_calls_time_out_and_refuse_fiber_only_channels)
{
	coil_chan *ch, *own;
	ck_assert_int_eq(coil_chan_new_ex(&ch, 4, 0, COIL_CHAN_THREADS), 0);
	ck_assert_int_eq(coil_chan_new(&own, 4, 0), 0);
	uint32_t v = 7;
	int64_t t0 = coil_now();
	ck_assert_int_eq(coil_chan_recv_until(ch, &v, t0 + 20 * 1000 * 1000), -ETIMEDOUT);
	ck_assert_int_ge(coil_now() - t0, 20 * 1000 * 1000); /* never early */
	ck_assert_int_eq(coil_chan_send_until(ch, &v, t0), -ETIMEDOUT);
	ck_assert_int_eq(coil_chan_try_send(ch, &v), -EAGAIN);
	ck_assert_int_eq(coil_chan_send_until(own, &v, COIL_NO_DEADLINE), -EPERM);
	ck_assert_int_eq(coil_chan_recv_until(own, &v, COIL_NO_DEADLINE), -EPERM);
	ck_assert_int_eq(coil_chan_send(ch, &v), -EPERM); /* the fiber form */
	ck_assert_int_eq(coil_chan_new_ex(&own, 4, 0, 0x10), -EINVAL);
	ck_assert_int_eq(coil_chan_close(ch), 0);
	ck_assert_int_eq(coil_chan_send_until(ch, &v, COIL_NO_DEADLINE), -EPIPE);
	ck_assert_int_eq(coil_chan_free(ch), 0);
	ck_assert_int_eq(coil_chan_free(own), 0);
}
END_TEST

static void *late_sender(void *arg)
{
	usleep(50 * 1000);
	uint32_t v = 99;
	coil_chan_send_until(arg, &v, COIL_NO_DEADLINE);
	return NULL;
}

static void *wait_for_thread_main(void *arg)
{
	uint32_t v = 0;
	ck_assert_int_eq(coil_chan_recv(arg, &v), 0);
	return (void *)(uintptr_t)v;
}

START_TEST(fiber_waiting_on_a_thread_channel_is_not_a_deadlock)
{
	/* Nothing in the runtime can wake main, but a plain thread will. */
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new_ex(&ch, 4, 0, COIL_CHAN_THREADS), 0);
	for (unsigned w = 1; w <= 2; w++) {
		pthread_t th;
		ck_assert_int_eq(pthread_create(&th, NULL, late_sender, ch), 0);
		void *res = run_on(w, wait_for_thread_main, ch);
		ck_assert_int_eq((int)(uintptr_t)res, 99);
		pthread_join(th, NULL);
	}
	coil_chan_free(ch);
}
END_TEST

/* ---- deadlock across workers ------------------------------------------------------------ */

static void *wait_forever(void *arg)
{
	int v;
	return (void *)(intptr_t)coil_chan_recv(arg, &v);
}

static void *deadlock_main(void *arg)
{
	coil_chan **ch = arg;
	coil_task a, b;
	ck_assert_int_eq(coil_task_spawn_on(1, &a, wait_forever, ch[0]), 0);
	ck_assert_int_eq(coil_task_spawn_on(2, &b, wait_forever, ch[1]), 0);
	coil_task_join(a, NULL);
	return NULL;
}

START_TEST(deadlock_across_workers_is_edeadlk)
{
	coil_chan *ch[2];
	ck_assert_int_eq(coil_chan_new(&ch[0], sizeof(int), 0), 0);
	ck_assert_int_eq(coil_chan_new(&ch[1], sizeof(int), 0), 0);
	struct coil_config cfg = workers_cfg(3);
	ck_assert_int_eq(coil_run(&cfg, deadlock_main, ch, NULL), -EDEADLK);
	/* Every waiter was unlinked: the channels are free to go. */
	ck_assert_int_eq(coil_chan_free(ch[0]), 0);
	ck_assert_int_eq(coil_chan_free(ch[1]), 0);
}
END_TEST

/* ---- wake-up storm --------------------------------------------------------------------------- */

#define RING 32
#define HOPS coil_test_count(1000000)

struct ring {
	coil_chan *link[RING];
	long hops;
};

struct ring_member {
	struct ring *r;
	int i;
};

static void *ring_member(void *arg)
{
	struct ring_member *m = arg;
	struct ring *r = m->r;
	coil_chan *in = r->link[m->i], *out = r->link[(m->i + 1) % RING];
	long tok;
	while (coil_chan_recv(in, &tok) == 0) {
		if (tok >= HOPS) {
			/* Done: pass the end on so every member leaves. */
			for (int k = 0; k < RING; k++)
				coil_chan_close(r->link[k]);
			break;
		}
		tok++;
		ADD(&r->hops, 1);
		if (coil_chan_send(out, &tok) < 0)
			break;
	}
	return NULL;
}

static void *ring_main(void *arg)
{
	struct ring *r = arg;
	unsigned n = (unsigned)coil_worker_count();
	struct ring_member m[RING];
	coil_task t[RING];
	for (int i = 0; i < RING; i++) {
		m[i] = (struct ring_member){r, i};
		ck_assert_int_eq(coil_task_spawn_on((unsigned)i % n, &t[i], ring_member, &m[i]), 0);
	}
	long tok = 0;
	ck_assert_int_eq(coil_chan_send(r->link[0], &tok), 0);
	for (int i = 0; i < RING; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	return NULL;
}

START_TEST(token_ring_on_all_workers_1m_hops_no_lost_wake)
{
	struct ring r = {0};
	for (int i = 0; i < RING; i++)
		ck_assert_int_eq(coil_chan_new(&r.link[i], sizeof(long), 1), 0);
	run_on(4, ring_main, &r);
	ck_assert_int_eq(r.hops, HOPS);
	for (int i = 0; i < RING; i++)
		coil_chan_free(r.link[i]);
}
END_TEST

/* ---- shutdown under load ---------------------------------------------------------------------- */

struct load {
	coil_chan *never;
	coil_mutex m;
	int listen_fd;
	int ended;		/* parked fibers that returned */
	int bad;		/* ... with something else than -ECANCELED */
	int started;
};

static void note(struct load *l, long r)
{
	ADD(&l->ended, 1);
	if (r != -ECANCELED)
		ADD(&l->bad, 1);
}

static void *parked_on_socket(void *arg)
{
	struct load *l = arg;
	int fds[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	ADD(&l->started, 1);
	char buf[16];
	note(l, coil_sock_read(fds[0], buf, sizeof buf));
	coil_close(fds[0]);
	coil_close(fds[1]);
	return NULL;
}

static void *parked_on_accept(void *arg)
{
	struct load *l = arg;
	ADD(&l->started, 1);
	note(l, coil_tcp_accept(l->listen_fd, NULL, NULL));
	return NULL;
}

static void *parked_on_chan(void *arg)
{
	struct load *l = arg;
	ADD(&l->started, 1);
	int v;
	note(l, coil_chan_recv(l->never, &v));
	return NULL;
}

static void *parked_on_lock(void *arg)
{
	struct load *l = arg;
	ADD(&l->started, 1);
	note(l, coil_mutex_lock(&l->m));
	return NULL;
}

static void *load_main(void *arg)
{
	struct load *l = arg;
	unsigned n = (unsigned)coil_worker_count();
	ck_assert_int_eq(coil_mutex_lock(&l->m), 0); /* held by main: never free */
	l->listen_fd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	ck_assert_int_ge(l->listen_fd, 0);
	coil_fn fns[] = {parked_on_socket, parked_on_accept, parked_on_chan, parked_on_lock};
	for (unsigned w = 0; w < n; w++)
		for (int k = 0; k < 4; k++)
			for (int j = 0; j < 4; j++)
				ck_assert_int_eq(coil_task_spawn_on(w, NULL, fns[k], l), 0);
	while (LOAD(&l->started) < (int)n * 16)
		coil_sleep(1000 * 1000);
	coil_sleep(5 * 1000 * 1000); /* all parked */
	return NULL; /* the detached fibers are cancelled as coil_run ends */
}

START_TEST(shutdown_under_load_loses_no_op_and_leaks_no_fd)
{
	int fds_before = coil_test_count_fds();
	struct load l;
	memset(&l, 0, sizeof l);
	ck_assert_int_eq(coil_chan_new(&l.never, sizeof(int), 0), 0);
	struct coil_config cfg = workers_cfg(4);
	void *res;
	ck_assert_int_eq(coil_run(&cfg, load_main, &l, &res), 0);
	ck_assert_int_eq(l.started, 4 * 16);
	/* Every parked call ended, cancelled (main kept the mutex). */
	ck_assert_int_eq(l.ended, 4 * 16);
	ck_assert_int_eq(l.bad, 0);
	close(l.listen_fd);
	ck_assert_int_eq(coil_test_count_fds(), fds_before);
	ck_assert_int_eq(coil_chan_free(l.never), 0);
}
END_TEST

/* ---- a server over the workers ----------------------------------------------------------- */

#define SERVER_CONNS 40

struct srv_test {
	unsigned mode;
	int port;
	coil_chan *port_ready;
	int per_worker[4];
	int started;		/* handlers running: clients write once all are */
	int served;
	int run_rc;
};

static void echo_once(int fd, void *ctx)
{
	struct srv_test *t = ctx;
	ADD(&t->per_worker[coil_worker_index()], 1);
	ADD(&t->started, 1);
	char buf[8];
	ssize_t n = coil_sock_read_exact(fd, buf, sizeof buf);
	if (n == (ssize_t)sizeof buf && coil_sock_write_all(fd, buf, sizeof buf) == (ssize_t)sizeof buf)
		ADD(&t->served, 1);
	coil_close(fd);
}

static void *server_fiber(void *arg)
{
	struct srv_test *t = arg;
	coil_server *s;
	ck_assert_int_eq(coil_server_open(&s, "127.0.0.1", 0, 64, t->mode), 0);
	int port = coil_server_port(s);
	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(coil_chan_send(t->port_ready, &port), 0);
	t->run_rc = coil_server_run(s, echo_once, t);
	ck_assert_int_eq(coil_server_close(s), 0);
	return NULL;
}

static void *client(void *arg)
{
	struct srv_test *t = arg;
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)t->port);
	ck_assert_int_ge(fd, 0);
	/* Every handler alive at once before any finishes: the hand-off then
	 * meets unequal loads whatever the machine's speed (one connection at
	 * a time would find the workers equal each time: all to worker 0). */
	while (LOAD(&t->started) < SERVER_CONNS)
		coil_sleep(1000 * 1000);
	char out[8] = "abcdefg", in[8];
	ck_assert_int_eq(coil_sock_write_all(fd, out, sizeof out), sizeof out);
	ck_assert_int_eq(coil_sock_read_exact(fd, in, sizeof in), sizeof in);
	ck_assert_int_eq(memcmp(in, out, sizeof in), 0);
	coil_close(fd);
	return NULL;
}

static void *server_main(void *arg)
{
	struct srv_test *t = arg;
	coil_server *s;
	ck_assert_int_eq(coil_server_open(&s, "127.0.0.1", 0, 8, 7), -EINVAL);
	ck_assert_int_eq(coil_server_open(NULL, "127.0.0.1", 0, 8, COIL_SERVE_HANDOFF), -EINVAL);
	ck_assert_int_eq(coil_server_run(NULL, echo_once, t), -EINVAL);
	ck_assert_int_eq(coil_chan_new(&t->port_ready, sizeof(int), 1), 0);
	coil_task srv;
	ck_assert_int_eq(coil_task_spawn_on(0, &srv, server_fiber, t), 0);
	ck_assert_int_eq(coil_chan_recv(t->port_ready, &t->port), 0);
	coil_task c[SERVER_CONNS];
	for (int i = 0; i < SERVER_CONNS; i++)
		ck_assert_int_eq(coil_task_spawn_on((unsigned)i % 2, &c[i], client, t), 0);
	for (int i = 0; i < SERVER_CONNS; i++)
		ck_assert_int_eq(coil_task_join(c[i], NULL), 0);
	while (LOAD(&t->served) < SERVER_CONNS)
		coil_sleep(1000 * 1000);
	ck_assert_int_eq(coil_task_cancel(srv), 0);
	ck_assert_int_eq(coil_task_join(srv, NULL), 0);
	coil_chan_free(t->port_ready);
	return NULL;
}

START_TEST(server_spreads_connections_over_workers_and_stops_on_cancel)
{
	int fds = coil_test_count_fds();
	coil_server *s;
	ck_assert_int_eq(coil_server_open(&s, "127.0.0.1", 0, 8, COIL_SERVE_HANDOFF), -EPERM);
	unsigned modes[] = {COIL_SERVE_HANDOFF, COIL_SERVE_REUSEPORT};
	for (int m = 0; m < 2; m++) {
		struct srv_test t = {.mode = modes[m]};
		run_on(2, server_main, &t);
		ck_assert_int_eq(t.run_rc, -ECANCELED);
		ck_assert_int_eq(t.served, SERVER_CONNS);
		ck_assert_int_eq(t.per_worker[0] + t.per_worker[1], SERVER_CONNS);
		if (modes[m] == COIL_SERVE_HANDOFF) {
			/* Handed to the least-loaded worker: both get some. */
			ck_assert_int_gt(t.per_worker[0], 0);
			ck_assert_int_gt(t.per_worker[1], 0);
		}
		ck_assert_int_eq(coil_test_count_fds(), fds); /* listeners closed */
	}
}
END_TEST

static Suite *crew_suite(void)
{
	Suite *s = suite_create("crew");
	TCase *tc = tcase_create("crew");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, worker_index_count_and_spawn_on);
	tcase_add_test(tc, pinned_workers_run_on_one_cpu_each_and_the_caller_gets_its_mask_back);
	tcase_add_test(tc, chan_8_producers_8_consumers_4_workers_exactly_once);
	tcase_add_test(tc, each_senders_values_arrive_in_order_across_workers);
	tcase_add_test(tc, select_over_channels_fed_from_other_workers_loses_nothing);
	tcase_add_test(tc, select_join_case_on_a_task_of_another_worker);
	tcase_add_test(tc, join_and_detach_tasks_of_other_workers);
	tcase_add_test(tc, cancel_from_another_worker_ends_a_read_in_flight);
	tcase_add_test(tc, close_fails_a_parked_reader_on_another_worker_with_ebadf);
	tcase_add_test(tc, close_from_a_plain_thread_fails_a_parked_reader_with_ebadf);
	tcase_add_test(tc, close_from_another_runtime_fails_a_parked_reader_with_ebadf);
	tcase_add_test(tc, close_from_a_plain_thread_fails_a_parked_one_worker_reader_with_ebadf);
	tcase_add_test(tc, close_from_another_runtime_fails_a_parked_one_worker_reader_with_ebadf);
	tcase_add_test(tc, reused_fd_number_wakes_a_reader_on_a_worker_that_used_it_before);
	tcase_add_test(tc, stale_reader_never_reads_the_fd_that_took_its_number);
	tcase_add_test(tc, stale_reader_of_one_worker_never_reads_the_fd_a_plain_thread_reused);
	tcase_add_test(tc, close_reaches_a_reader_whose_worker_shares_the_closers_bit);
	tcase_add_test(tc, scope_cancelled_from_another_worker);
	tcase_add_test(tc, group_with_children_on_four_workers);
	tcase_add_test(tc, mutex_cond_sem_wg_event_once_across_four_workers);
	tcase_add_test(tc, plain_thread_producer_feeds_fibers);
	tcase_add_test(tc, plain_thread_calls_time_out_and_refuse_fiber_only_channels);
	tcase_add_test(tc, fiber_waiting_on_a_thread_channel_is_not_a_deadlock);
	tcase_add_test(tc, deadlock_across_workers_is_edeadlk);
	tcase_add_test(tc, shutdown_under_load_loses_no_op_and_leaks_no_fd);
	tcase_add_test(tc, server_spreads_connections_over_workers_and_stops_on_cancel);
	suite_add_tcase(s, tc);
	tc = tcase_create("held");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, deadline_ends_a_wait_for_what_another_worker_holds);
	suite_add_tcase(s, tc);
	tc = tcase_create("storm");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, token_ring_on_all_workers_1m_hops_no_lost_wake);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(crew_suite());
}
