#!/usr/bin/env bash
# chan_compare.sh: channel ping-pong and producer/consumer stream, coil
# against Go channels (GOMAXPROCS=1) and Tokio mpsc (current_thread), in one
# run: contenders interleaved for ROUNDS rounds, pinned to one CPU; median of
# the round medians, min-max over rounds, ratio to Go.
#
#   bench/chan_compare.sh [--rounds R] [--iters N] [--cpu C]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=3 ITERS=1000000 CPU=1
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--iters) ITERS=$2; shift 2 ;;
	--cpu) CPU=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds R] [--iters N] [--cpu C]" >&2; exit 2 ;;
	esac
done
OUT="$ROOT/build/bench/peers"
mkdir -p "$OUT"
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

(cd "$ROOT" && cmake --preset bench >/dev/null && cmake --build --preset bench --target chan_pingpong >/dev/null)
command -v go >/dev/null || apt-get install -y -qq golang-go >/dev/null
(cd "$HERE/peers/go" && GOFLAGS=-mod=mod timeout 300 go build -o "$OUT/chan-go" ./chan)
CARGO=$(command -v cargo || echo /root/.cargo/bin/cargo)
TOKIO=""
if [ -x "$CARGO" ] && ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1; then
	(cd "$HERE/peers/tokio" && CARGO_TARGET_DIR="$OUT/tokio-target" \
		timeout 600 "$CARGO" build --release --offline --bin chan-tokio >"$TMPD/cargo.log" 2>&1) &&
		TOKIO="$OUT/tokio-target/release/chan-tokio"
fi

declare -A CMD=(
	[coil]="$ROOT/build/bench/chan_pingpong --iters $ITERS --reps 5 --tsv"
	[go]="$OUT/chan-go -iters $ITERS -reps 5"
)
names=(coil go)
if [ -n "$TOKIO" ]; then CMD[tokio]="$TOKIO --iters $ITERS --reps 5"; names+=(tokio); fi

for r in $(seq "$ROUNDS"); do
	for n in "${names[@]}"; do
		# shellcheck disable=SC2086
		taskset -c "$CPU" ${CMD[$n]} | awk -v who="$n" -v r="$r" '{print who "\t" r "\t" $1 "\t" $2}' >>"$TMPD/all.tsv"
	done
done

echo "Channels, $ITERS operations per repetition, $ROUNDS interleaved rounds, CPU $CPU; kernel $(uname -r)"
echo
echo "| workload | runtime | ns (median over rounds) | min-max | ratio vs Go |"
echo "|---|---|---|---|---|"
awk -F'\t' '
	{ v[$3 "|" $1] = v[$3 "|" $1] " " $4; seen[$3] = 1 }
	function stats(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		MED = a[int((n + 1) / 2)]; MIN = a[1]; MAX = a[n]
	}
	END {
		split("pingpong-rdv pingpong-cap1 stream-cap128 stream-unbounded", wl, " ")
		split("coil go tokio", rt, " ")
		for (w = 1; w <= 4; w++) {
			if (!seen[wl[w]]) continue
			base = ""
			if ((wl[w] "|go") in v) { stats(v[wl[w] "|go"]); base = MED }
			for (k = 1; k <= 3; k++) {
				key = wl[w] "|" rt[k]
				if (!(key in v)) continue
				stats(v[key])
				ratio = base != "" ? sprintf("%.2f", MED / base) : "-"
				printf "| %s | %s | %.1f | %.1f-%.1f | %s |\n", wl[w], rt[k], MED, MIN, MAX, ratio
			}
		}
	}' "$TMPD/all.tsv"
