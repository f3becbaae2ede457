# Build libcoil (and the suites that make sense) for wasm32-wasi with
# Debian 12's toolchain: clang-14, lld-14 (wasm-ld), wasi-libc,
# libclang-rt-14-dev-wasm32 (the compiler runtime) and binaryen (wasm-opt,
# whose Asyncify pass the fibers need: scripts/wasi-cc). Used by the "wasi"
# preset; programs run under Node's node:wasi (scripts/wasi-run).
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}") # Platform/WASI.cmake
set(CMAKE_SYSTEM_NAME WASI)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(COIL_WASI ON)

set(CMAKE_C_COMPILER clang-14)
set(CMAKE_ASM_COMPILER clang-14)
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_ASM_COMPILER_TARGET wasm32-wasi)
set(CMAKE_AR llvm-ar-14 CACHE FILEPATH "")
set(CMAKE_RANLIB llvm-ranlib-14 CACHE FILEPATH "")
# Debian's clang searches /usr/include after wasi-libc's headers: a header
# wasi-libc lacks (pthread.h, linux/*) would silently come from glibc.
# Only the compiler's own headers and wasi-libc's, then.
set(COIL_WASI_CFLAGS "-nostdlibinc -isystem /usr/lib/llvm-14/lib/clang/14.0.6/include -isystem /usr/include/wasm32-wasi")
set(CMAKE_C_FLAGS_INIT "${COIL_WASI_CFLAGS}")
set(CMAKE_ASM_FLAGS_INIT "${COIL_WASI_CFLAGS}")
# wasm-ld-14 is what clang-14 calls for this target; a 1 MiB main stack.
# -O0 last on the link line: clang-14 runs wasm-opt -O2 after linking when
# it finds one (binaryen), and that inlines the Asyncify context's
# boundary functions into their callers before the Asyncify pass sees them
# (fiber/context_asyncify.c); tests/wasi runs wasm-opt itself.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-z,stack-size=1048576 -O0 -Wno-unused-command-line-argument")
set(CMAKE_EXECUTABLE_SUFFIX ".wasm")

set(CMAKE_FIND_ROOT_PATH /usr/lib/wasm32-wasi /usr/include/wasm32-wasi)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
