#!/bin/sh
# What the WebAssembly port costs: bench/fiber_micro.c (fiber switch,
# spawn+join, channel ping-pong) built natively (release libcoil, x86-64
# assembly switch) and for wasm32-wasi (scripts/wasi-cc: Asyncify switch),
# run interleaved ROUNDS times (native, wasi, native, ...) under Node's
# WASI, and the medians per side with the wasi/native ratio. Also the code
# size Asyncify adds: the same program linked before and after the pass.
#   sh bench/wasi_compare.sh [N] [ROUNDS]
# (N operations per repetition, default 200000; ROUNDS default 3.)
set -eu
cd "$(dirname "$0")/.."
n=${1:-200000}
rounds=${2:-3}
out=${TMPDIR:-/tmp}/coil-wasi-bench
mkdir -p "$out"
cmake --preset release >/dev/null
cmake --build --preset release --target coil_static >/dev/null
cc -O2 -Iinclude bench/fiber_micro.c build/release/src/libcoil.a -luring -lssl -lcrypto \
	-lpthread -o "$out/native"
sh scripts/wasi-cc bench/fiber_micro.c -o "$out/fiber_micro.wasm"
# Size: the linked module before Asyncify (and wasm-opt -O2 on it alone),
# against the one scripts/wasi-cc made.
clang-14 --target=wasm32-wasi -nostdlibinc -isystem /usr/lib/llvm-14/lib/clang/14.0.6/include \
	-isystem /usr/include/wasm32-wasi -O2 -Iinclude -c bench/fiber_micro.c -o "$out/fm.o"
clang-14 --target=wasm32-wasi "$out/fm.o" build/wasi/src/libcoil.a -lwasi-emulated-mman -O0 \
	-o "$out/linked.wasm"
wasm-opt "$out/linked.wasm" -O2 -o "$out/plain.wasm"
# How many functions the pass instruments, of how many.
instr=$(wasm-opt "$out/linked.wasm" --asyncify --pass-arg=asyncify-ignore-imports \
	--pass-arg=asyncify-removelist@"$(cat wasi/asyncify-removelist)" \
	--pass-arg=asyncify-verbose -o /dev/null 2>&1 | grep -c 'can change the state')
funcs=$(wasm-dis "$out/linked.wasm" | grep -c '^ (func ')
: >"$out/native.tsv"
: >"$out/wasi.tsv"
i=0
while [ $i -lt "$rounds" ]; do
	"$out/native" "$n" >>"$out/native.tsv"
	sh scripts/wasi-run "$out/fiber_micro.wasm" "$n" >>"$out/wasi.tsv"
	i=$((i + 1))
done
median() { # name file
	awk -v k="$1" '$1 == k { print $2 }' "$2" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
echo "ns per operation, median of $rounds rounds (each the median of 5 repetitions of $n)"
printf '%-9s %10s %10s %8s\n' op native wasi ratio
for k in switch spawn pingpong; do
	a=$(median "$k" "$out/native.tsv")
	b=$(median "$k" "$out/wasi.tsv")
	printf '%-9s %10s %10s %8s\n' "$k" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1fx", b / a }')"
done
plain=$(wc -c <"$out/plain.wasm")
asyncified=$(wc -c <"$out/fiber_micro.wasm")
echo "code size: $plain bytes with wasm-opt -O2 alone, $asyncified with --asyncify" \
	"(+$(awk -v a="$plain" -v b="$asyncified" 'BEGIN { printf "%.0f%%", (b - a) * 100 / a }'));" \
	"$instr of $funcs functions instrumented"
