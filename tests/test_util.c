/* Helpers shared by the Check suites; see test_util.h. */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#ifdef __wasi__
#include <fcntl.h> /* tests/wasi: one process, no /proc, no seccomp */
#include <sys/stat.h>
#else
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#endif
#include <time.h>
#include <unistd.h>

void *coil_test_run_cfg(const struct coil_config *cfg, coil_fn fn, void *arg)
{
	void *result = NULL;
	int rc = coil_run(cfg, fn, arg, &result);
	ck_assert_msg(rc == 0, "coil_run returned %d (%s)", rc, strerror(-rc));
	return result;
}

void *coil_test_run(coil_fn fn, void *arg)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	return coil_test_run_cfg(&cfg, fn, arg);
}

int coil_test_count_fds(void)
{
#ifdef __wasi__
	/* No /proc: ask each number (WASI numbers fds densely from 0). */
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
#else
	DIR *d = opendir("/proc/self/fd");
	ck_assert_msg(d != NULL, "opendir(/proc/self/fd): %s", strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
	}
	closedir(d);
	return n - 1; /* the directory stream's own fd */
#endif
}

void coil_test_rng_init(struct coil_test_rng *r, uint64_t seed)
{
	/* splitmix64 once, so that small seeds spread out, and never 0 */
	uint64_t z = seed + UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	r->s = z ? z : UINT64_C(0x2545f4914f6cdd1d);
}

uint64_t coil_test_rng_next(struct coil_test_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

uint64_t coil_test_rng_range(struct coil_test_rng *r, uint64_t lo, uint64_t hi)
{
	ck_assert(lo <= hi);
	uint64_t span = hi - lo + 1;
	if (span == 0) /* the full 64-bit range */
		return coil_test_rng_next(r);
	return lo + coil_test_rng_next(r) % span;
}

void coil_test_rng_fill(struct coil_test_rng *r, void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n >= 8) {
		uint64_t v = coil_test_rng_next(r);
		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = coil_test_rng_next(r);
		memcpy(p, &v, n);
	}
}

uint64_t coil_test_seed(const char *tag)
{
	const char *env = getenv("COIL_TEST_SEED");
	uint64_t seed;
	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * UINT64_C(1000000007) ^ (uint64_t)ts.tv_nsec ^
		       ((uint64_t)getpid() << 32);
	}
	fprintf(stderr, "[%s] COIL_TEST_SEED=%llu\n", tag ? tag : "test",
		(unsigned long long)seed);
	return seed;
}

static const char *tmp_base(void)
{
	const char *t = getenv("TMPDIR");
	if (t && *t && strlen(t) < 40)
		return t;
	return "/tmp";
}

char *coil_test_tmp_path(char *buf, size_t len, const char *tag)
{
	static unsigned counter;
	int n = snprintf(buf, len, "%s/coil-test-%s-%ld-%u", tmp_base(), tag,
			 (long)getpid(), counter++);
	ck_assert_msg(n > 0 && (size_t)n < len, "temp path too long");
	return buf;
}

char *coil_test_tmp_dir(char *buf, size_t len, const char *tag)
{
#ifdef __wasi__
	/* No mkdtemp in WASI: a fresh name, made here. */
	coil_test_tmp_path(buf, len, tag);
	ck_assert_msg(mkdir(buf, 0700) == 0, "mkdir(%s): %s", buf, strerror(errno));
#else
	int n = snprintf(buf, len, "%s/coil-test-%s-XXXXXX", tmp_base(), tag);
	ck_assert_msg(n > 0 && (size_t)n < len, "temp dir path too long");
	ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp(%s): %s", buf, strerror(errno));
#endif
	return buf;
}

int64_t coil_test_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void coil_test_wait_flag(const int *flag)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		ck_assert_int_eq(coil_sleep(COIL_NSEC_PER_MSEC), 0);
}

#if defined(__x86_64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int coil_test_refuse_syscalls(const long *nrs, const int *errs, int n)
{
#ifdef THIS_AUDIT_ARCH
	/* arch check, load nr, then per syscall: jump-if-equal + return. */
	struct sock_filter prog[4 + 2 * 8];
	if (n < 1 || n > 8)
		return -EINVAL;
	int k = 0;
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, arch));
	prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_AUDIT_ARCH, 1, 0);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, nr));
	for (int i = 0; i < n; i++) {
		prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (unsigned)nrs[i], 0, 1);
		prog[k++] = (struct sock_filter)BPF_STMT(
			BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)errs[i] & SECCOMP_RET_DATA));
	}
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog fprog = {.len = (unsigned short)k, .filter = prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0)
		return -errno;
	return 0;
#else
	(void)nrs;
	(void)errs;
	(void)n;
	return -ENOTSUP;
#endif
}

uint32_t coil_test_count(uint32_t n)
{
	const char *e = getenv("COIL_TEST_COUNT_DIVISOR");
	long d = e ? strtol(e, NULL, 10) : 1;
	if (d <= 1)
		return n;
	uint32_t c = (uint32_t)(n / (unsigned long)d);
	return c ? c : 1;
}

/* Skips counted across Check's forked test children. */
static unsigned *skipped;

void coil_test_skip(const char *why)
{
	fprintf(stderr, "skipping: %s\n", why);
	if (skipped)
		__atomic_add_fetch(skipped, 1, __ATOMIC_SEQ_CST);
}

int coil_test_main(Suite *s)
{
#ifdef __wasi__
	static unsigned in_process; /* tests/wasi/check.c runs tests here */
	skipped = &in_process;
#else
	skipped = mmap(NULL, sizeof *skipped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (skipped == MAP_FAILED)
		skipped = NULL;
#endif
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed != 0)
		return EXIT_FAILURE;
	if (skipped && *skipped) {
		fprintf(stderr, "%u test(s) skipped: reporting the suite as skipped\n", *skipped);
		return COIL_TEST_SKIP;
	}
	return EXIT_SUCCESS;
}
