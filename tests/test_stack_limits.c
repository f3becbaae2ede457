/*
 * A spawn whose fiber cannot have a stack fails with -ENOMEM at the spawn,
 * while its caller can still clean up (before the re-cut the stack was
 * taken at the first run: the spawn said yes and the fiber silently never
 * ran). Its own suite: it lowers RLIMIT_AS, which cannot be done under ASan
 * or qemu-user, and a skip there must not hide other tests.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "test_util.h"

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

int main(void)
{
	Suite *s = suite_create("stack_limits");
	TCase *tc = tcase_create("spawn");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, spawn_fails_with_enomem_when_no_stack_can_be_had);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}
