/*
 * White-box tests of the fiber context switch (src/fiber/context.h), plus
 * the public-API behaviour that rests directly on it: deep stacks and yields.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <fenv.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fiber/context.h"
#include "sched/crew.h"
#include "sched/sched.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/*
 * Room for any implementation's context: if the library is built with the
 * ucontext fallback but COIL_CONTEXT_UCONTEXT does not reach this file, the
 * struct seen here is smaller than the one the library writes.
 */
union test_ctx {
	struct coil__ctx c;
	char room[2048];
	long double align;
};

struct test_stack {
	char *map;
	size_t map_len;
	void *lo;
	size_t size;
};

static void stack_alloc(struct test_stack *s, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size = (size + page - 1) & ~(page - 1);
	s->map_len = size + page;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_msg(s->map != MAP_FAILED, "mmap stack failed");
	ck_assert_int_eq(mprotect(s->map, page, PROT_NONE), 0); /* guard */
	s->lo = s->map + page;
	s->size = size;
}

static void stack_free(struct test_stack *s)
{
#ifdef TEST_ASAN
	/* frames left on a never-finished fiber stay poisoned otherwise */
	__asan_unpoison_memory_region(s->lo, s->size);
#endif
	munmap(s->map, s->map_len);
}

/* ---- first switch, argument, resumption point ------------------------- */

struct basic {
	union test_ctx main, fib;
	void *seen_arg;
	int step;
	uintptr_t local_addr;
	uintptr_t frame_addr;
	char fmt[64];
};

static void basic_entry(void *arg)
{
	struct basic *b = arg;
	volatile int local = 1;
	b->seen_arg = arg;
	b->local_addr = (uintptr_t)&local;
	b->frame_addr = (uintptr_t)__builtin_frame_address(0);
	/* variadic call with doubles: crashes on a misaligned x86-64 stack */
	snprintf(b->fmt, sizeof b->fmt, "%.3f %Lf", 1.5 * local, (long double)2.25);
	b->step = 1;
	coil__ctx_switch(&b->fib.c, &b->main.c);
	b->step = 2;
	coil__ctx_switch(&b->fib.c, &b->main.c);
	b->step = 3;
	coil__ctx_switch(&b->fib.c, &b->main.c);
	ck_abort_msg("a finished raw fiber was resumed");
}

START_TEST(ctx_first_switch_calls_entry_with_arg_on_its_stack)
{
	static struct basic b;
	struct test_stack st;
	memset(&b, 0, sizeof b);
	stack_alloc(&st, 64 * 1024);
	coil__ctx_make(&b.fib.c, st.lo, st.size, basic_entry, &b);
	ck_assert_int_eq(b.step, 0); /* making a context runs nothing */
	coil__ctx_switch(&b.main.c, &b.fib.c);
	ck_assert_int_eq(b.step, 1);
	ck_assert_ptr_eq(b.seen_arg, &b);
	uintptr_t lo = (uintptr_t)st.lo, hi = lo + st.size;
	ck_assert_msg(b.local_addr >= lo && b.local_addr < hi,
		      "fiber local at %#lx, outside its stack [%#lx, %#lx)",
		      (unsigned long)b.local_addr, (unsigned long)lo, (unsigned long)hi);
	/* SysV x86-64 and AAPCS64 both keep frames 16-byte aligned */
	ck_assert_msg((b.frame_addr & 15) == 0, "fiber frame %#lx not 16-aligned",
		      (unsigned long)b.frame_addr);
	ck_assert_str_eq(b.fmt, "1.500 2.250000");
	coil__ctx_switch(&b.main.c, &b.fib.c);
	ck_assert_int_eq(b.step, 2);
	coil__ctx_switch(&b.main.c, &b.fib.c);
	ck_assert_int_eq(b.step, 3);
	stack_free(&st);
}
END_TEST

/* ---- two fibers switching between each other directly ----------------- */

struct chain {
	union test_ctx main, a, b;
	char log[16];
	int n;
};

static void chain_a(void *arg)
{
	struct chain *c = arg;
	c->log[c->n++] = 'a';
	coil__ctx_switch(&c->a.c, &c->b.c);
	c->log[c->n++] = 'A';
	coil__ctx_switch(&c->a.c, &c->main.c);
	ck_abort_msg("chain_a resumed after its end");
}

static void chain_b(void *arg)
{
	struct chain *c = arg;
	c->log[c->n++] = 'b';
	coil__ctx_switch(&c->b.c, &c->a.c);
	c->log[c->n++] = 'B';
	coil__ctx_switch(&c->b.c, &c->main.c);
	ck_abort_msg("chain_b resumed after its end");
}

START_TEST(ctx_fibers_switch_directly_between_each_other)
{
	static struct chain c;
	struct test_stack sa, sb;
	memset(&c, 0, sizeof c);
	stack_alloc(&sa, 32 * 1024);
	stack_alloc(&sb, 32 * 1024);
	coil__ctx_make(&c.a.c, sa.lo, sa.size, chain_a, &c);
	coil__ctx_make(&c.b.c, sb.lo, sb.size, chain_b, &c);
	coil__ctx_switch(&c.main.c, &c.a.c); /* a -> b -> a -> main */
	ck_assert_str_eq(c.log, "abA");
	coil__ctx_switch(&c.main.c, &c.b.c); /* b resumes after its switch */
	ck_assert_str_eq(c.log, "abAB");
	stack_free(&sa);
	stack_free(&sb);
}
END_TEST

/* ---- a million switches --------------------------------------------------- */

struct pingpong {
	union test_ctx main, fib;
	long counter;
	long mismatches;
	long expect;
};

static void pingpong_entry(void *arg)
{
	struct pingpong *p = arg;
	for (;;) {
		if (p->counter != p->expect)
			p->mismatches++;
		p->counter++;
		coil__ctx_switch(&p->fib.c, &p->main.c);
		p->expect++;
	}
}

START_TEST(ctx_million_round_trips_keep_count)
{
	static struct pingpong p;
	struct test_stack st;
	const long n = 1000000;
	memset(&p, 0, sizeof p);
	stack_alloc(&st, 32 * 1024);
	coil__ctx_make(&p.fib.c, st.lo, st.size, pingpong_entry, &p);
	long local = 0;
	for (long i = 0; i < n; i++) {
		coil__ctx_switch(&p.main.c, &p.fib.c);
		local++;
		if (p.counter != local)
			break;
	}
	ck_assert_int_eq(local, n);
	ck_assert_int_eq(p.counter, n);
	ck_assert_int_eq(p.expect, n - 1);
	ck_assert_int_eq(p.mismatches, 0);
	stack_free(&st);
}
END_TEST

/* ---- callee-saved registers ---------------------------------------------- */

#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_REGS_TEST 1
/*
 * test_regs_switch(from, to, in, out): load the callee-saved registers from
 * in[], call coil__ctx_switch(from, to), and when it returns store the same
 * registers to out[]. The caller's own values are saved and restored around
 * it, so it is an ordinary function to C.
 */
void coil_test__regs_switch(struct coil__ctx *from, struct coil__ctx *to,
			    const uint64_t *in, uint64_t *out);
#if defined(__x86_64__)
#define NREGS 6
static const char *const reg_names[NREGS] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
__asm__(".text\n"
	".p2align 4\n"
	".globl coil_test__regs_switch\n"
	".hidden coil_test__regs_switch\n"
	".type coil_test__regs_switch, @function\n"
	"coil_test__regs_switch:\n"
	"	pushq %rbx\n"
	"	pushq %rbp\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	pushq %rcx\n" /* out; 7 pushes keep the call 16-byte aligned */
	"	movq 0(%rdx), %rbx\n"
	"	movq 8(%rdx), %rbp\n"
	"	movq 16(%rdx), %r12\n"
	"	movq 24(%rdx), %r13\n"
	"	movq 32(%rdx), %r14\n"
	"	movq 40(%rdx), %r15\n"
	"	call coil__ctx_switch@PLT\n"
	"	popq %rcx\n"
	"	movq %rbx, 0(%rcx)\n"
	"	movq %rbp, 8(%rcx)\n"
	"	movq %r12, 16(%rcx)\n"
	"	movq %r13, 24(%rcx)\n"
	"	movq %r14, 32(%rcx)\n"
	"	movq %r15, 40(%rcx)\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbp\n"
	"	popq %rbx\n"
	"	ret\n"
	".size coil_test__regs_switch, .-coil_test__regs_switch\n");
#else /* __aarch64__ */
#define NREGS 19
static const char *const reg_names[NREGS] = {
	"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
	"x29", "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15"};
__asm__(".text\n"
	".p2align 4\n"
	".globl coil_test__regs_switch\n"
	".hidden coil_test__regs_switch\n"
	".type coil_test__regs_switch, %function\n"
	"coil_test__regs_switch:\n"
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
	".size coil_test__regs_switch, .-coil_test__regs_switch\n");
#endif

#define REG_ROUNDS 64

struct regs {
	union test_ctx main, fib;
	uint64_t fib_in[NREGS], fib_out[NREGS];
	int round;
	int fib_bad;     /* rounds in which the fiber saw a changed register */
	char fib_msg[128];
};

static uint64_t reg_pattern(int side, int round, int i)
{
	uint64_t v = UINT64_C(0x0101010101010101) * (uint64_t)(i + 1) * (uint64_t)(side + 3);
	return v ^ ((uint64_t)round << 40) ^ ((uint64_t)side << 63) ^ UINT64_C(0x5a5a0000a5a5);
}

static void regs_entry(void *arg)
{
	struct regs *r = arg;
	for (;;) {
		int round = r->round;
		for (int i = 0; i < NREGS; i++)
			r->fib_in[i] = reg_pattern(1, round, i);
		coil_test__regs_switch(&r->fib.c, &r->main.c, r->fib_in, r->fib_out);
		for (int i = 0; i < NREGS; i++) {
			if (r->fib_out[i] != reg_pattern(1, round, i) && !r->fib_bad) {
				snprintf(r->fib_msg, sizeof r->fib_msg,
					 "fiber: %s was %#llx, expected %#llx", reg_names[i],
					 (unsigned long long)r->fib_out[i],
					 (unsigned long long)reg_pattern(1, round, i));
				r->fib_bad++;
			}
		}
	}
}

START_TEST(ctx_callee_saved_registers_survive_switches)
{
	static struct regs r;
	uint64_t in[NREGS], out[NREGS];
	struct test_stack st;
	memset(&r, 0, sizeof r);
	stack_alloc(&st, 64 * 1024);
	coil__ctx_make(&r.fib.c, st.lo, st.size, regs_entry, &r);
	for (int round = 0; round < REG_ROUNDS; round++) {
		r.round = round;
		for (int i = 0; i < NREGS; i++) {
			in[i] = reg_pattern(0, round, i);
			out[i] = 0;
		}
		coil_test__regs_switch(&r.main.c, &r.fib.c, in, out);
		for (int i = 0; i < NREGS; i++)
			ck_assert_msg(out[i] == in[i],
				      "round %d: main's %s was %#llx after a switch, expected %#llx",
				      round, reg_names[i], (unsigned long long)out[i],
				      (unsigned long long)in[i]);
		ck_assert_msg(r.fib_bad == 0, "round %d: %s", round, r.fib_msg);
	}
	stack_free(&st);
}
END_TEST
#endif /* x86_64 || aarch64 */

/* ---- FPU control state ----------------------------------------------------- */

/*
 * Only the asm switch promises that FPU control state travels with the fiber;
 * the ucontext fallback (_setjmp/_longjmp) does not. Which one the library was
 * built with is not visible to this file (COIL_CONTEXT_UCONTEXT is private to
 * the library), so look for a symbol that only the asm implementation has.
 */
#define HAVE_FPU_TEST 1
extern void coil__ctx_trampoline(void) __attribute__((weak));

struct fpu {
	union test_ctx main, fib;
	int fib_seen[8];
	unsigned fib_csr[8];
	int rounds;
};

static unsigned read_sse_rounding(void)
{
#if defined(__x86_64__)
	return (__builtin_ia32_stmxcsr() >> 13) & 3u;
#else
	return 0;
#endif
}

static void fpu_entry(void *arg)
{
	struct fpu *f = arg;
	fesetround(FE_DOWNWARD);
	for (;;) {
		f->fib_seen[f->rounds] = fegetround();
		f->fib_csr[f->rounds] = read_sse_rounding();
		coil__ctx_switch(&f->fib.c, &f->main.c);
	}
}

START_TEST(ctx_fpu_rounding_mode_travels_with_context)
{
	static struct fpu f;
	struct test_stack st;
	memset(&f, 0, sizeof f);
	stack_alloc(&st, 64 * 1024);
	int saved = fegetround();
	ck_assert_int_eq(fesetround(FE_UPWARD), 0);
	unsigned up_csr = read_sse_rounding();
	coil__ctx_make(&f.fib.c, st.lo, st.size, fpu_entry, &f);
	for (int i = 0; i < 8; i++) {
		f.rounds = i;
		coil__ctx_switch(&f.main.c, &f.fib.c);
		int mine = fegetround();
		unsigned csr = read_sse_rounding();
		fesetround(saved); /* so a failure message prints normally */
		ck_assert_msg(mine == FE_UPWARD, "round %d: main sees rounding %#x, set %#x",
			      i, mine, FE_UPWARD);
		ck_assert_msg(csr == up_csr, "round %d: main's MXCSR rounding %u, set %u", i,
			      csr, up_csr);
		ck_assert_msg(f.fib_seen[i] == FE_DOWNWARD,
			      "round %d: fiber sees rounding %#x, it set %#x", i,
			      f.fib_seen[i], FE_DOWNWARD);
		fesetround(FE_UPWARD);
	}
#if defined(__x86_64__)
	for (int i = 0; i < 8; i++)
		ck_assert_msg(f.fib_csr[i] == 1u, "round %d: fiber's MXCSR rounding %u, it set 1",
			      i, f.fib_csr[i]);
#endif
	fesetround(saved);
	stack_free(&st);
}
END_TEST

/* ---- through the public API ------------------------------------------------ */

#define DEEP_STACK (256 * 1024)
#define DEEP_TARGET (200 * 1024)

static __attribute__((noinline)) size_t recurse_deep(int n, uintptr_t top)
{
	volatile char frame[1024];
	frame[0] = (char)n;
	frame[sizeof frame - 1] = (char)(n + 1);
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	size_t used = top - here;
	if (used < DEEP_TARGET)
		used = recurse_deep(n + 1, top);
	/* touch the frame after the call: no tail call, frame stays live */
	if (frame[0] != (char)n || frame[sizeof frame - 1] != (char)(n + 1))
		return 0;
	return used;
}

static void *deep_fiber(void *arg)
{
	(void)arg;
	uintptr_t top = (uintptr_t)__builtin_frame_address(0);
	return (void *)recurse_deep(0, top);
}

static void *deep_main(void *arg)
{
	(void)arg;
	struct coil_task_opts opts;
	memset(&opts, 0, sizeof opts);
	opts.stack_size = DEEP_STACK;
	coil_task t = 0;
	ck_assert_int_eq(coil_task_spawn_ex(&t, &opts, deep_fiber, NULL), 0);
	void *res = NULL;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	return res;
}

/* coil__stack_trim: the pages a deep call touched go back to the kernel,
 * and the stack works as before when touched again. */
#define TRIM_DEPTH (48 * 1024)

static void *trim_fiber(void *arg)
{
	(void)arg;
	struct coil__stack *st = coil__self()->stack;
	uintptr_t top = (uintptr_t)__builtin_frame_address(0);
	long page = sysconf(_SC_PAGESIZE);
	unsigned char vec[64];
	ck_assert_uint_ge(recurse_deep(0, top + DEEP_TARGET - (TRIM_DEPTH + 4096)), 1);
	/* Every page the recursion went through is resident now. */
	uintptr_t deep = (top - TRIM_DEPTH) & ~(uintptr_t)(page - 1);
	ck_assert_int_eq(mincore((void *)deep, (size_t)page, vec), 0);
	ck_assert_int_eq(vec[0] & 1, 1);
	long released = coil__stack_trim(st);
	ck_assert_int_ge(released, TRIM_DEPTH - 3 * page);
	ck_assert_uint_eq((uintptr_t)st->lo % (uintptr_t)page, 0);
	/* The pages below the frame, the deep one included, are gone. */
	ck_assert_uint_le(deep + (uintptr_t)page, (uintptr_t)st->lo + (uintptr_t)released);
	for (uintptr_t a = deep; a < (uintptr_t)st->lo + (uintptr_t)released;
	     a += 64 * (uintptr_t)page) {
		size_t len = (uintptr_t)st->lo + (uintptr_t)released - a;
		if (len > 64 * (size_t)page)
			len = 64 * (size_t)page;
		ck_assert_int_eq(mincore((void *)a, len, vec), 0);
		for (size_t i = 0; i < len / (size_t)page; i++)
			ck_assert_msg(!(vec[i] & 1), "page %#lx still resident",
				      (unsigned long)(a + i * (size_t)page));
	}
	/* And the stack goes as deep again. */
	return (void *)recurse_deep(0, top + DEEP_TARGET - (TRIM_DEPTH + 4096));
}

static void *trim_main(void *arg)
{
	(void)arg;
	struct coil_task_opts opts;
	memset(&opts, 0, sizeof opts);
	opts.stack_size = DEEP_STACK;
	coil_task t = 0;
	ck_assert_int_eq(coil_task_spawn_ex(&t, &opts, trim_fiber, NULL), 0);
	void *res = NULL;
	ck_assert_int_eq(coil_task_join(t, &res), 0);
	return res;
}

START_TEST(fiber_stack_trim_releases_pages_below_the_frame)
{
#if defined(__x86_64__) || defined(__aarch64__)
	ck_assert_uint_ge((size_t)coil_test_run(trim_main, NULL), 1);
#else
	coil_test_skip("coil__stack_trim: no inline syscall for this machine");
#endif
}
END_TEST

START_TEST(fiber_recursion_near_custom_stack_size_succeeds)
{
	size_t used = (size_t)coil_test_run(deep_main, NULL);
	ck_assert_msg(used >= DEEP_TARGET, "recursion reached only %zu bytes", used);
}
END_TEST

#define YIELDS_PER_FIBER 500000

struct yielder_shared {
	int last;
	int done[2];
	long bad;
	long count[2];
};

struct yielder {
	struct yielder_shared *sh;
	int me;
};

static void *yielder_fiber(void *arg)
{
	struct yielder *y = arg;
	struct yielder_shared *sh = y->sh;
	int other = 1 - y->me;
	for (long i = 0; i < YIELDS_PER_FIBER; i++) {
		sh->last = y->me;
		sh->count[y->me]++;
		if (coil_task_yield() != 0)
			sh->bad++;
		/* the other fiber must have run in between, unless it is done */
		if (!sh->done[other] && sh->last != other)
			sh->bad++;
	}
	sh->done[y->me] = 1;
	return NULL;
}

static void *yield_main(void *arg)
{
	struct yielder_shared *sh = arg;
	struct yielder y[2] = {{sh, 0}, {sh, 1}};
	coil_task t[2];
	sh->last = -1;
	ck_assert_int_eq(coil_task_spawn(&t[0], yielder_fiber, &y[0]), 0);
	ck_assert_int_eq(coil_task_spawn(&t[1], yielder_fiber, &y[1]), 0);
	ck_assert_int_eq(coil_task_join(t[0], NULL), 0);
	ck_assert_int_eq(coil_task_join(t[1], NULL), 0);
	return NULL;
}

START_TEST(fiber_million_yields_alternate_between_two_fibers)
{
	static struct yielder_shared sh;
	memset(&sh, 0, sizeof sh);
	coil_test_run(yield_main, &sh);
	ck_assert_int_eq(sh.count[0], YIELDS_PER_FIBER);
	ck_assert_int_eq(sh.count[1], YIELDS_PER_FIBER);
	ck_assert_int_eq(sh.done[0], 1);
	ck_assert_int_eq(sh.done[1], 1);
	ck_assert_msg(sh.bad == 0, "%ld yields did not alternate", sh.bad);
}
END_TEST

/* ---- waiting awake for another worker's timer (sched/crew.h) ------------- */

START_TEST(a_worker_learns_how_late_its_timers_end)
{
	static struct coil__worker w;
	memset(&w, 0, sizeof w);
	/* Up quickly: a VM's 30 us lateness is learnt within a few sleeps. */
	for (int i = 0; i < 12; i++)
		coil__crew_late_sample(&w, 30000);
	ck_assert_int_ge(w.late_ns, 28000);
	ck_assert_int_le(w.late_ns, 30000);
	ck_assert_int_eq(coil__crew_expect_lead(&w), w.late_ns);
	/* Down slowly: one punctual wake-up does not forget the others. */
	int64_t before = w.late_ns;
	coil__crew_late_sample(&w, 0);
	ck_assert_int_ge(w.late_ns, before - before / 32);
	ck_assert_int_lt(w.late_ns, before);
	/* A thread descheduled for seconds teaches nothing about timers. */
	for (int i = 0; i < 40; i++)
		coil__crew_late_sample(&w, 5 * (int64_t)COIL_NSEC_PER_SEC);
	ck_assert_int_le(w.late_ns, 200000);
	/* Punctual timers bring it down to the floor of the lead. */
	for (int i = 0; i < 2000; i++)
		coil__crew_late_sample(&w, 1000);
	ck_assert_int_le(w.late_ns, 2000);
	ck_assert_int_eq(coil__crew_expect_lead(&w), COIL__CREW_EXPECT_LEAD_NS);
}
END_TEST

/* A crew of two workers, w and o, as coil__crew_expect sees them. */
struct two_workers {
	struct coil__crew crew;
	struct coil__worker w, o;
	struct coil__worker *list[2];
};

static void two_workers_init(struct two_workers *t)
{
	memset(t, 0, sizeof *t);
	t->list[0] = &t->w;
	t->list[1] = &t->o;
	t->crew.n = 2;
	t->crew.workers = t->list;
	t->crew.may_spin = true;
	t->w.crew = t->o.crew = &t->crew;
	t->w.sleep_cpu = t->o.sleep_cpu = -1;
}

START_TEST(an_expected_timer_is_waited_for_as_long_as_its_worker_is_late)
{
	static struct two_workers t;
	two_workers_init(&t);
	int64_t now = coil_now(), at = now + 1000000;
	t.o.next_timer = at;
	/* A punctual worker: the floor. */
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), at);
	ck_assert_int_eq(t.w.expect_after, COIL__CREW_EXPECT_AFTER_NS);
	/* One that runs 80 us after its timers: awake that long and a
	 * quarter more (fixed margins missed most posts in a VM whose
	 * timers end 20-40 us late). */
	t.o.late_ns = 80000;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), at);
	ck_assert_int_eq(t.w.expect_after, 100000);
	/* Nothing to expect: no timer, one past, or one too far away. */
	t.o.next_timer = INT64_MAX;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
	t.o.next_timer = now;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
	t.o.next_timer = now + 10 * (int64_t)COIL_NSEC_PER_SEC;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
	/* A crew with more workers than CPUs never waits awake. */
	t.o.next_timer = at;
	t.crew.may_spin = false;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
}
END_TEST

START_TEST(a_worker_asleep_on_this_cpu_is_not_waited_for_awake)
{
	static struct two_workers t;
	two_workers_init(&t);
	/* Stay on one CPU for the test, so sched_getcpu does not change. */
	cpu_set_t old, one;
	ck_assert_int_eq(sched_getaffinity(0, sizeof old, &old), 0);
	int cpu = sched_getcpu();
	ck_assert_int_ge(cpu, 0);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
	int64_t now = coil_now(), at = now + 1000000;
	t.o.next_timer = at;
	t.o.sleep_cpu = cpu;
	/* Awake here, w would only keep o from running. */
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
	t.o.sleep_cpu = cpu + 1;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), at);
	ck_assert_int_eq(sched_setaffinity(0, sizeof old, &old), 0);
}
END_TEST

/* A spin refused because another worker spins teaches nothing (crew.c),
 * also after a spin of w's that was preempted: the refused one read that
 * spin's mark and counted as a failure, letting the next chance go. */
START_TEST(a_refused_spin_after_a_preempted_one_teaches_nothing)
{
	static struct two_workers t;
	two_workers_init(&t);
	/* Far away: this spin cannot be over by its time either. */
	int64_t at = coil_now() + 10 * (int64_t)COIL_NSEC_PER_SEC;
	t.w.expect_after = COIL__CREW_EXPECT_AFTER_NS;
	t.w.spin_cut = true; /* w's last spin was preempted */
	t.o.spinning = 1;
	ck_assert(!coil__crew_expect_spin(&t.w, 0, at, INT64_MAX));
	ck_assert_int_eq(t.w.expect_fails, 0);
	ck_assert_int_eq(t.w.expect_skip, 0);
}
END_TEST

/* A spin that w's own timer cut short did not wait the window of the
 * timer it expected (the other worker runs up to expect_after past it).
 * Counted as a failure, it let the next chance go, so a worker whose
 * timers fell near the other's stopped waiting for it. It counts neither
 * way; w waits the rest of the window once its own timer has run, and
 * that spin tells (crew.c). */
START_TEST(a_spin_cut_by_the_workers_own_timer_waits_the_rest_of_the_window)
{
	static struct two_workers t;
	two_workers_init(&t);
	static struct coil__msg m;
	t.w.expect_fails = 2;
	/* The other's timer has just passed, with a long window (white-box:
	 * no clock in the test may end it); w's own timer is due now. */
	t.w.expect_after = 10 * (int64_t)COIL_NSEC_PER_SEC;
	int64_t at = coil_now() - 1000;
	ck_assert(!coil__crew_expect_spin(&t.w, 0, at, coil_now()));
	ck_assert_int_eq(t.w.expect_fails, 2);
	ck_assert_int_eq(t.w.expect_skip, 0);
	/* Its own timer has run: the rest of that window, which no scan of
	 * the others' timers finds any more (o's has passed), once. */
	ck_assert_int_eq(coil__crew_expect(&t.w, coil_now(), INT64_MAX), at);
	ck_assert_int_eq(coil__crew_expect(&t.w, coil_now(), INT64_MAX), INT64_MAX);
	/* The rest tells: a post came... */
	t.w.inbox = &m;
	ck_assert(coil__crew_expect_spin(&t.w, 0, at, INT64_MAX));
	ck_assert_int_eq(t.w.expect_fails, 0);
	t.w.inbox = NULL;
	/* ... or the window passed with nothing. */
	t.w.expect_fails = 2;
	t.w.expect_after = 1;
	ck_assert(!coil__crew_expect_spin(&t.w, 0, at, INT64_MAX));
	ck_assert_int_eq(t.w.expect_fails, 3);
	ck_assert_int_eq(t.w.expect_skip, 7);
	/* A cut window that has ended since is not waited for. */
	t.w.expect_skip = 0;
	t.w.expect_cut = at;
	ck_assert_int_eq(coil__crew_expect(&t.w, coil_now(), INT64_MAX), INT64_MAX);
}
END_TEST

/* Only a post tells that waiting awake paid. The epoch moves when the
 * crew ends (shut down, all done, deadlock, an error): nothing about the
 * other worker's timer, and counted as a success it undid the back-off. */
START_TEST(only_a_post_tells_that_an_expectation_spin_paid)
{
	static struct two_workers t;
	two_workers_init(&t);
	static struct coil__msg m;
	int64_t at = coil_now() + 10 * (int64_t)COIL_NSEC_PER_SEC;
	t.w.expect_after = COIL__CREW_EXPECT_AFTER_NS;
	t.w.expect_fails = 3;
	t.crew.epoch = 1;
	ck_assert(coil__crew_expect_spin(&t.w, 0, at, INT64_MAX));
	ck_assert_int_eq(t.w.expect_fails, 3);
	/* A post, from whoever: a kick saved. */
	t.w.inbox = &m;
	ck_assert(coil__crew_expect_spin(&t.w, 1, at, INT64_MAX));
	ck_assert_int_eq(t.w.expect_fails, 0);
}
END_TEST

/* The back-off lets go the chances it says, not turns: a turn with no
 * other worker's timer to wait for, or with w's own timer first, used one
 * up, so the back-off wore off as fast as the worker had idle turns. */
START_TEST(a_turn_without_a_chance_lets_none_go)
{
	static struct two_workers t;
	two_workers_init(&t);
	int64_t now = coil_now(), at = now + 1000000;
	t.w.expect_skip = 2;
	t.o.next_timer = INT64_MAX;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
	ck_assert_int_eq(t.w.expect_skip, 2);
	/* w wakes for its own timer before it would for o's. */
	t.o.next_timer = at;
	ck_assert_int_eq(coil__crew_expect(&t.w, now, at - COIL__CREW_EXPECT_LEAD_NS), INT64_MAX);
	ck_assert_int_eq(t.w.expect_skip, 2);
	/* Two chances let go, the third taken. */
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
	ck_assert_int_eq(coil__crew_expect(&t.w, now, INT64_MAX), INT64_MAX);
	ck_assert_int_eq(t.w.expect_skip, 0);
	ck_assert_int_eq(coil__crew_expect(&t.w, now, at - COIL__CREW_EXPECT_LEAD_NS + 1), at);
}
END_TEST

/* A sleep whose deadline had passed before it began (a fiber ran past
 * its worker's timer) is no timed sleep: nothing was late, and counting
 * the overrun as lateness made the worker's late_ns jump towards its cap
 * (200 us), stretching every expectation spin of the crew around its
 * timers. Worker 1 has no timed sleep here but that one. */
struct overrun {
	int64_t before, after;
	int parked; /* the sleeper has parked with its deadline */
};

static void *short_sleeper(void *arg)
{
	struct overrun *o = arg;
	__atomic_store_n(&o->parked, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(coil_sleep(1000), 0);
	return NULL;
}

static void *overrunner(void *arg)
{
	struct overrun *o = arg;
	struct coil__worker *w = coil__tls_worker;
	o->before = __atomic_load_n(&w->late_ns, __ATOMIC_RELAXED);
	coil_task s;
	ck_assert_int_eq(coil_task_spawn_on(1, &s, short_sleeper, o), 0);
	while (!__atomic_load_n(&o->parked, __ATOMIC_ACQUIRE))
		ck_assert_int_eq(coil_task_yield(), 0);
	/* Its deadline (1 us) passes while this fiber runs, by far. */
	int64_t until = coil_now() + 2000000;
	while (coil_now() < until)
		;
	/* Parks with no deadline: the worker's next wait is bounded by the
	 * sleeper's deadline, already behind it. */
	ck_assert_int_eq(coil_task_join(s, NULL), 0);
	o->after = __atomic_load_n(&w->late_ns, __ATOMIC_RELAXED);
	return NULL;
}

static void *overrun_main(void *arg)
{
	coil_task t;
	ck_assert_int_eq(coil_task_spawn_on(1, &t, overrunner, arg), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	return NULL;
}

START_TEST(a_timer_overrun_by_a_running_fiber_is_no_lateness)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.workers = 2;
	cfg.coalesce_sleeps = true; /* the sleep is a timer in sched's heap */
	struct overrun o = {0};
	coil_test_run_cfg(&cfg, overrun_main, &o);
	ck_assert_int_eq(o.after, o.before);
}
END_TEST

static Suite *fiber_suite(void)
{
	Suite *s = suite_create("fiber");
	TCase *raw = tcase_create("context");
	tcase_set_timeout(raw, 30);
	tcase_add_test(raw, ctx_first_switch_calls_entry_with_arg_on_its_stack);
	tcase_add_test(raw, ctx_fibers_switch_directly_between_each_other);
	tcase_add_test(raw, ctx_million_round_trips_keep_count);
#ifdef HAVE_REGS_TEST
	tcase_add_test(raw, ctx_callee_saved_registers_survive_switches);
#endif
#ifdef HAVE_FPU_TEST
	/* The assembly switch only (the ucontext build has no trampoline). */
	if (coil__ctx_trampoline)
		tcase_add_test(raw, ctx_fpu_rounding_mode_travels_with_context);
#endif
	suite_add_tcase(s, raw);

	TCase *api = tcase_create("api");
	tcase_set_timeout(api, 30);
	tcase_add_test(api, fiber_recursion_near_custom_stack_size_succeeds);
	tcase_add_test(api, fiber_stack_trim_releases_pages_below_the_frame);
	tcase_add_test(api, fiber_million_yields_alternate_between_two_fibers);
	suite_add_tcase(s, api);

	TCase *crew = tcase_create("crew");
	tcase_add_test(crew, a_worker_learns_how_late_its_timers_end);
	tcase_add_test(crew, an_expected_timer_is_waited_for_as_long_as_its_worker_is_late);
	tcase_add_test(crew, a_worker_asleep_on_this_cpu_is_not_waited_for_awake);
	tcase_add_test(crew, a_refused_spin_after_a_preempted_one_teaches_nothing);
	tcase_add_test(crew, a_spin_cut_by_the_workers_own_timer_waits_the_rest_of_the_window);
	tcase_add_test(crew, only_a_post_tells_that_an_expectation_spin_paid);
	tcase_add_test(crew, a_turn_without_a_chance_lets_none_go);
	tcase_add_test(crew, a_timer_overrun_by_a_running_fiber_is_no_lateness);
	suite_add_tcase(s, crew);
	return s;
}

int main(void)
{
	return coil_test_main(fiber_suite());
}
