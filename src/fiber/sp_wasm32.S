/*
 * The WebAssembly shadow stack pointer, for fiber/context_asyncify.c.
 *
 * wasm32 code compiled by clang keeps its C stack (locals whose address is
 * taken, big frames) in linear memory, below the global __stack_pointer
 * (wasm-ld defines it; it is not reachable from C). A fiber's frames there
 * stay in place while it is switched out, so a switch only has to save and
 * restore this one global; the engine's own call stack is what Asyncify
 * unwinds and rewinds.
 *
 *   uintptr_t coil__wasm_sp_get(void)     the current __stack_pointer
 *   void      coil__wasm_sp_set(uintptr_t) set it
 */
	.globaltype __stack_pointer, i32

	.section .text.coil__wasm_sp_get,"",@
	.hidden coil__wasm_sp_get
	.globl coil__wasm_sp_get
	.type coil__wasm_sp_get,@function
coil__wasm_sp_get:
	.functype coil__wasm_sp_get () -> (i32)
	global.get __stack_pointer
	end_function

	.section .text.coil__wasm_sp_set,"",@
	.hidden coil__wasm_sp_set
	.globl coil__wasm_sp_set
	.type coil__wasm_sp_set,@function
coil__wasm_sp_set:
	.functype coil__wasm_sp_set (i32) -> ()
	local.get 0
	global.set __stack_pointer
	end_function
