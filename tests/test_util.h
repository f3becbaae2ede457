/*
 * Helpers shared by the Check suites in tests/.
 *
 * Every suite has its own main(); it builds a Suite and hands it to
 * coil_test_main(), which runs it in Check's default fork mode (each test in
 * its own child process) and returns the process exit status.
 */
#ifndef COIL_TEST_UTIL_H
#define COIL_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include <coil.h>

/* Run fn(arg) as the main fiber of a runtime with the default config,
 * assert that coil_run() returned 0, and return the main fiber's result. */
void *coil_test_run(coil_fn fn, void *arg);

/* The same with a given config (NULL: defaults). */
void *coil_test_run_cfg(const struct coil_config *cfg, coil_fn fn, void *arg);

/* The number of open file descriptors of this process (/proc/self/fd). */
int coil_test_count_fds(void);

/* xorshift64* pseudo-random numbers. A state must never be 0. */
struct coil_test_rng {
	uint64_t s;
};
void coil_test_rng_init(struct coil_test_rng *r, uint64_t seed);
uint64_t coil_test_rng_next(struct coil_test_rng *r);
/* Uniform-ish in [lo, hi] (inclusive). */
uint64_t coil_test_rng_range(struct coil_test_rng *r, uint64_t lo, uint64_t hi);
/* Fill buf with n pseudo-random bytes. */
void coil_test_rng_fill(struct coil_test_rng *r, void *buf, size_t n);

/* A seed for a test: $COIL_TEST_SEED if set, else derived from the clock and
 * the pid. It is printed to stderr (with the tag) so a failure can be
 * replayed. */
uint64_t coil_test_seed(const char *tag);

/*
 * Write a fresh, unused path for a temporary file into buf (at most len
 * bytes, NUL included): <tmpdir>/coil-test-<tag>-<pid>-<n>. Nothing is
 * created. Returns buf. tmpdir is $TMPDIR when short enough, else /tmp.
 */
char *coil_test_tmp_path(char *buf, size_t len, const char *tag);

/* Create a fresh temporary directory (mkdtemp) and write its path into buf.
 * Returns buf. */
char *coil_test_tmp_dir(char *buf, size_t len, const char *tag);

/* Nanoseconds on CLOCK_MONOTONIC, read directly (not through coil). */
int64_t coil_test_mono_ns(void);

/* From a fiber: wait until another fiber (any worker) set *flag (an
 * atomic store), looking every millisecond. For "it has started" or "it
 * is about to wait": a sleep of a fixed time instead would be too short
 * on a loaded machine. */
void coil_test_wait_flag(const int *flag);

/* n, divided by $COIL_TEST_COUNT_DIVISOR (at least 1): the volume of the
 * heavy cases (100k spawns, a million channel hops), so that a run meant to
 * find races under load (the stress preset) repeats them more often
 * instead of spending its time on volume. The logic is the same. */
uint32_t coil_test_count(uint32_t n);

/* Install a seccomp filter on the calling thread (and what it starts): the
 * syscalls nrs[0..n-1] fail with errs[i] (an errno), everything else is
 * allowed. For tests that fake a kernel refusing something. Returns 0, or
 * -errno (-ENOTSUP on an architecture this does not know; qemu-user
 * refuses filters with -EINVAL). */
int coil_test_refuse_syscalls(const long *nrs, const int *errs, int n);

/* ctest's SKIP_RETURN_CODE for every suite. */
#define COIL_TEST_SKIP 77

/* The running test cannot run here (say why): it returns right after, and
 * the suite then exits COIL_TEST_SKIP instead of passing, unless a test
 * failed. Never count a skipped test as a pass. */
void coil_test_skip(const char *why);

/* Run the suite, free it, and return EXIT_FAILURE if a test failed,
 * COIL_TEST_SKIP if one was skipped, else EXIT_SUCCESS. */
int coil_test_main(Suite *s);

#endif
