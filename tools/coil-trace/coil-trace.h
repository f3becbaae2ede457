/*
 * coil-trace: what the BPF side (coil-trace.bpf.c) and the reader
 * (coil-trace.c) agree on. Constants only: the BPF side sees the kernel's
 * types through vmlinux.h, the reader through stdint.h.
 */
#ifndef COIL_TRACE_H
#define COIL_TRACE_H

/* Every value an opcode's u8 can hold: a kernel newer than our name table
 * still lands in a slot, shown by number. */
#define TRACE_OPS 256
/* log2 buckets of nanoseconds: bucket b holds [2^b, 2^(b+1)) ns, the last
 * one everything from 2^31 ns (2.1 s) up. */
#define TRACE_BUCKETS 32
/* Requests seen submitted and not yet completed. A request that never
 * completes through the tracepoint (IOSQE_CQE_SKIP_SUCCESS, a ring torn
 * down) would stay; an LRU map this size lets the oldest go. */
#define TRACE_INFLIGHT_MAX 65536
/* Rings of the traced process (by ctx pointer). */
#define TRACE_RINGS_MAX 1024

/* Indexes of the global counters. */
enum trace_counter {
	TRACE_CQ_OVERFLOW,  /* a CQE went to the overflow list (CQ ring full) */
	TRACE_CQ_DROPPED,   /* ... and the list could not take it: lost */
	TRACE_UNMATCHED,    /* completions of requests submitted before we attached */
	TRACE_AUX_CQE,      /* CQEs without a request: multishot's, msg_ring's */
	TRACE_COUNTERS,
};

#endif
