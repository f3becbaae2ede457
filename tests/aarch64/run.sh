#!/bin/sh
# Cross-compile tests/aarch64/ctx_switch_test.c together with the AArch64
# assembly context switch and run it under qemu-user.
#
#   tests/aarch64/run.sh            (from anywhere; needs Debian 12 + root
#                                    only if the toolchain is missing)
#
# Exits non-zero if the build or any check fails. Env: CC (default
# aarch64-linux-gnu-gcc), QEMU (default qemu-aarch64 or qemu-aarch64-static).
set -eu

start=$(date +%s.%N)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CC=${CC:-aarch64-linux-gnu-gcc}

find_qemu() {
	if [ -n "${QEMU:-}" ]; then
		command -v "$QEMU" || true
		return
	fi
	command -v qemu-aarch64 || command -v qemu-aarch64-static || true
}

qemu=$(find_qemu)
if ! command -v "$CC" >/dev/null 2>&1 || [ -z "$qemu" ] ||
	[ ! -e /usr/aarch64-linux-gnu/lib/libc.a ]; then
	echo "run.sh: installing the AArch64 cross toolchain and qemu-user" >&2
	if [ "$(id -u)" -ne 0 ]; then
		echo "run.sh: need root to apt-get install" \
			"gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2
		exit 2
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends \
		gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
		qemu-user >/dev/null
	qemu=$(find_qemu)
	if [ -z "$qemu" ]; then
		echo "run.sh: no qemu-aarch64 after installing qemu-user" >&2
		exit 2
	fi
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM

echo "== build ($CC -O2, static)"
"$CC" -O2 -Wall -Wextra -Werror -static -I "$root/src" \
	-o "$out/ctx_switch_test" \
	"$root/tests/aarch64/ctx_switch_test.c" \
	"$root/src/fiber/context_asm.c" \
	"$root/src/fiber/switch_aarch64_aapcs.S" \
	-lm

echo "== run ($qemu)"
status=0
"$qemu" "$out/ctx_switch_test" || status=$?

end=$(date +%s.%N)
elapsed=$(echo "$start $end" | awk '{ printf "%.2f", $2 - $1 }')
if [ "$status" -eq 0 ]; then
	echo "== aarch64 context switch: PASS (${elapsed}s)"
else
	echo "== aarch64 context switch: FAIL, exit $status (${elapsed}s)"
fi
exit "$status"
