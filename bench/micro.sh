#!/usr/bin/env bash
# micro.sh: coil's micro benchmarks against their peers, in one bounded run.
#
#   bench/micro.sh [--rounds 3] [--cpu 1] [--reps 7] [--ctx-iters 10000000]
#                  [--sj-iters 1000000] [--batch 100] [--no-build] [--no-peers]
#                  [--raw-out FILE]
#
# 1. Builds: `cmake --preset bench` (with CMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG)
#    and `cmake --build --preset bench`, the Go peer (go build) and the Tokio
#    peer (cargo build --release, offline, against Debian's crates); installs
#    golang-go / librust-tokio-dev with apt-get when missing. A peer that
#    cannot be built is left out (with a message), not fatal.
# 2. Runs, for R rounds, each program once, pinned to one CPU (taskset), the
#    first program of the round rotating: build/bench/ctxswitch (coil ctx
#    switch, Boost.Context, swapcontext, coil_task_yield), build/bench/spawn_join
#    (coil), spawnjoin-go (GOMAXPROCS=1), spawnjoin-tokio (current_thread).
# 3. Counts the syscalls of steady-state spawn+join from outside: spawn_join
#    run twice under `perf stat -e raw_syscalls:sys_enter` (strace -f -c if perf
#    cannot), with a small and a large count; the difference per spawn+join
#    (0 expected). spawn_join's own in-process count is reported too.
# 4. Prints markdown tables: per row the median over rounds of each round's
#    median (each round's median is over --reps repetitions inside the
#    program), min-max over rounds in parentheses; ratios are per round
#    (same round) then median (min-max). Context switch: ratio to Boost;
#    spawn+join: ratio to Go.
#
# Defaults take about 1.5 minutes (plus the first build). Progress goes to
# stderr, the tables to stdout. See bench/README.md, "Micro benchmarks".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD="$ROOT/build/bench"
PEERS_OUT="$BUILD/peers"

ROUNDS=3
CPU=1
REPS=7
CTX_ITERS=10000000
SJ_ITERS=1000000
BATCH=100
BUILD_IT=1
PEERS=1
RAW_OUT=""
RUN_TIMEOUT=120

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--cpu) CPU=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--ctx-iters) CTX_ITERS=$2; shift 2 ;;
	--sj-iters) SJ_ITERS=$2; shift 2 ;;
	--batch) BATCH=$2; shift 2 ;;
	--no-build) BUILD_IT=0; shift ;;
	--no-peers) PEERS=0; shift ;;
	--raw-out) RAW_OUT=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "micro: unknown argument: $1" >&2; usage ;;
	esac
done
for v in "$ROUNDS" "$CPU" "$REPS" "$CTX_ITERS" "$SJ_ITERS" "$BATCH"; do
	[[ "$v" =~ ^[0-9]+$ ]] || { echo "micro: numeric options take whole numbers" >&2; exit 2; }
done
if [ "$ROUNDS" -lt 1 ] || [ "$REPS" -lt 1 ] || [ "$BATCH" -lt 1 ] || [ "$SJ_ITERS" -lt 1 ] ||
   [ "$CTX_ITERS" -lt 10 ]; then
	echo "micro: --rounds, --reps, --batch, --sj-iters must be >= 1, --ctx-iters >= 10" >&2; exit 2
fi
if [ "$CPU" -ge "$(nproc)" ]; then
	echo "micro: --cpu $CPU but only $(nproc) CPUs" >&2; exit 2
fi

TMPD=$(mktemp -d /tmp/micro.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "micro: $*" >&2; }

apt_install() { # package...: only as root with apt-get; never fatal
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
	log "apt-get install -y $*"
	timeout 300 apt-get install -y -qq "$@" >/dev/null 2>&1 ||
		{ timeout 120 apt-get update -qq >/dev/null 2>&1 &&
		  timeout 300 apt-get install -y -qq "$@" >/dev/null 2>&1; }
}

# ---- build ---------------------------------------------------------------------
command -v taskset >/dev/null || { log "taskset (util-linux) not found"; exit 1; }
if [ "$BUILD_IT" = 1 ]; then
	log "building coil and bench/ (cmake --preset bench, -O2)"
	(cd "$ROOT" && cmake --preset bench -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" >"$TMPD/cmake.log" 2>&1 &&
	 cmake --build --preset bench >>"$TMPD/cmake.log" 2>&1) ||
		{ cat "$TMPD/cmake.log" >&2; log "build failed"; exit 1; }
fi
CTX="$BUILD/ctxswitch"
SJ="$BUILD/spawn_join"
for b in "$CTX" "$SJ"; do
	[ -x "$b" ] || { log "missing $b (build with: cmake --preset bench && cmake --build --preset bench)"; exit 1; }
done

GO_BIN="$PEERS_OUT/spawnjoin-go"
TOKIO_BIN="$PEERS_OUT/tokio-target/release/spawnjoin-tokio"
if [ "$PEERS" = 1 ] && [ "$BUILD_IT" = 1 ]; then
	mkdir -p "$PEERS_OUT"
	command -v go >/dev/null || apt_install golang-go || true
	if command -v go >/dev/null; then
		log "building the Go peer ($(go version | awk '{print $3}'))"
		(cd "$HERE/peers/go" && GOCACHE="$PEERS_OUT/go-cache" GOPROXY=off GOFLAGS='' \
			timeout 300 go build -o "$GO_BIN" .) >"$TMPD/go.log" 2>&1 ||
			{ cat "$TMPD/go.log" >&2; log "Go peer did not build: left out"; rm -f "$GO_BIN"; }
	else
		log "no go (Debian: golang-go): Go peer left out"
	fi
	CARGO=$(command -v cargo || true)
	for c in /root/.cargo/bin/cargo /usr/bin/cargo; do
		[ -n "$CARGO" ] || { [ -x "$c" ] && CARGO=$c; }
	done
	if ! ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1; then
		apt_install librust-tokio-dev || true
	fi
	if [ -z "$CARGO" ]; then
		log "no cargo: Tokio peer left out"
	elif ! ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1; then
		log "no tokio in /usr/share/cargo/registry (Debian: librust-tokio-dev): Tokio peer left out"
	else
		log "building the Tokio peer (offline, Debian's crates)"
		# The .cargo/config.toml in bench/peers/tokio points crates-io at
		# /usr/share/cargo/registry; cargo reads it from the working directory.
		(cd "$HERE/peers/tokio" && CARGO_TARGET_DIR="$PEERS_OUT/tokio-target" \
			timeout 600 "$CARGO" build --release --offline) >"$TMPD/cargo.log" 2>&1 ||
			{ tail -20 "$TMPD/cargo.log" >&2; log "Tokio peer did not build: left out"; rm -f "$TOKIO_BIN"; }
	fi
fi

# ---- quiet machine? -------------------------------------------------------------
busy_check() {
	local a b
	a=$(grep '^cpu[0-9]' /proc/stat); sleep 0.5; b=$(grep '^cpu[0-9]' /proc/stat)
	paste <(echo "$a") <(echo "$b") | awk -v cpu="cpu$CPU" '
		{ n = (NF) / 2; t1 = 0; t2 = 0
		  for (i = 2; i <= n; i++) t1 += $i; for (i = n + 2; i <= NF; i++) t2 += $i
		  idle = ($(n + 5) + $(n + 6)) - ($5 + $6); tot = t2 - t1
		  if (tot > 0 && $1 == cpu && (tot - idle) / tot > 0.10)
		    printf "micro: warning: %s is %.0f%% busy before the run: expect noise\n", $1, 100 * (tot - idle) / tot > "/dev/stderr" }'
}
busy_check

# ---- runs ----------------------------------------------------------------------
RAW="$TMPD/raw.tsv" # round group name median min max iters syscalls
: >"$RAW"
PROGS=(ctx coil)
[ -x "$GO_BIN" ] && [ "$PEERS" = 1 ] && PROGS+=(go)
[ -x "$TOKIO_BIN" ] && [ "$PEERS" = 1 ] && PROGS+=(tokio)

run_prog() { # group round
	local g=$1 r=$2 out="$TMPD/out" ; local cmd
	case "$g" in
	ctx) cmd=("$CTX" --iters "$CTX_ITERS" --reps "$REPS" --tsv) ;;
	coil) cmd=("$SJ" --iters "$SJ_ITERS" --reps "$REPS" --batch "$BATCH" --tsv) ;;
	go) cmd=(env GOMAXPROCS=1 "$GO_BIN" -iters "$SJ_ITERS" -reps "$REPS" -batch "$BATCH" -tsv) ;;
	tokio) cmd=("$TOKIO_BIN" --iters "$SJ_ITERS" --reps "$REPS" --batch "$BATCH" --tsv) ;;
	esac
	if ! timeout "$RUN_TIMEOUT" taskset -c "$CPU" "${cmd[@]}" >"$out" 2>"$TMPD/err"; then
		cat "$TMPD/err" >&2; log "$g failed or timed out in round $r"; return 0
	fi
	awk -F'\t' -v r="$r" -v g="$g" 'NF >= 5 {
		s = (NF >= 7) ? $6 : -1
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r, g, $1, $2, $3, $4, $5, s }' "$out" >>"$RAW"
	log "round $r: $g: $(awk -F'\t' '{ printf "%s=%s ", $1, $2 }' "$out")"
}

n=${#PROGS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < n; i++)); do
		run_prog "${PROGS[$(((i + r - 1) % n))]}" "$r"
	done
done
[ -n "$RAW_OUT" ] && cp "$RAW" "$RAW_OUT"

# ---- syscalls of steady-state spawn+join, from outside ---------------------------
# spawn_join --reps 1 --no-count runs a warm-up of N/10 and one rep of N, so
# the loop runs 1.1 N times; the setup (coil_run, io_uring, stacks) is the same
# for both counts and cancels out.
SMALL=10000
LARGE=$((SMALL + 1000000))
count_syscalls() { # n -> total syscalls of one spawn_join run, or empty
	local n=$1 tool=$2
	if [ "$tool" = perf ]; then
		timeout 60 perf stat -x, -e raw_syscalls:sys_enter -- \
			taskset -c "$CPU" "$SJ" --iters "$n" --reps 1 --only seq --no-count \
			2>&1 >/dev/null | awk -F, '/raw_syscalls:sys_enter/ { print $1 }'
	else
		timeout 120 strace -f -c -o "$TMPD/strace" "$SJ" --iters "$n" --reps 1 --only seq \
			--no-count >/dev/null 2>&1 || return 0
		awk '$NF == "total" { print $(NF-1) }' "$TMPD/strace"
	fi
}
SYSTOOL=none
if command -v perf >/dev/null && timeout 10 perf stat -x, -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
	SYSTOOL=perf
elif command -v strace >/dev/null; then
	SYSTOOL=strace
fi
SYS_SMALL=""; SYS_LARGE=""
if [ "$SYSTOOL" != none ]; then
	SYS_SMALL=$(count_syscalls "$SMALL" "$SYSTOOL")
	SYS_LARGE=$(count_syscalls "$LARGE" "$SYSTOOL")
fi

# ---- tables --------------------------------------------------------------------
awk -F'\t' -v rounds="$ROUNDS" -v reps="$REPS" -v ctxn="$CTX_ITERS" -v sjn="$SJ_ITERS" \
    -v batch="$BATCH" -v cpu="$CPU" -v systool="$SYSTOOL" -v s1="$SYS_SMALL" -v s2="$SYS_LARGE" \
    -v n1="$SMALL" -v n2="$LARGE" '
function med(list,   a, k, i, j, t) { # list: space-separated numbers
	k = split(list, a, " ")
	for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
	lo = a[1]; hi = a[k]
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function fmt(x) { return (x < 20) ? sprintf("%.2f", x) : sprintf("%.1f", x) }
function cell(key,   m) { m = med(v[key]); return fmt(m) " (" fmt(lo) "–" fmt(hi) ")" }
function ratio(key, base,   r, list, i) { # per-round ratios, then median (min-max)
	if (key == base) return "1 (baseline)"
	list = ""
	for (r = 1; r <= rounds; r++)
		if ((r SUBSEP key) in byr && (r SUBSEP base) in byr && byr[r, base] > 0)
			list = list " " byr[r, key] / byr[r, base]
	if (list == "") return "–"
	m = med(list)
	return sprintf("%.2f (%.2f–%.2f)", m, lo, hi)
}
{
	key = $2 "/" $3
	v[key] = v[key] " " $4
	byr[$1, key] = $4
	if ($8 >= 0) sys[key] = sys[key] " " $8
}
END {
	printf "### Context switch (ns per switch; coil_yield: ns per yield)\n\n"
	printf "%d rounds, each the median of %d reps of %d round trips (swapcontext: %d), pinned to CPU %d. Cell: median over rounds (min–max over rounds).\n\n", rounds, reps, ctxn, int(ctxn / 10) + 1, cpu
	printf "| mechanism | ns | ratio vs Boost |\n|---|---|---|\n"
	n = split("coil_ctx boost swapcontext coil_yield", names, " ")
	split("coil__ctx_switch (asm; saves regs + MXCSR + x87 CW)|Boost.Context jump_fcontext (saves the same)|glibc swapcontext (+ sigprocmask syscall)|coil_task_yield, 2 fibers, per yield (1.5 switches + scheduler)", what, "|")
	for (i = 1; i <= n; i++) {
		key = "ctx/" names[i]
		if (!(key in v)) continue
		printf "| %s | %s | %s |\n", what[i], cell(key), ratio(key, "ctx/boost")
	}
	printf "\n### Spawn + join of an empty task (ns per spawn+join)\n\n"
	printf "%d rounds, each the median of %d reps of %d (batch: %d per batch), pinned to CPU %d. Cell: median over rounds (min–max over rounds).\n\n", rounds, reps, sjn, batch, cpu
	printf "| runtime | variant | ns | ratio vs Go |\n|---|---|---|---|\n"
	split("coil go tokio", rt, " ")
	split("coil (coil_task_spawn + coil_task_join)|Go (go + channel receive, GOMAXPROCS=1)|Tokio (spawn + await, current_thread)", rtw, "|")
	for (i = 1; i <= 3; i++)
		for (j = 1; j <= 2; j++) {
			var = (j == 1) ? "seq" : "batch"
			key = rt[i] "/" var
			if (!(key in v)) continue
			printf "| %s | %s | %s | %s |\n", rtw[i], (j == 1) ? "sequential" : "batch of " batch, cell(key), ratio(key, "go/" var)
		}
	printf "\n### Syscalls in steady-state spawn+join\n\n| check | result |\n|---|---|\n"
	for (j = 1; j <= 2; j++) {
		var = (j == 1) ? "seq" : "batch"
		key = "coil/" var
		if (key in sys) {
			k = split(sys[key], a, " "); mx = 0
			for (i = 1; i <= k; i++) if (a[i] + 0 > mx) mx = a[i] + 0
			printf "| spawn_join %s, in-process counter (raw_syscalls:sys_enter, one extra rep of %d) | %d syscalls (max over rounds) |\n", var, sjn, mx
		}
	}
	if (systool != "none" && s1 != "" && s2 != "") {
		d = s2 - s1
		printf "| %s: spawn_join seq, N=%d vs N=%d (whole process) | %d vs %d syscalls: %+d, %.6f per spawn+join |\n", (systool == "perf") ? "perf stat -e raw_syscalls:sys_enter" : "strace -f -c", n1, n2, s1, s2, d, d / (1.1 * (n2 - n1))
	} else
		printf "| external count | n/a (neither perf nor strace usable) |\n"
}' "$RAW"
