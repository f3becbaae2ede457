/*
 * When coil's own resources run out, the error reaches the caller:
 *   - a spawn whose fiber cannot have a stack fails with -ENOMEM at the
 *     spawn, while its caller can still clean up (before the re-cut the
 *     stack was taken at the first run: the spawn said yes and the fiber
 *     silently never ran);
 *   - a file op (readiness backends) or a name lookup (every backend) whose
 *     blocking pool cannot start a thread fails with that error instead of
 *     hanging.
 * A suite of its own: it lowers RLIMIT_AS and installs seccomp filters,
 * which ASan or qemu-user refuse, and a skip there must not hide others.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#if !defined(__SANITIZE_ADDRESS__) && !defined(COIL_TEST_CROSS)
static int ran;

static void *count_run(void *arg)
{
	ran++;
	return NULL;
}

static void *spawn_until_no_memory(void *arg)
{
	struct coil_task_opts opts = {.stack_size = 64u << 20};
	coil_task t[64];
	int n = 0, r = 0;
	ran = 0;
	while (n < 64 && (r = coil_task_spawn_ex(&t[n], &opts, count_run, NULL)) == 0)
		n++;
	ck_assert_int_eq(r, -ENOMEM);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
	ck_assert_int_eq(ran, n); /* every spawn that said yes ran */
	return NULL;
}
#endif

START_TEST(spawn_fails_with_enomem_when_no_stack_can_be_had)
{
#if defined(__SANITIZE_ADDRESS__)
	coil_test_skip("ASan reserves terabytes of shadow: RLIMIT_AS cannot be lowered");
	return;
#elif defined(COIL_TEST_CROSS)
	coil_test_skip("under qemu-user RLIMIT_AS limits the emulator's own reservation");
	return;
#else
	/* Room for the runtime and a few 64 MiB stacks, not 64 of them. */
	struct rlimit rl = {.rlim_cur = (rlim_t)1 << 30, .rlim_max = RLIM_INFINITY};
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	coil_test_run(spawn_until_no_memory, NULL);
#endif
}
END_TEST

/* No new thread for this process: clone fails with EAGAIN (what a full
 * RLIMIT_NPROC or pids cgroup gives), clone3 with ENOSYS (so that glibc
 * falls back to clone). */
static int refuse_threads(void)
{
	const long nr[] = {__NR_clone, __NR_clone3};
	const int err[] = {EAGAIN, ENOSYS};
	return coil_test_refuse_syscalls(nr, err, 2);
}

/* Runs in a child of the test (the filter stays there): 0 when every
 * check held, else the number of the failed one. */
static void *ops_without_pool_threads(void *arg)
{
	/* A name lookup always goes to the pool. */
	coil_scope s;
	coil_scope_enter_timeout(&s, 10 * COIL_NSEC_PER_SEC);
	intptr_t failed = 0;
	if (coil_tcp_connect("localhost", 9) != -EAGAIN)
		failed = 1;
	/* A path the dentry cache holds opens without the pool, on every
	 * backend (readiness: openat2 with RESOLVE_CACHED where the kernel
	 * has it), and the stat of an open fd too. */
	int fd = coil_file_open("/dev/null", O_RDONLY, 0);
	if (fd >= 0) {
		struct coil_stat st;
		if (coil_file_stat(fd, &st) != 0 || st.size != 0)
			failed = 3;
		coil_close(fd);
	} else if (fd != -EAGAIN || (*(int *)arg && strcmp(coil_backend_name(), "io_uring"))) {
		failed = 2;
	}
	coil_scope_exit(&s);
	return (void *)failed;
}

START_TEST(pool_op_fails_when_no_thread_can_start)
{
	/* In a child of its own: with the filter on, not even the sanitizers'
	 * exit-time threads could start, so it leaves with _exit. */
	/* Whether this kernel opens from the dentry cache alone (5.12). */
	int cached = 0;
#if defined(SYS_openat2) && defined(RESOLVE_CACHED)
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_CACHED};
	long probe = syscall(SYS_openat2, AT_FDCWD, "/dev/null", &how, sizeof how);
	cached = probe >= 0;
	if (probe >= 0)
		close((int)probe);
#endif
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (refuse_threads() < 0)
			_exit(77);
		void *res = (void *)99;
		/* One worker whatever $COIL_WORKERS says: no thread can start. */
		struct coil_config cfg;
		coil_config_init(&cfg);
		setenv("COIL_WORKERS", "1", 1);
		int r = coil_run(&cfg, ops_without_pool_threads, &cached, &res);
		_exit(r < 0 ? 98 : (int)(intptr_t)res);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child status %#x", st);
	if (WEXITSTATUS(st) == 77) {
		coil_test_skip("cannot install a seccomp filter here (qemu-user refuses it)");
		return;
	}
	ck_assert_msg(WEXITSTATUS(st) == 0, "check %d failed (98: coil_run failed)",
		      WEXITSTATUS(st));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, spawn_fails_with_enomem_when_no_stack_can_be_had);
	tcase_add_test(tc, pool_op_fails_when_no_thread_can_start);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
