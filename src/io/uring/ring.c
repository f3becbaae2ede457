/*
 * The io_uring backend's ring: set-up (the setup flags tried in order, the
 * probe of every opcode the op table needs, the features coil turns on),
 * tear-down, and the backend's table of functions. See uring.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "base/panic.h"
#include "base/spin.h"
#include "io/uring/uring.h"
#include "sched/crew.h"

/* How long an SQPOLL thread spins without work before it sleeps (and the
 * next submission costs a wake-up syscall again). */
#define SQPOLL_IDLE_MS 20

/* Whether list (comma-separated op names, from $COIL_URING_WITHOUT) names
 * the op. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Every opcode coil issues, plus async cancel and poll. An op the kernel
 * lacks goes to the blocking pool if its row lets the pool stand in (open,
 * stat, fsync, close); a kernel lacking any other (reads, writes, socket
 * ops), cancel or poll is refused at start (-ENOTSUP: coil falls back to
 * epoll) rather than failing mid-program. */
static int probe_ops(struct coil__uring *u, const char *without)
{
	struct io_uring *ring = &u->ring;
	bool *to_pool = u->to_pool;
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	if (!probe)
		return -ENOTSUP; /* IORING_REGISTER_PROBE is 5.6+; we need newer */
	/* No probe tells flags apart: multishot recv came in 6.0 with
	 * IORING_OP_SEND_ZC, whose presence stands for it. */
	u->has_recv_multi = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&
			    !listed(without, "recv_multishot");
	u->has_send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&
			 !listed(without, "send_zc");
	/* Multishot accept came in 5.19 with IORING_OP_SOCKET. */
	u->has_accept_multi = io_uring_opcode_supported(probe, IORING_OP_SOCKET) &&
			      !listed(without, "accept_multishot");
	int r = 0;
	for (size_t i = 0; i < COIL__OP_COUNT; i++) {
		bool pool_may = coil__optable[i].flags & COIL__OPF_POOL_STANDS_IN;
		if (!coil__uring_preps[i].prep && !pool_may)
			coil__panic("op %s: no io_uring prep and no stand-in", coil__optable[i].name);
		if (coil__uring_preps[i].prep && io_uring_opcode_supported(probe, coil__uring_preps[i].opcode) &&
		    !listed(without, coil__optable[i].name))
			continue;
		if (pool_may)
			to_pool[i] = true;
		else
			r = -ENOTSUP;
	}
	if (!io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) ||
	    !io_uring_opcode_supported(probe, IORING_OP_POLL_ADD))
		r = -ENOTSUP;
	io_uring_free_probe(probe);
	return r;
}

/* Kernels 6.6-6.8 may hand out invalid fds from a multishot accept on a
 * DEFER_TASKRUN ring (liburing issue #1062): coil does not choose it there. */
static bool accept_multi_broken(void)
{
	struct utsname un;
	unsigned major, minor;
	if (uname(&un) < 0 || sscanf(un.release, "%u.%u", &major, &minor) != 2)
		return true;
	return major == 6 && minor >= 6 && minor <= 8;
}

static int uring_init(struct coil__io *io, const struct coil__config *cfg)
{
	struct coil__uring *u = calloc(1, sizeof *u);
	if (!u)
		return -ENOMEM;
	u->w = io->w;
	/* Best first: one thread submits and reaps (SINGLE_ISSUER), and task
	 * work runs only when we wait (DEFER_TASKRUN, 6.1+); else cooperative
	 * task work (5.19+); else whatever the kernel has. */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	int r = -EINVAL;
	/* SQPOLL, asked for, before all: a kernel thread takes the SQEs (it
	 * is then the single issuer; DEFER_TASKRUN and the task-run flags do
	 * not go with it). Refused, the list below. */
	if (COIL__FEATURE(cfg, COIL_FEATURE_SQPOLL, false)) {
		/* One kernel thread for the whole crew: the workers' rings
		 * attach to the first one's (N spinning threads on fewer CPUs
		 * would starve the workers). */
		struct coil__io_shared *sh = coil__io_shared(io);
		coil__spin_lock(&sh->sqpoll_lock);
		for (int attach = sh->sqpoll_fd1 != 0; attach >= 0 && r < 0; attach--) {
			struct io_uring_params p;
			memset(&p, 0, sizeof p);
			p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_CQSIZE | (attach ? IORING_SETUP_ATTACH_WQ : 0);
			p.wq_fd = attach ? (unsigned)(sh->sqpoll_fd1 - 1) : 0;
			p.cq_entries = cfg->pub.cq_entries;
			p.sq_thread_idle = SQPOLL_IDLE_MS;
			r = io_uring_queue_init_params(cfg->pub.sq_entries, &u->ring, &p);
			if (r == 0) {
				u->setup_flags = p.flags;
				u->features = p.features;
				io->features |= COIL_FEATURE_SQPOLL;
				if (!sh->sqpoll_fd1)
					sh->sqpoll_fd1 = u->ring.ring_fd + 1;
			}
		}
		coil__spin_unlock(&sh->sqpoll_lock);
	}
	/* $COIL_URING_SETUP=coop|plain starts lower down the list: how the
	 * tests run the fallbacks of older kernels on a new one. */
	size_t first = cfg->uring_setup; /* enum coil__uring_setup: an index here */
	/* A coil_loop's ring is waited on through its registered eventfd,
	 * from the embedder's poll, not in io_uring_enter. Under
	 * DEFER_TASKRUN a completion that needs task work (a socket read
	 * that waited for data) signals that eventfd late, from a deferred
	 * callback (call_rcu, by the kernel's source): 13-16 ms on 6.18,
	 * measured with a bare liburing ring (0.05 ms with COOP_TASKRUN or
	 * no flag). So it starts at COOP, whose task work runs on the
	 * owner's next return from any syscall (the embedder's poll
	 * included) and signals at once. */
	if (io->w->embedded && first < COIL__URING_SETUP_COOP)
		first = COIL__URING_SETUP_COOP;
	for (size_t i = first; r < 0 && i < sizeof tries / sizeof tries[0]; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = cfg->pub.cq_entries;
		r = io_uring_queue_init_params(cfg->pub.sq_entries, &u->ring, &p);
		if (r == 0) {
			u->setup_flags = p.flags;
			u->features = p.features;
			break;
		}
		if (r != -EINVAL)
			break; /* ENOSYS, EPERM, ENOMEM...: no flag set helps */
	}
	if (r < 0)
		goto fail;
	/* The CQE loop takes every user_data for one of coil's (uring.h):
	 * true only while liburing's timed wait queues no timeout SQE of its
	 * own, which needs IORING_FEAT_EXT_ARG (5.11, older than the
	 * opcodes coil requires anyway). */
	if (!(u->features & IORING_FEAT_EXT_ARG)) {
		r = -ENOTSUP;
		goto fail_ring;
	}
	r = probe_ops(u, cfg->uring_without);
	if (r < 0)
		goto fail_ring;
	io->can_splice = true;
	for (size_t i = 0; i < COIL__OP_COUNT; i++) {
		unsigned f = coil__optable[i].flags;
		/* The pool's, positional (-ESPIPE on a stream), a new fd to
		 * forget the past of, a close (cancels the fd's ops first). */
		if (u->to_pool[i] ||
		    (f & (COIL__OPF_SEEKS | COIL__OPF_MAKES_FD | COIL__OPF_CLOSES_FD)))
			u->special[i] |= SPECIAL_OWN;
		/* Its request holds op->fd's file in the kernel (where a
		 * cancel by fd finds it): counted per fd (uring.h). */
		u->names_fd[i] = coil__uring_preps[i].prep && (f & COIL__OPF_NAMES_FD);
	}
	/* A splice names its fd_out too (the kernel's own file of it):
	 * counted on its special way, off the hot path. */
	u->special[COIL__OP_SPLICE] |= SPECIAL_OWN;
	if (COIL__FEATURE(cfg, COIL_FEATURE_NOWAIT_READS, true))
		io->features |= COIL_FEATURE_NOWAIT_READS;
	if (COIL__FEATURE(cfg, COIL_FEATURE_ACCEPT_MULTI, !accept_multi_broken()) &&
	    u->has_accept_multi)
		io->features |= COIL_FEATURE_ACCEPT_MULTI;
	if (COIL__FEATURE(cfg, COIL_FEATURE_SEND_ZC, false) && u->has_send_zc) {
		u->zc_min = cfg->pub.send_zc_min ? cfg->pub.send_zc_min : 1;
		u->special[COIL__OP_SEND] |= SPECIAL_OWN;
		io->features |= COIL_FEATURE_SEND_ZC;
	}
	if (COIL__FEATURE(cfg, COIL_FEATURE_FIXED_FILES, false))
		coil__uring_fixed_init(io, u);
	/* Saves a file-table lookup on every io_uring_enter (5.18+). */
	(void)io_uring_register_ring_fd(&u->ring);
	io->be.uring = u;
	/* Other io_uring workers of the crew kick this one by MSG_RING
	 * (coil__uring_kick). */
	io->w->kick_from = coil__uring_kick;
	/* Each op owes at most 2 CQEs: its own and a cancel's (a close: its
	 * own and its fd-cancel's). Bounding ops at cq/2 makes an overflow
	 * impossible, but also caps idle connections (each holds a read) at
	 * cq/2. Kernels with
	 * IORING_FEAT_NODROP keep what does not fit in the CQ and coil flushes
	 * it (reap, the overflow flag, -EBUSY), so there the bound only has to
	 * keep memory sane. */
	if (cfg->pub.max_inflight)
		io->inflight_max = cfg->pub.max_inflight;
	else if (u->features & IORING_FEAT_NODROP)
		io->inflight_max = (size_t)u->ring.cq.ring_entries * 16;
	else
		io->inflight_max = u->ring.cq.ring_entries / 2;
	return 0;
fail_ring:
	io_uring_queue_exit(&u->ring);
fail:
	free(u);
	return r;
}

static void uring_fini(struct coil__io *io)
{
	struct coil__uring *u = io->be.uring;
	if (!u)
		return;
	coil__uring_check_counts(io, u);
	coil__uring_fixed_fini(io, u);
	io_uring_queue_exit(&u->ring);
	if (u->br)
		munmap(u->br, u->br_bytes);
	free(u->br_pos);
	free(u->fds);
	free(u);
	io->be.uring = NULL;
}

/* The eventfd, registered with the ring: the kernel signals it when a
 * completion is posted. A loop's ring is COOP_TASKRUN (uring_init), so
 * that is when the data comes, not a deferred callback later. */
static int uring_embed(struct coil__io *io, int efd, int *signal_fd)
{
	int r = io_uring_register_eventfd(&io->be.uring->ring, efd);
	if (r < 0)
		return r;
	*signal_fd = efd;
	return efd;
}

const struct coil__backend coil__backend_uring = {
	.name = "io_uring",
	.timer_ops = true,
	.init = uring_init,
	.fini = uring_fini,
	.submit = coil__uring_submit,
	.cancel = coil__uring_cancel,
	.poll = coil__uring_poll,
	.fd_opened = coil__uring_fd_opened,
	.fd_gone = coil__uring_fd_gone,
	.fd_closed = coil__uring_fd_closed,
	.embed = uring_embed,
	.lend_init = coil__uring_lend_init,
	.lend_give = coil__uring_lend_give,
	.lend_fini = coil__uring_lend_fini,
	.iobuf_register = coil__uring_iobuf_register,
	.multi_arm = coil__uring_multi_arm,
	.multi_stop = coil__uring_multi_stop,
};
