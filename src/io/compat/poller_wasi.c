/*
 * WASI preview 1's poll_oneoff: level-triggered like poll(2), so the watch
 * list holds exactly the fds that have waiters, each with the directions
 * waited on (watch() is called after every change and keeps it so). A wait
 * turns the list into one fd_read / fd_write subscription per fd and
 * direction, plus one relative clock subscription for the timeout (the
 * earliest timer of sched's heap). Only in a wasm32-wasi libcoil.
 *
 * Hosts differ in what they report: a regular file is always ready (coil
 * never waits on one: files run at once, readiness.c). A subscription the
 * host cannot serve comes back, as preview 1 says, as an event with its
 * error set; Node's WASI (uvwasi) instead fails the whole call (EPERM for
 * stdin as /dev/null, which epoll refuses), which would end the run for
 * one fd. Either way the fd's direction is "refused": its waiters are
 * woken as poll(2) wakes them for an fd without a poll method (always
 * ready), so their retried call gives its own answer (end of input, the
 * data, or the error), as epoll's and poll's waiters of a broken fd get
 * theirs. A whole call that fails is tried again one subscription at a
 * time, without waiting, to find the refused ones. A refused direction
 * still waited on (a retry that said EAGAIN) is not subscribed again: its
 * waiters are retried after each wait, which then lasts at most 1 ms, so
 * the worker polls that fd instead of spinning on the host's refusal.
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
#include <stdbool.h>
#include <stdlib.h>
#include <wasi/api.h>

#include "io/compat/compat.h"

/* An fd and the directions it is watched in (or reported ready in), and
 * those of them the host refused to watch. */
struct wp_fd {
	int fd;
	unsigned dirs;
	unsigned refused;
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
		p->watch[st->poll_slot - 1].refused &= dirs;
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
	p->watch[p->n].refused = 0;
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
#define MS INT64_C(1000000)

static int userdata_fd(uint64_t userdata)
{
	return (int)(uint32_t)(userdata >> 2);
}

static unsigned userdata_dirs(uint64_t userdata)
{
	return (unsigned)(userdata & 3);
}

/* Add fd's directions to the ready list (k entries), merging with its
 * last entry when that is the same fd. */
static uint32_t add_ready(struct wp *p, uint32_t k, int fd, unsigned dirs)
{
	if (k && p->ready[k - 1].fd == fd) {
		p->ready[k - 1].dirs |= dirs;
		return k;
	}
	p->ready[k].fd = fd;
	p->ready[k].dirs = dirs;
	return k + 1;
}

/* The host refused fd's subscription in dirs: not subscribed again while
 * those directions are waited on. */
static void mark_refused(struct coil__compat *c, struct wp *p, int fd, unsigned dirs)
{
	struct coil__fd_state *st = coil__compat_fd_if(c, fd);
	if (st && st->poll_slot)
		p->watch[st->poll_slot - 1].refused |= dirs;
}

/* The whole poll_oneoff failed: which of its ns fd subscriptions does the
 * host refuse? Each alone, beside a clock that has expired (no wait), and
 * each refused one is marked and added to the ready list (*k entries).
 * Returns how many were refused: 0 if the failure is not one
 * subscription's. */
static uint32_t find_refused(struct coil__compat *c, struct wp *p, uint32_t ns, uint32_t *k)
{
	uint32_t found = 0;
	for (uint32_t i = 0; i < ns; i++) {
		if (p->subs[i].userdata == USERDATA_CLOCK)
			continue;
		__wasi_subscription_t probe[2] = {p->subs[i]};
		probe[1].userdata = USERDATA_CLOCK;
		probe[1].u.tag = __WASI_EVENTTYPE_CLOCK;
		probe[1].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
		probe[1].u.u.clock.timeout = 0;
		probe[1].u.u.clock.precision = 0;
		probe[1].u.u.clock.flags = 0;
		__wasi_event_t ev[2];
		__wasi_size_t got = 0;
		if (__wasi_poll_oneoff(probe, ev, 2, &got) == 0)
			continue;
		int fd = userdata_fd(p->subs[i].userdata);
		unsigned dirs = userdata_dirs(p->subs[i].userdata);
		mark_refused(c, p, fd, dirs);
		*k = add_ready(p, *k, fd, dirs);
		found++;
	}
	return found;
}

static int wp_wait(struct coil__compat *c, int64_t timeout_ns)
{
	struct wp *p = c->poller_data;
	int r = reserve(p);
	if (r < 0)
		return r;
	uint32_t ns = 0;
	bool refused = false;
	for (uint32_t i = 0; i < p->n; i++) {
		int fd = p->watch[i].fd;
		refused |= p->watch[i].refused != 0;
		for (unsigned dir = COIL__DIR_READ; dir <= COIL__DIR_WRITE; dir <<= 1) {
			if (!(p->watch[i].dirs & dir) || (p->watch[i].refused & dir))
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
	/* Waiters on a refused direction are retried after the wait. */
	if (refused && (timeout_ns < 0 || timeout_ns > MS))
		timeout_ns = MS;
	if (timeout_ns >= 0) {
		__wasi_subscription_t *s = &p->subs[ns++];
		s->userdata = USERDATA_CLOCK;
		s->u.tag = __WASI_EVENTTYPE_CLOCK;
		s->u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
		int64_t t = timeout_ns > 0 && timeout_ns < INT64_MAX - MS
				    ? (timeout_ns + MS - 1) / MS * MS
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
	/* Directions refused before this wait: their waiters try again. */
	uint32_t k = 0;
	for (uint32_t i = 0; refused && i < p->n; i++)
		if (p->watch[i].refused)
			k = add_ready(p, k, p->watch[i].fd, p->watch[i].refused);
	if (e != 0) {
		/* One refused subscription fails the whole call on some
		 * hosts: find it, wake its waiters, and leave it out from the
		 * next wait on. Any other failure is the run's. */
		if (find_refused(c, p, ns, &k) == 0)
			return -(int)e;
		got = 0;
	}
	for (uint32_t i = 0; i < got; i++) {
		const __wasi_event_t *ev = &p->events[i];
		if (ev->userdata == USERDATA_CLOCK)
			continue;
		/* Ready, hung up, or refused (its error set): each wakes the
		 * waiters of its direction. */
		int fd = userdata_fd(ev->userdata);
		unsigned dirs = userdata_dirs(ev->userdata);
		if (ev->error != 0)
			mark_refused(c, p, fd, dirs);
		k = add_ready(p, k, fd, dirs);
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
