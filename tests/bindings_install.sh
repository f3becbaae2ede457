#!/bin/sh
# ctest "bindings_install": the bindings find an installed libcoil the way
# their READMEs say, with nothing set by hand but PKG_CONFIG_PATH (as for a
# prefix install): install this build to a temporary prefix, pip-install the
# Python module there (offline) and load libcoil through pkg-config; build
# and run the Rust binding's tests with build.rs finding it through
# pkg-config. Also: the bindings' versions are the project's.
#   bindings_install.sh BUILD_DIR SOURCE_DIR [CARGO_TARGET_DIR]
set -eu
build=$1 src=$2 target=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset COIL_LIB COIL_LIB_DIR
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name coil.pc | head -n1)
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir=$(pkg-config --variable=libdir coil)
version=$(pkg-config --modversion coil)

grep -q "^version = \"$version\"" "$src/bindings/python/pyproject.toml" ||
	{ echo "bindings/python/pyproject.toml: version is not $version"; exit 1; }
grep -q "^version = \"$version\"" "$src/bindings/rust/Cargo.toml" ||
	{ echo "bindings/rust/Cargo.toml: version is not $version"; exit 1; }

# Python: pip from the source directory, offline (Debian's setuptools).
# pip builds in the source tree: copy it so the tree stays clean.
cp -r "$src/bindings/python" "$tmp/pysrc"
rm -rf "$tmp/pysrc/build" "$tmp/pysrc"/*.egg-info
/usr/bin/python3 -m pip install -q --no-build-isolation --no-index --no-deps \
	--target "$tmp/site" "$tmp/pysrc" >"$tmp/pip.log" 2>&1 ||
	{ cat "$tmp/pip.log"; exit 1; }
out=$(cd "$tmp" && PYTHONPATH="$tmp/site" /usr/bin/python3 -c '
import coil
print(coil.find_library())
print(coil.version())')
[ "$out" = "$(printf '%s\n%s' "$libdir/libcoil.so.${version%%.*}" "$version")" ] ||
	{ echo "python: found and loaded '$out', wanted $libdir's libcoil $version"; exit 1; }
echo "bindings_install: python: ok ($libdir)"

# Rust: cargo test of the binding, libcoil through pkg-config and the rpath.
CARGO=$(command -v cargo || true)
[ -n "$CARGO" ] || [ ! -x /root/.cargo/bin/cargo ] || CARGO=/root/.cargo/bin/cargo
if [ -z "$CARGO" ]; then
	echo "bindings_install: no cargo (scripts/install-deps installs Debian's)"
	exit 1
fi
[ -n "$target" ] || target="$tmp/rust-target"
(cd "$src/bindings/rust" && CARGO_TARGET_DIR="$target" "$CARGO" test --offline -q --lib --tests) \
	>"$tmp/cargo.log" 2>&1 || { cat "$tmp/cargo.log"; exit 1; }
echo "bindings_install: rust: ok"
