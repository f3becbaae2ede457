/*
 * kqueue (BSD, macOS): like epoll, each fd is registered once, for
 * EVFILT_READ and EVFILT_WRITE with EV_CLEAR (edge-triggered), the first
 * time an op waits on it. On Linux this builds against the kevent emulation
 * shim in tests/kqueue_shim (COIL_KQUEUE_SHIM), which is how its logic is
 * tested there.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/event.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "io/compat/compat.h"

#define MAX_EVENTS 256

struct kq {
	int kq;
	struct kevent events[MAX_EVENTS];
};

static int kq_init(struct coil__compat *c)
{
	struct kq *k = calloc(1, sizeof *k);
	if (!k)
		return -ENOMEM;
	k->kq = kqueue();
	if (k->kq < 0) {
		int err = errno;
		free(k);
		return -err;
	}
	c->poller_data = k;
	return 0;
}

static void kq_fini(struct coil__compat *c)
{
	struct kq *k = c->poller_data;
	close(k->kq);
	free(k);
}

static int kq_watch(struct coil__compat *c, int fd, struct coil__fd_state *st, unsigned dirs)
{
	struct kq *k = c->poller_data;
	if (st->registered || !dirs)
		return 0;
	struct kevent ch[2];
	EV_SET(&ch[0], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	EV_SET(&ch[1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, NULL);
	if (kevent(k->kq, ch, 2, NULL, 0, NULL) < 0)
		return -errno;
	st->registered = 1;
	return 0;
}

static void kq_forget(struct coil__compat *c, int fd, struct coil__fd_state *st)
{
	struct kq *k = c->poller_data;
	if (st->registered) {
		struct kevent ch[2];
		EV_SET(&ch[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
		EV_SET(&ch[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
		kevent(k->kq, ch, 2, NULL, 0, NULL);
	}
	st->registered = 0;
}

static int kq_wait(struct coil__compat *c, int64_t timeout_ns)
{
	struct kq *k = c->poller_data;
	struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
	int n = kevent(k->kq, NULL, 0, k->events, MAX_EVENTS, timeout_ns < 0 ? NULL : &ts);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		const struct kevent *ev = &k->events[i];
		unsigned dirs = ev->filter == EVFILT_READ ? COIL__DIR_READ
			      : ev->filter == EVFILT_WRITE ? COIL__DIR_WRITE : 0;
		if (ev->flags & EV_ERROR)
			dirs = COIL__DIR_READ | COIL__DIR_WRITE;
		if (dirs)
			coil__compat_fd_ready(c, (int)ev->ident, dirs);
	}
	return n;
}

static int kq_pollable_fd(struct coil__compat *c)
{
	return ((struct kq *)c->poller_data)->kq;
}

const struct coil__poller coil__poller_kqueue = {
	.name = "kqueue",
	.init = kq_init,
	.fini = kq_fini,
	.watch = kq_watch,
	.forget = kq_forget,
	.wait = kq_wait,
	.pollable_fd = kq_pollable_fd,
};
