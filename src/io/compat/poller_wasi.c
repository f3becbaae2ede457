/*
 * WASI preview 1's poll_oneoff: level-triggered like poll(2), so the watch
 * list holds exactly the fds that have waiters, each with the directions
 * waited on (watch() is called after every change and keeps it so). A wait
 * turns the list into one fd_read / fd_write subscription per fd and
 * direction, plus one relative clock subscription for the timeout (the
 * earliest timer of sched's heap). Only in a wasm32-wasi libcoil.
 *
 * Hosts differ in what they report: a regular file is always ready (coil
 * never waits on one: files run at once, readiness.c), and a subscription
 * the host cannot serve comes back as an event with its error set, which
 * wakes the fd's waiters so that their retried call reports the error.
 *
 * Node's WASI (uvwasi) runs the clock in whole milliseconds, truncated, and
 * answers with one event: a wait shorter than 1 ms expires at once, before
 * any fd is looked at, so a fiber sleeping in steps under 1 ms starved
 * every fd (a pipe's data was never seen). A wait is therefore rounded up
 * to whole milliseconds, as epoll's is: never early, at most 1 ms late. A
 * wait of 0 (fibers are runnable) still reports only the clock there: fds
 * are seen at the next turn that waits.
 */
#include <errno.h>
#include <stdlib.h>
#include <wasi/api.h>

#include "io/compat/compat.h"

/* An fd and the directions it is watched in, or reported ready in. */
struct wp_fd {
	int fd;
	unsigned dirs;
};

struct wp {
	struct wp_fd *watch;
	uint32_t n, cap;
	__wasi_subscription_t *subs;
	__wasi_event_t *events;
	uint32_t subs_cap;
	struct wp_fd *ready;
};

static int wp_init(struct coil__compat *c)
{
	struct wp *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	c->poller_data = p;
	return 0;
}

static void wp_fini(struct coil__compat *c)
{
	struct wp *p = c->poller_data;
	free(p->watch);
	free(p->subs);
	free(p->events);
	free(p->ready);
	free(p);
}

static void slot_remove(struct coil__compat *c, struct wp *p, struct coil__fd_state *st)
{
	uint32_t i = st->poll_slot - 1, last = p->n - 1;
	if (i != last) {
		p->watch[i] = p->watch[last];
		struct coil__fd_state *moved = coil__compat_fd(c, p->watch[i].fd);
		if (moved)
			moved->poll_slot = i + 1;
	}
	p->n--;
	st->poll_slot = 0;
}

static int wp_watch(struct coil__compat *c, int fd, struct coil__fd_state *st, unsigned dirs)
{
	struct wp *p = c->poller_data;
	dirs &= COIL__DIR_READ | COIL__DIR_WRITE;
	if (!dirs) {
		if (st->poll_slot)
			slot_remove(c, p, st);
		return 0;
	}
	if (st->poll_slot) {
		p->watch[st->poll_slot - 1].dirs = dirs;
		return 0;
	}
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 64;
		void *w = realloc(p->watch, cap * sizeof *p->watch);
		if (!w)
			return -ENOMEM;
		p->watch = w;
		p->cap = cap;
	}
	p->watch[p->n].fd = fd;
	p->watch[p->n].dirs = dirs;
	st->poll_slot = ++p->n;
	return 0;
}

static void wp_forget(struct coil__compat *c, int fd, struct coil__fd_state *st)
{
	(void)fd;
	if (st->poll_slot)
		slot_remove(c, c->poller_data, st);
}

/* Room for every fd in both directions and the clock. */
static int reserve(struct wp *p)
{
	uint32_t need = 2 * p->n + 1;
	if (need <= p->subs_cap)
		return 0;
	uint32_t cap = need < 64 ? 64 : 2 * need;
	void *s = realloc(p->subs, cap * sizeof *p->subs);
	if (s)
		p->subs = s;
	void *e = realloc(p->events, cap * sizeof *p->events);
	if (e)
		p->events = e;
	void *r = realloc(p->ready, cap * sizeof *p->ready);
	if (r)
		p->ready = r;
	if (!s || !e || !r)
		return -ENOMEM;
	p->subs_cap = cap;
	return 0;
}

#define USERDATA_CLOCK UINT64_MAX

static int wp_wait(struct coil__compat *c, int64_t timeout_ns)
{
	struct wp *p = c->poller_data;
	int r = reserve(p);
	if (r < 0)
		return r;
	uint32_t ns = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		int fd = p->watch[i].fd;
		for (unsigned dir = COIL__DIR_READ; dir <= COIL__DIR_WRITE; dir <<= 1) {
			if (!(p->watch[i].dirs & dir))
				continue;
			__wasi_subscription_t *s = &p->subs[ns++];
			s->userdata = ((uint64_t)(uint32_t)fd << 2) | dir;
			s->u.tag = dir == COIL__DIR_READ ? __WASI_EVENTTYPE_FD_READ
							 : __WASI_EVENTTYPE_FD_WRITE;
			if (dir == COIL__DIR_READ)
				s->u.u.fd_read.file_descriptor = (__wasi_fd_t)fd;
			else
				s->u.u.fd_write.file_descriptor = (__wasi_fd_t)fd;
		}
	}
	if (timeout_ns >= 0) {
		__wasi_subscription_t *s = &p->subs[ns++];
		s->userdata = USERDATA_CLOCK;
		s->u.tag = __WASI_EVENTTYPE_CLOCK;
		s->u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
		int64_t ms = 1000000;
		int64_t t = timeout_ns > 0 && timeout_ns < INT64_MAX - ms
				    ? (timeout_ns + ms - 1) / ms * ms
				    : timeout_ns;
		s->u.u.clock.timeout = (__wasi_timestamp_t)t;
		s->u.u.clock.precision = 0;
		s->u.u.clock.flags = 0; /* relative */
	}
	/* Nothing to wait for and no end: sched only gets here with an op in
	 * flight or a timer, so this is a waiter the host cannot watch. */
	if (ns == 0)
		return 0;
	__wasi_size_t got = 0;
	__wasi_errno_t e = __wasi_poll_oneoff(p->subs, p->events, ns, &got);
	if (e != 0)
		return -(int)e;
	uint32_t k = 0;
	for (uint32_t i = 0; i < got; i++) {
		const __wasi_event_t *ev = &p->events[i];
		if (ev->userdata == USERDATA_CLOCK)
			continue;
		/* Ready, hung up, or an error the retried call will report:
		 * each wakes the waiters of its direction. */
		int fd = (int)(uint32_t)(ev->userdata >> 2);
		unsigned dirs = (unsigned)(ev->userdata & 3);
		if (k && p->ready[k - 1].fd == fd) {
			p->ready[k - 1].dirs |= dirs;
			continue;
		}
		p->ready[k].fd = fd;
		p->ready[k].dirs = dirs;
		k++;
	}
	for (uint32_t i = 0; i < k; i++)
		coil__compat_fd_ready(c, p->ready[i].fd, p->ready[i].dirs);
	return (int)k;
}

const struct coil__poller coil__poller_wasi = {
	.name = "wasi",
	.init = wp_init,
	.fini = wp_fini,
	.watch = wp_watch,
	.forget = wp_forget,
	.wait = wp_wait,
};
