#!/bin/sh
# Every global symbol of libcoil.a is coil_ (public) or coil__ (internal,
# hidden in libcoil.so), and libcoil.so exports coil_ names only.
# usage: check_symbols.sh libcoil.a libcoil.so
set -eu
bad=$(nm -g --defined-only "$1" | awk 'NF == 3 { print $3 }' | grep -v '^coil_' || true)
if [ -n "$bad" ]; then
	echo "unprefixed global symbols in $1:"; echo "$bad"; exit 1
fi
bad=$(nm -D --defined-only "$2" | awk 'NF == 3 { print $3 }' | grep -v '^coil_' | grep '^coil__' || true)
if [ -n "$bad" ]; then
	echo "internal symbols exported from $2:"; echo "$bad"; exit 1
fi
other=$(nm -D --defined-only "$2" | awk 'NF == 3 && $3 !~ /^coil_/ { print $3 }' || true)
if [ -n "$other" ]; then
	echo "non-coil symbols exported from $2:"; echo "$other"; exit 1
fi
echo "symbols ok"
