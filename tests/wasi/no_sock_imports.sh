#!/bin/sh
# No module the WASI build makes imports a preview 1 sock_* call: Node's
# WASI crashes the process on them (docs/wasi.md, "Sockets"), so the WASI
# libcoil answers -ENOSYS instead (wasi/shim/sys/socket.h). A socket call
# that reached wasi-libc's accept, recv, send or shutdown again would show
# here as an import.
#   no_sock_imports.sh WASM_DIS MODULE.wasm...
set -eu
dis=$1
shift
bad=0
for m in "$@"; do
	imports=$("$dis" "$m" | grep -o '(import "wasi_snapshot_preview1" "sock_[a-z_]*"' || true)
	if [ -n "$imports" ]; then
		echo "$m imports: $imports" >&2
		bad=1
	fi
done
[ $bad -eq 0 ] || exit 1
echo "no_sock_imports: none of $# modules imports a sock_* call"
