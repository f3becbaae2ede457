/*
 * Death tests: a fiber that overflows its stack must kill the process with
 * SIGABRT and a message naming the fiber stack overflow, not a bare SIGSEGV.
 * Each test forks its own child, runs the runtime there, and reads the
 * child's stderr through a pipe.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

/* never reached: keeps the compiler from proving the recursion infinite */
static volatile int g_stop_depth = -1;

static __attribute__((noinline)) int recurse_forever(int depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	frame[sizeof frame - 1] = (char)(depth >> 8);
	if (depth == g_stop_depth)
		return frame[0];
	int r = recurse_forever(depth + 1);
	/* use the frame after the call: no tail call */
	return r + frame[0] + frame[sizeof frame - 1];
}

static void *overflow_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)recurse_forever(0);
}

static void *overflow_child(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)recurse_forever(0);
}

static void *overflow_in_spawned(void *arg)
{
	(void)arg;
	struct coil_task_opts opts;
	memset(&opts, 0, sizeof opts);
	opts.stack_size = 32 * 1024;
	coil_task t;
	if (coil_task_spawn_ex(&t, &opts, overflow_child, NULL) != 0)
		return NULL;
	coil_task_join(t, NULL);
	return NULL;
}

/* a pointer the compiler cannot see through */
static volatile int *volatile g_wild = (volatile int *)(uintptr_t)16;

static void *bad_pointer_main(void *arg)
{
	(void)arg;
	volatile int *p = g_wild;
	*p = 1; /* a wild write, nowhere near any stack */
	return NULL;
}

struct death {
	int status;
	char err[16384];
	size_t err_len;
};

/* Run fn as the main fiber of a runtime in a child process; collect how it
 * ended and what it wrote to stderr. */
static void run_in_child(coil_fn fn, struct death *d)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		signal(SIGABRT, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		int rc = coil_run(NULL, fn, NULL, NULL);
		fprintf(stderr, "coil_run returned %d\n", rc);
		_exit(3);
	}
	close(p[1]);
	d->err_len = 0;
	for (;;) {
		ssize_t r = read(p[0], d->err + d->err_len, sizeof d->err - 1 - d->err_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		d->err_len += (size_t)r;
		if (d->err_len == sizeof d->err - 1) {
			char sink[4096]; /* drain the rest so the child never blocks */
			while (read(p[0], sink, sizeof sink) > 0) {
			}
			break;
		}
	}
	d->err[d->err_len] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &d->status, 0), pid);
}

static void describe(const struct death *d, char *buf, size_t len)
{
	if (WIFSIGNALED(d->status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(d->status));
	else if (WIFEXITED(d->status))
		snprintf(buf, len, "exited with %d", WEXITSTATUS(d->status));
	else
		snprintf(buf, len, "status %#x", d->status);
}

static void expect_overflow_report(coil_fn fn)
{
	static struct death d;
	char how[64];
	run_in_child(fn, &d);
	describe(&d, how, sizeof how);
	int ours = WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGABRT &&
		   strstr(d.err, "overflow") && strstr(d.err, "fiber");
#ifdef TEST_ASAN
	/* ASan's own SEGV handler may get there first */
	int asan = strstr(d.err, "stack-overflow") != NULL &&
		   (WIFSIGNALED(d.status) || (WIFEXITED(d.status) && WEXITSTATUS(d.status) != 0));
	if (!ours && asan)
		fprintf(stderr, "note: the overflow was reported by ASan, not by coil\n");
	ck_assert_msg(ours || asan, "child %s; stderr:\n%s", how, d.err);
#else
	ck_assert_msg(ours, "child %s, wanted SIGABRT and a fiber overflow message; stderr:\n%s",
		      how, d.err);
#endif
}

START_TEST(main_fiber_stack_overflow_aborts_with_message)
{
	expect_overflow_report(overflow_main);
}
END_TEST

START_TEST(spawned_fiber_stack_overflow_aborts_with_message)
{
	expect_overflow_report(overflow_in_spawned);
}
END_TEST

START_TEST(wild_pointer_in_fiber_is_not_reported_as_overflow)
{
	static struct death d;
	char how[64];
	run_in_child(bad_pointer_main, &d);
	describe(&d, how, sizeof how);
	ck_assert_msg(!strstr(d.err, "overflow"), "a wild write was reported as an overflow: %s",
		      d.err);
#ifdef TEST_ASAN
	ck_assert_msg((WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGSEGV) ||
			      (strstr(d.err, "SEGV") && !WIFEXITED(d.status)) ||
			      (strstr(d.err, "SEGV") && WEXITSTATUS(d.status) != 0),
		      "child %s; stderr:\n%s", how, d.err);
#else
	ck_assert_msg(WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGSEGV,
		      "child %s, wanted SIGSEGV; stderr:\n%s", how, d.err);
#endif
}
END_TEST

static Suite *overflow_suite(void)
{
	Suite *s = suite_create("overflow");
	TCase *tc = tcase_create("death");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, main_fiber_stack_overflow_aborts_with_message);
	tcase_add_test(tc, spawned_fiber_stack_overflow_aborts_with_message);
	tcase_add_test(tc, wild_pointer_in_fiber_is_not_reported_as_overflow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return coil_test_main(overflow_suite());
}
