/* A worker's I/O buffers. See io/iobuf.h and coil/fs.h. */
#include "io/iobuf.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coil/fs.h"
#include "io/backend.h"
#include "io/io.h"
#include "sched/sched.h"
#include "base/config.h"

static int iobufs_get(struct coil__io *io, struct coil__iobufs **out)
{
	if (io->iobufs) {
		*out = io->iobufs;
		return 0;
	}
	const struct coil_config *c = &io->cfg->pub;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct coil__iobufs *b = calloc(1, sizeof *b);
	if (!b)
		return -ENOMEM;
	b->size = (c->io_buffer_size + page - 1) / page * page;
	b->count = c->io_buffers;
	b->free_ids = malloc(sizeof *b->free_ids * b->count);
	b->lent = calloc(b->count, sizeof *b->lent);
	void *m = mmap(NULL, b->size * b->count, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!b->free_ids || !b->lent || m == MAP_FAILED) {
		if (m != MAP_FAILED)
			munmap(m, b->size * b->count);
		free(b->lent);
		free(b->free_ids);
		free(b);
		return -ENOMEM;
	}
	b->base = m;
	for (uint32_t i = 0; i < b->count; i++)
		b->free_ids[i] = b->count - 1 - i;
	b->nfree = b->count;
	/* Refused (the kernel, RLIMIT_MEMLOCK): plain buffers, same results. */
	if (io->backend->iobuf_register && COIL__FEATURE(io->cfg, COIL_FEATURE_FIXED_BUFS, true) &&
	    io->backend->iobuf_register(io, b->base, b->size * b->count) == 0) {
		b->registered = true;
		io->features |= COIL_FEATURE_FIXED_BUFS;
	}
	io->iobufs = b;
	*out = b;
	return 0;
}

int coil_iobuf_alloc(void **out, size_t size)
{
	if (!out)
		return -EINVAL;
	struct coil__io *io = coil__tls_io;
	if (!io || !coil__self())
		return -EPERM;
	if (size == 0 || size > io->cfg->pub.io_buffer_size)
		return -EINVAL;
	struct coil__iobufs *b;
	int r = iobufs_get(io, &b);
	if (r < 0)
		return r;
	if (b->nfree == 0)
		return -ENOMEM;
	uint32_t id = b->free_ids[--b->nfree];
	b->lent[id] = true;
	*out = b->base + (size_t)id * b->size;
	return 0;
}

int coil_iobuf_free(void *buf)
{
	struct coil__io *io = coil__tls_io;
	if (!io || !coil__self())
		return -EPERM;
	if (!buf)
		return -EINVAL;
	struct coil__iobufs *b = io->iobufs;
	char *p = buf;
	if (!b || p < b->base || p >= b->base + b->size * b->count)
		return -EINVAL; /* not this worker's */
	size_t off = (size_t)(p - b->base);
	uint32_t id = (uint32_t)(off / b->size);
	if (off % b->size || !b->lent[id])
		return -EINVAL; /* not a buffer's start, or not out (freed twice) */
	b->lent[id] = false;
	b->free_ids[b->nfree++] = id;
	return 0;
}

void coil__iobuf_fini(struct coil__io *io)
{
	struct coil__iobufs *b = io->iobufs;
	if (!b)
		return;
	/* Called after the backend's fini: a registered region is no
	 * longer the ring's. */
	munmap(b->base, b->size * b->count);
	free(b->lent);
	free(b->free_ids);
	free(b);
	io->iobufs = NULL;
}
