/*
 * The part of Check's API that coil's suites use, for wasm32-wasi, where
 * Check itself does not build (it forks each test; WASI has no processes,
 * no signals, no setjmp). Tests run one after another in this process; a
 * failed assertion prints where and what, and ends the process with exit
 * status 1, so the suite fails at its first failed assertion. A timeout
 * is ctest's (the TIMEOUT of each wasi test).
 *
 * Tests that exercise what the WASI build does not have (threads, sockets
 * of its own making, fork) are named in COIL_WASI_NOT_HERE (a comma list,
 * tests/wasi/CMakeLists.txt, each with its reason there): they are not
 * registered, and the runner lists them. $CK_RUN_CASE and $CK_RUN_TEST
 * pick cases and tests by name as Check's do.
 */
#ifndef COIL_WASI_CHECK_H
#define COIL_WASI_CHECK_H

#include <stdint.h>
#include <string.h>

typedef struct ck_suite Suite;
typedef struct ck_tcase TCase;
typedef struct ck_runner SRunner;
typedef void (*ck_test_fn)(int _i);

enum print_output {
	CK_SILENT,
	CK_MINIMAL,
	CK_NORMAL,
	CK_VERBOSE
};

Suite *suite_create(const char *name);
TCase *tcase_create(const char *name);
void suite_add_tcase(Suite *s, TCase *tc);
void ck_wasi_add_test(TCase *tc, ck_test_fn fn, const char *name);
void tcase_set_timeout(TCase *tc, double seconds);
SRunner *srunner_create(Suite *s);
void srunner_run_all(SRunner *sr, enum print_output mode);
int srunner_ntests_failed(SRunner *sr);
void srunner_free(SRunner *sr);

#define tcase_add_test(tc, fn) ck_wasi_add_test((tc), fn, #fn)
#define START_TEST(name) static void name(int _i __attribute__((unused)))
#define END_TEST

_Noreturn void ck_wasi_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define mark_point() ((void)0)

#define ck_assert_msg(expr, ...) ((expr) ? (void)0 : ck_wasi_fail(__FILE__, __LINE__, __VA_ARGS__))
#define ck_assert(expr) ck_assert_msg(expr, "Assertion '%s' failed", #expr)
#define ck_abort_msg(...) ck_wasi_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CK_WASI_CMP(type, fmt, X, OP, Y)                                                    \
	do {                                                                                \
		type _x = (type)(X);                                                        \
		type _y = (type)(Y);                                                        \
		ck_assert_msg(_x OP _y, "Assertion '%s' failed: %s == " fmt ", %s == " fmt, \
			      #X " " #OP " " #Y, #X, _x, #Y, _y);                           \
	} while (0)
#define ck_assert_int_eq(X, Y) CK_WASI_CMP(intmax_t, "%jd", X, ==, Y)
#define ck_assert_int_ne(X, Y) CK_WASI_CMP(intmax_t, "%jd", X, !=, Y)
#define ck_assert_int_lt(X, Y) CK_WASI_CMP(intmax_t, "%jd", X, <, Y)
#define ck_assert_int_le(X, Y) CK_WASI_CMP(intmax_t, "%jd", X, <=, Y)
#define ck_assert_int_gt(X, Y) CK_WASI_CMP(intmax_t, "%jd", X, >, Y)
#define ck_assert_int_ge(X, Y) CK_WASI_CMP(intmax_t, "%jd", X, >=, Y)
#define ck_assert_uint_eq(X, Y) CK_WASI_CMP(uintmax_t, "%ju", X, ==, Y)
#define ck_assert_uint_ne(X, Y) CK_WASI_CMP(uintmax_t, "%ju", X, !=, Y)
#define ck_assert_uint_lt(X, Y) CK_WASI_CMP(uintmax_t, "%ju", X, <, Y)
#define ck_assert_uint_le(X, Y) CK_WASI_CMP(uintmax_t, "%ju", X, <=, Y)
#define ck_assert_uint_gt(X, Y) CK_WASI_CMP(uintmax_t, "%ju", X, >, Y)
#define ck_assert_uint_ge(X, Y) CK_WASI_CMP(uintmax_t, "%ju", X, >=, Y)
#define ck_assert_ptr_eq(X, Y) CK_WASI_CMP(const void *, "%p", X, ==, Y)
#define ck_assert_ptr_ne(X, Y) CK_WASI_CMP(const void *, "%p", X, !=, Y)
#define ck_assert_ptr_null(X) ck_assert_ptr_eq(X, NULL)
#define ck_assert_ptr_nonnull(X) ck_assert_ptr_ne(X, NULL)
#define ck_assert_str_eq(X, Y)                                                         \
	do {                                                                           \
		const char *_x = (X), *_y = (Y);                                       \
		ck_assert_msg(_x &&_y &&strcmp(_x, _y) == 0,                           \
			      "Assertion '%s == %s' failed: \"%s\" vs \"%s\"", #X, #Y, \
			      _x ? _x : "(null)", _y ? _y : "(null)");                 \
	} while (0)

#endif
