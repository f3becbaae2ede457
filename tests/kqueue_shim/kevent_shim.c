/* kqueue/kevent over epoll, for tests on Linux. See sys/event.h. */
#include <sys/event.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define SHIM_READ 1u
#define SHIM_WRITE 2u
#define SHIM_CLEAR 4u

/* Per kqueue (indexed by its epoll fd): the filters registered per fd. The
 * shim is test scaffolding, so one mutex over all of it is enough. */
struct shim_kq {
	uint8_t *masks;
	int nmasks;
};

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_kq *kqs;
static int nkqs;

static struct shim_kq *kq_get(int kq)
{
	if (kq < 0)
		return NULL;
	if (kq >= nkqs) {
		int n = nkqs ? nkqs : 16;
		while (n <= kq)
			n *= 2;
		struct shim_kq *t = realloc(kqs, (size_t)n * sizeof *t);
		if (!t)
			return NULL;
		memset(t + nkqs, 0, (size_t)(n - nkqs) * sizeof *t);
		kqs = t;
		nkqs = n;
	}
	return &kqs[kq];
}

static uint8_t *mask_of(struct shim_kq *k, int fd)
{
	if (fd >= k->nmasks) {
		int n = k->nmasks ? k->nmasks : 64;
		while (n <= fd)
			n *= 2;
		uint8_t *m = realloc(k->masks, (size_t)n);
		if (!m)
			return NULL;
		memset(m + k->nmasks, 0, (size_t)(n - k->nmasks));
		k->masks = m;
		k->nmasks = n;
	}
	return &k->masks[fd];
}

int kqueue(void)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -1;
	pthread_mutex_lock(&shim_lock);
	struct shim_kq *k = kq_get(epfd);
	if (k) {
		free(k->masks);
		k->masks = NULL;
		k->nmasks = 0;
	}
	pthread_mutex_unlock(&shim_lock);
	if (!k) {
		close(epfd);
		errno = ENOMEM;
		return -1;
	}
	return epfd;
}

static int apply(int kq, struct shim_kq *k, const struct kevent *ch)
{
	int fd = (int)ch->ident;
	uint8_t bit = ch->filter == EVFILT_READ ? SHIM_READ
		    : ch->filter == EVFILT_WRITE ? SHIM_WRITE : 0;
	if (!bit || fd < 0)
		return EINVAL;
	uint8_t *m = mask_of(k, fd);
	if (!m)
		return ENOMEM;
	uint8_t old = *m, now = old;
	if (ch->flags & EV_ADD) {
		now |= bit;
		if (ch->flags & EV_CLEAR)
			now |= SHIM_CLEAR;
	} else if (ch->flags & EV_DELETE) {
		if (!(old & bit))
			return ENOENT;
		now &= (uint8_t)~bit;
		if (!(now & (SHIM_READ | SHIM_WRITE)))
			now = 0;
	}
	struct epoll_event ev = {
		.events = ((now & SHIM_READ) ? EPOLLIN | EPOLLRDHUP : 0) |
			  ((now & SHIM_WRITE) ? EPOLLOUT : 0) | ((now & SHIM_CLEAR) ? EPOLLET : 0),
		.data.fd = fd,
	};
	int r;
	if (!(old & (SHIM_READ | SHIM_WRITE)))
		r = now ? epoll_ctl(kq, EPOLL_CTL_ADD, fd, &ev) : 0;
	else if (!now)
		r = epoll_ctl(kq, EPOLL_CTL_DEL, fd, NULL);
	else
		r = epoll_ctl(kq, EPOLL_CTL_MOD, fd, &ev);
	if (r != 0 && errno == EEXIST && (ch->flags & EV_ADD))
		r = epoll_ctl(kq, EPOLL_CTL_MOD, fd, &ev);
	if (r != 0 && (errno == ENOENT || errno == EBADF) && (old & (SHIM_READ | SHIM_WRITE))) {
		/* The file the filters were for is gone from the set (closed;
		 * the number may name a new file): a real kqueue dropped its
		 * knotes at close(2). Start from none. */
		int err = errno;
		*m = 0;
		if (!(ch->flags & EV_ADD))
			return err;
		now = (uint8_t)(bit | ((ch->flags & EV_CLEAR) ? SHIM_CLEAR : 0));
		ev.events = (bit == SHIM_READ ? EPOLLIN | EPOLLRDHUP : EPOLLOUT) |
			    ((now & SHIM_CLEAR) ? EPOLLET : 0);
		r = epoll_ctl(kq, EPOLL_CTL_ADD, fd, &ev);
		if (r != 0 && errno == EEXIST)
			r = epoll_ctl(kq, EPOLL_CTL_MOD, fd, &ev);
	}
	if (r != 0)
		return errno;
	*m = now;
	return 0;
}

int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
	   int nevents, const struct timespec *timeout)
{
	pthread_mutex_lock(&shim_lock);
	struct shim_kq *k = kq_get(kq);
	for (int i = 0; k && i < nchanges; i++) {
		int err = apply(kq, k, &changelist[i]);
		if (err) {
			pthread_mutex_unlock(&shim_lock);
			errno = err;
			return -1;
		}
	}
	pthread_mutex_unlock(&shim_lock);
	if (!k) {
		errno = EBADF;
		return -1;
	}
	if (nevents <= 0)
		return 0;

	/* Each epoll event may become two kevents (read and write). */
	int max = nevents / 2 > 0 ? nevents / 2 : 1;
	struct epoll_event evs[128];
	if (max > 128)
		max = 128;
	int n = epoll_pwait2(kq, evs, max, timeout, NULL);
	if (n < 0 && errno == ENOSYS) {
		/* Kernels before 5.11 and qemu-user (7.2) lack epoll_pwait2:
		 * milliseconds, rounded up so that a timer never wakes early. */
		int ms = -1;
		if (timeout) {
			long long t = ((long long)timeout->tv_sec * 1000000000 + timeout->tv_nsec +
				       999999) / 1000000;
			ms = t > 1000000000 ? 1000000000 : (int)t;
		}
		n = epoll_wait(kq, evs, max, ms);
	}
	if (n < 0)
		return -1;
	int out = 0;
	pthread_mutex_lock(&shim_lock);
	k = kq_get(kq);
	for (int i = 0; i < n && out < nevents; i++) {
		int fd = evs[i].data.fd;
		uint8_t m = fd < k->nmasks ? k->masks[fd] : 0;
		uint32_t e = evs[i].events;
		uint16_t eof = (e & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) ? EV_EOF : 0;
		if ((m & SHIM_READ) && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			EV_SET(&eventlist[out++], (uintptr_t)fd, EVFILT_READ, eof, 0, 0, NULL);
		if ((m & SHIM_WRITE) && (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && out < nevents)
			EV_SET(&eventlist[out++], (uintptr_t)fd, EVFILT_WRITE, eof, 0, 0, NULL);
	}
	pthread_mutex_unlock(&shim_lock);
	return out;
}
