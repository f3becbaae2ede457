/*
 * coil-trace: io_uring as a running process sees it, from the kernel's
 * tracepoints (BPF, coil-trace.bpf.c).
 *
 *   coil-trace [--pid N] [--interval S] [--duration S] [--json] [--verbose]
 *
 * Per opcode: requests submitted, completed, the submit-to-complete latency
 * (p50, p99 and the highest bucket of a log2 histogram) and io-wq punts;
 * for the process: CQ overflows. A table every --interval seconds (what
 * happened in that interval; default 1), and a summary of the whole run at
 * the end: after --duration seconds, on SIGINT/SIGTERM, or when the --pid
 * process exits. --json prints one JSON object a line instead.
 * Without --pid every process's io_uring is traced.
 *
 * Exit 0; 1 when it cannot trace (not root, no BTF, no io_uring
 * tracepoints, no such process), with a message; 2 for a bad option.
 * docs/trace.md says what each column means.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "coil-trace.h"
#include "coil-trace.skel.h"

/* IORING_OP_* names, by number, up to Linux 6.18's (PIPE, 62). A newer
 * kernel's opcodes show as OP_<n>. */
static const char *const op_names[] = {
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED",
	"POLL_ADD", "POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT",
	"TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT", "FALLOCATE",
	"OPENAT", "CLOSE", "FILES_UPDATE", "STATX", "READ", "WRITE",
	"FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL",
	"SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT",
	"UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR",
	"SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC",
	"SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAITV",
	"FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC", "EPOLL_WAIT",
	"READV_FIXED", "WRITEV_FIXED", "PIPE",
};

/* What the BPF side has counted, copied out of its .bss. */
struct counts {
	uint64_t hist[TRACE_OPS][TRACE_BUCKETS];
	uint64_t submitted[TRACE_OPS];
	uint64_t punts[TRACE_OPS];
	uint64_t counters[TRACE_COUNTERS];
};

struct options {
	pid_t pid;         /* 0: every process */
	double interval_s;
	double duration_s; /* 0: until a signal (or the process exits) */
	bool json;
	bool verbose;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static bool verbose_libbpf;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's log is long and, for the failures we explain ourselves
	 * (EPERM), noise: only with --verbose. */
	if (!verbose_libbpf || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: coil-trace [--pid N] [--interval S] [--duration S] [--json] [--verbose]\n"
		"  --pid N       trace process N's rings only (default: every process)\n"
		"  --interval S  print a table every S seconds (default 1; 0: only the summary)\n"
		"  --duration S  stop after S seconds (default: at SIGINT or when N exits)\n"
		"  --json        one JSON object a line instead of tables\n"
		"  --verbose     show libbpf's log\n");
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e7)
		return false;
	*out = v;
	return true;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"interval", required_argument, NULL, 'i'},
		{"duration", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	*o = (struct options){.interval_s = 1};
	int c;
	while ((c = getopt_long(argc, argv, "p:i:d:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v <= 0 || v > INT32_MAX) {
				fprintf(stderr, "coil-trace: --pid wants a process id, not '%s'\n", optarg);
				return 2;
			}
			o->pid = (pid_t)v;
			break;
		}
		case 'i':
		case 'd':
			if (!parse_seconds(optarg, c == 'i' ? &o->interval_s : &o->duration_s)) {
				fprintf(stderr, "coil-trace: --%s wants seconds, not '%s'\n",
					c == 'i' ? "interval" : "duration", optarg);
				return 2;
			}
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coil-trace: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The BPF side filters by thread group: a thread's id (from top, say)
 * stands for its process. 0 when /proc does not say. */
static pid_t tgid_of(pid_t pid)
{
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long tgid = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	fclose(f);
	return (pid_t)tgid;
}

static bool process_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* The BPF side adds while we copy: each word read once (no tearing of an
 * aligned u64 on the architectures we build for), good enough for counts. */
static void snapshot(const struct coil_trace *skel, struct counts *c)
{
	const volatile __u64 *src = &skel->bss->hist[0][0];
	uint64_t *dst = &c->hist[0][0];
	_Static_assert(sizeof(*skel->bss) == sizeof(*c), "struct counts mirrors .bss");
	for (size_t i = 0; i < sizeof(*c) / sizeof(uint64_t); i++)
		dst[i] = src[i];
}

static void subtract(struct counts *d, const struct counts *a, const struct counts *b)
{
	const uint64_t *pa = &a->hist[0][0], *pb = &b->hist[0][0];
	uint64_t *pd = &d->hist[0][0];
	for (size_t i = 0; i < sizeof(*d) / sizeof(uint64_t); i++)
		pd[i] = pa[i] - pb[i];
}

/* Bucket b holds [2^b, 2^(b+1)) ns: report its upper bound. */
static uint64_t bucket_upper_ns(unsigned b)
{
	return 2ull << b;
}

struct op_stats {
	uint64_t completed;
	int p50, p99, max; /* buckets; -1 without completions */
};

static int percentile_bucket(const uint64_t *hist, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)ceil(p * (double)n), cum = 0;
	if (rank == 0)
		rank = 1;
	for (int b = 0; b < TRACE_BUCKETS; b++) {
		cum += hist[b];
		if (cum >= rank)
			return b;
	}
	return TRACE_BUCKETS - 1;
}

static struct op_stats op_stats(const uint64_t *hist)
{
	struct op_stats s = {.p50 = -1, .p99 = -1, .max = -1};
	for (int b = 0; b < TRACE_BUCKETS; b++) {
		s.completed += hist[b];
		if (hist[b])
			s.max = b;
	}
	if (s.completed) {
		s.p50 = percentile_bucket(hist, s.completed, 0.50);
		s.p99 = percentile_bucket(hist, s.completed, 0.99);
	}
	return s;
}

static const char *op_name(unsigned op, char *buf, size_t len)
{
	if (op < sizeof op_names / sizeof op_names[0])
		return op_names[op];
	snprintf(buf, len, "OP_%u", op);
	return buf;
}

static const char *fmt_bucket(int b, char *buf, size_t len)
{
	if (b < 0)
		return "-";
	if (b == TRACE_BUCKETS - 1) /* open-ended */
		return ">2.1s";
	double ns = (double)bucket_upper_ns((unsigned)b);
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.3gus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.3gms", ns / 1e6);
	else
		snprintf(buf, len, "%.3gs", ns / 1e9);
	return buf;
}

static bool op_active(const struct counts *c, unsigned op, const struct op_stats *s)
{
	return c->submitted[op] || c->punts[op] || s->completed;
}

static void print_table(const struct counts *c, const char *title, double span_s)
{
	char name[16], p50[16], p99[16], max[16];
	printf("--- %s, %.1f s\n", title, span_s);
	printf("%-18s %10s %10s %8s %8s %8s %8s\n", "OP", "SUBMIT", "COMPLETE", "P50", "P99",
	       "MAX", "PUNTS");
	for (unsigned op = 0; op < TRACE_OPS; op++) {
		struct op_stats s = op_stats(c->hist[op]);
		if (!op_active(c, op, &s))
			continue;
		printf("%-18s %10llu %10llu %8s %8s %8s %8llu\n", op_name(op, name, sizeof name),
		       (unsigned long long)c->submitted[op], (unsigned long long)s.completed,
		       fmt_bucket(s.p50, p50, sizeof p50), fmt_bucket(s.p99, p99, sizeof p99),
		       fmt_bucket(s.max, max, sizeof max), (unsigned long long)c->punts[op]);
	}
	printf("cq overflows %llu (dropped %llu); completions of earlier submits %llu;"
	       " cqes without a request %llu\n",
	       (unsigned long long)c->counters[TRACE_CQ_OVERFLOW],
	       (unsigned long long)c->counters[TRACE_CQ_DROPPED],
	       (unsigned long long)c->counters[TRACE_UNMATCHED],
	       (unsigned long long)c->counters[TRACE_AUX_CQE]);
	fflush(stdout);
}

static void print_json(const struct counts *c, const char *type, double span_s, pid_t pid)
{
	char name[16];
	bool first = true;
	printf("{\"type\":\"%s\",\"seconds\":%.3f,\"pid\":%d,\"ops\":[", type, span_s, (int)pid);
	for (unsigned op = 0; op < TRACE_OPS; op++) {
		struct op_stats s = op_stats(c->hist[op]);
		if (!op_active(c, op, &s))
			continue;
		printf("%s{\"op\":\"%s\",\"opcode\":%u,\"submitted\":%llu,\"completed\":%llu,",
		       first ? "" : ",", op_name(op, name, sizeof name), op,
		       (unsigned long long)c->submitted[op], (unsigned long long)s.completed);
		first = false;
		if (s.completed)
			printf("\"p50_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu,",
			       (unsigned long long)bucket_upper_ns((unsigned)s.p50),
			       (unsigned long long)bucket_upper_ns((unsigned)s.p99),
			       (unsigned long long)bucket_upper_ns((unsigned)s.max));
		printf("\"punts\":%llu,\"hist\":[", (unsigned long long)c->punts[op]);
		for (int b = 0; b < TRACE_BUCKETS; b++)
			printf("%s%llu", b ? "," : "", (unsigned long long)c->hist[op][b]);
		printf("]}");
	}
	printf("],\"cq_overflows\":%llu,\"cq_dropped\":%llu,\"unmatched\":%llu,\"aux_cqes\":%llu}\n",
	       (unsigned long long)c->counters[TRACE_CQ_OVERFLOW],
	       (unsigned long long)c->counters[TRACE_CQ_DROPPED],
	       (unsigned long long)c->counters[TRACE_UNMATCHED],
	       (unsigned long long)c->counters[TRACE_AUX_CQE]);
	fflush(stdout);
}

static void report(const struct options *o, const struct counts *c, const char *type,
		   double span_s)
{
	if (o->json)
		print_json(c, type, span_s, o->pid);
	else
		print_table(c, type, span_s);
}

/* Open, load and attach; a message and NULL when it cannot. */
static struct coil_trace *start_tracing(const struct options *o)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "coil-trace: this kernel has no BTF (/sys/kernel/btf/vmlinux: %s);"
			" it needs CONFIG_DEBUG_INFO_BTF=y\n", strerror(errno));
		return NULL;
	}
	struct coil_trace *skel = coil_trace__open();
	if (!skel) {
		fprintf(stderr, "coil-trace: cannot open the BPF object: %s\n", strerror(errno));
		return NULL;
	}
	skel->rodata->target_tgid = (__u32)o->pid;
	int err = coil_trace__load(skel);
	if (!err)
		err = coil_trace__attach(skel);
	if (!err)
		return skel;
	err = err < 0 ? -err : err;
	if (err == EPERM || err == EACCES)
		fprintf(stderr, "coil-trace: not allowed to load BPF programs (%s):"
			" run it as root (or with CAP_BPF and CAP_PERFMON)\n", strerror(err));
	else if (err == ESRCH || err == ENOENT)
		fprintf(stderr, "coil-trace: this kernel lacks the io_uring tracepoints"
			" (io_uring_submit_req, io_uring_complete, ...): %s\n", strerror(err));
	else
		fprintf(stderr, "coil-trace: cannot load or attach the BPF programs: %s%s\n",
			strerror(err), o->verbose ? "" : " (--verbose shows libbpf's log)");
	coil_trace__destroy(skel);
	return NULL;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_options(argc, argv, &o);
	if (rc)
		return rc;
	verbose_libbpf = o.verbose;
	libbpf_set_print(libbpf_log);
	if (o.pid && !process_alive(o.pid)) {
		fprintf(stderr, "coil-trace: no process %d\n", (int)o.pid);
		return 1;
	}
	pid_t tgid = o.pid ? tgid_of(o.pid) : 0;
	if (tgid > 0 && tgid != o.pid) {
		fprintf(stderr, "coil-trace: %d is a thread of process %d: tracing %d\n", (int)o.pid,
			(int)tgid, (int)tgid);
		o.pid = tgid;
	}

	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: wake the sleep */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct coil_trace *skel = start_tracing(&o);
	if (!skel)
		return 1;
	if (o.pid)
		fprintf(stderr, "coil-trace: tracing pid %d's io_uring (Ctrl-C to stop)\n", (int)o.pid);
	else
		fprintf(stderr, "coil-trace: tracing every process's io_uring (Ctrl-C to stop)\n");

	/* 2 x 70 KB: on the heap. */
	struct counts *prev = calloc(1, sizeof *prev), *cur = calloc(1, sizeof *cur),
		      *delta = calloc(1, sizeof *delta);
	if (!prev || !cur || !delta) {
		fprintf(stderr, "coil-trace: out of memory\n");
		coil_trace__destroy(skel);
		return 1;
	}
	double start = now_s(), last = start;
	bool target_gone = false;
	while (!stop_signal) {
		double now = now_s();
		if (o.duration_s > 0 && now - start >= o.duration_s)
			break;
		if (o.pid && !process_alive(o.pid)) {
			target_gone = true;
			break;
		}
		if (o.interval_s > 0 && now - last >= o.interval_s) {
			snapshot(skel, cur);
			subtract(delta, cur, prev);
			report(&o, delta, "interval", now - last);
			struct counts *t = prev;
			prev = cur;
			cur = t;
			last = now;
		}
		/* Short sleeps: the end of --duration, the process's exit and
		 * the next interval are all noticed within 100 ms. */
		struct timespec nap = {0, 100 * 1000 * 1000};
		nanosleep(&nap, NULL);
	}
	snapshot(skel, cur);
	if (target_gone && !o.json)
		printf("pid %d exited\n", (int)o.pid);
	report(&o, cur, "summary", now_s() - start);
	coil_trace__destroy(skel);
	free(prev);
	free(cur);
	free(delta);
	return 0;
}
