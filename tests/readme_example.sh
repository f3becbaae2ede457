#!/bin/sh
# The README's example is code users copy: it must compile cleanly.
# usage: readme_example.sh README.md CC INCLUDE_DIR LIBCOIL_A [EXTRA_CFLAGS...]
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^```c$/ { on = 1; next } /^```$/ { if (on) exit } on' "$1" > "$tmp/example.c"
[ -s "$tmp/example.c" ] || { echo "no C example in $1"; exit 1; }
readme=$1 cc=$2 inc=$3 lib=$4
shift 4
"$cc" -std=gnu11 -Wall -Wextra -Werror "$@" -I"$inc" "$tmp/example.c" "$lib" -luring -lpthread \
	-o "$tmp/example"
echo "README example compiles"
