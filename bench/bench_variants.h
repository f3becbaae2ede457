/*
 * A table-driven micro-benchmark: each variant is a function run for n
 * iterations that returns ns per unit. bench_variants_main() parses
 * [--iters N] [--reps R] [--tsv], runs every variant (a warm-up of n/10,
 * then R timed repetitions) inside one coil runtime and prints a row per
 * variant (bench_print). Used by chan_pingpong.c and select_bench.c.
 */
#ifndef COIL_BENCH_VARIANTS_H
#define COIL_BENCH_VARIANTS_H

#include <coil.h>

#include "bench_util.h"

struct bench_variant {
	const char *name;
	const char *unit;
	double (*fn)(size_t arg, long n);
	size_t arg;
};

struct bench_variants_run {
	const struct bench_variant *v;
	size_t nv;
	long iters;
	int reps;
	int tsv;
};

static inline void *bench_variants_fiber(void *arg)
{
	struct bench_variants_run *r = arg;
	if (!r->tsv)
		printf("%-18s %10s %10s %10s  %s (%ld iterations, %d reps, backend %s)\n", "variant",
		       "median", "min", "max", "unit", r->iters, r->reps, coil_backend_name());
	for (size_t k = 0; k < r->nv; k++) {
		const struct bench_variant *vr = &r->v[k];
		double v[BENCH_MAX_REPS];
		vr->fn(vr->arg, r->iters / 10 + 1); /* warm-up */
		for (int i = 0; i < r->reps; i++)
			v[i] = vr->fn(vr->arg, r->iters);
		bench_print(r->tsv, vr->name, vr->unit, v, r->reps, r->iters);
	}
	return NULL;
}

static inline int bench_variants_main(int argc, char **argv, const char *prog,
				      const struct bench_variant *v, size_t nv)
{
	struct bench_variants_run r = {.v = v, .nv = nv, .iters = 1000000, .reps = 7};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			r.iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			r.reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tsv"))
			r.tsv = 1;
		else {
			fprintf(stderr, "usage: %s [--iters N] [--reps R] [--tsv]\n", prog);
			return 2;
		}
	}
	if (r.iters < 1 || r.reps < 1 || r.reps > BENCH_MAX_REPS) {
		fprintf(stderr, "%s: bad --iters or --reps\n", prog);
		return 2;
	}
	int e = coil_run(NULL, bench_variants_fiber, &r, NULL);
	if (e < 0) {
		fprintf(stderr, "%s: coil_run: %s\n", prog, strerror(-e));
		return 1;
	}
	return 0;
}

#endif
