/* Registered files across rings. See io/fixed.h. */
#include "io/fixed.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* Zero pages until touched: 128 KiB of address space, resident only for
 * the fd numbers used. */
static uint16_t holders[COIL__FIXED_MAX];
static uint64_t epoch;

/* The wake eventfds of the rings that have a table. */
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
static int *ring_fds;
static unsigned nrings, ring_cap;

void coil__fixed_hold(int fd)
{
	__atomic_add_fetch(&holders[fd], 1, __ATOMIC_RELAXED);
}

void coil__fixed_release(int fd)
{
	__atomic_sub_fetch(&holders[fd], 1, __ATOMIC_RELAXED);
}

uint64_t coil__fixed_epoch(void)
{
	return __atomic_load_n(&epoch, __ATOMIC_ACQUIRE);
}

int coil__fixed_ring_add(int wake_fd)
{
	int r = 0;
	pthread_mutex_lock(&rings_lock);
	if (nrings == ring_cap) {
		unsigned cap = ring_cap ? ring_cap * 2 : 8;
		int *t = realloc(ring_fds, sizeof *t * cap);
		if (t) {
			ring_fds = t;
			ring_cap = cap;
		}
	}
	if (nrings < ring_cap)
		ring_fds[nrings++] = wake_fd;
	else
		r = -ENOMEM;
	pthread_mutex_unlock(&rings_lock);
	return r;
}

void coil__fixed_ring_remove(int wake_fd)
{
	pthread_mutex_lock(&rings_lock);
	for (unsigned i = 0; i < nrings; i++)
		if (ring_fds[i] == wake_fd) {
			ring_fds[i] = ring_fds[--nrings];
			break;
		}
	if (!nrings) {
		free(ring_fds);
		ring_fds = NULL;
		ring_cap = 0;
	}
	pthread_mutex_unlock(&rings_lock);
}

void coil__fixed_closed(int fd)
{
	if (fd < 0 || fd >= COIL__FIXED_MAX || !__atomic_load_n(&holders[fd], __ATOMIC_RELAXED))
		return;
	/* Another ring still holds the closed file: tell them all. */
	__atomic_add_fetch(&epoch, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	pthread_mutex_lock(&rings_lock);
	for (unsigned i = 0; i < nrings; i++)
		(void)!write(ring_fds[i], &one, sizeof one);
	pthread_mutex_unlock(&rings_lock);
}
