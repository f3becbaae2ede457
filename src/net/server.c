/*
 * A TCP server over the workers of a runtime: see coil_server_* in
 * coil/net.h. Two ways to spread connections:
 *
 *   REUSEPORT  one SO_REUSEPORT listener per worker, each with an accepting
 *              fiber on its worker; the kernel picks a listener per
 *              connection (by a hash of the 4-tuple: long-lived connections
 *              can pile up on one worker), and the connection stays there.
 *   HANDOFF    one listener; one accepting fiber (the caller's) hands each
 *              connection to the worker with the fewest live fibers at that
 *              moment (what Seastar does instead of SO_REUSEPORT).
 */
#include "coil/net.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "coil/chan.h"
#include "coil/fs.h"
#include "coil/task.h"
#include "coil/time.h"
#include "io/accepts.h"
#include "sched/scope.h"
#include "sched/crew.h"
#include "sched/sched.h"

struct coil_server {
	unsigned mode;
	unsigned n;		/* listeners */
	int port;
	int fds[];		/* one per worker (REUSEPORT) or one */
};

int coil_server_open(coil_server **out, const char *addr, uint16_t port, int backlog,
		     unsigned mode)
{
	struct coil__worker *w = coil__tls_worker;
	if (!out || (mode != COIL_SERVE_REUSEPORT && mode != COIL_SERVE_HANDOFF))
		return -EINVAL;
	if (!w || !w->current)
		return -EPERM;
	unsigned n = mode == COIL_SERVE_REUSEPORT ? w->crew->n : 1;
	struct coil_server *s = malloc(sizeof *s + n * sizeof s->fds[0]);
	if (!s)
		return -ENOMEM;
	s->mode = mode;
	s->n = 0;
	unsigned flags = mode == COIL_SERVE_REUSEPORT ? COIL_LISTEN_REUSEPORT : 0;
	int r = 0;
	for (unsigned i = 0; i < n; i++) {
		/* Port 0: the first listener picks one, the others share it. */
		int fd = coil_tcp_listen(addr, port, backlog, flags);
		if (fd < 0) {
			r = fd;
			break;
		}
		s->fds[s->n++] = fd;
		if (port == 0) {
			r = coil_sock_port(fd);
			if (r < 0)
				break;
			port = (uint16_t)r;
			r = 0;
		}
	}
	if (r < 0) {
		coil_server_close(s);
		return r;
	}
	s->port = port;
	*out = s;
	return 0;
}

int coil_server_port(const coil_server *s)
{
	return s ? s->port : -EINVAL;
}

int coil_server_close(coil_server *s)
{
	if (!s)
		return 0;
	int r = 0;
	for (unsigned i = 0; i < s->n; i++) {
		int e = coil_close(s->fds[i]);
		if (e < 0 && r == 0)
			r = e;
	}
	free(s);
	return r;
}

struct conn {
	coil_server_fn handler;
	void *ctx;
	int fd;
};

static void *serve_one(void *arg)
{
	struct conn c = *(struct conn *)arg;
	free(arg);
	c.handler(c.fd, c.ctx);
	return NULL;
}

/* Accept errors that say nothing about the listener: a client gave up, or
 * a resource ran out for now. */
static bool transient(int err)
{
	switch (err) {
	case -ECONNABORTED:
	case -EPROTO:
	case -EPERM: /* a firewall said no to this one */
	case -EINTR:
	case -EAGAIN:
	case -EMFILE:
	case -ENFILE:
	case -ENOBUFS:
	case -ENOMEM:
		return true;
	default:
		return false;
	}
}

struct acceptor {
	int fd;
	bool handoff;
	coil_server_fn handler;
	void *ctx;
	coil_chan *ended;	/* REUSEPORT: where each accepting fiber reports its end */
};

static int accept_each(const struct acceptor *a, struct coil__accepts *multi);

/* Accept on a.fd until cancelled (-ECANCELED) or the listener fails: by
 * one multishot accept where the worker has it, else one at a time. */
static int accept_loop(const struct acceptor *a)
{
	struct coil__accepts multi;
	bool is_multi = coil__accepts_start(&multi, a->fd) == 0;
	int r = accept_each(a, is_multi ? &multi : NULL);
	if (is_multi)
		coil__accepts_stop(&multi);
	return r;
}

static int accept_each(const struct acceptor *a, struct coil__accepts *multi)
{
	struct coil__worker *w = coil__tls_worker;
	for (;;) {
		int fd = multi ? coil__accepts_next(multi) : coil_tcp_accept(a->fd, NULL, NULL);
		if (fd < 0) {
			if (!transient(fd))
				return fd;
			/* Out of fds or memory: the connections held are served
			 * meanwhile; give them a moment to close. */
			if (fd != -ECONNABORTED && fd != -EPROTO && fd != -EPERM &&
			    coil_sleep(10 * COIL_NSEC_PER_MSEC) == -ECANCELED)
				return -ECANCELED;
			continue;
		}
		struct conn *c = malloc(sizeof *c);
		if (!c) {
			coil_close(fd);
			continue;
		}
		*c = (struct conn){a->handler, a->ctx, fd};
		unsigned on = w->index;
		if (a->handoff) {
			struct coil__worker *to = w;
			size_t least = __atomic_load_n(&w->live, __ATOMIC_RELAXED);
			for (unsigned i = 0; i < w->crew->n; i++) {
				struct coil__worker *o = w->crew->workers[i];
				size_t live = __atomic_load_n(&o->live, __ATOMIC_RELAXED);
				if (live < least) {
					least = live;
					to = o;
				}
			}
			on = to->index;
		}
		if (coil_task_spawn_on(on, NULL, serve_one, c) < 0) {
			free(c);
			coil_close(fd);
		}
	}
}

static void *accept_fiber(void *arg)
{
	struct acceptor *a = arg;
	int r = accept_loop(a);
	coil_chan_try_send(a->ended, &r); /* room for every acceptor's */
	return NULL;
}

int coil_server_run(coil_server *s, coil_server_fn handler, void *ctx)
{
	if (!s || !handler)
		return -EINVAL;
	struct coil__worker *w = coil__tls_worker;
	if (!w || !w->current)
		return -EPERM;
	if (s->mode == COIL_SERVE_HANDOFF) {
		struct acceptor a = {s->fds[0], w->crew->n > 1, handler, ctx, NULL};
		return accept_loop(&a);
	}
	/* One accepting fiber per worker, on its worker; this fiber waits for
	 * the first to end (cancelled with us, or its listener failed), then
	 * cancels and waits for the others. */
	unsigned n = s->n;
	struct acceptor *as = calloc(n, sizeof *as);
	coil_task *ts = calloc(n, sizeof *ts);
	coil_chan *ended = NULL;
	int r = as && ts ? coil_chan_new(&ended, sizeof(int), n) : -ENOMEM;
	unsigned started = 0;
	for (unsigned i = 0; i < n && r == 0; i++) {
		as[i] = (struct acceptor){s->fds[i], false, handler, ctx, ended};
		r = coil_task_spawn_on(i, &ts[i], accept_fiber, &as[i]);
		if (r == 0)
			started++;
	}
	if (r == 0) {
		int why;
		r = coil_chan_recv(ended, &why);
		if (r == 0)
			r = why;
	}
	for (unsigned i = 0; i < started; i++)
		coil_task_cancel(ts[i]);
	/* Joined shielded: their accepts are in flight until they end. */
	struct coil__scope shield;
	coil__shield_enter(&shield);
	for (unsigned i = 0; i < started; i++)
		coil_task_join(ts[i], NULL);
	coil__shield_exit(&shield);
	coil_chan_free(ended);
	free(as);
	free(ts);
	return r;
}
