/*
 * ctxswitch: the cost of one switch between two stackful contexts, four ways,
 * in one process, on one thread:
 *
 *   coil_ctx     coil__ctx_switch (src/fiber/switch_*.S), two contexts
 *                ping-ponging; saves the callee-saved registers and the FPU
 *                control state (MXCSR + x87 control word on x86-64).
 *   boost        Boost.Context's jump_fcontext/make_fcontext (libboost_context,
 *                fcontext_t API, declared here in C), the same ping-pong.
 *   swapcontext  glibc makecontext/swapcontext: saves the FPU environment and
 *                the signal mask (one rt_sigprocmask syscall per switch).
 *   coil_yield   the public API: two fibers in coil_run() calling
 *                coil_task_yield() in turn. Reported per yield; a yield costs
 *                1.5 context switches on average (A -> B, B -> scheduler ->
 *                A, as the scheduler runs one batch per turn) plus the run
 *                queue bookkeeping.
 *
 * For each, R repetitions of N round trips (2 switches each; coil_yield: N
 * yields of the main fiber, 2N yields in all) are timed with
 * clock_gettime(CLOCK_MONOTONIC), after one untimed warm-up of N/10.
 * Every timed loop starts with the FPU's exception flags cleared
 * (fpu_flags_clear), so both contexts carry the same MXCSR: otherwise the
 * division that computes each repetition's result leaves the inexact flag
 * set in the main context only, and a switch that restores MXCSR (coil's,
 * Boost's, swapcontext) loads a different value each time, which some CPUs
 * make slow (74 ns instead of 5 reported on one); the peer contexts never
 * compute.
 * ns/switch = elapsed / (2N). The table gives the median over the repetitions
 * and their min-max, and the ratio of medians to Boost's.
 *
 *   ctxswitch [--iters N] [--reps R] [--cpu C] [--only LIST] [--tsv]
 *
 *   --iters N   round trips per repetition (default 10000000); swapcontext
 *               uses N/10 (it is ~50x slower: a syscall per switch)
 *   --reps R    repetitions (default 7)
 *   --cpu C     pin the thread to CPU C first (sched_setaffinity)
 *   --only LIST comma-separated subset of coil_ctx,boost,swapcontext,coil_yield
 *   --tsv       machine-readable lines instead of the table:
 *               "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>rep1,rep2,..."
 *               (ns per switch, or per yield for coil_yield)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fenv.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#include <coil.h>

#include "bench_util.h"

#include "fiber/context.h"

/* Boost.Context's C-linkage fcontext API (boost/context/detail/fcontext.hpp). */
typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;
	void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

#define STACK_SIZE ((size_t)256 * 1024)
#define MAX_REPS BENCH_MAX_REPS

static long g_iters = 10000000;
static int g_reps = 7;

static void *stack_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

struct result {
	const char *name;
	const char *what;
	long iters;
	int n;
	double v[MAX_REPS]; /* ns per switch (or yield), in run order */
	double med, min, max;
	int done;
};

static void summarize(struct result *r)
{
	bench_stats(r->v, r->n, &r->med, &r->min, &r->max);
	r->done = 1;
}

/* The same MXCSR (and x87 status) in every context: see the top. */
static void fpu_flags_clear(void)
{
	feclearexcept(FE_ALL_EXCEPT);
}

/* ---- (a) coil__ctx_switch ---------------------------------------------- */

static struct coil__ctx coil_main_ctx, coil_peer_ctx;

static void coil_peer(void *arg)
{
	(void)arg;
	for (;;)
		coil__ctx_switch(&coil_peer_ctx, &coil_main_ctx);
}

static double coil_round_trips(long n)
{
	fpu_flags_clear();
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		coil__ctx_switch(&coil_main_ctx, &coil_peer_ctx);
	uint64_t t1 = bench_now_ns();
	return (double)(t1 - t0) / (2.0 * (double)n);
}

static void bench_coil_ctx(struct result *r)
{
	void *stack = stack_alloc(STACK_SIZE);
	fpu_flags_clear(); /* the peer starts with the creator's MXCSR */
	coil__ctx_make(&coil_peer_ctx, stack, STACK_SIZE, coil_peer, NULL);
	coil_round_trips(g_iters / 10 + 1);
	for (int i = 0; i < g_reps; i++)
		r->v[r->n++] = coil_round_trips(g_iters);
	/* The peer is parked in its loop for good; its stack stays mapped. */
}

/* ---- (b) Boost.Context fcontext ---------------------------------------- */

static fcontext_t boost_peer_ctx;

static void boost_peer(transfer_t t)
{
	for (;;)
		t = jump_fcontext(t.fctx, NULL);
}

static double boost_round_trips(long n)
{
	fpu_flags_clear();
	fcontext_t c = boost_peer_ctx;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		c = jump_fcontext(c, NULL).fctx;
	uint64_t t1 = bench_now_ns();
	boost_peer_ctx = c;
	return (double)(t1 - t0) / (2.0 * (double)n);
}

static void bench_boost(struct result *r)
{
	char *stack = stack_alloc(STACK_SIZE);
	/* make_fcontext takes the top of the stack (it grows down). */
	fpu_flags_clear();
	boost_peer_ctx = make_fcontext(stack + STACK_SIZE, STACK_SIZE, boost_peer);
	boost_round_trips(g_iters / 10 + 1);
	for (int i = 0; i < g_reps; i++)
		r->v[r->n++] = boost_round_trips(g_iters);
}

/* ---- (c) glibc swapcontext --------------------------------------------- */

static ucontext_t uc_main, uc_peer;

static void uc_peer_fn(void)
{
	for (;;)
		swapcontext(&uc_peer, &uc_main);
}

static double uc_round_trips(long n)
{
	fpu_flags_clear();
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		swapcontext(&uc_main, &uc_peer);
	uint64_t t1 = bench_now_ns();
	return (double)(t1 - t0) / (2.0 * (double)n);
}

static void bench_swapcontext(struct result *r)
{
	void *stack = stack_alloc(STACK_SIZE);
	fpu_flags_clear();
	if (getcontext(&uc_peer) != 0) {
		perror("getcontext");
		exit(1);
	}
	uc_peer.uc_stack.ss_sp = stack;
	uc_peer.uc_stack.ss_size = STACK_SIZE;
	uc_peer.uc_link = NULL;
	makecontext(&uc_peer, uc_peer_fn, 0);
	long n = g_iters / 10 + 1;
	r->iters = n;
	uc_round_trips(n / 10 + 1);
	for (int i = 0; i < g_reps; i++)
		r->v[r->n++] = uc_round_trips(n);
}

/* ---- (d) coil_task_yield between two fibers ----------------------------- */

static volatile int yield_stop;

static void *yield_peer(void *arg)
{
	(void)arg;
	while (!yield_stop)
		coil_task_yield();
	return NULL;
}

static double yield_main_loop(long n)
{
	fpu_flags_clear();
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		coil_task_yield();
	uint64_t t1 = bench_now_ns();
	/* main yielded n times, the peer n times in between */
	return (double)(t1 - t0) / (2.0 * (double)n);
}

static void *yield_main(void *arg)
{
	struct result *r = arg;
	coil_task peer;
	fpu_flags_clear(); /* the peer starts with the spawner's MXCSR */
	int e = coil_task_spawn(&peer, yield_peer, NULL);
	if (e < 0) {
		fprintf(stderr, "coil_task_spawn: %s\n", strerror(-e));
		exit(1);
	}
	yield_main_loop(g_iters / 10 + 1);
	for (int i = 0; i < g_reps; i++)
		r->v[r->n++] = yield_main_loop(g_iters);
	yield_stop = 1;
	coil_task_join(peer, NULL);
	return NULL;
}

static void bench_coil_yield(struct result *r)
{
	fpu_flags_clear(); /* the scheduler's context too */
	int e = coil_run(NULL, yield_main, r, NULL);
	if (e < 0) {
		fprintf(stderr, "coil_run: %s\n", strerror(-e));
		exit(1);
	}
}

/* ---- driver ------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: ctxswitch [--iters N] [--reps R] [--cpu C] "
			"[--only coil_ctx,boost,swapcontext,coil_yield] [--tsv]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int cpu = -1, tsv = 0;
	const char *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			g_iters = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			g_reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--tsv"))
			tsv = 1;
		else
			usage();
	}
	if (g_iters < 10 || g_reps < 1 || g_reps > MAX_REPS)
		usage();
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) != 0) {
			perror("sched_setaffinity");
			return 1;
		}
	}

	struct {
		const char *name, *what;
		void (*fn)(struct result *);
	} benches[] = {
#ifdef COIL_CONTEXT_UCONTEXT
		{"coil_ctx", "coil__ctx_switch (ucontext fallback, _setjmp/_longjmp)",
		 bench_coil_ctx},
#else
		{"coil_ctx", "coil__ctx_switch (asm, FPU control saved)", bench_coil_ctx},
#endif
		{"boost", "Boost.Context jump_fcontext", bench_boost},
		{"swapcontext", "glibc swapcontext (sigmask syscall)", bench_swapcontext},
		{"coil_yield", "coil_task_yield, 2 fibers (per yield)", bench_coil_yield},
	};
	enum { NB = sizeof benches / sizeof benches[0] };
	static struct result res[NB];
	for (int b = 0; b < NB; b++) {
		res[b].name = benches[b].name;
		res[b].what = benches[b].what;
		res[b].iters = g_iters;
		if (!bench_selected(only, benches[b].name))
			continue;
		benches[b].fn(&res[b]);
		summarize(&res[b]);
	}

	const struct result *boost = res[1].done ? &res[1] : NULL;
	if (tsv) {
		for (int b = 0; b < NB; b++) {
			if (!res[b].done)
				continue;
			printf("%s\t%.3f\t%.3f\t%.3f\t%ld\t", res[b].name, res[b].med, res[b].min,
			       res[b].max, res[b].iters);
			for (int i = 0; i < res[b].n; i++)
				printf("%s%.3f", i ? "," : "", res[b].v[i]);
			printf("\n");
		}
		return 0;
	}
	printf("ctxswitch: %d reps x %ld round trips (swapcontext: %ld)", g_reps, g_iters,
	       g_iters / 10 + 1);
	if (cpu >= 0)
		printf(", pinned to CPU %d\n\n", cpu);
	else
		printf(", not pinned\n\n");
	printf("| mechanism | ns/switch median | min-max | ratio vs Boost |\n");
	printf("|---|---|---|---|\n");
	for (int b = 0; b < NB; b++) {
		if (!res[b].done)
			continue;
		char ratio[32] = "-";
		if (boost)
			snprintf(ratio, sizeof ratio, "%.2f", res[b].med / boost->med);
		printf("| %s: %s | %.2f | %.2f-%.2f | %s |\n", res[b].name, res[b].what,
		       res[b].med, res[b].min, res[b].max, ratio);
	}
	return 0;
}
