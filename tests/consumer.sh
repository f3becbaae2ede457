#!/bin/sh
# ctest "consumer": install this build to a temporary prefix and build a
# project against it four ways: find_package(coil) with coil::coil (shared)
# and coil::coil_static, and pkg-config, shared and static. Each program
# must run and print ok.
#   consumer.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp/prefix/lib"* | head -n1)
# The man pages went with it: `man coil_sock_read` works from the prefix.
page="$tmp/prefix/share/man/man3/coil_sock_read.3"
[ -f "$page" ] || { echo "consumer: no $page after cmake --install"; exit 1; }
if command -v man >/dev/null; then
	MANPATH="$tmp/prefix/share/man" man -P cat coil_sock_read 2>/dev/null | grep -q "ssize_t coil_sock_read" ||
		{ echo "consumer: man coil_sock_read (MANPATH=$tmp/prefix/share/man) does not show it"; exit 1; }
fi
echo "consumer: man pages installed"
[ -d "$libdir/x86_64-linux-gnu" ] && libdir="$libdir/x86_64-linux-gnu"
for target in coil::coil coil::coil_static; do
	b="$tmp/cmake-${target#coil::}"
	cmake -S "$src/tests/consumer" -B "$b" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
		-DCOIL_TARGET="$target" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
	cmake --build "$b" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
	out=$("$b/consumer")
	[ "$out" = ok ] || { echo "consumer ($target): printed '$out'"; exit 1; }
	echo "consumer: find_package, $target: ok"
done
export PKG_CONFIG_PATH="$(dirname "$(find "$tmp/prefix" -name coil.pc | head -n1)")"
# shellcheck disable=SC2046
cc -o "$tmp/pc-shared" "$src/tests/consumer/main.c" $(pkg-config --cflags --libs coil)
out=$(LD_LIBRARY_PATH="$(dirname "$(find "$tmp/prefix" -name 'libcoil.so' | head -n1)")" "$tmp/pc-shared")
[ "$out" = ok ] || { echo "consumer (pkg-config, shared): printed '$out'"; exit 1; }
echo "consumer: pkg-config, shared: ok"
# shellcheck disable=SC2046
cc -static-libgcc -o "$tmp/pc-static" "$src/tests/consumer/main.c" $(pkg-config --cflags coil) \
	"$(find "$tmp/prefix" -name libcoil.a | head -n1)" $(pkg-config --static --libs-only-other --libs-only-l coil | sed 's/-lcoil//')
out=$("$tmp/pc-static")
[ "$out" = ok ] || { echo "consumer (pkg-config, static): printed '$out'"; exit 1; }
echo "consumer: pkg-config, static: ok"
