/*
 * poll(2): level-triggered, so the pollfd array holds exactly the fds that
 * have waiters, each with the directions waited on (watch() is called after
 * every change and keeps it so). Any POSIX system has it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "io/compat/compat.h"

struct pp {
	struct pollfd *fds;
	uint32_t n, cap;
	/* ready fds copied out of fds before dispatching, since dispatching
	 * changes the array */
	struct { int fd; unsigned dirs; } *ready;
	uint32_t ready_cap;
};

static int pp_init(struct coil__compat *c)
{
	struct pp *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	c->poller_data = p;
	return 0;
}

static void pp_fini(struct coil__compat *c)
{
	struct pp *p = c->poller_data;
	free(p->fds);
	free(p->ready);
	free(p);
}

static void slot_remove(struct coil__compat *c, struct pp *p, struct coil__fd_state *st)
{
	uint32_t i = st->poll_slot - 1, last = p->n - 1;
	if (i != last) {
		p->fds[i] = p->fds[last];
		struct coil__fd_state *moved = coil__compat_fd(c, p->fds[i].fd);
		if (moved)
			moved->poll_slot = i + 1;
	}
	p->n--;
	st->poll_slot = 0;
}

static int pp_watch(struct coil__compat *c, int fd, struct coil__fd_state *st, unsigned dirs)
{
	struct pp *p = c->poller_data;
	short events = (short)(((dirs & COIL__DIR_READ) ? POLLIN : 0) | ((dirs & COIL__DIR_WRITE) ? POLLOUT : 0));
	if (!events) {
		if (st->poll_slot)
			slot_remove(c, p, st);
		return 0;
	}
	if (st->poll_slot) {
		p->fds[st->poll_slot - 1].events = events;
		return 0;
	}
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 64;
		struct pollfd *fds = realloc(p->fds, cap * sizeof *fds);
		if (!fds)
			return -ENOMEM;
		p->fds = fds;
		p->cap = cap;
	}
	p->fds[p->n] = (struct pollfd){.fd = fd, .events = events};
	st->poll_slot = ++p->n;
	return 0;
}

static void pp_forget(struct coil__compat *c, int fd, struct coil__fd_state *st)
{
	(void)fd;
	if (st->poll_slot)
		slot_remove(c, c->poller_data, st);
}

static int pp_wait(struct coil__compat *c, int64_t timeout_ns)
{
	struct pp *p = c->poller_data;
	struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
	int n = ppoll(p->fds, p->n, timeout_ns < 0 ? NULL : &ts, NULL);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	if (p->ready_cap < (uint32_t)n) {
		void *r = realloc(p->ready, (size_t)n * sizeof *p->ready);
		if (!r)
			return -ENOMEM;
		p->ready = r;
		p->ready_cap = (uint32_t)n;
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < p->n && k < (uint32_t)n; i++) {
		short re = p->fds[i].revents;
		if (!re)
			continue;
		unsigned dirs = 0;
		if (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
			dirs |= COIL__DIR_READ;
		if (re & (POLLOUT | POLLHUP | POLLERR | POLLNVAL))
			dirs |= COIL__DIR_WRITE;
		p->ready[k].fd = p->fds[i].fd;
		p->ready[k].dirs = dirs;
		k++;
	}
	for (uint32_t i = 0; i < k; i++)
		coil__compat_fd_ready(c, p->ready[i].fd, p->ready[i].dirs);
	return (int)k;
}

const struct coil__poller coil__poller_poll = {
	.name = "poll",
	.init = pp_init,
	.fini = pp_fini,
	.watch = pp_watch,
	.forget = pp_forget,
	.wait = pp_wait,
};
