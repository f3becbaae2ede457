#!/bin/sh
# ctest "rust": cargo test of the binding, then the Tokio interop example,
# offline against Debian's crates (.cargo/config.toml). Needs COIL_LIB_DIR
# (the directory of libcoil.so) and CARGO_TARGET_DIR from ctest.
set -eu
cd "$(dirname "$0")"
CARGO=$(command -v cargo || true)
[ -n "$CARGO" ] || [ ! -x "$HOME/.cargo/bin/cargo" ] || CARGO="$HOME/.cargo/bin/cargo"
[ -n "$CARGO" ] || [ ! -x /root/.cargo/bin/cargo ] || CARGO=/root/.cargo/bin/cargo
if [ -z "$CARGO" ]; then
	echo "rust: no cargo (scripts/install-deps installs Debian's)" >&2
	exit 1
fi
"$CARGO" test --offline -q
"$CARGO" run --offline -q --example tokio_events
