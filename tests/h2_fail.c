/* nghttp2 out of memory: see h2_fail.h. */
#include "h2_fail.h"

#include <check.h>
#include <stdlib.h>

#include "http/h2_common.h" /* white-box: coil__h2_test_mem */

/* Atomics: sessions allocate on every worker while the test arms. */
static long count, fail_at = -1;

static bool fails(void)
{
	long k = __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
	return k == __atomic_load_n(&fail_at, __ATOMIC_RELAXED);
}

static void *mem_malloc(size_t n, void *ud)
{
	(void)ud;
	return fails() ? NULL : malloc(n);
}

static void mem_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
	(void)ud;
	return fails() ? NULL : calloc(n, size);
}

static void *mem_realloc(void *p, size_t n, void *ud)
{
	(void)ud;
	return fails() ? NULL : realloc(p, n);
}

static nghttp2_mem counted = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};

void h2_fail_route(bool server)
{
	__atomic_store_n(&coil__h2_test_mem[server], &counted, __ATOMIC_RELEASE);
}

void h2_fail_unroute(void)
{
	__atomic_store_n(&coil__h2_test_mem[0], NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&coil__h2_test_mem[1], NULL, __ATOMIC_RELEASE);
}

void h2_fail_arm(long k)
{
	__atomic_store_n(&fail_at, -1, __ATOMIC_RELAXED);
	__atomic_store_n(&count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fail_at, k, __ATOMIC_RELAXED);
}

long h2_fail_count(void)
{
	return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

long h2_fail_setup(bool server)
{
	static const struct coil__h2_callbacks none;
	/* Any non-empty SETTINGS costs the same. */
	nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
	nghttp2_session *ng;
	h2_fail_arm(-1);
	ck_assert_int_eq(coil__h2_session_open(&ng, server, &none, &iv, 1, NULL), 0);
	long n = h2_fail_count();
	nghttp2_session_del(ng);
	return n;
}
