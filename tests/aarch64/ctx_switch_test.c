/*
 * Standalone test of the AArch64 assembly context switch
 * (src/fiber/switch_aarch64_aapcs.S + src/fiber/context_asm.c).
 *
 * No Check, no liburing: built statically with the cross compiler and run
 * under qemu-aarch64 by tests/aarch64/run.sh. Prints one line per check and
 * "N passed, M failed" at the end; exits 0 only if nothing failed.
 */
#if !defined(__aarch64__)
#error "this test is for AArch64 only (see tests/aarch64/run.sh)"
#endif

#define _GNU_SOURCE
#include "fiber/context.h"

#include <fenv.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void coil__ctx_trampoline(void);

/* ---- tiny harness ---------------------------------------------------------- */

static int n_pass, n_fail;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (cond) {                                                     \
			n_pass++;                                               \
		} else {                                                        \
			n_fail++;                                               \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);             \
			printf(__VA_ARGS__);                                    \
			printf("\n");                                           \
		}                                                               \
	} while (0)

static void section(const char *name)
{
	printf("-- %s\n", name);
	fflush(stdout);
}

/* ---- stacks ------------------------------------------------------------------ */

struct stack {
	void *map;     /* whole mapping, guard page included */
	size_t maplen;
	void *lo;      /* usable stack, just above the guard page */
	size_t size;
};

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* mmap a stack of `size` usable bytes with one PROT_NONE guard page below. */
static void stack_alloc(struct stack *st, size_t size)
{
	size_t pg = page_size();
	size = (size + pg - 1) & ~(pg - 1);
	st->maplen = size + pg;
	st->map = mmap(NULL, st->maplen, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (st->map == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (mprotect(st->map, pg, PROT_NONE) != 0) {
		perror("mprotect");
		exit(2);
	}
	st->lo = (char *)st->map + pg;
	st->size = size;
}

static void stack_free(struct stack *st)
{
	munmap(st->map, st->maplen);
}

static int on_stack(const struct stack *st, uintptr_t p)
{
	return p >= (uintptr_t)st->lo && p <= (uintptr_t)st->lo + st->size;
}

static uintptr_t read_sp(void)
{
	uintptr_t sp;
	__asm__ volatile("mov %0, sp" : "=r"(sp));
	return sp;
}

/* ---- 1. first switch: entry(arg) on the new stack ---------------------------- */

/*
 * entry_probe is what coil__ctx_make gets as entry: it records sp, x0, x29 and
 * x30 exactly as the trampoline hands them over (before any C prologue can
 * move sp), then tail-calls first_entry(arg).
 */
uint64_t probe_sp, probe_x0, probe_x29, probe_x30;
void entry_probe(void *arg);
void first_entry(void *arg);
__asm__(".text\n"
	".p2align 4\n"
	".globl entry_probe\n"
	".type entry_probe, %function\n"
	"entry_probe:\n"
	"	adrp x9, probe_sp\n"
	"	mov x10, sp\n"
	"	str x10, [x9, :lo12:probe_sp]\n"
	"	adrp x9, probe_x0\n"
	"	str x0, [x9, :lo12:probe_x0]\n"
	"	adrp x9, probe_x29\n"
	"	str x29, [x9, :lo12:probe_x29]\n"
	"	adrp x9, probe_x30\n"
	"	str x30, [x9, :lo12:probe_x30]\n"
	"	b first_entry\n"
	".size entry_probe, .-entry_probe\n");

struct first {
	struct coil__ctx main, fib;
	int calls;
	void *arg_seen;
	uintptr_t c_sp;      /* sp inside first_entry (after its prologue) */
	int printf_ok;
};

static struct first g_first;

void first_entry(void *arg)
{
	struct first *f = arg;
	char buf[64];
	f->calls++;
	f->arg_seen = arg;
	f->c_sp = read_sp();
	/* Something stack-hungry from libc, to use the fiber's stack for real. */
	f->printf_ok = snprintf(buf, sizeof buf, "%s %d %.3f", "fiber", 42, 2.5) == 14 &&
		       strcmp(buf, "fiber 42 2.500") == 0;
	coil__ctx_switch(&f->fib, &f->main);
	/* never resumed */
	abort();
}

static void test_first_switch(void)
{
	section("first switch calls entry(arg) on the new stack");
	struct stack st;
	stack_alloc(&st, 64 * 1024);
	struct first *f = &g_first;
	memset(f, 0, sizeof *f);
	uintptr_t top = ((uintptr_t)st.lo + st.size) & ~(uintptr_t)15;

	coil__ctx_make(&f->fib, st.lo, st.size, entry_probe, f);
	CHECK(on_stack(&st, (uintptr_t)f->fib.sp), "ctx_make left sp %p outside the stack",
	      f->fib.sp);
	coil__ctx_switch(&f->main, &f->fib);

	CHECK(f->calls == 1, "entry called %d times, expected 1", f->calls);
	CHECK(f->arg_seen == f && probe_x0 == (uint64_t)(uintptr_t)f,
	      "entry got arg %#" PRIx64 ", expected %p", probe_x0, (void *)f);
	CHECK(on_stack(&st, probe_sp), "sp at entry %#" PRIx64 " not in stack [%p, %p]",
	      probe_sp, st.lo, (void *)((char *)st.lo + st.size));
	CHECK((probe_sp & 15) == 0, "sp at entry %#" PRIx64 " not 16-byte aligned", probe_sp);
	CHECK(probe_sp == top, "sp at entry %#" PRIx64 ", expected the stack top %#" PRIxPTR,
	      probe_sp, top);
	CHECK(probe_x29 == 0, "x29 at entry %#" PRIx64 ", expected 0 (ends backtraces)",
	      probe_x29);
	CHECK(probe_x30 > (uint64_t)(uintptr_t)coil__ctx_trampoline &&
		      probe_x30 < (uint64_t)(uintptr_t)coil__ctx_trampoline + 64,
	      "x30 at entry %#" PRIx64 " does not return into the trampoline (%p)", probe_x30,
	      (void *)coil__ctx_trampoline);
	CHECK(on_stack(&st, f->c_sp) && f->c_sp < probe_sp,
	      "C sp in entry %#" PRIxPTR " not below entry sp in the stack", f->c_sp);
	CHECK(f->printf_ok, "snprintf of a double inside the fiber gave the wrong text");
	printf("   stack [%p, %p) entry sp %#" PRIx64 " (top %#" PRIxPTR ")\n", st.lo,
	       (void *)((char *)st.lo + st.size), probe_sp, top);

	/* A misaligned size/lo must still give a 16-aligned entry sp. */
	coil__ctx_make(&f->fib, (char *)st.lo + 8, st.size - 8 - 24, entry_probe, f);
	coil__ctx_switch(&f->main, &f->fib);
	CHECK(f->calls == 2, "entry called %d times, expected 2", f->calls);
	CHECK((probe_sp & 15) == 0 && probe_sp <= (uintptr_t)st.lo + st.size - 24 &&
		      probe_sp > (uintptr_t)st.lo + st.size - 24 - 16,
	      "misaligned stack: entry sp %#" PRIx64, probe_sp);
	stack_free(&st);
}

/* ---- 2. ping-pong ------------------------------------------------------------- */

#define PINGPONG 1000000L

struct pingpong {
	struct coil__ctx main, fib;
	long counter;
	long mismatches;
	const struct stack *st;
	long off_stack;
};

static void pingpong_entry(void *arg)
{
	struct pingpong *p = arg;
	long local = 0; /* lives in a callee-saved register or on the fiber stack */
	for (;;) {
		if (p->counter != local)
			p->mismatches++;
		if (!on_stack(p->st, read_sp()))
			p->off_stack++;
		p->counter++;
		local++;
		coil__ctx_switch(&p->fib, &p->main);
	}
}

static void test_pingpong(void)
{
	section("ping-pong 1,000,000 round trips");
	static struct pingpong p;
	struct stack st;
	stack_alloc(&st, 64 * 1024);
	memset(&p, 0, sizeof p);
	p.st = &st;
	coil__ctx_make(&p.fib, st.lo, st.size, pingpong_entry, &p);
	long local = 0;
	uintptr_t main_sp = read_sp();
	long main_sp_moved = 0;
	for (long i = 0; i < PINGPONG; i++) {
		coil__ctx_switch(&p.main, &p.fib);
		local++;
		if (p.counter != local)
			break;
		if (read_sp() != main_sp)
			main_sp_moved++;
	}
	CHECK(local == PINGPONG, "main ran %ld rounds, expected %ld", local, PINGPONG);
	CHECK(p.counter == PINGPONG, "counter %ld, expected %ld", p.counter, PINGPONG);
	CHECK(p.mismatches == 0, "fiber saw %ld counter mismatches", p.mismatches);
	CHECK(p.off_stack == 0, "fiber ran off its stack %ld times", p.off_stack);
	CHECK(main_sp_moved == 0, "main's sp differed after %ld switches", main_sp_moved);
	stack_free(&st);
}

/* Three fibers passing control around a ring without going through main. */
#define RING_FIBERS 3
#define RING_LAPS 10000

struct ring {
	struct coil__ctx main, fib[RING_FIBERS];
	struct stack st[RING_FIBERS];
	long visits[RING_FIBERS];
	long laps;
	int order_bad;
	int last;
};

static struct ring g_ring;

static void ring_entry(void *arg)
{
	int me = (int)(intptr_t)arg;
	struct ring *r = &g_ring;
	for (;;) {
		if (r->last != (me + RING_FIBERS - 1) % RING_FIBERS)
			r->order_bad++;
		if (!on_stack(&r->st[me], read_sp()))
			r->order_bad++;
		r->last = me;
		r->visits[me]++;
		if (me == RING_FIBERS - 1 && ++r->laps == RING_LAPS)
			coil__ctx_switch(&r->fib[me], &r->main);
		else
			coil__ctx_switch(&r->fib[me], &r->fib[(me + 1) % RING_FIBERS]);
	}
}

static void test_ring(void)
{
	section("fiber-to-fiber ring of 3");
	struct ring *r = &g_ring;
	memset(r, 0, sizeof *r);
	r->last = RING_FIBERS - 1;
	for (int i = 0; i < RING_FIBERS; i++) {
		stack_alloc(&r->st[i], 32 * 1024);
		coil__ctx_make(&r->fib[i], r->st[i].lo, r->st[i].size, ring_entry,
			       (void *)(intptr_t)i);
	}
	coil__ctx_switch(&r->main, &r->fib[0]);
	CHECK(r->laps == RING_LAPS, "ring made %ld laps, expected %d", r->laps, RING_LAPS);
	CHECK(r->order_bad == 0, "ring ran out of order / off stack %d times", r->order_bad);
	for (int i = 0; i < RING_FIBERS; i++) {
		CHECK(r->visits[i] == RING_LAPS, "fiber %d ran %ld times", i, r->visits[i]);
		stack_free(&r->st[i]);
	}
}

/* ---- 3. callee-saved registers ------------------------------------------------ */

/*
 * regs_switch(from, to, in, out): load x19-x29 and d8-d15 from in[], call
 * coil__ctx_switch(from, to), and when it returns store them to out[]. The
 * caller's own values are saved and restored around it.
 *
 * clobber_switch(from, to, in): the other side; loads different values into
 * all of them (so every callee-saved register is "clobbered" while the other
 * context runs), switches back, then restores its caller's values.
 *
 * in[] / out[] layout: x19..x29 (11 words) then d8..d15 (8 words).
 */
#define NREGS 19
static const char *const reg_names[NREGS] = {
	"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
	"x29", "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15"};

void regs_switch(struct coil__ctx *from, struct coil__ctx *to, const uint64_t *in,
		 uint64_t *out);
__asm__(".text\n"
	".p2align 4\n"
	".globl regs_switch\n"
	".type regs_switch, %function\n"
	"regs_switch:\n"
	"	stp x29, x30, [sp, #-176]!\n"
	"	stp x19, x20, [sp, #16]\n"
	"	stp x21, x22, [sp, #32]\n"
	"	stp x23, x24, [sp, #48]\n"
	"	stp x25, x26, [sp, #64]\n"
	"	stp x27, x28, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n"
	"	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n"
	"	stp d14, d15, [sp, #144]\n"
	"	str x3, [sp, #160]\n"
	"	ldp x19, x20, [x2, #0]\n"
	"	ldp x21, x22, [x2, #16]\n"
	"	ldp x23, x24, [x2, #32]\n"
	"	ldp x25, x26, [x2, #48]\n"
	"	ldp x27, x28, [x2, #64]\n"
	"	ldr x29, [x2, #80]\n"
	"	ldr d8, [x2, #88]\n"
	"	ldp d9, d10, [x2, #96]\n"
	"	ldp d11, d12, [x2, #112]\n"
	"	ldp d13, d14, [x2, #128]\n"
	"	ldr d15, [x2, #144]\n"
	/* Trash the caller-saved ones too: the switch must not depend on them. */
	"	mov x9, #0x6666\n"
	"	mov x10, x9\n"
	"	mov x11, x9\n"
	"	mov x12, x9\n"
	"	mov x16, x9\n"
	"	mov x17, x9\n"
	"	bl coil__ctx_switch\n"
	"	ldr x3, [sp, #160]\n"
	"	stp x19, x20, [x3, #0]\n"
	"	stp x21, x22, [x3, #16]\n"
	"	stp x23, x24, [x3, #32]\n"
	"	stp x25, x26, [x3, #48]\n"
	"	stp x27, x28, [x3, #64]\n"
	"	str x29, [x3, #80]\n"
	"	str d8, [x3, #88]\n"
	"	stp d9, d10, [x3, #96]\n"
	"	stp d11, d12, [x3, #112]\n"
	"	stp d13, d14, [x3, #128]\n"
	"	str d15, [x3, #144]\n"
	"	ldp x19, x20, [sp, #16]\n"
	"	ldp x21, x22, [sp, #32]\n"
	"	ldp x23, x24, [sp, #48]\n"
	"	ldp x25, x26, [sp, #64]\n"
	"	ldp x27, x28, [sp, #80]\n"
	"	ldp d8, d9, [sp, #96]\n"
	"	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n"
	"	ldp d14, d15, [sp, #144]\n"
	"	ldp x29, x30, [sp], #176\n"
	"	ret\n"
	".size regs_switch, .-regs_switch\n");

static uint64_t reg_pattern(int side, int round, int i)
{
	uint64_t v = UINT64_C(0x0101010101010101) * (uint64_t)(i + 1) * (uint64_t)(side + 3);
	return v ^ ((uint64_t)round << 40) ^ ((uint64_t)side << 63) ^ UINT64_C(0x5a5a0000a5a5);
}

#define REG_ROUNDS 256

struct regs {
	struct coil__ctx main, fib;
	uint64_t fib_in[NREGS], fib_out[NREGS];
	int round;
	int fib_bad;
	char fib_msg[160];
};

static struct regs g_regs;

static void regs_entry(void *arg)
{
	struct regs *r = arg;
	for (;;) {
		int round = r->round;
		for (int i = 0; i < NREGS; i++)
			r->fib_in[i] = reg_pattern(1, round, i);
		/* Loads its own values into every callee-saved register, i.e.
		 * clobbers main's, and switches back. */
		regs_switch(&r->fib, &r->main, r->fib_in, r->fib_out);
		for (int i = 0; i < NREGS; i++) {
			if (r->fib_out[i] != reg_pattern(1, round, i) && !r->fib_bad) {
				snprintf(r->fib_msg, sizeof r->fib_msg,
					 "round %d: fiber's %s was %#" PRIx64
					 " after a switch, expected %#" PRIx64,
					 round, reg_names[i], r->fib_out[i],
					 reg_pattern(1, round, i));
				r->fib_bad++;
			}
		}
	}
}

static void test_callee_saved(void)
{
	section("callee-saved x19-x29, d8-d15 survive switches");
	struct regs *r = &g_regs;
	struct stack st;
	uint64_t in[NREGS], out[NREGS];
	int bad = 0;
	memset(r, 0, sizeof *r);
	stack_alloc(&st, 64 * 1024);
	coil__ctx_make(&r->fib, st.lo, st.size, regs_entry, r);
	for (int round = 0; round < REG_ROUNDS; round++) {
		r->round = round;
		for (int i = 0; i < NREGS; i++) {
			in[i] = reg_pattern(0, round, i);
			out[i] = 0;
		}
		regs_switch(&r->main, &r->fib, in, out);
		for (int i = 0; i < NREGS; i++) {
			if (out[i] != in[i]) {
				if (!bad)
					printf("   round %d: main's %s was %#" PRIx64
					       ", expected %#" PRIx64 "\n",
					       round, reg_names[i], out[i], in[i]);
				bad++;
			}
		}
	}
	CHECK(bad == 0, "main's callee-saved registers changed %d times", bad);
	CHECK(r->fib_bad == 0, "%s", r->fib_msg);
	stack_free(&st);
}

/* ---- 4. floating point in fibers; FPCR ---------------------------------------- */

static unsigned read_fpcr_rmode(void)
{
	uint64_t fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	return (unsigned)(fpcr >> 22) & 3u;
}

struct fpcr_probe {
	struct coil__ctx main, fib;
	int fib_seen[8];
	int rounds;
};

static void fpcr_entry(void *arg)
{
	struct fpcr_probe *f = arg;
	fesetround(FE_DOWNWARD);
	f->fib_seen[0] = FE_DOWNWARD;
	coil__ctx_switch(&f->fib, &f->main);
	for (;;) {
		/* what the fiber finds on resume, then it sets its own mode again */
		f->fib_seen[f->rounds] = fegetround();
		fesetround(FE_DOWNWARD);
		coil__ctx_switch(&f->fib, &f->main);
	}
}

static const char *rname(int r)
{
	switch (r) {
	case FE_TONEAREST: return "to-nearest";
	case FE_UPWARD: return "upward";
	case FE_DOWNWARD: return "downward";
	case FE_TOWARDZERO: return "toward-zero";
	default: return "?";
	}
}

static void test_fpcr(void)
{
	section("FPCR rounding mode across switches (report only)");
	static struct fpcr_probe f;
	struct stack st;
	memset(&f, 0, sizeof f);
	stack_alloc(&st, 64 * 1024);
	int saved = fegetround();

	coil__ctx_make(&f.fib, st.lo, st.size, fpcr_entry, &f);
	int main_after[8];
	for (int i = 0; i < 8; i++) {
		f.rounds = i;
		fesetround(FE_UPWARD); /* main's mode before every switch in */
		coil__ctx_switch(&f.main, &f.fib);
		main_after[i] = fegetround();
	}
	fesetround(saved);
	int main_kept = 1, fib_kept = 1;
	for (int i = 1; i < 8; i++) {
		main_kept &= main_after[i] == FE_UPWARD;
		fib_kept &= f.fib_seen[i] == FE_DOWNWARD;
	}
	printf("   main sets upward and switches in; the fiber sets downward and switches back\n");
	printf("   main then sees %s; the fiber on resume sees %s\n", rname(main_after[7]),
	       rname(f.fib_seen[7]));
	CHECK(main_kept && fib_kept,
	      "FPCR rounding mode must travel with the context: main sees %s, fiber %s",
	      rname(main_after[7]), rname(f.fib_seen[7]));
	CHECK(read_fpcr_rmode() == 0 || saved != FE_TONEAREST,
	      "FPCR.RMode %u after restoring to-nearest", read_fpcr_rmode());
	stack_free(&st);
}

/*
 * Floating point in fibers: two fibers and main each run a computation with
 * many live doubles across switches (so the compiler keeps them in d8-d15 and
 * on the stack), and the results must match the same computation done
 * without switching.
 */
struct fpwork {
	struct coil__ctx main, fib[2];
	double result[2];
	int done[2];
};

static struct fpwork g_fp;

#define FP_STEPS 2000

static __attribute__((noinline)) double fp_step(double a, double b, int k)
{
	return sin(a) * 0.5 + cos(b) * 0.25 + sqrt((double)k + 1.0) * 1e-3;
}

/* yield == NULL: run straight through, for the reference value */
static __attribute__((noinline)) double fp_compute(double seed, void (*yield)(int), int who)
{
	double a = seed, b = seed * 1.5, c = seed * 2.25, d = seed * 3.125;
	double e = 1.0 / (seed + 3.0), f = seed - 0.75, g = 0.0, h = 1.0;
	for (int k = 0; k < FP_STEPS; k++) {
		a = fp_step(a, b, k);
		if (yield)
			yield(who);
		b = fp_step(b, c, k) + e * 0.01;
		c = fp_step(c, d, k) - f * 0.001;
		if (yield && (k & 3) == 0)
			yield(who);
		d = fp_step(d, a, k);
		g += a * b - c * d;
		h = h * 0.999 + e * f * 1e-4;
		e = e * 0.9999 + 1e-6;
		f = f * 0.9998 - 1e-6;
	}
	return a + b + c + d + e + f + g + h;
}

static void fp_yield(int who)
{
	coil__ctx_switch(&g_fp.fib[who], &g_fp.main);
}

static void fp_entry(void *arg)
{
	int who = (int)(intptr_t)arg;
	g_fp.result[who] = fp_compute(0.3 + who, fp_yield, who);
	g_fp.done[who] = 1;
	for (;;)
		coil__ctx_switch(&g_fp.fib[who], &g_fp.main);
}

static void test_fp_in_fibers(void)
{
	section("floating point computations in fibers");
	struct stack st[2];
	double ref0 = fp_compute(0.3, NULL, 0), ref1 = fp_compute(1.3, NULL, 1);
	memset(&g_fp, 0, sizeof g_fp);
	for (int i = 0; i < 2; i++) {
		stack_alloc(&st[i], 64 * 1024);
		coil__ctx_make(&g_fp.fib[i], st[i].lo, st[i].size, fp_entry,
			       (void *)(intptr_t)i);
	}
	/* main keeps its own doubles live across every switch too */
	volatile double vseed = 0.7;
	double m1 = vseed, m2 = vseed * 2, m3 = vseed * 3, m4 = vseed * 4;
	double acc = 0.0;
	long turns = 0;
	while (!g_fp.done[0] || !g_fp.done[1]) {
		for (int i = 0; i < 2; i++)
			if (!g_fp.done[i])
				coil__ctx_switch(&g_fp.main, &g_fp.fib[i]);
		acc += m1 * m2 - m3 / m4;
		m1 += 1e-3;
		turns++;
	}
	double expect_acc = 0.0;
	{
		double e1 = vseed, e2 = vseed * 2, e3 = vseed * 3, e4 = vseed * 4;
		for (long t = 0; t < turns; t++) {
			expect_acc += e1 * e2 - e3 / e4;
			e1 += 1e-3;
		}
	}
	CHECK(g_fp.result[0] == ref0, "fiber 0 computed %.17g, expected %.17g", g_fp.result[0],
	      ref0);
	CHECK(g_fp.result[1] == ref1, "fiber 1 computed %.17g, expected %.17g", g_fp.result[1],
	      ref1);
	CHECK(acc == expect_acc, "main computed %.17g across switches, expected %.17g", acc,
	      expect_acc);
	printf("   %ld turns; results %.17g %.17g\n", turns, g_fp.result[0], g_fp.result[1]);
	for (int i = 0; i < 2; i++)
		stack_free(&st[i]);
}

/* ---- 5. guard page ------------------------------------------------------------ */

struct guard {
	struct coil__ctx main, fib;
	struct stack st;
	volatile uintptr_t deepest;
};

static struct guard g_guard;
static sigjmp_buf guard_jb;
static volatile uintptr_t fault_addr;
static volatile int fault_sig;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_sig = sig;
	fault_addr = (uintptr_t)si->si_addr;
	siglongjmp(guard_jb, 1);
}

static __attribute__((noinline)) int recurse(int n)
{
	volatile char pad[512];
	pad[0] = (char)n;
	pad[511] = (char)n;
	g_guard.deepest = (uintptr_t)pad;
	if (n > 1000000) /* never: a 32 KiB stack runs out long before */
		return 0;
	return recurse(n + 1) + pad[0] + pad[511];
}

static void guard_entry(void *arg)
{
	(void)arg;
	recurse(0);
	abort();
}

static void test_guard_page(void)
{
	section("mmap'ed stack with a guard page: overflow faults in the guard");
	struct guard *g = &g_guard;
	memset(g, 0, sizeof *g);
	stack_alloc(&g->st, 32 * 1024);

	/* the handler must run on another stack: the fiber's one is exhausted */
	stack_t ss = {.ss_sp = malloc(64 * 1024), .ss_size = 64 * 1024, .ss_flags = 0};
	struct sigaction sa, old_segv, old_bus;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0 || sigaction(SIGSEGV, &sa, &old_segv) != 0 ||
	    sigaction(SIGBUS, &sa, &old_bus) != 0) {
		perror("sigaltstack/sigaction");
		exit(2);
	}
	/* use part of the stack normally first */
	coil__ctx_make(&g->fib, g->st.lo, g->st.size, guard_entry, NULL);
	if (sigsetjmp(guard_jb, 1) == 0) {
		coil__ctx_switch(&g->main, &g->fib);
		CHECK(0, "overflowing fiber switched back instead of faulting");
	} else {
		uintptr_t glo = (uintptr_t)g->st.map, ghi = (uintptr_t)g->st.lo;
		CHECK(fault_sig == SIGSEGV, "got signal %d, expected SIGSEGV", fault_sig);
		CHECK(fault_addr >= glo && fault_addr < ghi,
		      "fault at %#" PRIxPTR " not in the guard page [%#" PRIxPTR ", %#" PRIxPTR
		      ")",
		      fault_addr, glo, ghi);
		CHECK(g->deepest >= ghi && g->deepest < ghi + 4096,
		      "deepest frame %#" PRIxPTR " not just above the guard", g->deepest);
		printf("   fault at %#" PRIxPTR ", guard page [%#" PRIxPTR ", %#" PRIxPTR ")\n",
		       fault_addr, glo, ghi);
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	stack_t off = {.ss_flags = SS_DISABLE};
	sigaltstack(&off, NULL);
	free(ss.ss_sp);
	stack_free(&g->st);

	/* and a fiber that stays within bounds still works after that */
	struct stack st;
	stack_alloc(&st, 64 * 1024);
	static struct pingpong p;
	memset(&p, 0, sizeof p);
	p.st = &st;
	coil__ctx_make(&p.fib, st.lo, st.size, pingpong_entry, &p);
	for (int i = 0; i < 1000; i++)
		coil__ctx_switch(&p.main, &p.fib);
	CHECK(p.counter == 1000 && p.mismatches == 0 && p.off_stack == 0,
	      "after the fault a new fiber ran %ld times, %ld mismatches", p.counter,
	      p.mismatches);
	stack_free(&st);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_first_switch();
	test_pingpong();
	test_ring();
	test_callee_saved();
	test_fpcr();
	test_fp_in_fibers();
	test_guard_page();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
