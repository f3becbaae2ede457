/* coil/config.h: a runtime's settings (struct coil_config, filled by
 * coil_config_init), where spawns go, and the io_uring features coil may
 * use. coil/runtime.h includes it; coil_run, coil_loop_new and
 * coil_bg_start take one. */
#ifndef COIL_CONFIG_H
#define COIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "coil/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a spawn that names no worker puts the new fiber. */
enum coil_place {
	/* On the spawning fiber's worker (the default). */
	COIL_PLACE_LOCAL = 0,
	/* Detached fibers (spawned with no handle: connection handlers...)
	 * on the worker with the fewest live fibers; fibers with a handle
	 * stay local. */
	COIL_PLACE_SPREAD = 1,
};

/*
 * io_uring features coil climbs to when the kernel has them (tools/coil-probe
 * says which this machine has). Each is probed when a worker's ring is set
 * up and used where it pays; coil_config.features_on forces one on wherever
 * it applies, features_off keeps it off (also $COIL_FEATURES, e.g.
 * "bufring,-sqpoll" or "all": how the lab compares and the tests run every
 * path). A feature the kernel, RLIMIT_MEMLOCK or seccomp refuses falls back
 * to what coil does without it: the same calls return the same results.
 * coil_features() says what a worker got.
 */
enum coil_feature {
	/* A provided buffer ring per worker and multishot recv for coil_reader
	 * (coil/reader.h): an idle reader holds no buffer; the kernel picks one
	 * when data arrives (Linux 6.0). Default: on. Off, or on the readiness
	 * backends, a reader takes a buffer from the same pool once data is
	 * there. */
	COIL_FEATURE_BUF_RING = 1u << 0,
	/* A kernel thread polls the workers' submission queues (one for the
	 * crew; IORING_SETUP_SQPOLL with SINGLE_ISSUER; it cannot have
	 * DEFER_TASKRUN): submitting costs no syscall, but the thread spins
	 * a CPU for 20 ms after each submission. It pays only with a core
	 * to spare; where the workers fill the cores it slows them
	 * (docs/features.md). Default: off. */
	COIL_FEATURE_SQPOLL = 1u << 1,
	/* Sends of at least coil_config.send_zc_min bytes on TCP/UDP sockets
	 * go out without a copy (IORING_OP_SEND_ZC, 6.0): the call returns
	 * once the kernel has let go of the buffer. Loopback still copies (at
	 * delivery), so it cannot pay there. A cancel or deadline waits for
	 * that too, so on TCP only a send that fits the peer's window goes
	 * zero-copy (its ACK comes whether the peer reads or not), the
	 * others are copied: a deadline is kept, a round trip late at most
	 * (docs/features.md). Default: off. */
	COIL_FEATURE_SEND_ZC = 1u << 2,
	/* One multishot accept per listener of coil_server (Linux 5.19)
	 * instead of an accept per connection. Default: on, except on
	 * 6.6-6.8 kernels (liburing issue #1062: invalid fds with
	 * DEFER_TASKRUN there). */
	COIL_FEATURE_ACCEPT_MULTI = 1u << 3,
	/* The worker's I/O buffers (coil_iobuf_alloc, coil/fs.h) are
	 * registered with its ring: reads and writes into them are
	 * READ_FIXED / WRITE_FIXED, with no page pinning per call (what
	 * O_DIRECT pays most for). Default: on (shows once a buffer was
	 * allocated; needs RLIMIT_MEMLOCK room or CAP_IPC_LOCK). */
	COIL_FEATURE_FIXED_BUFS = 1u << 4,
	/* A coil_file_read at an offset of a buffered regular file first
	 * tries preadv2(RWF_NOWAIT) on the worker's thread: a page-cache hit
	 * costs one syscall and no SQE, completion or fiber switch; a miss
	 * (-EAGAIN) goes to the ring (after 8 misses in a row on an fd, coil
	 * stops trying there). Default: on. */
	COIL_FEATURE_NOWAIT_READS = 1u << 5,
	/* With COIL_FEATURE_BUF_RING: a reader's multishot recv takes as many
	 * buffers as the data waiting in its socket fills, in one completion
	 * (recv bundles, Linux 6.10), instead of one completion per buffer.
	 * It can only pay when data arrives faster than a buffer at a time
	 * (bulk streams); measured here it did not (64 KiB echo: within
	 * noise), and some 6.x kernels misordered bundled data (liburing
	 * issue #1409). Default: off. */
	COIL_FEATURE_RECV_BUNDLE = 1u << 6,
	/* Each worker registers the fds it does I/O on in its ring's file
	 * table (the slot of the same number; IORING_REGISTER_FILES_UPDATE,
	 * once per fd and worker): reads, writes, sends and receives then
	 * name the slot (IOSQE_FIXED_FILE) and the kernel takes no file
	 * reference per op. fds stay real fds. Default: off, because a slot
	 * keeps its file open: an fd closed with close(2) instead of
	 * coil_close, whose number is then reused by an fd coil did not
	 * make on that worker, would reach the old file. Close every fd coil
	 * used with coil_close when this is on. */
	COIL_FEATURE_FIXED_FILES = 1u << 7,
};

/*
 * Runtime settings. Always fill one with coil_config_init() first, then change
 * the fields you care about: new fields may be added, and init gives each its
 * default.
 */
struct coil_config {
	/* Stack size of a fiber, in bytes; rounded up to whole pages, one guard
	 * page added below it. Default 128 KiB. Minimum 16 KiB. */
	size_t stack_size;
	/* Idle stacks of the default size kept for reuse (so that spawning in
	 * steady state makes no syscall). Default 1024. */
	size_t stack_cache;
	/* io_uring submission queue entries (rounded up to a power of two by the
	 * kernel). Default 256. */
	unsigned sq_entries;
	/* io_uring completion queue entries; at least twice sq_entries.
	 * Default 4096, maximum 65536. */
	unsigned cq_entries;
	/* Operations in flight at most (io_uring); a fiber that would exceed
	 * it waits for a slot. Every idle connection's pending read counts, so
	 * this caps concurrent connections too. 0 (the default) means 16 x the
	 * CQ size on kernels that never drop completions (IORING_FEAT_NODROP,
	 * every kernel coil supports: 65536 with the defaults), where a burst
	 * of more completions than the CQ holds is kept by the kernel and
	 * flushed by coil; else cq_entries / 2 (an op may owe 2 CQEs: its
	 * own and a cancel's). The readiness backends have no such bound. */
	unsigned max_inflight;
	/* The I/O backend: "uring", "epoll", "poll", "kqueue" or "wasi" (the
	 * only one, and the default, of a wasm32-wasi libcoil); NULL takes
	 * $COIL_BACKEND, else io_uring. When the default (io_uring) cannot be
	 * set up (ENOSYS, EPERM from seccomp or kernel.io_uring_disabled, a
	 * kernel lacking an op coil needs), coil falls back to epoll, else
	 * poll, and says so in one line on stderr. A backend asked for by name
	 * is not replaced: coil_run returns its error. */
	const char *backend;
	/* Do not print the fallback line (also: $COIL_QUIET=1). */
	bool quiet_fallback;
	/* Threads of the blocking pool, which runs file operations on the
	 * readiness backends and host-name lookups on all backends. Started on
	 * demand. Default 4, 1..256. */
	unsigned pool_threads;
	/* How sleeps wait. true (the default): in the worker's timer heap, with
	 * every other deadline; the backend's wait is bounded by the earliest
	 * (io_uring: one io_uring_enter with a timeout, no SQE and no kernel
	 * timer per sleep). false: on io_uring each sleep is its own
	 * IORING_OP_TIMEOUT, one kernel timer per sleeping fiber: measured
	 * here, 2000 fibers sleeping 0.1-5 ms then wake 10 ms late, against
	 * 15 us coalesced; kept for the lab. Same results and codes either
	 * way. Also $COIL_COALESCE_SLEEPS (0 or 1). */
	bool coalesce_sleeps;
	/* When the main fiber returns, wait for its non-detached children to
	 * finish (true, the default) or cancel them (false). Detached fibers
	 * still running then are always cancelled, and the runtime waits for
	 * each of their in-flight operations to complete before it returns. */
	bool join_children;
	/* Worker threads, each with its own backend instance (ring), run
	 * queue, timers and stack pool. The thread calling coil_run is worker
	 * 0; the others are started by coil_run and joined before it returns.
	 * Default 1 (or $COIL_WORKERS when this is left at 1); 0: one per
	 * online CPU; at most 256. A fiber runs on one worker for its whole
	 * life; see coil_task_spawn_on and coil/chan.h for what crosses.
	 * wasm32-wasi has no threads: there 0 means 1 and more is -ENOTSUP. */
	unsigned workers;
	/* Pin worker i to the i-th CPU the process may run on (round robin
	 * when there are more workers than CPUs). Default false. */
	bool pin_workers;
	/* enum coil_place: where spawns that name no worker go. Default
	 * COIL_PLACE_LOCAL (also: $COIL_PLACE=local|spread). */
	unsigned place;
	/* coil_loop_post's queue (coil/loop.h): functions queued at most.
	 * Default (and 0) 1024, at most 1048576. */
	unsigned loop_posts;
	/* enum coil_feature bits: force on / keep off (off wins). Default 0:
	 * coil's choice. Also $COIL_FEATURES (names: bufring, sqpoll,
	 * send_zc, accept_multi, fixedbufs, nowait, bundle, fixedfiles; "-name"
	 * off; "all"), read
	 * when these are left 0. */
	unsigned features_on;
	unsigned features_off;
	/* Buffers a worker lends to coil_reader (coil/reader.h): how many, and
	 * bytes each (a read returns at most that much). Default 256 x 16 KiB
	 * (virtual memory: a page is resident once data has landed in it);
	 * count 1..32768 (a power of two on io_uring: rounded up), size
	 * 64 B..16 MiB. */
	unsigned recv_buffers;
	unsigned recv_buffer_size;
	/* With COIL_FEATURE_SEND_ZC: the smallest send that goes zero-copy.
	 * Default 16 KiB; 0: every send. */
	unsigned send_zc_min;
	/* I/O buffers per worker (coil_iobuf_alloc), and bytes each. Default
	 * 256 x 64 KiB; count 1..65536, size 4 KiB..64 MiB (rounded up to
	 * pages), count x size at most 1 GiB. */
	unsigned io_buffers;
	unsigned io_buffer_size;
};

/* Fill *cfg with the defaults. */
COIL_API void coil_config_init(struct coil_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
