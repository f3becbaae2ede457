/*
 * Helpers shared by the C micro-benchmarks in bench/: the clock, sorting
 * repetitions into median/min/max, and the --only name list. Header-only
 * (static inline): each benchmark is one .c file.
 */
#ifndef COIL_BENCH_UTIL_H
#define COIL_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_MAX_REPS 101

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process so far (user + system), in ns. */
static inline double bench_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median (mean of the middle two for an even n), min and max of v[0..n-1];
 * v itself is left in run order. n <= BENCH_MAX_REPS. */
static inline void bench_stats(const double *v, int n, double *med, double *min, double *max)
{
	double s[BENCH_MAX_REPS];
	memcpy(s, v, (size_t)n * sizeof s[0]);
	qsort(s, (size_t)n, sizeof s[0], bench_cmp_double);
	*min = s[0];
	*max = s[n - 1];
	*med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Whether name is in the comma-separated list only (NULL: everything). */
static inline int bench_selected(const char *only, const char *name)
{
	if (!only)
		return 1;
	size_t len = strlen(name);
	for (const char *p = only; *p;) {
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

/* One result line: "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps"
 * with tsv, else a fixed-width row. */
static inline void bench_print(int tsv, const char *name, const char *unit, const double *v,
			       int reps, long iters)
{
	double med, min, max;
	bench_stats(v, reps, &med, &min, &max);
	if (tsv)
		printf("%s\t%.1f\t%.1f\t%.1f\t%ld\t%d\n", name, med, min, max, iters, reps);
	else
		printf("%-18s %10.1f %10.1f %10.1f  %s\n", name, med, min, max, unit);
	fflush(stdout);
}

#endif
