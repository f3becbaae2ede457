/*
 * coil_loop: one worker on the embedder's thread, driven by its ticks. See
 * coil/loop.h.
 *
 * The embedder's fd: on io_uring an eventfd registered with the ring (the
 * kernel signals it when a completion is queued); on epoll/kqueue the
 * poller's fd, with the worker's wake eventfd in its set. "Signal" below is
 * a write to the fd that makes it readable (notify_fd's counterpart): done
 * for a post, after a tick that left fibers ready to run, and for a
 * message to the worker's inbox between ticks (a plain thread waking a
 * fiber: the worker "sleeps" in the embedder's poll then, and the crew's
 * kick signals, sched/crew.h). A tick drains the eventfd first, before it
 * reaps: a completion queued after the drain signals again, so the fd
 * never reads empty while work waits.
 *
 * The worker is in the list of every runtime's workers (sched/crew.h) for
 * the loop's life, as one nobody waits for: a close elsewhere of an fd it
 * met tells it and goes on (io/fd.h), and the tick after that ends its ops
 * on the fd.
 */
#include "coil/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/config.h"
#include "base/spin.h"
#include "coil/time.h"
#include "io/backend.h"
#include "io/fd.h"
#include "io/io.h"
#include "io/reader.h"
#include "io/setup.h"
#include "runtime/thread.h"
#include "sched/crew.h"
#include "sched/fiber.h"
#include "sched/sched.h"
#include "sched/turn.h"

struct post {
	coil_loop_fn fn;
	void *arg;
};

struct coil_loop {
	struct coil__config cfg;
	struct coil__crew crew;
	struct coil__io_shared io_shared;	/* the crew's io: what its io layer shares */
	struct coil__worker *workers[1];
	struct coil__worker w;
	struct coil__io io;
	pthread_t owner;
	bool io_ok;
	struct coil__thread_state thread;	/* the owner's, for the loop's life */
	struct coil__fd_later later;	/* closes elsewhere of fds it met */
	bool listed;			/* in the crew list (sched/crew.h) */

	int efd;		/* the eventfd (io_uring: registered with the ring) */
	int notify_fd;		/* what the embedder polls, or -EOPNOTSUPP */
	int signal_fd;		/* a write here makes notify_fd readable */
	uint32_t signalled;	/* a signal is pending (avoids a write per post) */

	/* Posts: a ring of cap under lock. */
	uint32_t lock;
	struct post *posts;
	size_t cap, head, len;
	bool closing;
};

static void signal_loop(coil_loop *l)
{
	if (__atomic_exchange_n(&l->signalled, 1, __ATOMIC_ACQ_REL))
		return;
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(l->signal_fd, &one, sizeof one);
	while (n < 0 && errno == EINTR);
}

/* The kick of the worker while it sleeps between ticks. */
static void wake_embedder(struct coil__worker *w)
{
	signal_loop((coil_loop *)((char *)w - offsetof(coil_loop, w)));
}

static void drain_signal(coil_loop *l)
{
	__atomic_store_n(&l->signalled, 0, __ATOMIC_SEQ_CST);
	/* io_uring: the registered eventfd; epoll, kqueue, poll: the wake
	 * eventfd (read here too, so the poller's fd stops reading ready
	 * even when the tick does not poll). */
	uint64_t n;
	while (read(l->signal_fd, &n, sizeof n) > 0) {
	}
}

/* From the owner thread, not inside a fiber: 0, or -EPERM / -EBUSY. */
static int owner_check(coil_loop *l)
{
	if (!pthread_equal(l->owner, pthread_self()))
		return -EPERM;
	if (coil__tls_worker && coil__tls_worker->current)
		return -EBUSY;
	return 0;
}

static void loop_teardown(coil_loop *l)
{
	if (l->listed) {
		/* No closer posts to it after this; what came is drained (the
		 * ops are over: nothing left to end). */
		coil__crew_list_remove(&l->w);
		coil__crew_list_release(1);
	}
	coil__crew_wait_posters(&l->crew);
	if (l->io_ok)
		coil__io_fini(&l->io);
	coil__sched_fini(&l->w);
	coil__thread_leave(&l->thread);
	if (l->efd >= 0)
		close(l->efd);
	free(l->posts);
	free(l);
}

int coil_loop_new(coil_loop **out, const struct coil_config *cfg)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (cfg && cfg->workers != 1)
		return -EINVAL;
	if (coil__tls_worker)
		return -EBUSY;
	coil_loop *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->efd = -1;
	int r = coil__config_load(&l->cfg, cfg);
	if (r < 0) {
		free(l);
		return r;
	}
	l->cfg.pub.workers = 1; /* $COIL_WORKERS is for coil_run */
	l->cap = l->cfg.pub.loop_posts;
	l->posts = calloc(l->cap, sizeof *l->posts);
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!l->posts || l->efd < 0) {
		r = l->posts ? -errno : -ENOMEM;
		if (l->efd >= 0)
			close(l->efd);
		free(l->posts);
		free(l);
		return r;
	}
	l->owner = pthread_self();
	l->crew.n = 1;
	l->crew.workers = l->workers;
	l->crew.io = &l->io_shared;
	l->crew.place = COIL_PLACE_LOCAL;
	l->crew.join_children = false;
	l->workers[0] = &l->w;
	r = coil__sched_init(&l->w, &l->crew, 0, &l->cfg.pub, coil__io_poll, &l->io);
	if (r == 0) {
		l->w.embedded = true;
		l->w.wake_embedder = wake_embedder;
		/* A post from another thread may wake any fiber: never a
		 * deadlock, a tick waits. */
		l->w.outside_waits = 1;
		coil__fd_later_init(&l->w, &l->later);
		r = coil__io_init(&l->io, &l->w, &l->cfg);
		l->io_ok = r == 0;
	}
	if (r == 0 && (r = coil__crew_list_reserve(1)) == 0) {
		coil__crew_list_add(&l->w);
		l->listed = true;
	}
	if (r == 0)
		r = coil__thread_enter(&l->thread, &l->w);
	if (r == 0) {
		l->notify_fd = l->io.backend->embed(&l->io, l->efd, &l->signal_fd);
		if (l->notify_fd < 0 && l->notify_fd != -EOPNOTSUPP)
			r = l->notify_fd;
	}
	if (r < 0) {
		loop_teardown(l);
		return r;
	}
	*out = l;
	return 0;
}

/* Run what was posted so far (at most what is queued now: a post that
 * posts again runs at the next tick). */
static void run_posts(coil_loop *l)
{
	coil__spin_lock(&l->lock);
	size_t n = l->len;
	coil__spin_unlock(&l->lock);
	for (size_t i = 0; i < n; i++) {
		coil__spin_lock(&l->lock);
		struct post p = l->posts[l->head];
		l->head = l->head + 1 == l->cap ? 0 : l->head + 1;
		l->len--;
		coil__spin_unlock(&l->lock);
		p.fn(l, p.arg);
	}
}

static bool posts_waiting(coil_loop *l)
{
	return __atomic_load_n(&l->len, __ATOMIC_RELAXED) != 0;
}

/* One tick with the thread's coil state set to this loop's. */
static int tick(coil_loop *l, int64_t timeout_ns, unsigned budget)
{
	coil__thread_bind(&l->w, &l->io);
	/* Awake: a message now is seen by this tick or the check at its end. */
	coil__crew_sleep_end(&l->w);
	drain_signal(l);
	run_posts(l);
	/* A post queued after run_posts looked is in the inbox's stead: it
	 * signalled; the poll must not block past it. */
	if (posts_waiting(l))
		timeout_ns = 0;
	int r = coil__sched_tick(&l->w, timeout_ns, budget);
	if (r == 0) {
		/* No fibers, so the turn did not poll: take what the backend
		 * still reports (our own signal on epoll), or the fd would
		 * stay readable for nothing. */
		int p = l->w.poll(l->w.poll_ctx, false, INT64_MAX);
		if (p < 0 && p != -EINTR)
			r = p;
	}
	/* Ready work left, or a message this tick did not take: the fd must
	 * say so. Else a message from now on signals (the crew's kick). */
	bool asleep = coil__crew_sleep_between_ticks(&l->w);
	if (r >= 0 && (!asleep || l->w.runq_len > 0 || posts_waiting(l)))
		signal_loop(l);
	coil__thread_bind(NULL, NULL);
	return r;
}

int coil_loop_tick(coil_loop *l, int64_t timeout_ns, unsigned budget)
{
	if (!l)
		return -EINVAL;
	int r = owner_check(l);
	if (r < 0)
		return r;
	if (coil__tls_worker)
		return -EBUSY; /* inside another runtime's scheduler */
	r = tick(l, timeout_ns, budget);
	/* -EDEADLK cannot come (outside_waits: a post may wake anything). */
	return r < 0 ? r : l->w.live > 0;
}

int64_t coil_loop_timeout(coil_loop *l)
{
	if (!l)
		return -1;
	if (l->w.runq_len > 0 || posts_waiting(l) || !coil__inbox_empty(&l->w))
		return 0;
	if (coil__timers_empty(&l->w.timers))
		return -1;
	int64_t d = coil__timers_next(&l->w.timers) - coil_now();
	return d > 0 ? d : 0;
}

int coil_loop_fd(coil_loop *l)
{
	if (!l)
		return -EINVAL;
	return l->notify_fd;
}

int coil_loop_spawn(coil_loop *l, coil_task *out, coil_fn fn, void *arg)
{
	if (!l || !fn)
		return -EINVAL;
	if (!pthread_equal(l->owner, pthread_self()))
		return -EPERM;
	struct coil__worker *prev = coil__tls_worker;
	if (prev && prev != &l->w)
		return -EPERM; /* a fiber of another runtime on this thread */
	int r = coil__spawn_task(&l->w, fn, arg, out);
	if (r == 0 && !prev)
		signal_loop(l); /* between ticks: the embedder should tick */
	return r;
}

int coil_loop_post(coil_loop *l, coil_loop_fn fn, void *arg)
{
	if (!l || !fn)
		return -EINVAL;
	coil__spin_lock(&l->lock);
	if (l->closing) {
		coil__spin_unlock(&l->lock);
		return -EPIPE;
	}
	if (l->len == l->cap) {
		coil__spin_unlock(&l->lock);
		return -EAGAIN;
	}
	size_t tail = l->head + l->len;
	if (tail >= l->cap)
		tail -= l->cap;
	l->posts[tail] = (struct post){fn, arg};
	__atomic_store_n(&l->len, l->len + 1, __ATOMIC_RELEASE);
	/* Counted until the kick is done: coil_loop_free waits for it. */
	__atomic_add_fetch(&l->crew.outside_posters, 1, __ATOMIC_SEQ_CST);
	coil__spin_unlock(&l->lock);
	signal_loop(l);
	/* The owner may be blocked inside a tick: end its wait. */
	coil__crew_kick(&l->w);
	__atomic_sub_fetch(&l->crew.outside_posters, 1, __ATOMIC_RELEASE);
	return 0;
}

int coil_loop_free(coil_loop *l)
{
	if (!l)
		return -EINVAL;
	int r = owner_check(l);
	if (r < 0)
		return r;
	if (coil__tls_worker)
		return -EBUSY;
	coil__spin_lock(&l->lock);
	l->closing = true;
	coil__spin_unlock(&l->lock);
	/* Posts accepted before closing run (their spawns start cancelled),
	 * then every fiber is cancelled and waited for, with its ops. */
	coil__thread_bind(&l->w, &l->io);
	run_posts(l);
	coil__thread_bind(NULL, NULL);
	__atomic_store_n(&l->crew.main_done, 1, __ATOMIC_SEQ_CST);
	l->w.outside_waits = 0;
	for (;;) {
		int t = tick(l, -1, 0);
		if (t == -EDEADLK) {
			/* A fiber parked where no cancel reaches (shielded):
			 * unlink it so nothing points into its stack. */
			coil__sched_abandon(&l->w);
			break;
		}
		if (t < 0)
			break; /* fatal backend error: sched_fini leaves what the kernel may hold */
		if (t == 0 && l->w.pending == 0)
			break;
	}
	if (l->io_ok) {
		coil__thread_bind(&l->w, &l->io);
		coil__readers_wind_down(&l->io);
		coil__thread_bind(NULL, NULL);
	}
	loop_teardown(l);
	return 0;
}
