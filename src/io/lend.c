/* The buffers a worker lends to its readers. See io/lend.h. */
#include "io/lend.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "io/backend.h"
#include "io/io.h"

int coil__lend_get(struct coil__io *io, struct coil__lend **out)
{
	if (io->lend) {
		*out = io->lend;
		return 0;
	}
	const struct coil_config *c = &io->cfg->pub;
	struct coil__lend *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->count = c->recv_buffers;
	/* A ring's size is a power of two. */
	while (l->count & (l->count - 1))
		l->count += l->count & -l->count;
	l->size = c->recv_buffer_size;
	void *m = mmap(NULL, l->size * l->count, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		free(l);
		return -ENOMEM;
	}
	l->base = m;
	coil__list_init(&l->readers);
	coil__list_init(&l->starved);
	const struct coil__backend *be = io->backend;
	if (be->lend_init && COIL__FEATURE(io->cfg, COIL_FEATURE_BUF_RING, true) &&
	    be->lend_init(io, l) == 0) {
		l->ring = true;
		io->features |= COIL_FEATURE_BUF_RING;
	} else {
		l->free_ids = malloc(sizeof *l->free_ids * l->count);
		if (!l->free_ids) {
			munmap(l->base, l->size * l->count);
			free(l);
			return -ENOMEM;
		}
		/* Lowest ids on top: a quiet worker keeps reusing the same
		 * few buffers (pages). */
		for (uint32_t i = 0; i < l->count; i++)
			l->free_ids[i] = l->count - 1 - i;
		l->nfree = l->count;
	}
	io->lend = l;
	*out = l;
	return 0;
}

void coil__lend_give(struct coil__io *io, struct coil__lend *l, uint32_t id)
{
	if (!l->ring) {
		l->free_ids[l->nfree++] = id;
		struct coil__park *p = coil__waitq_pop(&l->room);
		if (p)
			coil__park_wake(p, 0);
		return;
	}
	io->backend->lend_give(io, l, id);
}

void coil__lend_fini(struct coil__io *io)
{
	struct coil__lend *l = io->lend;
	if (!l)
		return;
	if (l->ring)
		io->backend->lend_fini(io, l);
	munmap(l->base, l->size * l->count);
	free(l->free_ids);
	free(l);
	io->lend = NULL;
}
