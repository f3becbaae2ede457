/*
 * A small emulation of BSD kqueue/kevent on Linux, for testing coil's
 * kqueue backend here (tests/kqueue_shim/kevent_shim.c; with
 * COIL_KQUEUE_SHIM=ON it and the backend are built into the test
 * programs' coil_static_kqueue_shim, never into libcoil). It covers what
 * coil uses: EVFILT_READ and EVFILT_WRITE on fds, EV_ADD, EV_DELETE,
 * EV_CLEAR (edge-triggered), and EV_EOF / EV_ERROR on output; a timespec
 * timeout. Underneath, a kqueue is an epoll instance.
 */
#ifndef COIL_KQUEUE_SHIM_SYS_EVENT_H
#define COIL_KQUEUE_SHIM_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

struct kevent {
	uintptr_t ident;
	int16_t filter;
	uint16_t flags;
	uint32_t fflags;
	intptr_t data;
	void *udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_CLEAR 0x0020
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

#define EV_SET(kevp, a, b, c, d, e, f)                                                \
	do {                                                                           \
		struct kevent *ev_set_ = (kevp);                                       \
		ev_set_->ident = (a);                                                  \
		ev_set_->filter = (b);                                                 \
		ev_set_->flags = (c);                                                  \
		ev_set_->fflags = (d);                                                 \
		ev_set_->data = (e);                                                   \
		ev_set_->udata = (f);                                                  \
	} while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
	   int nevents, const struct timespec *timeout);

#endif
