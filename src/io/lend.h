/*
 * Buffers a worker lends to its readers (coil/reader.h, io/reader.c).
 *
 * One set per worker, made by its first coil_reader_open: count buffers of
 * size bytes in one mapping (resident only where data landed). With a
 * backend that can take them (io_uring's provided buffer ring:
 * backend->lend_init), the kernel picks a buffer when data arrives for a
 * reader's multishot recv; coil gives each buffer back to the ring when
 * the reader is done with it. Otherwise the set is a free list, and
 * readers waiting for a buffer wait in its room.
 */
#ifndef COIL_IO_LEND_H
#define COIL_IO_LEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "sched/waitq.h"

struct coil__io;
struct coil_reader;

struct coil__lend {
	char *base;			/* count x size bytes */
	size_t size;
	uint32_t count;
	bool ring;			/* in the backend's buffer ring */
	uint32_t *free_ids;		/* !ring: the buffers not lent */
	uint32_t nfree;
	struct coil__waitq room;	/* !ring: readers waiting for a buffer */
	struct coil__list readers;	/* every open reader of the worker */
	struct coil__list starved;	/* ring: readers whose recv ran out of buffers */
};

/* The address of buffer id. */
static inline char *coil__lend_buf(const struct coil__lend *l, uint32_t id)
{
	return l->base + (size_t)id * l->size;
}

/* The worker's set, made on first use. Returns 0 or -ENOMEM. */
int coil__lend_get(struct coil__io *io, struct coil__lend **out);

/* Buffer id is free again (back to the ring, or the free list: a reader
 * waiting in room is woken). */
void coil__lend_give(struct coil__io *io, struct coil__lend *l, uint32_t id);

/* Free the worker's set (its readers are gone). */
void coil__lend_fini(struct coil__io *io);

#endif
