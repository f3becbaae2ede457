/*
 * The io_uring backend's buffers and multishot requests: the provided
 * buffer ring of io/lend.h's readers (with recv bundles), multishot recv
 * and accept (armed once, completing many times), and the registered
 * buffer region of io/iobuf.h. See uring.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/panic.h"
#include "io/accepts.h"
#include "io/lend.h"
#include "io/reader.h"
#include "io/uring/uring.h"

/* The ring of l's buffers, registered as buffer group COIL__LEND_BGID.
 * Refused without multishot recv (the reader would gain nothing), or
 * when the kernel (5.19+), memory or memlock says no. */
int coil__uring_lend_init(struct coil__io *io, struct coil__lend *l)
{
	struct coil__uring *u = io->be.uring;
	if (!u->has_recv_multi || l->count > 32768)
		return -ENOTSUP;
	size_t bytes = l->count * sizeof(struct io_uring_buf);
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	struct io_uring_buf_ring *br = m;
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)br,
		.ring_entries = l->count,
		.bgid = COIL__LEND_BGID,
	};
	int r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0) {
		munmap(m, bytes);
		return r;
	}
	u->br = br;
	u->br_bytes = bytes;
	u->br_mask = io_uring_buf_ring_mask(l->count);
	if (COIL__FEATURE(io->cfg, COIL_FEATURE_RECV_BUNDLE, false) &&
	    (u->features & IORING_FEAT_RECVSEND_BUNDLE) &&
	    (u->br_pos = malloc(sizeof *u->br_pos * l->count))) {
		u->bundle = true;
		io->features |= COIL_FEATURE_RECV_BUNDLE;
	}
	for (uint32_t i = 0; i < l->count; i++) {
		if (u->bundle)
			u->br_pos[i] = (uint16_t)i;
		io_uring_buf_ring_add(br, coil__lend_buf(l, i), (unsigned)l->size, (unsigned short)i,
				      u->br_mask, (int)i);
	}
	io_uring_buf_ring_advance(br, (int)l->count);
	return 0;
}

void coil__uring_lend_give(struct coil__io *io, struct coil__lend *l, uint32_t id)
{
	struct coil__uring *u = io->be.uring;
	if (u->bundle)
		u->br_pos[id] = (uint16_t)(u->br->tail & u->br_mask);
	io_uring_buf_ring_add(u->br, coil__lend_buf(l, id), (unsigned)l->size, (unsigned short)id,
			      u->br_mask, 0);
	io_uring_buf_ring_advance(u->br, 1);
}

void coil__uring_lend_fini(struct coil__io *io, struct coil__lend *l)
{
	(void)l;
	struct coil__uring *u = io->be.uring;
	(void)io_uring_unregister_buf_ring(&u->ring, COIL__LEND_BGID);
	munmap(u->br, u->br_bytes);
	u->br = NULL;
	free(u->br_pos);
	u->br_pos = NULL;
	u->bundle = false;
}

int coil__uring_iobuf_register(struct coil__io *io, void *base, size_t len)
{
	struct iovec iov = {.iov_base = base, .iov_len = len};
	return io_uring_register_buffers(&io->be.uring->ring, &iov, 1);
}

static uint64_t multi_tag(void *key, unsigned kind, uint16_t gen)
{
	return ((uint64_t)gen << TAG_SHIFT) | (uint64_t)(uintptr_t)key | kind;
}

/* Armed once, a multishot recv completes each time data arrives, into a
 * buffer the kernel takes from the ring; a multishot accept each time a
 * connection comes. */
int coil__uring_multi_arm(struct coil__io *io, void *key, unsigned kind, int fd, uint16_t gen)
{
	struct coil__uring *u = io->be.uring;
	if (u->error)
		return u->error;
	if ((uintptr_t)key & 7 || (uintptr_t)key & ~(uintptr_t)PTR_MASK)
		coil__panic("multishot key %p does not fit the user_data tag", key);
	/* It names fd until its last CQE (coil__uring_multi_cqe). */
	int r = coil__uring_fd_hold(u, fd);
	if (r < 0)
		return r;
	coil__uring_fd_met(u, fd);
	struct io_uring_sqe *sqe = coil__uring_sqe(u);
	if (!sqe) {
		coil__uring_fd_let_go(u, fd);
		return COIL__SUBMIT_FULL;
	}
	u->multi_armed++;
	if (kind == COIL__MULTI_RECV) {
		io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = COIL__LEND_BGID;
		if (u->bundle)
			sqe->ioprio |= IORING_RECVSEND_BUNDLE;
		if (u->fixed)
			coil__uring_use_fixed(u, sqe, fd);
	} else {
		io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	uint64_t tag = multi_tag(key, kind, gen);
	io_uring_sqe_set_data64(sqe, tag);
	u->fds[fd].multi = tag; /* what a close cancels (files.c) */
	return 0;
}

void coil__uring_multi_stop(struct coil__io *io, void *key, unsigned kind, uint16_t gen)
{
	struct coil__uring *u = io->be.uring;
	struct io_uring_sqe *sqe = coil__uring_sqe_for_cancel(io, u, NULL);
	if (!sqe)
		return; /* a failed ring ends the runtime */
	io_uring_prep_cancel64(sqe, multi_tag(key, kind, gen), 0);
	io_uring_sqe_set_data64(sqe, 0);
}

/* A recv bundle's completion: res bytes in the buffers from id on, in
 * buffer-ring order (each full but the last). Each goes to the reader as
 * if it had completed alone, so the data keeps its order. The next id is
 * read from the ring only after the ones before were handed over, which
 * may give them back at once: a give writes at the ring's tail, which
 * stays behind the entries still to read (those buffers are still out). */
static void lend_bundle(struct coil__io *io, struct coil__uring *u, void *key, uint16_t gen,
			int res, uint32_t id, bool more)
{
	int size = (int)io->lend->size;
	uint32_t pos = u->br_pos[id];
	for (uint32_t i = 0; res > 0; i++) {
		uint32_t bid = i ? u->br->bufs[(pos + i) & (uint32_t)u->br_mask].bid : id;
		int len = res > size ? size : res;
		res -= len;
		coil__reader_cqe(io, key, gen, len, true, bid, res > 0 || more);
	}
}

void coil__uring_multi_cqe(struct coil__io *io, struct coil__uring *u, uint64_t ud, int res,
			   unsigned flags)
{
	void *key = (void *)(uintptr_t)(ud & PTR_MASK & ~UD_TAG_MASK);
	uint16_t gen = (uint16_t)(ud >> TAG_SHIFT);
	bool more = flags & IORING_CQE_F_MORE;
	if (!more) {
		/* Its last CQE: the request no longer names the fd. The key
		 * lives until then (its owner waits for it to end). */
		int fd = (ud & UD_TAG_MASK) == UD_MULTI_RECV ? coil__reader_fd(key)
							    : ((struct coil__accepts *)key)->fd;
		u->multi_armed--;
		if (u->fds[fd].multi == ud)
			u->fds[fd].multi = 0;
		coil__uring_fd_let_go(u, fd);
	}
	if ((ud & UD_TAG_MASK) == UD_MULTI_RECV) {
		uint32_t id = flags >> IORING_CQE_BUFFER_SHIFT;
		if (u->bundle && (flags & IORING_CQE_F_BUFFER) && res > (int)io->lend->size)
			lend_bundle(io, u, key, gen, res, id, more);
		else
			coil__reader_cqe(io, key, gen, res, flags & IORING_CQE_F_BUFFER, id, more);
		return;
	}
	if (res >= 0)
		coil__uring_fd_forget(u, res); /* a new fd */
	coil__accepts_cqe(io, key, gen, res, more);
}
