/*
 * A worker's I/O buffers (coil_iobuf_alloc, coil/fs.h): count buffers of
 * size bytes in one page-aligned mapping, made at the first allocation and
 * handed to the backend (backend->iobuf_register: io_uring registers it as
 * fixed buffer 0, so reads and writes into it skip the per-call page
 * pinning). A free list of buffer ids, and a flag per buffer that says
 * it is out, so that a second free of one buffer is refused instead of
 * listing it twice (two later allocations would share it) or writing past
 * the list; freed when the worker ends.
 */
#ifndef COIL_IO_IOBUF_H
#define COIL_IO_IOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coil__io;

struct coil__iobufs {
	char *base;
	size_t size;		/* bytes per buffer, whole pages */
	uint32_t count;
	uint32_t *free_ids;
	uint32_t nfree;
	bool *lent;		/* per buffer: allocated and not freed since */
	bool registered;	/* the backend took the region */
};

/* Whether [buf, buf + len) lies in io's registered region. */
static inline bool coil__iobuf_fixed(const struct coil__iobufs *b, const void *buf, size_t len)
{
	return b && b->registered && (const char *)buf >= b->base &&
	       len <= (size_t)(b->base + b->size * b->count - (const char *)buf);
}

/* The worker is ending (its thread, no op in flight): free the region. */
void coil__iobuf_fini(struct coil__io *io);

#endif
