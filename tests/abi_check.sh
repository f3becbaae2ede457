#!/bin/sh
# ctest "abi": libcoil.so exports exactly the names in src/coil.symbols, all
# prefixed coil_; libcoil.a defines no global name without the coil_ or
# coil__ prefix (internal ones are allowed there, prefixed).
# That holds in every build: the kqueue emulation of tests/kqueue_shim
# (kqueue, kevent) is only in the test programs' coil_static_kqueue_shim.
#   abi_check.sh LIBCOIL_SO LIBCOIL_A SYMBOLS_FILE
set -eu
so=$1 a=$2 list=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep '^coil_' "$list" >"$tmp/want"
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWi]$/ { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/have"
status=0
if ! diff -u "$tmp/want" "$tmp/have" >"$tmp/diff"; then
	echo "abi: libcoil.so exports differ from src/coil.symbols (- listed, + exported):"
	cat "$tmp/diff"
	echo "abi: if the API changed on purpose, update src/coil.symbols (and the docs)"
	status=1
fi
# The public calls as compiled (global coil_ names of the .a, not coil__):
# the list must name each, or the version script would hide it.
nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TDBRVWi]$/ { print $3 }' |
	grep '^coil_' | grep -v '^coil__' | sort -u >"$tmp/public"
if ! diff -u "$tmp/want" "$tmp/public" >"$tmp/diff2"; then
	echo "abi: the public coil_ calls compiled into libcoil.a differ from src/coil.symbols (- listed, + compiled):"
	cat "$tmp/diff2"
	status=1
fi
if grep -v '^coil_' "$tmp/have"; then
	echo "abi: exported names without the coil_ prefix (above)"
	status=1
fi
nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TDBRVWCi]$/ { print $3 }' |
	grep -v -e '^coil_' -e '^coil__' -e '^__odr_asan\.' -e '^__asan_' -e '^__tsan_' -e '^__ubsan_' \
		-e '^__sanitizer_' >"$tmp/bad" || true # sanitizer builds add their own
if [ -s "$tmp/bad" ]; then
	echo "abi: libcoil.a defines global names without the coil_/coil__ prefix:"
	cat "$tmp/bad"
	status=1
fi
[ "$status" = 0 ] && echo "abi: $(wc -l <"$tmp/have") exported names, all listed and prefixed"
exit "$status"
