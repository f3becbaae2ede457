/*
 * epoll: each fd is registered once, edge-triggered, for both directions
 * (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET), the first time an op waits on
 * it, and never modified: no epoll_ctl per wait. Edge-triggered is safe
 * because readiness.c always tries before waiting and retries waiters until
 * EAGAIN, so no edge can fall between a try and the wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "io/compat/compat.h"

#define MAX_EVENTS 256

struct ep {
	int epfd;
	int have_pwait2; /* -1 unknown, 0 no (ENOSYS), 1 yes */
	struct epoll_event events[MAX_EVENTS];
};

static int ep_init(struct coil__compat *c)
{
	struct ep *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		int err = errno;
		free(e);
		return -err;
	}
	e->have_pwait2 = -1;
	c->poller_data = e;
	return 0;
}

static void ep_fini(struct coil__compat *c)
{
	struct ep *e = c->poller_data;
	close(e->epfd);
	free(e);
}

static int ep_watch(struct coil__compat *c, int fd, struct coil__fd_state *st, unsigned dirs)
{
	struct ep *e = c->poller_data;
	if (st->registered || !dirs)
		return 0;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.fd = fd};
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		/* EEXIST: the same file is still registered under this number
		 * (closed behind coil's back, or dup'ed): take it over. */
		if (errno != EEXIST || epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
			return -errno;
	}
	st->registered = 1;
	return 0;
}

static void ep_forget(struct coil__compat *c, int fd, struct coil__fd_state *st)
{
	struct ep *e = c->poller_data;
	if (st->registered)
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
	st->registered = 0;
}

static int ep_wait(struct coil__compat *c, int64_t timeout_ns)
{
	struct ep *e = c->poller_data;
	int n = -1;
	if (e->have_pwait2 != 0) {
		/* Nanosecond timeouts: a timer never wakes early, nor late by
		 * up to a millisecond of rounding. */
		struct timespec ts = {.tv_sec = timeout_ns / 1000000000,
				      .tv_nsec = timeout_ns % 1000000000};
		n = epoll_pwait2(e->epfd, e->events, MAX_EVENTS, timeout_ns < 0 ? NULL : &ts, NULL);
		if (n < 0 && errno == ENOSYS)
			e->have_pwait2 = 0;
		else
			e->have_pwait2 = 1;
	}
	if (e->have_pwait2 == 0) {
		int ms = timeout_ns < 0 ? -1
					: (int)((timeout_ns + 999999) / 1000000 > 1000000000
							? 1000000000
							: (timeout_ns + 999999) / 1000000);
		n = epoll_wait(e->epfd, e->events, MAX_EVENTS, ms);
	}
	if (n < 0)
		return errno == EINTR ? -EINTR : -errno;
	for (int i = 0; i < n; i++) {
		uint32_t ev = e->events[i].events;
		unsigned dirs = 0;
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			dirs |= COIL__DIR_READ;
		if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			dirs |= COIL__DIR_WRITE;
		coil__compat_fd_ready(c, e->events[i].data.fd, dirs);
	}
	return n;
}

static int ep_pollable_fd(struct coil__compat *c)
{
	return ((struct ep *)c->poller_data)->epfd;
}

const struct coil__poller coil__poller_epoll = {
	.name = "epoll",
	.init = ep_init,
	.fini = ep_fini,
	.watch = ep_watch,
	.forget = ep_forget,
	.wait = ep_wait,
	.pollable_fd = ep_pollable_fd,
};
