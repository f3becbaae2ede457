#!/bin/sh
# Pipes under WASI: 200 KiB through a WASI program's stdin and stdout (both
# pipes here), in pieces the writer sends when it likes; what comes out
# must be what went in.
#   stdio.sh RUN_MJS STDIO_COPY_WASM NODE [NODE_FLAGS...]
set -eu
run=$1 prog=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 204800 /dev/urandom >"$tmp/in"
# Two pieces, the second after the program has started waiting.
{ head -c 1000 "$tmp/in"; sleep 0.2; tail -c +1001 "$tmp/in"; } |
	"$@" "$run" "$prog" | cat >"$tmp/out"
cmp "$tmp/in" "$tmp/out"
echo "stdio: 204800 bytes through stdin and stdout intact"
