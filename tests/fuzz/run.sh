#!/bin/sh
# Fuzz coil's HTTP request parser for a bounded time (default 60 s):
#   sh tests/fuzz/run.sh [SECONDS]
# Builds the fuzz preset (clang, libFuzzer, ASan + UBSan) and runs
# http_parse_fuzz from the seeds in tests/fuzz/corpus (copied: the run's
# findings stay out of the tree) with tests/fuzz/http.dict. A crash, a
# leak or a broken invariant fails the run; the input that did it is left
# in build/fuzz/artifacts/ and printed escaped. Replay one with
#   build/fuzz/tests/fuzz/http_parse_fuzz FILE
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
mkdir -p build/fuzz/artifacts
# -max_len: past the 16 KiB head limit (431, 414); -timeout: a hang is a
# finding (one input takes microseconds).
if ! build/fuzz/tests/fuzz/http_parse_fuzz -max_total_time="$secs" -timeout=10 \
	-max_len=20000 -rss_limit_mb=1024 -print_final_stats=1 \
	-dict=tests/fuzz/http.dict -artifact_prefix=build/fuzz/artifacts/ \
	"$work" >"$work/log" 2>&1; then
	tail -n 60 "$work/log"
	for f in build/fuzz/artifacts/*; do
		[ -f "$f" ] && { echo "input $f:"; od -c "$f" | head -n 40; }
	done
	echo "fuzz: http_parse_fuzz failed" >&2
	exit 1
fi
grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^Done" "$work/log" || true
echo "fuzz: http_parse_fuzz ran ${secs} s clean"
