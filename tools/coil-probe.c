/*
 * coil-probe: what this machine's kernel offers coil, and what coil will use.
 *
 *   coil-probe
 *
 * Prints: the kernel; kernel.io_uring_disabled; seccomp; RLIMIT_MEMLOCK;
 * which io_uring setup coil gets (its ladder: SINGLE_ISSUER|DEFER_TASKRUN,
 * then COOP_TASKRUN|TASKRUN_FLAG, then plain) and the ring's features;
 * SQPOLL; every opcode coil submits (supported, or what stands in), and
 * the opcodes of features coil does not use yet; MADV_GUARD_INSTALL (guard
 * pages without splitting mappings); and, by starting a runtime, the
 * backend coil picks. Exit 0 (a report; "io_uring: unavailable" is a
 * finding, not an error), 1 when coil cannot run at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <coil.h>

#include "io/backend.h"
#include "io/uring/shim.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
/* Linux 6.8's opcode; liburing 2.3's enum stops before it. */
#define PROBE_OP_FIXED_FD_INSTALL 54

static void proc_line(const char *label, const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[256];
	if (!f) {
		printf("%-26s (no %s)\n", label, path);
		return;
	}
	while (fgets(line, sizeof line, f)) {
		if (!key || !strncmp(line, key, strlen(key))) {
			char *v = key ? line + strlen(key) : line;
			v += strspn(v, " \t:");
			v[strcspn(v, "\n")] = 0;
			printf("%-26s %s\n", label, v);
			fclose(f);
			return;
		}
	}
	fclose(f);
	printf("%-26s (not in %s)\n", label, path);
}

static const struct {
	unsigned bit;
	const char *name;
} feats[] = {
	{IORING_FEAT_SINGLE_MMAP, "SINGLE_MMAP"}, {IORING_FEAT_NODROP, "NODROP"},
	{IORING_FEAT_SUBMIT_STABLE, "SUBMIT_STABLE"}, {IORING_FEAT_RW_CUR_POS, "RW_CUR_POS"},
	{IORING_FEAT_CUR_PERSONALITY, "CUR_PERSONALITY"}, {IORING_FEAT_FAST_POLL, "FAST_POLL"},
	{IORING_FEAT_POLL_32BITS, "POLL_32BITS"}, {IORING_FEAT_SQPOLL_NONFIXED, "SQPOLL_NONFIXED"},
	{IORING_FEAT_EXT_ARG, "EXT_ARG"}, {IORING_FEAT_NATIVE_WORKERS, "NATIVE_WORKERS"},
	{IORING_FEAT_RSRC_TAGS, "RSRC_TAGS"}, {IORING_FEAT_CQE_SKIP, "CQE_SKIP"},
	{IORING_FEAT_LINKED_FILE, "LINKED_FILE"},
	/* The kernel's, past liburing 2.3's header: */
	{1u << 13, "REG_REG_RING"}, {IORING_FEAT_RECVSEND_BUNDLE, "RECVSEND_BUNDLE"}, {1u << 15, "MIN_TIMEOUT"},
	{1u << 16, "RW_ATTR"}, {1u << 17, "NO_IOWAIT"},
};

/* Opcodes beyond the core list above: used by one feature or call, standing
 * for a kernel version, or not used (each row says which). Numbers past
 * liburing 2.3's enum are the kernel's (include/uapi/linux/io_uring.h). */
static const struct {
	unsigned op;
	const char *name;
	const char *what;
} later[] = {
	{IORING_OP_MSG_RING, "MSG_RING", "used: kicks between workers"},
	{IORING_OP_PROVIDE_BUFFERS, "PROVIDE_BUFFERS", "not used: coil registers a buffer ring"},
	{IORING_OP_SEND_ZC, "SEND_ZC", "feature send_zc; also stands for multishot recv (6.0)"},
	{IORING_OP_SOCKET, "SOCKET", "stands for multishot accept (5.19): feature accept_multi"},
	{IORING_OP_SENDMSG_ZC, "SENDMSG_ZC", "zero-copy sendmsg (not used yet)"},
	{IORING_OP_SPLICE, "SPLICE", "used: coil_sock_sendfile, file to socket through a pipe"},
	{PROBE_OP_FIXED_FD_INSTALL, "FIXED_FD_INSTALL", "direct descriptor to a real fd (not used yet)"},
};

static int setup(unsigned flags, struct io_uring *ring, struct io_uring_params *p)
{
	memset(p, 0, sizeof *p);
	p->flags = flags;
	return io_uring_queue_init_params(8, ring, p);
}

static const struct {
	unsigned bit;
	const char *name;
} feature_names[] = {
	{COIL_FEATURE_BUF_RING, "bufring"},
	{COIL_FEATURE_SQPOLL, "sqpoll"},
	{COIL_FEATURE_SEND_ZC, "send_zc"},
	{COIL_FEATURE_ACCEPT_MULTI, "accept_multi"},
	{COIL_FEATURE_FIXED_BUFS, "fixedbufs"},
	{COIL_FEATURE_NOWAIT_READS, "nowait"},
	{COIL_FEATURE_RECV_BUNDLE, "bundle"},
	{COIL_FEATURE_FIXED_FILES, "fixedfiles"},
};

/* The backend and the features a worker ends up with (a reader is opened
 * and an I/O buffer taken so that the buffer ring and the registered
 * buffers, set up on first use, show). */
static void *which_backend(void *arg)
{
	const char *label = arg;
	int sv[2];
	coil_reader *r = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 &&
	    coil_reader_open(&r, sv[0]) == 0)
		coil_reader_close(r);
	void *iobuf = NULL;
	(void)coil_iobuf_alloc(&iobuf, 4096);
	unsigned f = coil_features();
	if (iobuf)
		coil_iobuf_free(iobuf);
	printf("%-26s %s, features:", label, coil_backend_name());
	for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++)
		if (f & feature_names[i].bit)
			printf(" %s", feature_names[i].name);
	printf("%s\n", f ? "" : " none");
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

int main(void)
{
	struct utsname u;
	if (uname(&u) == 0)
		printf("%-26s %s %s %s\n", "kernel", u.sysname, u.release, u.machine);
	printf("%-26s %s (library %s)\n", "coil", COIL_VERSION_STRING, coil_version());
	proc_line("kernel.io_uring_disabled", "/proc/sys/kernel/io_uring_disabled", NULL);
	proc_line("seccomp mode", "/proc/self/status", "Seccomp:");
	struct rlimit rl;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		if (rl.rlim_cur == RLIM_INFINITY)
			printf("%-26s unlimited\n", "RLIMIT_MEMLOCK");
		else
			printf("%-26s %llu KiB\n", "RLIMIT_MEMLOCK", (unsigned long long)rl.rlim_cur / 1024);
	}

	static const struct {
		unsigned flags;
		const char *name;
	} ladder[] = {
		{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER|DEFER_TASKRUN"},
		{IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "COOP_TASKRUN|TASKRUN_FLAG"},
		{0, "plain"},
	};
	struct io_uring ring;
	struct io_uring_params p;
	int r = -EINVAL;
	const char *got = NULL;
	for (size_t i = 0; i < sizeof ladder / sizeof ladder[0] && !got; i++) {
		r = setup(ladder[i].flags, &ring, &p);
		if (r == 0)
			got = ladder[i].name;
		else if (r != -EINVAL)
			break;
	}
	if (!got) {
		printf("%-26s unavailable: %s (coil falls back to epoll, then poll)\n", "io_uring",
		       strerror(-r));
	} else {
		printf("%-26s setup %s\n", "io_uring", got);
		printf("%-26s", "io_uring features");
		for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
			if (p.features & feats[i].bit)
				printf(" %s", feats[i].name);
		printf(" (0x%x)\n", p.features);
		struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
		struct coil__uring_op_row rows[64];
		size_t n = coil__uring_ops(rows, 64);
		int refused = 0;
		for (size_t i = 0; i < n; i++) {
			bool ok = probe && io_uring_opcode_supported(probe, (int)rows[i].opcode);
			if (!ok && !rows[i].pool_stands_in)
				refused++;
			printf("  op %-10s (opcode %2u)    %s\n", rows[i].name, rows[i].opcode,
			       ok ? "supported"
			       : rows[i].pool_stands_in ? "missing: the blocking pool stands in"
							: "missing: coil refuses this ring");
		}
		for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
			bool ok = probe && io_uring_opcode_supported(probe, (int)later[i].op);
			printf("  op %-16s (opcode %2u) %-9s %s\n", later[i].name, later[i].op,
			       ok ? "supported" : "missing", later[i].what);
		}
		if (probe)
			io_uring_free_probe(probe);
		io_uring_queue_exit(&ring);
		if (refused)
			printf("%-26s %d op(s) missing with no stand-in: coil uses epoll\n", "io_uring", refused);
		struct io_uring sq;
		struct io_uring_params sp;
		int s = setup(IORING_SETUP_SQPOLL, &sq, &sp);
		printf("%-26s %s\n", "SQPOLL", s == 0 ? "available (feature sqpoll, opt-in)" : strerror(-s));
		if (s == 0)
			io_uring_queue_exit(&sq);
	}

	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)page * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		int g = madvise(m + page, (size_t)page, MADV_GUARD_INSTALL);
		printf("%-26s %s\n", "MADV_GUARD_INSTALL",
		       g == 0 ? "works (guard pages split no mapping)" : strerror(errno));
		munmap(m, (size_t)page * 4);
	}

	struct coil_config cfg;
	coil_config_init(&cfg);
	int e = coil_run(&cfg, which_backend, "coil will use", NULL);
	for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++)
		cfg.features_on |= feature_names[i].bit;
	if (e == 0)
		e = coil_run(&cfg, which_backend, "with every feature asked", NULL);
	if (e < 0) {
		printf("%-26s cannot run: %s\n", "coil", strerror(-e));
		return 1;
	}
	return 0;
}
