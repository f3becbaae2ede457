#!/bin/sh
# Every global symbol of libcoil.a is coil_ (public) or coil__ (internal,
# hidden in libcoil.so), and libcoil.so exports coil_ names only.
# usage: check_symbols.sh libcoil.a libcoil.so [ALLOWED_NAME...]
# (the test build's kqueue shim defines kqueue and kevent: allowed there)
set -eu
a=$1 so=$2
shift 2
allowed=" $* "
# __odr_asan.*: ASan's one-definition-rule markers, made by the compiler.
bad=$(nm -g --defined-only "$a" | awk 'NF == 3 { print $3 }' | grep -v '^coil_' |
	grep -v '^__odr_asan' |
	while read -r n; do case "$allowed" in *" $n "*) ;; *) echo "$n" ;; esac; done || true)
if [ -n "$bad" ]; then
	echo "unprefixed global symbols in $a:"; echo "$bad"; exit 1
fi
bad=$(nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | grep '^coil__' || true)
if [ -n "$bad" ]; then
	echo "internal symbols exported from $so:"; echo "$bad"; exit 1
fi
other=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 !~ /^coil_/ { print $3 }' |
	while read -r n; do case "$allowed" in *" $n "*) ;; *) echo "$n" ;; esac; done || true)
if [ -n "$other" ]; then
	echo "non-coil symbols exported from $so:"; echo "$other"; exit 1
fi
echo "symbols ok"
