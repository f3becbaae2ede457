/*
 * coil_bg: coil_run on a thread of its own, behind two queues. See
 * coil/bg.h.
 *
 * Built on the public API: COIL_CHAN_THREADS channels carry pointers to
 * commands and events between the runtime's fibers and plain threads.
 * The event queue's bound is a third channel of cap tokens (an emitter
 * takes one, the taker of the event gives it back); stopping closes it, so
 * no emitter waits any longer and the events channel (unbounded) takes
 * everything to the end: the runtime never blocks on an embedder that is
 * busy stopping it, and no event is dropped. The event fd is a semaphore
 * eventfd, written after an event is queued and read after one is taken:
 * every event makes a new edge after it can be taken (an edge-triggered
 * waiter such as Tokio's AsyncFd never misses one). A taker that got the
 * event before its write landed owes that read (`debt`), paid at its next
 * call, so the fd is never left readable for nothing but once.
 */
#include "coil/bg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "coil/chan.h"
#include "coil/scope.h"
#include "coil/task.h"

struct coil_bg {
	coil_chan *cmds;	/* struct coil_bg_command *, capacity cap */
	coil_chan *events;	/* struct coil_bg_event *, unbounded */
	coil_chan *room;	/* cap tokens (no payload) */
	int efd;
	uint32_t debt;		/* eventfd reads owed (see the top) */
	struct coil_config cfg;
	coil_bg_main_fn main;
	void *arg;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;		/* 0: not yet; 1: main runs; -1: coil_run failed first */
	bool joined;
	int result;		/* coil_run's */
};

static void efd_add(int fd)
{
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(fd, &one, sizeof one);
	while (n < 0 && errno == EINTR);
}

/* Take one count if there is one (EFD_SEMAPHORE: a read takes 1). */
static bool efd_take(int fd)
{
	uint64_t v;
	ssize_t n;
	do
		n = read(fd, &v, sizeof v);
	while (n < 0 && errno == EINTR);
	return n == sizeof v;
}

static void pay_debts(coil_bg *bg)
{
	while (__atomic_load_n(&bg->debt, __ATOMIC_ACQUIRE) > 0 && efd_take(bg->efd))
		__atomic_sub_fetch(&bg->debt, 1, __ATOMIC_ACQ_REL);
}

static void *copy_of(const void *data, size_t len, int *err)
{
	*err = 0;
	if (!len)
		return NULL;
	void *p = malloc(len);
	if (!p)
		*err = -ENOMEM;
	else
		memcpy(p, data, len);
	return p;
}

/* Queue ev (its fd count first). Blocks (or parks) only for a token. */
static int push_event(coil_bg *bg, struct coil_bg_event *ev, bool bounded)
{
	if (bounded) {
		int r = coil_chan_recv_until(bg->room, NULL, COIL_NO_DEADLINE);
		if (r < 0 && r != -EPIPE)
			return r; /* cancelled: not emitted */
	}
	int r = coil_chan_send_until(bg->events, &ev, COIL_NO_DEADLINE);
	if (r == 0)
		efd_add(bg->efd); /* ev may be taken already: then it is a debt */
	return r;
}

/* ---- the runtime's thread --------------------------------------------------- */

static void *main_fiber(void *arg)
{
	coil_bg *bg = arg;
	pthread_mutex_lock(&bg->mu);
	bg->started = 1;
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	return bg->main(bg, bg->arg);
}

static void *bg_thread(void *arg)
{
	coil_bg *bg = arg;
	int r = coil_run(&bg->cfg, main_fiber, bg, NULL);
	coil_chan_close(bg->cmds);
	coil_chan_close(bg->room);
	pthread_mutex_lock(&bg->mu);
	bool ran = bg->started == 1;
	if (!ran)
		bg->started = -1;
	bg->result = r;
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	if (ran) {
		/* The last event; the channel is unbounded: never waits. */
		struct coil_bg_event *ev = calloc(1, sizeof *ev);
		if (ev) {
			ev->kind = COIL_BG_CLOSED;
			ev->result = r;
			if (push_event(bg, ev, false) < 0)
				free(ev);
		}
	}
	coil_chan_close(bg->events);
	return NULL;
}

static void bg_release(coil_bg *bg)
{
	if (bg->cmds) {
		struct coil_bg_command *c;
		while (coil_chan_try_recv(bg->cmds, &c) == 0)
			coil_bg_command_free(c);
		coil_chan_free(bg->cmds);
	}
	if (bg->events) {
		struct coil_bg_event *e;
		while (coil_chan_try_recv(bg->events, &e) == 0)
			coil_bg_event_free(e);
		coil_chan_free(bg->events);
	}
	if (bg->room)
		coil_chan_free(bg->room);
	if (bg->efd >= 0)
		close(bg->efd);
	pthread_mutex_destroy(&bg->mu);
	pthread_cond_destroy(&bg->cv);
	free(bg);
}

int coil_bg_start(coil_bg **out, const struct coil_config *cfg, size_t queue_cap,
		  coil_bg_main_fn main, void *arg)
{
	if (!out || !main || queue_cap < 1 || queue_cap > (1u << 20))
		return -EINVAL;
	*out = NULL;
	coil_bg *bg = calloc(1, sizeof *bg);
	if (!bg)
		return -ENOMEM;
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	bg->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE);
	if (cfg)
		bg->cfg = *cfg;
	else
		coil_config_init(&bg->cfg);
	bg->cfg.join_children = false; /* main's end ends the runtime */
	bg->main = main;
	bg->arg = arg;
	int r = bg->efd < 0 ? -errno : 0;
	if (r == 0)
		r = coil_chan_new_ex(&bg->cmds, sizeof(struct coil_bg_command *), queue_cap,
				     COIL_CHAN_THREADS);
	if (r == 0)
		r = coil_chan_new_ex(&bg->events, sizeof(struct coil_bg_event *), COIL_CHAN_UNBOUNDED,
				     COIL_CHAN_THREADS);
	if (r == 0)
		r = coil_chan_new_ex(&bg->room, 0, queue_cap, COIL_CHAN_THREADS);
	for (size_t i = 0; r == 0 && i < queue_cap; i++)
		r = coil_chan_try_send(bg->room, NULL);
	if (r == 0)
		r = -pthread_create(&bg->thread, NULL, bg_thread, bg);
	if (r < 0) {
		bg->joined = true;
		bg_release(bg);
		return r;
	}
	pthread_mutex_lock(&bg->mu);
	while (bg->started == 0)
		pthread_cond_wait(&bg->cv, &bg->mu);
	bool failed = bg->started < 0;
	r = bg->result;
	pthread_mutex_unlock(&bg->mu);
	if (failed) {
		pthread_join(bg->thread, NULL);
		bg->joined = true;
		bg_release(bg);
		return r < 0 ? r : -EIO;
	}
	*out = bg;
	return 0;
}

/* ---- the embedder's side ------------------------------------------------------ */

static int submit(coil_bg *bg, int kind, uint64_t id, const void *data, size_t len, bool try,
		  int64_t deadline)
{
	if (!bg || kind < 0 || (!data && len))
		return -EINVAL;
	struct coil_bg_command *c = malloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	int r;
	c->kind = kind;
	c->id = id;
	c->len = len;
	c->data = copy_of(data, len, &r);
	if (r == 0)
		r = try ? coil_chan_try_send(bg->cmds, &c)
			: coil_chan_send_until(bg->cmds, &c, deadline);
	if (r < 0)
		coil_bg_command_free(c);
	return r;
}

int coil_bg_try_submit(coil_bg *bg, int kind, uint64_t id, const void *data, size_t len)
{
	return submit(bg, kind, id, data, len, true, 0);
}

int coil_bg_submit(coil_bg *bg, int kind, uint64_t id, const void *data, size_t len,
		   int64_t deadline_ns)
{
	return submit(bg, kind, id, data, len, false, deadline_ns);
}

static int next_event(coil_bg *bg, struct coil_bg_event **out, bool try, int64_t deadline)
{
	if (!bg || !out)
		return -EINVAL;
	*out = NULL;
	pay_debts(bg);
	struct coil_bg_event *ev;
	int r = try ? coil_chan_try_recv(bg->events, &ev)
		    : coil_chan_recv_until(bg->events, &ev, deadline);
	if (r < 0)
		return r;
	if (!efd_take(bg->efd))
		__atomic_add_fetch(&bg->debt, 1, __ATOMIC_ACQ_REL); /* its write is on the way */
	if (ev->kind != COIL_BG_CLOSED)
		coil_chan_try_send(bg->room, NULL); /* -EPIPE once stopping: fine */
	*out = ev;
	return 0;
}

int coil_bg_try_next_event(coil_bg *bg, struct coil_bg_event **out)
{
	return next_event(bg, out, true, 0);
}

int coil_bg_next_event(coil_bg *bg, struct coil_bg_event **out, int64_t deadline_ns)
{
	return next_event(bg, out, false, deadline_ns);
}

void coil_bg_event_free(struct coil_bg_event *ev)
{
	if (!ev)
		return;
	free(ev->data);
	free(ev);
}

int coil_bg_event_fd(coil_bg *bg)
{
	return bg ? bg->efd : -EINVAL;
}

int coil_bg_stop(coil_bg *bg)
{
	if (!bg)
		return -EINVAL;
	/* Joining from a fiber would hold its worker (and this runtime could
	 * be its own): never from a fiber. */
	if (coil_task_current() != 0)
		return -EPERM;
	/* Queued commands are still received; then -EPIPE. Emitters stop
	 * waiting for room. */
	coil_chan_close(bg->cmds);
	coil_chan_close(bg->room);
	pthread_mutex_lock(&bg->mu);
	bool join = !bg->joined;
	bg->joined = true;
	pthread_mutex_unlock(&bg->mu);
	if (join)
		pthread_join(bg->thread, NULL);
	return bg->result;
}

void coil_bg_free(coil_bg *bg)
{
	if (!bg)
		return;
	coil_bg_stop(bg);
	bg_release(bg);
}

/* ---- inside the runtime -------------------------------------------------------- */

int coil_bg_recv(coil_bg *bg, struct coil_bg_command **out)
{
	if (!bg || !out)
		return -EINVAL;
	*out = NULL;
	return coil_chan_recv(bg->cmds, out); /* -EPERM outside a fiber */
}

void coil_bg_command_free(struct coil_bg_command *cmd)
{
	if (!cmd)
		return;
	free(cmd->data);
	free(cmd);
}

int coil_bg_emit(coil_bg *bg, int kind, int result, uint64_t id, const void *data, size_t len)
{
	if (!bg || kind < 0 || (!data && len))
		return -EINVAL;
	struct coil_bg_event *ev = malloc(sizeof *ev);
	if (!ev)
		return -ENOMEM;
	int r;
	ev->kind = kind;
	ev->result = result;
	ev->id = id;
	ev->len = len;
	ev->data = copy_of(data, len, &r);
	if (r == 0)
		r = push_event(bg, ev, true);
	if (r < 0)
		coil_bg_event_free(ev);
	return r;
}
