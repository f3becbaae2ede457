#!/usr/bin/env bash
# xworker_compare.sh: crossing workers, coil (2 workers, bench/xworker.c)
# against Go (GOMAXPROCS=2, bench/peers/go/xworker) and Tokio's multi_thread
# runtime with 2 workers (bench/peers/tokio/src/bin/xworker-tokio.rs), in one
# run: contenders interleaved for ROUNDS rounds, not pinned (two workers take
# both CPUs of the lab VM); median of the round medians, min-max over rounds,
# ratio to Go. coil places fibers on workers, so its "cross" rows really
# cross threads; Go and Tokio decide themselves (a woken goroutine or task
# usually runs on its waker's thread), which is their default behaviour and
# what their users get. coil's local-pingpong-rdv row is what coil gives for
# the same program with both fibers on one worker.
#
# --baseline PATH adds another build of bench/xworker (e.g. the commit
# before a change) as "coil-base", interleaved with the others.
#
#   bench/xworker_compare.sh [--rounds R] [--iters N] [--wakes W] [--backend NAME] [--baseline PATH]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=3 ITERS=200000 WAKES=2000 BACKEND="" BASELINE=""
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--iters) ITERS=$2; shift 2 ;;
	--wakes) WAKES=$2; shift 2 ;;
	--backend) BACKEND=$2; shift 2 ;;
	--baseline) BASELINE=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds R] [--iters N] [--wakes W] [--backend NAME] [--baseline PATH]" >&2; exit 2 ;;
	esac
done
OUT="$ROOT/build/bench/peers"
mkdir -p "$OUT"
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

(cd "$ROOT" && cmake --preset bench >/dev/null && cmake --build --preset bench --target xworker >/dev/null)
command -v go >/dev/null || apt-get install -y -qq golang-go >/dev/null
(cd "$HERE/peers/go" && GOFLAGS=-mod=mod timeout 300 go build -o "$OUT/xworker-go" ./xworker)
CARGO=$(command -v cargo || echo /root/.cargo/bin/cargo)
TOKIO=""
if [ -x "$CARGO" ] && ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1; then
	(cd "$HERE/peers/tokio" && CARGO_TARGET_DIR="$OUT/tokio-target" \
		timeout 600 "$CARGO" build --release --offline --bin xworker-tokio >"$TMPD/cargo.log" 2>&1) &&
		TOKIO="$OUT/tokio-target/release/xworker-tokio"
fi

declare -A CMD=(
	[coil]="$ROOT/build/bench/xworker --iters $ITERS --wakes $WAKES --reps 5 --tsv"
	[go]="$OUT/xworker-go -iters $ITERS -wakes $WAKES -reps 5"
)
names=(coil go)
if [ -n "$BASELINE" ]; then CMD[coil-base]="$BASELINE --iters $ITERS --wakes $WAKES --reps 5 --tsv"; names+=(coil-base); fi
if [ -n "$TOKIO" ]; then CMD[tokio]="$TOKIO --iters $ITERS --wakes $WAKES --reps 5"; names+=(tokio); fi

for r in $(seq "$ROUNDS"); do
	for n in "${names[@]}"; do
		# shellcheck disable=SC2086
		COIL_BACKEND=$BACKEND ${CMD[$n]} | awk -v who="$n" -v r="$r" '{print who "\t" r "\t" $1 "\t" $2}' >>"$TMPD/all.tsv"
	done
done

# Shared by the tables' awk programs: rows are "runtime round workload ns";
# stats(list of values) sets MED, MIN and MAX.
STATS='
	{ v[$3 "|" $1] = v[$3 "|" $1] " " $4; seen[$3] = 1 }
	function stats(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		MED = a[int((n + 1) / 2)]; MIN = a[1]; MAX = a[n]
	}'

echo "Crossing workers, 2 workers/threads each, $ROUNDS interleaved rounds (5 repetitions each, $ITERS round trips, $WAKES wakes); coil backend ${BACKEND:-uring}; kernel $(uname -r)"
echo
echo "| workload | runtime | ns (median over rounds) | min-max | ratio vs Go |"
echo "|---|---|---|---|---|"
awk -F'\t' "$STATS"'
	END {
		nw = split("local-pingpong-rdv local-pingpong-cap1 cross-pingpong-rdv cross-pingpong-cap1 cross-spawn-join placed-spawn-join wake-worker-p50 wake-worker-p99 wake-thread-p50 wake-thread-p99 placed-wake-p50 placed-wake-p99", wl, " ")
		nr = split("coil coil-base go tokio", rt, " ")
		for (w = 1; w <= nw; w++) {
			if (!seen[wl[w]]) continue
			base = ""
			if ((wl[w] "|go") in v) { stats(v[wl[w] "|go"]); base = MED }
			for (k = 1; k <= nr; k++) {
				key = wl[w] "|" rt[k]
				if (!(key in v)) continue
				stats(v[key])
				ratio = base != "" ? sprintf("%.2f", MED / base) : "-"
				printf "| %s | %s | %.1f | %.1f-%.1f | %s |\n", wl[w], rt[k], MED, MIN, MAX, ratio
			}
		}
	}' "$TMPD/all.tsv"

echo
echo "The same program in each runtime: what coil_task_spawn places (the spawner's worker, COIL_PLACE_LOCAL) against Go's and Tokio's rows, which place a new or woken goroutine/task on the spawner's or waker's thread"
echo
echo "| program | coil row | runtime | ns (median over rounds) | min-max | ratio vs Go |"
echo "|---|---|---|---|---|---|"
awk -F'\t' "$STATS"'
	END {
		np = split("cross-pingpong-rdv:local-pingpong-rdv cross-pingpong-cap1:local-pingpong-cap1 cross-spawn-join:placed-spawn-join wake-worker-p50:placed-wake-p50 wake-worker-p99:placed-wake-p99", pl, " ")
		nr = split("coil coil-base go tokio", rt, " ")
		for (p = 1; p <= np; p++) {
			split(pl[p], two, ":")
			base = ""
			if ((two[1] "|go") in v) { stats(v[two[1] "|go"]); base = MED }
			for (k = 1; k <= nr; k++) {
				row = rt[k] ~ /^coil/ ? two[2] : two[1]
				key = row "|" rt[k]
				if (!(key in v)) continue
				stats(v[key])
				ratio = base != "" ? sprintf("%.2f", MED / base) : "-"
				printf "| %s | %s | %s | %.1f | %.1f-%.1f | %s |\n", two[1], rt[k] ~ /^coil/ ? two[2] : "-", rt[k], MED, MIN, MAX, ratio
			}
		}
	}' "$TMPD/all.tsv"

echo
echo "Forced crossing: the same program with the second task kept on the other thread in each runtime (coil: coil_task_spawn_on, its cross-* and wake-worker rows; Go: the echoing or receiving goroutine under runtime.LockOSThread; Tokio: that task on a current_thread runtime of its own thread, or spawned there through its Handle)"
echo
echo "| program | runtime | row | ns (median over rounds) | min-max | coil / this |"
echo "|---|---|---|---|---|---|"
awk -F'\t' "$STATS"'
	END {
		# program:coil row:peer row
		np = split("pingpong-rdv:cross-pingpong-rdv:forced-pingpong-rdv pingpong-cap1:cross-pingpong-cap1:forced-pingpong-cap1 spawn-join:cross-spawn-join:forced-spawn-join wake-p50:wake-worker-p50:forced-wake-p50 wake-p99:wake-worker-p99:forced-wake-p99", pl, " ")
		nr = split("coil coil-base go tokio", rt, " ")
		for (p = 1; p <= np; p++) {
			split(pl[p], three, ":")
			if (!((three[2] "|coil") in v)) continue
			stats(v[three[2] "|coil"]); mine = MED
			for (k = 1; k <= nr; k++) {
				row = rt[k] ~ /^coil/ ? three[2] : three[3]
				key = row "|" rt[k]
				if (!(key in v)) continue
				stats(v[key])
				printf "| %s | %s | %s | %.1f | %.1f-%.1f | %.2f |\n", three[1], rt[k], row, MED, MIN, MAX, mine / MED
			}
		}
	}' "$TMPD/all.tsv"
