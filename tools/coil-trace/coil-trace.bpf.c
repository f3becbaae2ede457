/*
 * coil-trace's BPF side: io_uring's tracepoints, counted in kernel.
 *
 * Submit records the time under the request's pointer; complete looks it up
 * and adds the latency to its opcode's log2 histogram. io-wq punts and CQ
 * overflows are counted. The reader (coil-trace.c) reads the counters
 * through the skeleton's mmap of .bss, so no map lookups per interval.
 *
 * tp_btf programs: no tracefs needed to attach, and the request is a typed
 * pointer (struct io_kiocb, CO-RE from vmlinux.h). Only the first arguments
 * are used, the ones that stayed put while the tracepoints' prototypes
 * changed (io_uring_complete took user_data/res/cflags, now a cqe).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "coil-trace.h"

/* GPL: tp_btf programs and bpf_probe_read_kernel (under BPF_CORE_READ)
 * are for GPL-compatible programs only. */
char LICENSE[] SEC("license") = "GPL";

/* Set by the reader before load: the process to trace, 0 for all. */
const volatile __u32 target_tgid = 0;

struct inflight {
	u64 submit_ns;
	u32 opcode;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TRACE_INFLIGHT_MAX);
	__type(key, u64);   /* struct io_kiocb * */
	__type(value, struct inflight);
} inflight SEC(".maps");

/* The traced process's rings. Completions and overflows are filtered by
 * ring, not by the current task: a msg_ring from another process posts
 * into our ring from its context. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TRACE_RINGS_MAX);
	__type(key, u64);   /* struct io_ring_ctx * */
	__type(value, u32); /* tgid */
} rings SEC(".maps");

/* Read by the reader through the mmap of .bss. */
__u64 hist[TRACE_OPS][TRACE_BUCKETS];
__u64 submitted[TRACE_OPS];
__u64 punts[TRACE_OPS];
__u64 counters[TRACE_COUNTERS];

static __always_inline bool traced_task(void)
{
	return !target_tgid || (u32)(bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void note_ring(const void *ctx);

/* A ring seen submitting, or one our process posts to before it submits
 * anything (a ring older than the tracer completing what it had in flight). */
static __always_inline bool traced_ring(const void *ctx)
{
	u64 key = (u64)ctx;
	if (!target_tgid || bpf_map_lookup_elem(&rings, &key))
		return true;
	if (!traced_task())
		return false;
	note_ring(ctx);
	return true;
}

static __always_inline void note_ring(const void *ctx)
{
	u64 key = (u64)ctx;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (target_tgid && !bpf_map_lookup_elem(&rings, &key))
		bpf_map_update_elem(&rings, &key, &tgid, BPF_ANY);
}

static __always_inline u32 log2_bucket(u64 v)
{
	u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r < TRACE_BUCKETS ? r : TRACE_BUCKETS - 1;
}

SEC("tp_btf/io_uring_create")
int BPF_PROG(on_create, int fd, void *ring)
{
	if (traced_task())
		note_ring(ring);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(on_submit, struct io_kiocb *req)
{
	if (!traced_task())
		return 0;
	struct inflight f = {
		.submit_ns = bpf_ktime_get_ns(),
		.opcode = BPF_CORE_READ(req, opcode),
	};
	u64 key = (u64)req;
	bpf_map_update_elem(&inflight, &key, &f, BPF_ANY);
	note_ring(BPF_CORE_READ(req, ctx));
	__sync_fetch_and_add(&submitted[f.opcode & (TRACE_OPS - 1)], 1);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(on_complete, void *ring, void *req)
{
	if (!req) {
		/* Posted without a request (io_fill_cqe_aux): a multishot's
		 * CQEs before its last, msg_ring's, ... */
		if (traced_ring(ring))
			__sync_fetch_and_add(&counters[TRACE_AUX_CQE], 1);
		return 0;
	}
	u64 key = (u64)req;
	struct inflight *f = bpf_map_lookup_elem(&inflight, &key);
	if (!f) {
		if (traced_ring(ring))
			__sync_fetch_and_add(&counters[TRACE_UNMATCHED], 1);
		return 0;
	}
	u64 ns = bpf_ktime_get_ns() - f->submit_ns;
	u32 op = f->opcode & (TRACE_OPS - 1);
	bpf_map_delete_elem(&inflight, &key);
	__sync_fetch_and_add(&hist[op][log2_bucket(ns)], 1);
	return 0;
}

SEC("tp_btf/io_uring_queue_async_work")
int BPF_PROG(on_punt, struct io_kiocb *req)
{
	if (!traced_ring(BPF_CORE_READ(req, ctx)))
		return 0;
	u32 op = BPF_CORE_READ(req, opcode);
	__sync_fetch_and_add(&punts[op & (TRACE_OPS - 1)], 1);
	return 0;
}

SEC("tp_btf/io_uring_cqe_overflow")
int BPF_PROG(on_overflow, void *ring, u64 user_data, s32 res, u32 cflags, void *ocqe)
{
	if (!traced_ring(ring))
		return 0;
	__sync_fetch_and_add(&counters[TRACE_CQ_OVERFLOW], 1);
	if (!ocqe) /* the overflow entry could not be allocated */
		__sync_fetch_and_add(&counters[TRACE_CQ_DROPPED], 1);
	return 0;
}
