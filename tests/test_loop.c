/*
 * coil_loop: a runtime ticked by the embedder (coil/loop.h), on every
 * backend. The fd tests pin the bugs embedders of libuv hit: an fd not
 * signalled while work waits (libuv #3101), a readable fd while idle (a
 * busy spin, node-gtk #477), and a post between the embedder's timeout
 * and its poll being lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

/* The embedder's fd, or -1 on a backend without one (poll). */
static int loop_fd_or_skip(coil_loop *l)
{
	int fd = coil_loop_fd(l);
	if (fd == -EOPNOTSUPP) {
		const char *b = getenv("COIL_BACKEND");
		ck_assert(b && !strcmp(b, "poll"));
		return -1;
	}
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* A new loop and its fd in *fd; NULL (nothing left open) on a backend
 * without an fd, for the tests that are about the fd. */
static coil_loop *loop_with_fd(int *fd)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	*fd = loop_fd_or_skip(l);
	if (*fd >= 0)
		return l;
	coil_loop_free(l);
	return NULL;
}

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n = poll(&p, 1, timeout_ms);
	ck_assert_int_ge(n, 0);
	return n > 0 && (p.revents & POLLIN);
}

/* The embedder's loop: wait (fd and timeout) then tick, until the loop has
 * no fibers (a lost wake-up shows as a hang: the test's timeout). Returns
 * the number of ticks. */
static int drive(coil_loop *l)
{
	int fd = coil_loop_fd(l);
	int ticks = 0, r;
	do {
		int64_t t = coil_loop_timeout(l);
		int ms = t < 0 ? -1 : (int)((t + 999999) / 1000000);
		if (fd >= 0)
			readable(fd, ms);
		else if (ms != 0) /* no fd (poll): wake now and then to tick */
			usleep(ms < 0 ? 1000 : (useconds_t)ms * 1000);
		r = coil_loop_tick(l, 0, 0);
		ck_assert_int_ge(r, 0);
		ticks++;
	} while (r > 0);
	return ticks;
}

/* ---- fibers, timers, the timeout call ------------------------------------ */

struct sleeper {
	int64_t ns;
	int64_t woke_after;
	int r;
	int done;
};

static void *sleeper(void *arg)
{
	struct sleeper *s = arg;
	int64_t t0 = coil_now();
	s->r = coil_sleep(s->ns);
	s->woke_after = coil_now() - t0;
	s->done = 1;
	return NULL;
}

START_TEST(fibers_run_inside_ticks_and_sleeps_are_never_early)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	ck_assert_int_eq(coil_loop_timeout(l), -1); /* nothing at all */
	struct sleeper s = {.ns = 20 * 1000000};
	ck_assert_int_eq(coil_loop_spawn(l, NULL, sleeper, &s), 0);
	ck_assert_int_eq(coil_loop_timeout(l), 0); /* ready to run */
	ck_assert_int_eq(s.done, 0);		   /* not before a tick */
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 1);
	/* Up to 20 ms (0 when a stalled machine is already past it). */
	int64_t t = coil_loop_timeout(l);
	ck_assert_int_ge(t, 0);
	ck_assert_int_le(t, 20 * 1000000);
	drive(l);
	ck_assert_int_eq(s.done, 1);
	ck_assert_int_eq(s.r, 0);
	ck_assert_int_ge(s.woke_after, 20 * 1000000);
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 0); /* no fibers left */
	ck_assert_int_eq(coil_loop_free(l), 0);
}
END_TEST

START_TEST(a_blocking_tick_waits_for_the_timer)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	struct sleeper s = {.ns = 10 * 1000000};
	ck_assert_int_eq(coil_loop_spawn(l, NULL, sleeper, &s), 0);
	int ticks = 0;
	while (coil_loop_tick(l, -1, 0) > 0)
		ticks++;
	ck_assert_int_eq(s.done, 1);
	ck_assert_int_eq(s.r, 0);
	ck_assert_int_ge(s.woke_after, 10 * 1000000);
	ck_assert_int_le(ticks, 3); /* blocked, did not spin */
	ck_assert_int_eq(coil_loop_free(l), 0);
}
END_TEST

static int yields;

static void *yielder(void *arg)
{
	for (int i = 0; i < 5; i++) {
		__atomic_add_fetch(&yields, 1, __ATOMIC_RELAXED);
		coil_task_yield();
	}
	return NULL;
}

START_TEST(budget_bounds_the_fibers_run_per_tick)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	yields = 0;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(coil_loop_spawn(l, NULL, yielder, NULL), 0);
	ck_assert_int_eq(coil_loop_tick(l, 0, 3), 1);
	ck_assert_int_eq(yields, 3);
	ck_assert_int_eq(coil_loop_timeout(l), 0); /* more is ready */
	int fd = loop_fd_or_skip(l);
	if (fd >= 0)
		ck_assert(readable(fd, 0)); /* and the fd says so */
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 1);
	ck_assert_int_eq(yields, 13); /* the other 7, and the first 3 again */
	while (coil_loop_tick(l, 0, 0) > 0) {
	}
	ck_assert_int_eq(yields, 50);
	ck_assert_int_eq(coil_loop_free(l), 0);
}
END_TEST

/* ---- who may tick ---------------------------------------------------------- */

struct misuse {
	coil_loop *l;
	int tick, free_r, spawn;
};

static void *ticks_itself(void *arg)
{
	struct misuse *m = arg;
	m->tick = coil_loop_tick(m->l, 0, 0);
	m->free_r = coil_loop_free(m->l);
	return NULL;
}

static void *other_thread(void *arg)
{
	struct misuse *m = arg;
	m->tick = coil_loop_tick(m->l, 0, 0);
	m->free_r = coil_loop_free(m->l);
	m->spawn = coil_loop_spawn(m->l, NULL, yielder, NULL);
	return NULL;
}

static void post_ticks(coil_loop *l, void *arg)
{
	struct misuse *m = arg;
	m->tick = coil_loop_tick(l, 0, 0);
}

static void *in_run(void *arg)
{
	struct misuse *m = arg;
	m->tick = coil_loop_tick(m->l, 0, 0);
	coil_loop *inner;
	m->spawn = coil_loop_new(&inner, NULL);
	return NULL;
}

START_TEST(only_the_owner_ticks_and_never_from_inside_a_fiber)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	struct misuse m = {.l = l};
	ck_assert_int_eq(coil_loop_spawn(l, NULL, ticks_itself, &m), 0);
	while (coil_loop_tick(l, 0, 0) > 0) {
	}
	ck_assert_int_eq(m.tick, -EBUSY);
	ck_assert_int_eq(m.free_r, -EBUSY);

	m.tick = 0;
	ck_assert_int_eq(coil_loop_post(l, post_ticks, &m), 0);
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(m.tick, -EBUSY);

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, other_thread, &m), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(m.tick, -EPERM);
	ck_assert_int_eq(m.free_r, -EPERM);
	ck_assert_int_eq(m.spawn, -EPERM);

	ck_assert_int_eq(coil_loop_tick(NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(coil_loop_post(NULL, post_ticks, NULL), -EINVAL);
	ck_assert_int_eq(coil_loop_post(l, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_loop_spawn(l, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(coil_loop_free(NULL), -EINVAL);
	ck_assert_int_eq(coil_loop_free(l), 0);

	/* Inside coil_run: a loop's tick is refused, and no loop is made. */
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	m = (struct misuse){.l = l};
	coil_test_run(in_run, &m);
	ck_assert_int_eq(m.tick, -EBUSY);
	ck_assert_int_eq(m.spawn, -EBUSY);
	ck_assert_int_eq(coil_loop_free(l), 0);

	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 2;
	ck_assert_int_eq(coil_loop_new(&l, &cfg), -EINVAL);
	ck_assert_int_eq(coil_loop_new(NULL, NULL), -EINVAL);
}
END_TEST

/* ---- posts ------------------------------------------------------------------ */

#define POSTERS 4
#define PER_POSTER 5000

struct posts {
	coil_loop *l;
	long ran;
	long last[POSTERS];	/* per poster: the last value seen, to check order */
	int out_of_order;
	long again;
};

struct posted {
	struct posts *p;
	int who;
	long seq;
};

static void count_post(coil_loop *l, void *arg)
{
	struct posted *x = arg;
	struct posts *p = x->p;
	if (x->seq != p->last[x->who] + 1)
		p->out_of_order++;
	p->last[x->who] = x->seq;
	p->ran++;
	free(x);
}

struct poster_arg {
	struct posts *p;
	int who;
};

static void *poster(void *arg)
{
	struct poster_arg *a = arg;
	for (long i = 1; i <= PER_POSTER; i++) {
		struct posted *x = malloc(sizeof *x);
		*x = (struct posted){a->p, a->who, i};
		int r;
		while ((r = coil_loop_post(a->p->l, count_post, x)) == -EAGAIN) {
			__atomic_add_fetch(&a->p->again, 1, __ATOMIC_RELAXED);
			sched_yield();
		}
		ck_assert_int_eq(r, 0);
	}
	return NULL;
}

START_TEST(posts_from_many_threads_run_once_each_in_order_per_thread)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.loop_posts = 64; /* small: the posters meet -EAGAIN */
	struct posts p = {0};
	for (int i = 0; i < POSTERS; i++)
		p.last[i] = 0;
	ck_assert_int_eq(coil_loop_new(&p.l, &cfg), 0);
	pthread_t th[POSTERS];
	struct poster_arg a[POSTERS];
	for (int i = 0; i < POSTERS; i++) {
		a[i] = (struct poster_arg){&p, i};
		ck_assert_int_eq(pthread_create(&th[i], NULL, poster, &a[i]), 0);
	}
	/* Until every post ran: a lost post shows as a hang (the test's
	 * timeout), a slow machine only as a longer run. (A wall-clock bound
	 * here left the posters blocked on a full queue that no tick drained,
	 * and the join below hung on a busy machine.) */
	while (p.ran < POSTERS * PER_POSTER)
		ck_assert_int_ge(coil_loop_tick(p.l, 1000000, 0), 0); /* woken by posts */
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(p.ran, POSTERS * PER_POSTER);
	ck_assert_int_eq(p.out_of_order, 0);
	ck_assert_int_eq(coil_loop_free(p.l), 0);
}
END_TEST

static void nop_post(coil_loop *l, void *arg)
{
	(*(int *)arg)++;
}

struct at_free {
	int ran;
	int post_during_free;
	int spawn_during_free;
	int fiber_result;
};

static void *waits_forever(void *arg)
{
	struct at_free *f = arg;
	f->fiber_result = coil_sleep(3600 * 1000000000LL);
	return NULL;
}

static void posts_while_freed(coil_loop *l, void *arg)
{
	struct at_free *f = arg;
	f->ran++;
	f->post_during_free = coil_loop_post(l, nop_post, &f->ran);
	f->spawn_during_free = coil_loop_spawn(l, NULL, waits_forever, f);
}

START_TEST(a_full_queue_says_eagain_and_a_closing_loop_epipe_and_queued_posts_still_run)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.loop_posts = 4;
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, &cfg), 0);
	int ran = 0;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_loop_post(l, nop_post, &ran), 0);
	ck_assert_int_eq(coil_loop_post(l, nop_post, &ran), -EAGAIN);
	ck_assert_int_eq(coil_loop_timeout(l), 0);
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(ran, 4);
	ck_assert_int_eq(coil_loop_post(l, nop_post, &ran), 0);

	/* Freed with a post queued: it runs, its own post is refused, the
	 * fiber it spawns is cancelled. */
	struct at_free f = {0};
	f.fiber_result = 1;
	ck_assert_int_eq(coil_loop_post(l, posts_while_freed, &f), 0);
	ck_assert_int_eq(coil_loop_free(l), 0);
	ck_assert_int_eq(ran, 5);
	ck_assert_int_eq(f.ran, 1);
	ck_assert_int_eq(f.post_during_free, -EPIPE);
	ck_assert_int_eq(f.spawn_during_free, 0);
	ck_assert_int_eq(f.fiber_result, -ECANCELED);
}
END_TEST

/* ---- the embedder's fd ------------------------------------------------------- */

struct reader {
	int fd;
	char buf[64];
	ssize_t got;
	int done;
};

static void *reader(void *arg)
{
	struct reader *r = arg;
	r->got = coil_sock_read(r->fd, r->buf, sizeof r->buf);
	r->done = 1;
	return NULL;
}

struct late_writer {
	int fd;
	int delay_ms;
};

static void *write_late(void *arg)
{
	struct late_writer *w = arg;
	usleep((useconds_t)w->delay_ms * 1000);
	ck_assert_int_eq(write(w->fd, "hello", 5), 5);
	return NULL;
}

START_TEST(io_completing_while_the_embedder_waits_makes_the_fd_readable)
{
	int fd;
	coil_loop *l = loop_with_fd(&fd);
	if (!l)
		return; /* no fd on this backend */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct reader r = {.fd = sv[0]};
	ck_assert_int_eq(coil_loop_spawn(l, NULL, reader, &r), 0);
	ck_assert(readable(fd, 0)); /* a fiber is ready */
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 1);
	ck_assert_int_eq(r.done, 0);
	ck_assert_int_eq(coil_loop_timeout(l), -1);
	ck_assert(!readable(fd, 0)); /* waiting on I/O: nothing to do */
	struct late_writer w = {sv[1], 30};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, write_late, &w), 0);
	/* libuv #3101: the embedder waits on the fd alone (no timer) and
	 * must be woken by the completion. */
	ck_assert(readable(fd, 5000));
	pthread_join(th, NULL);
	int ticks = 0;
	while (!r.done && ticks < 10) {
		coil_loop_tick(l, 0, 0);
		ticks++;
	}
	ck_assert_int_eq(r.done, 1);
	ck_assert_int_eq(r.got, 5);
	ck_assert_int_eq(coil_loop_free(l), 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(an_idle_loop_does_not_keep_its_fd_readable)
{
	int fd;
	coil_loop *l = loop_with_fd(&fd);
	if (!l)
		return; /* no fd on this backend */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct reader r = {.fd = sv[0]};
	ck_assert_int_eq(coil_loop_spawn(l, NULL, reader, &r), 0);
	/* node-gtk #477: an embedder that ticks whenever the fd is readable
	 * must not spin while coil waits on I/O. 300 ms of such a loop. */
	int64_t end = coil_test_mono_ns() + 300 * 1000000LL;
	int wakes = 0;
	while (coil_test_mono_ns() < end) {
		if (readable(fd, 50)) {
			wakes++;
			ck_assert_int_eq(coil_loop_tick(l, 0, 0), 1);
		}
	}
	ck_assert_int_le(wakes, 3);
	ck_assert_int_eq(r.done, 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	drive(l);
	ck_assert_int_eq(r.got, 1);
	ck_assert_int_eq(coil_loop_free(l), 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void *post_once(void *arg)
{
	void **a = arg;
	ck_assert_int_eq(coil_loop_post(a[0], nop_post, a[1]), 0);
	return NULL;
}

START_TEST(a_post_between_the_timeout_and_the_poll_is_not_lost)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	int fd = loop_fd_or_skip(l);
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(coil_loop_timeout(l), -1); /* "wait forever" */
	int ran = 0;
	void *a[2] = {l, &ran};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, post_once, a), 0);
	pthread_join(th, NULL);
	/* The embedder now polls with the timeout it read: the fd must be
	 * readable, and the timeout call agrees. */
	if (fd >= 0)
		ck_assert(readable(fd, 2000));
	ck_assert_int_eq(coil_loop_timeout(l), 0);
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(ran, 1);
	if (fd >= 0)
		ck_assert(!readable(fd, 0));
	/* And a tick blocked forever is woken by a post too. */
	ck_assert_int_eq(pthread_create(&th, NULL, post_once, a), 0);
	ck_assert_int_eq(coil_loop_tick(l, -1, 0), 0);
	pthread_join(th, NULL);
	if (ran == 1) /* the tick may have ended just before the post ran */
		ck_assert_int_eq(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(ran, 2);
	ck_assert_int_eq(coil_loop_free(l), 0);
}
END_TEST

/* ---- wakes from plain threads --------------------------------------------- */

struct chan_reader {
	coil_chan *ch;
	int got, value, done;
};

static void *recv_twice(void *arg)
{
	struct chan_reader *c = arg;
	for (int i = 0; i < 2; i++) {
		c->got = coil_chan_recv(c->ch, &c->value);
		c->done++;
	}
	return NULL;
}

static void *send_value(void *arg)
{
	struct chan_reader *c = arg;
	int v = 42 + c->done;
	ck_assert_int_eq(coil_chan_send_until(c->ch, &v, COIL_NO_DEADLINE), 0);
	return NULL;
}

/* Tick until the reader is parked on the channel again (nothing left to
 * do), and check the fd says so. */
static void park_reader(coil_loop *l, int fd)
{
	while (coil_loop_timeout(l) == 0)
		ck_assert_int_eq(coil_loop_tick(l, 0, 0), 1);
	ck_assert_int_eq(coil_loop_timeout(l), -1);
	if (fd >= 0)
		ck_assert(!readable(fd, 0));
}

/* Issue 15 (3b): a plain thread's send on a COIL_CHAN_THREADS channel woke
 * the parked fiber (an inbox message) but left the fd unreadable, so an
 * embedder waiting on the fd slept until its own timeout. Both orders: the
 * send done before the embedder polls, and during its poll. */
START_TEST(a_plain_threads_channel_send_makes_the_fd_readable)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	int fd = loop_fd_or_skip(l);
	struct chan_reader c = {0};
	ck_assert_int_eq(coil_chan_new_ex(&c.ch, sizeof(int), 1, COIL_CHAN_THREADS), 0);
	ck_assert_int_eq(coil_loop_spawn(l, NULL, recv_twice, &c), 0);
	park_reader(l, fd);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, send_value, &c), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(coil_loop_timeout(l), 0);
	if (fd >= 0)
		ck_assert(readable(fd, 10000));
	while (c.done == 0)
		ck_assert_int_eq(coil_loop_tick(l, 0, 0), 1);
	ck_assert_int_eq(c.got, 0);
	ck_assert_int_eq(c.value, 42);

	park_reader(l, fd);
	ck_assert_int_eq(pthread_create(&th, NULL, send_value, &c), 0);
	if (fd >= 0)
		ck_assert(readable(fd, 10000));
	pthread_join(th, NULL);
	while (c.done == 1)
		ck_assert_int_ge(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(c.got, 0);
	ck_assert_int_eq(c.value, 43);
	ck_assert_int_eq(coil_loop_free(l), 0);
	coil_chan_free(c.ch);
}
END_TEST

struct resolver {
	int r, done;
};

static void *connect_by_name(void *arg)
{
	struct resolver *c = arg;
	/* A name, not a number: resolved by a thread of the blocking pool. */
	c->r = coil_tcp_connect("localhost", 9);
	if (c->r >= 0)
		coil_close(c->r);
	c->done = 1;
	return NULL;
}

/* The blocking pool's threads finish an op outside the loop too: each
 * wait on the fd alone must end by the fd, never by the embedder's own
 * timeout. */
START_TEST(a_blocking_pool_completion_makes_the_fd_readable)
{
	int fd;
	coil_loop *l = loop_with_fd(&fd);
	if (!l)
		return; /* no fd on this backend */
	struct resolver c = {0};
	ck_assert_int_eq(coil_loop_spawn(l, NULL, connect_by_name, &c), 0);
	while (!c.done) {
		if (coil_loop_timeout(l) != 0)
			ck_assert(readable(fd, 10000));
		ck_assert_int_ge(coil_loop_tick(l, 0, 0), 0);
	}
	ck_assert_int_ne(c.r, -ETIMEDOUT);
	ck_assert_int_eq(coil_loop_free(l), 0);
}
END_TEST

/* ---- freeing ------------------------------------------------------------------ */

START_TEST(free_cancels_fibers_and_waits_for_their_ops)
{
	int fds_before = coil_test_count_fds();
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct reader *r = calloc(1, sizeof *r);
	r->fd = sv[0];
	struct sleeper s = {.ns = 3600 * 1000000000LL};
	ck_assert_int_eq(coil_loop_spawn(l, NULL, reader, r), 0);
	ck_assert_int_eq(coil_loop_spawn(l, NULL, sleeper, &s), 0);
	ck_assert_int_eq(coil_loop_tick(l, 0, 0), 1);
	ck_assert_int_eq(coil_loop_free(l), 0);
	ck_assert_int_eq(r->done, 1);
	ck_assert_int_eq(r->got, -ECANCELED);
	ck_assert_int_eq(s.done, 1);
	ck_assert_int_eq(s.r, -ECANCELED);
	/* The read is over in the kernel: data sent now lands nowhere. */
	memset(r->buf, 0, sizeof r->buf);
	ck_assert_int_eq(write(sv[1], "late", 4), 4);
	usleep(20000);
	ck_assert_int_eq(r->buf[0], 0);
	free(r);
	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(coil_test_count_fds(), fds_before);
}
END_TEST

/* ---- closes from outside (issue 15, item 2) ------------------------------ */

/* The loop's worker is not waited for by a closer elsewhere (its thread is
 * the embedder's between ticks): it is told, and the next tick ends its
 * ops on the fd with -EBADF. */

/* Spawn a reader of fd and tick until it is parked (nothing left to do). */
static void park_fd_reader(coil_loop *l, struct reader *r)
{
	ck_assert_int_eq(coil_loop_spawn(l, NULL, reader, r), 0);
	while (coil_loop_timeout(l) == 0)
		ck_assert_int_ge(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(coil_loop_timeout(l), -1);
	ck_assert_int_eq(r->done, 0);
}

/* After a close elsewhere: the embedder sees work (the fd is readable, or
 * the timeout says 0 where there is no fd), and a few ticks end the
 * reader. Without the news the reader would wait forever: the bounds only
 * turn that hang into a failure. */
static void tick_until_read(coil_loop *l, struct reader *r)
{
	int fd = coil_loop_fd(l);
	if (fd >= 0)
		ck_assert(readable(fd, 10000));
	ck_assert_int_eq(coil_loop_timeout(l), 0);
	for (int ticks = 0; !r->done && ticks < 10; ticks++)
		ck_assert_int_ge(coil_loop_tick(l, 0, 0), 0);
	ck_assert_int_eq(r->done, 1);
}

struct loop_closer {
	int fds[40];
	int n;
	int r[40];
	int reuse;		/* put a new socket at fds[0] and write to it */
	int peer;		/* the new socket's peer */
	int done;		/* atomic */
};

static void *close_fds(void *arg)
{
	struct loop_closer *c = arg;
	for (int i = 0; i < c->n; i++)
		c->r[i] = coil_close(c->fds[i]);
	if (c->reuse) {
		int nv[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, nv), 0);
		if (nv[0] != c->fds[0]) {
			ck_assert_int_eq(dup2(nv[0], c->fds[0]), c->fds[0]);
			close(nv[0]);
		}
		c->peer = nv[1];
		ck_assert_int_eq(write(c->peer, "new", 3), 3);
	}
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(a_plain_threads_close_ends_a_parked_loop_reader_with_ebadf)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct reader r = {.fd = sv[0]};
	park_fd_reader(l, &r);
	struct loop_closer c = {.fds = {sv[0]}, .n = 1};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, close_fds, &c), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(c.r[0], 0);
	tick_until_read(l, &r);
	ck_assert_int_eq(r.got, -EBADF);
	ck_assert_int_eq(coil_loop_free(l), 0);
	close(sv[1]);
}
END_TEST

/* The closer puts a new socket at the number at once and writes to it:
 * the reader of the old one must end with -EBADF and leave the new data
 * alone (poll(2) watches numbers: it would report the new socket ready). */
START_TEST(a_stale_loop_reader_never_reads_the_fd_that_took_its_number)
{
	coil_loop *l;
	ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct reader r = {.fd = sv[0]};
	park_fd_reader(l, &r);
	struct loop_closer c = {.fds = {sv[0]}, .n = 1, .reuse = 1};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, close_fds, &c), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(c.r[0], 0);
	tick_until_read(l, &r);
	ck_assert_int_eq(r.got, -EBADF);
	char buf[8];
	ck_assert_int_eq(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), 3);
	ck_assert_int_eq(memcmp(buf, "new", 3), 0);
	/* The loop uses the new socket as any fd. */
	struct reader r2 = {.fd = sv[0]};
	park_fd_reader(l, &r2);
	ck_assert_int_eq(write(c.peer, "again", 5), 5);
	drive(l);
	ck_assert_int_eq(r2.got, 5);
	ck_assert_int_eq(coil_loop_free(l), 0);
	close(sv[0]);
	close(sv[1]);
	close(c.peer);
}
END_TEST

static void *close_in_runtime(void *arg)
{
	close_fds(arg);
	return NULL;
}

static void *runtime_closer(void *arg)
{
	coil_test_run(close_in_runtime, arg);
	return NULL;
}

/* The embedder's thread itself waits for the closer (a plain thread, then
 * a fiber of a coil_run runtime) and does not tick meanwhile: the closer
 * must not wait for the loop. Also more closes than the loop's list of
 * news holds before it ticks: it then looks at every fd it keeps. */
START_TEST(a_close_from_outside_never_waits_for_a_loop_that_is_not_ticking)
{
	for (int how = 0; how < 2; how++) {
		coil_loop *l;
		ck_assert_int_eq(coil_loop_new(&l, NULL), 0);
		int n = how == 0 ? 1 : 40;
		int peers[40];
		struct reader r[40];
		struct loop_closer c = {.n = n};
		for (int i = 0; i < n; i++) {
			int sv[2];
			ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
			r[i] = (struct reader){.fd = sv[0]};
			c.fds[i] = sv[0];
			peers[i] = sv[1];
			park_fd_reader(l, &r[i]);
		}
		pthread_t th;
		ck_assert_int_eq(pthread_create(&th, NULL, how == 0 ? close_fds : runtime_closer, &c), 0);
		ck_assert_int_eq(pthread_join(th, NULL), 0); /* no tick meanwhile */
		for (int i = 0; i < n; i++)
			ck_assert_int_eq(c.r[i], 0);
		tick_until_read(l, &r[0]);
		for (int i = 0; i < n; i++) {
			for (int ticks = 0; !r[i].done && ticks < 10; ticks++)
				ck_assert_int_ge(coil_loop_tick(l, 0, 0), 0);
			ck_assert_int_eq(r[i].done, 1);
			ck_assert_int_eq(r[i].got, -EBADF);
			close(peers[i]);
		}
		ck_assert_int_eq(coil_loop_free(l), 0);
	}
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fibers_run_inside_ticks_and_sleeps_are_never_early);
	tcase_add_test(tc, a_blocking_tick_waits_for_the_timer);
	tcase_add_test(tc, budget_bounds_the_fibers_run_per_tick);
	tcase_add_test(tc, only_the_owner_ticks_and_never_from_inside_a_fiber);
	tcase_add_test(tc, posts_from_many_threads_run_once_each_in_order_per_thread);
	tcase_add_test(tc, a_full_queue_says_eagain_and_a_closing_loop_epipe_and_queued_posts_still_run);
	tcase_add_test(tc, io_completing_while_the_embedder_waits_makes_the_fd_readable);
	tcase_add_test(tc, an_idle_loop_does_not_keep_its_fd_readable);
	tcase_add_test(tc, a_post_between_the_timeout_and_the_poll_is_not_lost);
	tcase_add_test(tc, a_plain_threads_channel_send_makes_the_fd_readable);
	tcase_add_test(tc, a_blocking_pool_completion_makes_the_fd_readable);
	tcase_add_test(tc, free_cancels_fibers_and_waits_for_their_ops);
	tcase_add_test(tc, a_plain_threads_close_ends_a_parked_loop_reader_with_ebadf);
	tcase_add_test(tc, a_stale_loop_reader_never_reads_the_fd_that_took_its_number);
	tcase_add_test(tc, a_close_from_outside_never_waits_for_a_loop_that_is_not_ticking);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(loop_suite());
}
