/*
 * Fibers on WebAssembly (wasm32-wasi) with Binaryen's Asyncify: the engines
 * we target have no stack switching, so a switch unwinds the engine's call
 * stack of the fiber that leaves and rewinds that of the fiber that comes
 * back. scripts/wasi-cc runs `wasm-opt --asyncify` over every program that
 * links libcoil; without the pass the asyncify.* imports below are left
 * unresolved and the host refuses the module.
 *
 * Memory of a fiber's stack (the mapping fiber/stack.c gives):
 *
 *   lo                                                           lo + size
 *   | struct coil__asyncify_buf | saved frames -> | ... shadow stack <- |
 *   |<------------- save area (SAVE_BYTES) ----->|          sp starts ^
 *
 * Locals whose address is taken live on the shadow stack (linear memory,
 * below the global __stack_pointer: sp_wasm32.S); they never move, so a
 * buffer on a parked fiber's stack stays valid, as on the native switches.
 * What Asyncify saves are the engine's own locals and call positions.
 *
 * Who runs where. The context that has no buffer (the scheduler, on the
 * thread's own stack) is the driver: switching from it to a fiber calls the
 * fiber's entry (first time) or rewinds it (later), and the call returns
 * when that fiber switches away, by unwinding all its frames back to here.
 * The driver then runs whichever context the fiber switched to: itself
 * (return to the scheduler) or another fiber (the fiber-to-fiber switch of
 * sched/switch.h, here two hops through the driver at no extra unwind).
 *
 * Binaryen instruments only the functions that can reach suspend() (it
 * calls asyncify.start_unwind / stop_rewind, so the pass leaves it alone
 * and instruments its callers), plus those that make indirect calls, which
 * it cannot see through; drive() calls stop_unwind / start_rewind, so it is
 * the bottom: its callers are not instrumented on its account. Both must
 * stay functions of their own until the pass has run: clang-14 links with
 * wasm-opt -O2 when it finds one, which inlines them into
 * coil__ctx_switch (then nothing unwinds past it and a rewind lands in the
 * wrong place), so programs are linked with -O0 (scripts/wasi-cc).
 */
#include "fiber/context.h"

#include <stdint.h>

#include "base/panic.h"

#define ASYNCIFY_IMPORT(name) __attribute__((import_module("asyncify"), import_name(#name)))
void coil__asyncify_start_unwind(struct coil__asyncify_buf *buf) ASYNCIFY_IMPORT(start_unwind);
void coil__asyncify_stop_unwind(void) ASYNCIFY_IMPORT(stop_unwind);
void coil__asyncify_start_rewind(struct coil__asyncify_buf *buf) ASYNCIFY_IMPORT(start_rewind);
void coil__asyncify_stop_rewind(void) ASYNCIFY_IMPORT(stop_rewind);

uintptr_t coil__wasm_sp_get(void);
void coil__wasm_sp_set(uintptr_t sp);

enum {
	FRESH,
	RUNNING,
	SUSPENDED,
	RESUMING
};

#define CANARY 0xc011f1b5u

/* The save area: an eighth of the stack, between 4 KiB and 64 KiB. A
 * suspended fiber's saved frames take some hundred bytes each. */
static size_t save_bytes(size_t size)
{
	size_t n = size / 8;
	n = n < 4096 ? 4096 : n > 65536 ? 65536 : n;
	return n & ~(size_t)15;
}

/* Where the fiber that is unwinding asked to go (one thread: WASI). */
static struct coil__ctx *pending;

void coil__ctx_make(struct coil__ctx *ctx, void *stack_lo, size_t size, void (*entry)(void *),
		    void *arg)
{
	size_t save = save_bytes(size);
	if (save + 1024 > size)
		coil__panic("fiber stack of %zu bytes is too small for Asyncify", size);
	struct coil__asyncify_buf *buf = stack_lo;
	buf->cur = buf + 1;
	buf->end = (char *)stack_lo + save;
	buf->canary = CANARY;
	ctx->buf = buf;
	ctx->sp = (void *)(((uintptr_t)stack_lo + size) & ~(uintptr_t)15);
	ctx->entry = entry;
	ctx->arg = arg;
	ctx->state = FRESH;
}

/* The fiber `from` leaves for `to`. Called twice for one switch: to
 * unwind, and again when `from` is rewound (then it ends the rewind and
 * returns into the fiber). Never instrumented (see the head). */
static __attribute__((noinline)) void suspend(struct coil__ctx *from, struct coil__ctx *to)
{
	if (from->state == RESUMING) {
		from->state = RUNNING;
		coil__asyncify_stop_rewind();
		return;
	}
	uintptr_t sp = coil__wasm_sp_get();
	if (from->buf->canary != CANARY || sp < (uintptr_t)from->buf->end)
		coil__panic("fiber stack overflow (shadow stack ran into its Asyncify save area)");
	from->sp = (void *)sp;
	from->state = SUSPENDED;
	pending = to;
	coil__asyncify_start_unwind(from->buf);
}

/* Run fibers from the thread's own stack until one switches back to
 * `self`. Never instrumented (see the head). */
static __attribute__((noinline)) void drive(struct coil__ctx *self, struct coil__ctx *to)
{
	uintptr_t my_sp = coil__wasm_sp_get();
	while (to != self) {
		if (!to->buf)
			coil__panic("switch to a thread stack that is not the one running fibers");
		pending = NULL;
		coil__wasm_sp_set((uintptr_t)to->sp);
		if (to->state == FRESH) {
			to->state = RUNNING;
		} else {
			to->state = RESUMING;
			coil__asyncify_start_rewind(to->buf);
		}
		to->entry(to->arg);
		/* Back here only by an unwind: an entry never returns. */
		if (!pending)
			coil__panic("a fiber's entry returned (or the program was not run "
				    "through wasm-opt --asyncify: scripts/wasi-cc)");
		coil__asyncify_stop_unwind();
		coil__wasm_sp_set(my_sp);
		to = pending;
	}
}

void coil__ctx_switch(struct coil__ctx *from, struct coil__ctx *to)
{
	if (from->buf)
		suspend(from, to);
	else
		drive(from, to);
}
