/* coil__ctx_make for the assembly switches: lay out the frame that
 * coil__ctx_switch restores, so the first switch "returns" into the
 * trampoline, which calls entry(arg). */
#include "fiber/context.h"

#include <stdint.h>
#include <string.h>

void coil__ctx_trampoline(void);

void coil__ctx_make(struct coil__ctx *ctx, void *stack_lo, size_t size,
		    void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
	/* 8 words: mxcsr|fpucw, r15, r14, r13, r12, rbx, rbp, return address.
	 * After the switch pops all 8 the stack pointer is top: 16-aligned. */
	uint64_t *frame = (uint64_t *)(top - 8 * sizeof(uint64_t));
	uint32_t mxcsr;
	uint16_t fpucw;
	/* A new fiber starts with the creator's FPU control state. */
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fpucw));
	memset(frame, 0, 8 * sizeof(uint64_t));
	memcpy((char *)frame, &mxcsr, 4);
	memcpy((char *)frame + 4, &fpucw, 2);
	/* frame[1..2] r15 r14, [5..6] rbx rbp: zero (rbp 0 ends backtraces) */
	frame[3] = (uint64_t)(uintptr_t)entry;			/* r13 */
	frame[4] = (uint64_t)(uintptr_t)arg;			/* r12 */
	frame[7] = (uint64_t)(uintptr_t)coil__ctx_trampoline;	/* return */
	ctx->sp = frame;
#elif defined(__aarch64__)
	uint64_t *frame = (uint64_t *)(top - 176);
	uint64_t fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	memset(frame, 0, 176);
	frame[20] = fpcr;
	frame[0] = (uint64_t)(uintptr_t)arg;			/* x19 */
	frame[1] = (uint64_t)(uintptr_t)entry;			/* x20 */
	frame[11] = (uint64_t)(uintptr_t)coil__ctx_trampoline;	/* x30 */
	ctx->sp = frame;
#else
#error "no assembly context switch for this architecture; configure with COIL_CONTEXT=ucontext"
#endif
}
