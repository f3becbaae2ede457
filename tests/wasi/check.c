/* The runner of tests/wasi/check.h: see there. */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_TESTS 256
#define MAX_CASES 32

struct ck_test {
	ck_test_fn fn;
	const char *name;
};

struct ck_tcase {
	const char *name;
	struct ck_test tests[MAX_TESTS];
	int n;
};

struct ck_suite {
	const char *name;
	TCase *cases[MAX_CASES];
	int n;
};

struct ck_runner {
	Suite *s;
	int run;
};

static const char *current_test = "(none)";

#ifndef COIL_WASI_NOT_HERE
#define COIL_WASI_NOT_HERE ""
#endif

Suite *suite_create(const char *name)
{
	Suite *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->name = name;
	return s;
}

TCase *tcase_create(const char *name)
{
	TCase *tc = calloc(1, sizeof *tc);
	if (!tc)
		abort();
	tc->name = name;
	return tc;
}

void suite_add_tcase(Suite *s, TCase *tc)
{
	if (s->n == MAX_CASES)
		abort();
	s->cases[s->n++] = tc;
}

/* Whether name is in the comma list. */
static int listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, name, n) == 0)
			return 1;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

void ck_wasi_add_test(TCase *tc, ck_test_fn fn, const char *name)
{
	if (listed(COIL_WASI_NOT_HERE, name)) {
		fprintf(stderr, "not on WASI: %s\n", name);
		return;
	}
	if (tc->n == MAX_TESTS)
		abort();
	tc->tests[tc->n].fn = fn;
	tc->tests[tc->n].name = name;
	tc->n++;
}

void tcase_set_timeout(TCase *tc, double seconds)
{
	(void)tc;
	(void)seconds;
}

SRunner *srunner_create(Suite *s)
{
	SRunner *sr = calloc(1, sizeof *sr);
	if (!sr)
		abort();
	sr->s = s;
	return sr;
}

void ck_wasi_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s:%d: %s: ", file, line, current_test);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAILURE);
}

void srunner_run_all(SRunner *sr, enum print_output mode)
{
	const char *want_case = getenv("CK_RUN_CASE");
	const char *want_test = getenv("CK_RUN_TEST");
	const char *verbosity = getenv("CK_VERBOSITY");
	if (verbosity && !strcmp(verbosity, "verbose"))
		mode = CK_VERBOSE;
	for (int c = 0; c < sr->s->n; c++) {
		TCase *tc = sr->s->cases[c];
		if (want_case && *want_case && strcmp(want_case, tc->name) != 0)
			continue;
		for (int i = 0; i < tc->n; i++) {
			if (want_test && *want_test && strcmp(want_test, tc->tests[i].name) != 0)
				continue;
			current_test = tc->tests[i].name;
			if (mode >= CK_VERBOSE)
				fprintf(stderr, "%s:%s: running\n", tc->name, current_test);
			tc->tests[i].fn(0);
			sr->run++;
		}
	}
	current_test = "(none)";
	if (mode >= CK_NORMAL)
		printf("%s: %d test(s) passed\n", sr->s->name, sr->run);
}

int srunner_ntests_failed(SRunner *sr)
{
	(void)sr;
	return 0; /* a failure has ended the process */
}

void srunner_free(SRunner *sr)
{
	for (int c = 0; c < sr->s->n; c++)
		free(sr->s->cases[c]);
	free(sr->s);
	free(sr);
}
