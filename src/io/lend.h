/*
 * Buffers a worker lends to its readers (coil/reader.h), and the readers.
 *
 * One set per worker, made by its first coil_reader_open: count buffers of
 * size bytes in one mapping (resident only where data landed). With a
 * backend that can take them (io_uring's provided buffer ring:
 * backend->lend_init), the kernel picks a buffer when data arrives for a
 * reader's multishot recv (backend->multi_arm, COIL__MULTI_RECV), which
 * stays armed and completes many times through coil__lend_cqe: it is not
 * an op (no struct coil__op, no row in io/optable.h), and costs an idle
 * reader no more than the reader itself. coil gives each buffer back to
 * the ring when the reader is done with it. Otherwise the set is a free
 * list: a read waits for data with a 1-byte MSG_PEEK (holding no buffer),
 * then takes a buffer and runs a COIL__OP_RECV into it.
 *
 * An armed multishot is not an op in flight (io->inflight): it counts in
 * the worker's pending only while a fiber waits on its reader, so an idle
 * reader never keeps a worker from seeing a deadlock or from ending; the
 * readers still open when the worker ends are stopped and freed by
 * coil__lend_wind_down, on the worker's thread.
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

/* A completion of r's multishot recv armed with tag gen (the backend's
 * reap): res bytes in buffer id (when has_buf), or 0 / -errno; more: it
 * stays armed. */
void coil__lend_cqe(struct coil__io *io, struct coil_reader *r, uint16_t gen, int res,
		    bool has_buf, uint32_t id, bool more);

/* The worker is ending: stop and free every reader still open, then the
 * buffers. Runs on the worker's thread after its last turn; polls the
 * backend until every multishot has ended. */
void coil__lend_wind_down(struct coil__io *io);

#endif
