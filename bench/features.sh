#!/usr/bin/env bash
# features.sh: coil's kernel-feature matrix: each $COIL_FEATURES feature on
# and off, on the io_uring backend, against the raw liburing loop and fio.
#
#   bench/features.sh [--quick] [--rounds 3] [--seconds 3] [--conns "1 50 500"]
#                     [--sizes "64 4096"] [--features "bufring sqpoll send_zc accept_multi fixedbufs nowait bundle fixedfiles"]
#                     [--best auto|LIST] [--noise 0.03] [--mem-conns N] [--no-memory]
#                     [--no-files] [--data DIR] [--plots PREFIX]
#
# 1. Probe: start examples/echo_server with COIL_FEATURES=NAME for every
#    known name. A name this build does not know makes coil_run return
#    -EINVAL and the server exit 1 ("Invalid argument"): "not in this build".
# 2. Echo (bench/echo_compare.sh, once per size, all conns values; server on
#    CPU 1, loadgen on CPU 0, rounds interleaved), servers:
#      raw-uring            bench/raw_uring_echo, the baseline of every ratio
#      raw-uring-fixed      the same with --fixed-files (accepted sockets as
#                           direct descriptors): what registered files, which
#                           coil does not use, buy; judged against raw-uring
#      coil-base            every known feature forced off ("-a,-b,..."), --read copy
#      coil-lend-nofeature  the same, --read lend (coil_reader without the ring)
#      coil-NAME            NAME forced on, the others off (bufring: --read lend,
#                           the path it changes; bundle: with bufring, which it
#                           needs, --read lend; the others: --read copy)
#    Each feature is judged against the coil row that differs from it only by
#    that feature: coil-lend-nofeature for bufring, coil-bufring for bundle,
#    coil-base for the others. The per-round ratio of server CPU per round
#    trip decides: "pays" if every round's ratio is below 1 - noise, "costs"
#    if every round's ratio is above 1 + noise, else "within noise".
# 2b. The best set, in a second echo pass (raw-uring, coil-base, coil-best
#    interleaved again): --best auto (the default) takes every feature that
#    paid somewhere and cost nowhere in the first pass (bundle brings
#    bufring); --best LIST takes LIST. coil-best reads with --read lend when
#    the set has bufring, else copy, and is judged against coil-base.
# 3. Idle-connection memory (bench/memory.sh --no-fibers): raw-uring,
#    coil-copy, coil-lend-bufring, coil-lend-nobufring.
# 4. Files (bench/files.sh --coil-env): 4 KiB random reads, QD 1/32/128,
#    buffered and O_DIRECT, coil with every feature off and with every
#    feature on, against fio's engines in the same rounds.
# 5. Plots (gnuplot, when --plots is given): PREFIX-echo64.png and
#    PREFIX-echo4096.png: server CPU per round trip over raw-uring's, and
#    syscalls per round trip, per server and connection count.
#
# The markdown report goes to stdout, progress to stderr. --quick: 1 round of
# 1 s, 50 connections only, 2000 idle connections, no files (about 1 min).
# Every coil server runs with COIL_BACKEND=uring. Loopback only; every step
# is bounded by timeout. bench/run --only features wraps this in a report
# (bench/results/<date>-<commit>-features.md).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD="$ROOT/build/bench"
ECHO="$BUILD/examples/echo_server"
RAW="$BUILD/raw_uring_echo"
LOADGEN="$BUILD/loadgen"

KNOWN="bufring sqpoll send_zc accept_multi fixedbufs nowait bundle fixedfiles"
# Features of file I/O only: no echo row of their own (files compare them).
FILE_ONLY="fixedbufs nowait"
file_only() { [[ " $FILE_ONLY " == *" $1 "* ]]; }
QUICK=0
ROUNDS=""
SECS=""
CONNS=""
SIZES="64 4096"
BEST=auto
NOISE=0.03
MEM_CONNS=""
DO_MEMORY=1
DO_FILES=1
DATA=""
PLOTS=""
usage() { sed -n '2,43p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--sizes) SIZES=$2; shift 2 ;;
	--features) KNOWN=$2; shift 2 ;;
	--best) BEST=$2; shift 2 ;;
	--noise) NOISE=$2; shift 2 ;;
	--mem-conns) MEM_CONNS=$2; shift 2 ;;
	--no-memory) DO_MEMORY=0; shift ;;
	--no-files) DO_FILES=0; shift ;;
	--data) DATA=$2; shift 2 ;;
	--plots) PLOTS=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "features: unknown argument: $1" >&2; usage ;;
	esac
done
# --quick sets the short defaults; explicit options still win.
if [ "$QUICK" = 1 ]; then
	: "${ROUNDS:=1}" "${SECS:=1}" "${CONNS:=50}" "${MEM_CONNS:=2000}"
	DO_FILES=0
	WARMUP=0.3; SYS_SECS=1
else
	: "${ROUNDS:=3}" "${SECS:=3}" "${CONNS:=1 50 500}"
	WARMUP=1; SYS_SECS=2
fi
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "features: --rounds takes a positive number" >&2; exit 2; }
[[ "$SECS" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "features: --seconds takes a number" >&2; exit 2; }
[[ "$NOISE" =~ ^0?\.[0-9]+$ ]] || { echo "features: --noise takes a fraction (0.03)" >&2; exit 2; }

log() { echo "features: $*" >&2; }
for b in "$ECHO" "$RAW" "$LOADGEN"; do
	[ -x "$b" ] || { log "no $b: build first (cmake --preset bench && cmake --build --preset bench)"; exit 1; }
done
TMPD=$(mktemp -d /tmp/features.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ -n "$DATA" ] || DATA="$TMPD/data"
mkdir -p "$DATA"

# ---- which features this build has ---------------------------------------------
# probe_feature NAME: 0 if echo_server starts with COIL_FEATURES=NAME; else 1,
# with the reason in $TMPD/probe.why.
probe_feature() {
	local out="$TMPD/probe.out" err="$TMPD/probe.err" pid i rc
	: >"$out"
	COIL_BACKEND=uring COIL_FEATURES=$1 timeout 10 "$ECHO" --port 0 >"$out" 2>"$err" </dev/null &
	pid=$!
	for i in $(seq 60); do # up to 3 s
		grep -q '^listening on' "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if grep -q '^listening on' "$out"; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 0
	fi
	kill -KILL "$pid" 2>/dev/null || true
	rc=0; wait "$pid" 2>/dev/null || rc=$?
	# An unknown name: coil_run returns -EINVAL, echo_server exits 1 with strerror.
	if [ "$rc" = 1 ] && grep -q 'Invalid argument' "$err"; then
		echo "not in this build" >"$TMPD/probe.why"
	else
		echo "did not start (exit $rc: $(head -c 200 "$err" | tr '\n' ' '))" >"$TMPD/probe.why"
	fi
	return 1
}
HAVE=()      # features this build accepts
declare -A WHY=()
for f in $KNOWN; do
	if probe_feature "$f"; then
		HAVE+=("$f")
	else
		WHY[$f]=$(cat "$TMPD/probe.why")
		log "feature $f: ${WHY[$f]}"
	fi
done
log "features in this build: ${HAVE[*]:-none}"
has() { [[ " ${HAVE[*]} " == *" $1 "* ]]; }

# features_value ON...: the COIL_FEATURES value that forces ON on and every
# other feature of this build off ("-all" is not relied on).
features_value() {
	local f v=""
	for f in "${HAVE[@]}"; do
		if [[ " $* " == *" $f "* ]]; then v="$v,$f"; else v="$v,-$f"; fi
	done
	echo "${v#,}"
}
# The read path a feature changes: bufring and bundle work through coil_reader.
feature_read() { case $1 in bufring|bundle) echo lend ;; *) echo copy ;; esac; }
# What a feature's row turns on: bundle needs the buffer ring.
feature_set() { case $1 in bundle) echo "bufring bundle" ;; *) echo "$1" ;; esac; }
# The coil row a feature is judged against: the same row without the feature.
feature_ref() {
	case $1 in
	bundle) echo coil-bufring ;;
	*) [ "$(feature_read "$1")" = lend ] && echo coil-lend-nofeature || echo coil-base ;;
	esac
}
# drop_missing LIST: LIST without the features this build does not have.
drop_missing() {
	local f out=""
	for f in ${1//,/ }; do
		if has "$f"; then out="$out $f"; else log "--best: $f is not in this build: dropped"; fi
	done
	echo "${out# }"
}
[ "$BEST" = auto ] || BEST=$(drop_missing "$BEST")

# ---- the server variants -----------------------------------------------------------
# raw-uring-fixed: the raw loop with registered files (--fixed-files), what
# that feature, which coil does not have, buys a loop that uses it everywhere.
SERVERS="raw-uring=$RAW raw-uring-fixed=$RAW"
SRV_ENV=""
SRV_ARGS="raw-uring-fixed=--fixed-files"   # echo_compare form: one word per NAME=ARG
LEGEND=()     # "name|COIL_FEATURES|read" for the report
add_coil() { # name features-value read
	SERVERS="$SERVERS $1=$ECHO"
	SRV_ENV="$SRV_ENV $1=COIL_BACKEND=uring${2:+ $1=COIL_FEATURES=$2}"
	[ "$3" = copy ] || SRV_ARGS="$SRV_ARGS $1=--read $1=$3"
	LEGEND+=("$1|${2:-(coil defaults)}|$3")
}
OFF=$(features_value)
add_coil coil-base "$OFF" copy
add_coil coil-lend-nofeature "$OFF" lend
# shellcheck disable=SC2046
for f in "${HAVE[@]}"; do
	file_only "$f" || add_coil "coil-$f" "$(features_value $(feature_set "$f"))" "$(feature_read "$f")"
done
# Feature name -> "server|reference" pairs to judge.
JUDGE=()
for f in "${HAVE[@]}"; do file_only "$f" || JUDGE+=("$f|coil-$f|$(feature_ref "$f")"); done
has bufring && JUDGE+=("bufring + --read lend vs copy|coil-bufring|coil-base")
JUDGE+=("registered files, in the raw loop (not in coil)|raw-uring-fixed|raw-uring")
# The second pass's servers (the best set is added once it is known).
SERVERS2="raw-uring=$RAW coil-base=$ECHO"
SRV_ENV2="coil-base=COIL_BACKEND=uring coil-base=COIL_FEATURES=$OFF"
SRV_ARGS2=""

# ---- echo ------------------------------------------------------------------------
# run_echo SIZE TAG SERVERS ENV ARGS: echo_compare.sh over every conns value,
# raw data into $DATA/echo$TAG-SIZE.*.
run_echo() {
	local size=$1 tag=$2 servers=$3 env=$4 args=$5 nsrv nc bound
	nsrv=$(wc -w <<<"$servers"); nc=$(wc -w <<<"$CONNS")
	bound=$(awk -v n="$nsrv" -v c="$nc" -v r="$ROUNDS" -v s="$SECS" -v w="$WARMUP" -v y="$SYS_SECS" \
		'BEGIN { printf "%d", c * n * (r * (s + w + 3) + y + 5) + 120 }')
	log "echo$tag $size B, conns $CONNS, $ROUNDS round(s) of ${SECS} s, $nsrv servers (bounded at $bound s)"
	timeout -k 5 "$bound" "$HERE/echo_compare.sh" --conns "$CONNS" --size "$size" --seconds "$SECS" \
		--warmup "$WARMUP" --rounds "$ROUNDS" --syscall-seconds "$SYS_SECS" --loadgen "$LOADGEN" \
		--servers "$servers" --server-env "$env" --server-args "$args" \
		--raw-out "$DATA/echo$tag-$size.tsv" --sys-out "$DATA/echo$tag-$size-syscalls.tsv" \
		>"$DATA/echo$tag-$size.md" || log "echo$tag $size B: echo_compare failed (exit $?)"
}

# Shared awk: medians and per-round paired ratios. cpu[conns, round, server].
AWK_LIB='
function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t } }
function med(a, n) { sortv(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
# ratios(c, s, b): per-round ratios of s over b at conns c into R[1..NR_], sorted; returns the count.
function ratios(c, s, b,   r, n) { n = 0
	for (r = 1; r <= maxr; r++) if ((c SUBSEP r SUBSEP s) in cpu && (c SUBSEP r SUBSEP b) in cpu && cpu[c, r, b] > 0)
		R[++n] = cpu[c, r, s] / cpu[c, r, b]
	sortv(R, n); return n }
function ratio_cell(c, s, b,   n) { if (s == b) return "1"; n = ratios(c, s, b)
	if (!n) return "NA"; return n == 1 ? sprintf("%.3f", R[1]) : sprintf("%.3f (%.3f–%.3f)", med(R, n), R[1], R[n]) }
function load_res(f,   l, x) { while ((getline l < f) > 0) { split(l, x, "\t"); cpu[x[1], x[2], x[3]] = x[4]
	if (x[2] > maxr) maxr = x[2]; rps[x[1], x[3]] = rps[x[1], x[3]] " " x[6]; p99[x[1], x[3]] = p99[x[1], x[3]] " " x[8]
	cpus[x[1], x[3]] = cpus[x[1], x[3]] " " x[4] } }
function medlist(l,   a, n) { n = split(l, a, " "); if (!n) return "NA"; return med(a, n) }
'

# echo_table SIZE TAG SERVERS: one row per (conns, server): CPU, ratios, syscalls.
echo_table() {
	local size=$1 tag=$2 servers=$3 refs="" s
	for s in $servers; do
		s=${s%%=*}
		case $s in
		coil-base|raw-uring) ;;
		raw-uring-fixed) refs="$refs $s=raw-uring" ;;
		coil-lend-nofeature|coil-best) refs="$refs $s=coil-base" ;;
		coil-*) refs="$refs $s=$(feature_ref "${s#coil-}")" ;;
		esac
	done
	echo "| conns | server | CPU ns/rt | vs raw-uring | vs its coil reference | rt/s | p99 us | syscalls/rt | io_uring_enter/rt |"
	echo "|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' -v names="$(for s in $servers; do printf '%s ' "${s%%=*}"; done)" -v conns="$CONNS" -v refs="$refs" \
		-v res="$DATA/echo$tag-$size.tsv" "$AWK_LIB"'
	{ sys[$1, $2] = $4; ent[$1, $2] = $3 }
	END { load_res(res); nn = split(names, N, " "); nc = split(conns, C, " "); split(refs, RF, " ")
		for (i in RF) { split(RF[i], kv, "="); ref[kv[1]] = kv[2] }
		for (a = 1; a <= nc; a++) for (b = 1; b <= nn; b++) { c = C[a]; s = N[b]
			if (!((c SUBSEP s) in cpus)) { printf "| %s | %s | no result | | | | | | |\n", c, s; continue }
			printf "| %s | %s | %.0f | %s | %s | %.0f | %.1f | %s | %s |\n", c, s, medlist(cpus[c, s]),
				ratio_cell(c, s, "raw-uring"), (s in ref) ? ref[s] ": " ratio_cell(c, s, ref[s]) : "",
				medlist(rps[c, s]), medlist(p99[c, s]),
				((c SUBSEP s) in sys) ? sys[c, s] : "NA", ((c SUBSEP s) in ent) ? ent[c, s] : "NA" } }' \
		"$DATA/echo$tag-$size-syscalls.tsv"
}

# judge_all TAG PAIR...: "label<TAB>size<TAB>conns<TAB>verdict<TAB>median<TAB>min<TAB>max"
# per judged pair ("label|server|reference") and point, from every size's raw data.
judge_all() {
	local tag=$1 size j
	shift
	for size in $SIZES; do
		[ -s "$DATA/echo$tag-$size.tsv" ] || continue
		for j in "$@"; do
			IFS='|' read -r label srv ref <<<"$j"
			awk -v label="$label" -v s="$srv" -v b="$ref" -v size="$size" -v conns="$CONNS" -v noise="$NOISE" \
				-v res="$DATA/echo$tag-$size.tsv" "$AWK_LIB"'
			BEGIN { load_res(res); nc = split(conns, C, " ")
				for (a = 1; a <= nc; a++) { c = C[a]; n = ratios(c, s, b)
					if (!n) { printf "%s\t%s\t%s\tno result\tNA\tNA\tNA\n", label, size, c; continue }
					v = (R[n] < 1 - noise) ? "pays" : (R[1] > 1 + noise) ? "costs" : "within noise"
					printf "%s\t%s\t%s\t%s\t%.3f\t%.3f\t%.3f\n", label, size, c, v, med(R, n), R[1], R[n] } }'
		done
	done
}

# verdict_table: judged pairs as rows, (size, conns) points as columns.
verdict_table() {
	awk -F'\t' -v sizes="$SIZES" -v conns="$CONNS" '
	{ if (!($1 in seen)) { seen[$1] = 1; L[++nl] = $1 }
	  cell[$1, $2, $3] = ($4 == "no result") ? "no result" : sprintf("%s %s%s", $4, $5, ($6 == $7) ? "" : sprintf(" (%s–%s)", $6, $7)) }
	END { ns = split(sizes, S, " "); nc = split(conns, C, " ")
		printf "| feature (row vs its reference) |"; for (a = 1; a <= ns; a++) for (b = 1; b <= nc; b++) printf " %s B, %s conns |", S[a], C[b]
		printf "\n|---|"; for (a = 1; a <= ns * nc; a++) printf "---|"; printf "\n"
		for (i = 1; i <= nl; i++) { printf "| %s |", L[i]
			for (a = 1; a <= ns; a++) for (b = 1; b <= nc; b++) { k = L[i] SUBSEP S[a] SUBSEP C[b]; printf " %s |", (k in cell) ? cell[k] : "" }
			printf "\n" } }' "$DATA/verdicts.tsv"
}

# verdict_paragraph: per judged pair, where it pays and where it costs, and a
# one-word summary: pays (somewhere, never costs), costs, mixed, within noise.
verdict_paragraph() {
	awk -F'\t' '
	{ if (!($1 in seen)) { seen[$1] = 1; L[++nl] = $1 }
	  pt = $2 " B/" $3; if ($4 == "pays") p[$1] = p[$1] ", " pt; else if ($4 == "costs") c[$1] = c[$1] ", " pt; else if ($4 == "within noise") z[$1] = z[$1] ", " pt }
	END { for (i = 1; i <= nl; i++) { l = L[i]
		w = (p[l] != "" && c[l] == "") ? "pays" : (c[l] != "" && p[l] == "") ? "costs" : (p[l] != "") ? "mixed" : (z[l] != "") ? "within noise" : "no result"
		printf "- **%s: %s.**", l, w
		if (p[l] != "") printf " Pays at %s.", substr(p[l], 3)
		if (c[l] != "") printf " Costs at %s.", substr(c[l], 3)
		if (z[l] != "") printf " Within noise at %s.", substr(z[l], 3)
		printf "\n" } }' "$DATA/verdicts.tsv"
}

# plot_echo SIZE: clustered bars per conns value: CPU/rt over raw-uring's
# (median of per-round ratios) and syscalls/rt, one bar per server.
plot_echo() {
	local size=$1 names
	names=$(for s in $SERVERS; do printf '%s ' "${s%%=*}"; done)
	awk -F'\t' -v names="$names" -v conns="$CONNS" -v res="$DATA/echo-$size.tsv" -v out="$TMPD/plot-$size" "$AWK_LIB"'
	{ sys[$1, $2] = $4 }
	END { load_res(res); nn = split(names, N, " "); nc = split(conns, C, " ")
		for (a = 1; a <= nc; a++) { c = C[a]; l1 = c; l2 = c
			for (b = 1; b <= nn; b++) { n = ratios(c, N[b], "raw-uring"); l1 = l1 "\t" (n ? med(R, n) : "NaN")
				l2 = l2 "\t" (((c SUBSEP N[b]) in sys) && sys[c, N[b]] != "NA" ? sys[c, N[b]] : "NaN") }
			print l1 > (out ".cpu"); print l2 > (out ".sys") } }' "$DATA/echo-$size-syscalls.tsv"
	# gnuplot refuses a histogram column without one valid point: leave those out.
	bars() { # file -> the plot clauses of its columns that have a number
		local n i c=""
		n=$(wc -w <<<"$names")
		for i in $(seq 2 $((n + 1))); do
			awk -F'\t' -v i="$i" '$i != "NaN" { f = 1 } END { exit !f }' "$1" || continue
			c="$c${c:+, }'$1' using $i:xtic(1) title '$(awk -v i=$((i - 1)) '{ print $i }' <<<"$names")'"
		done
		echo "$c"
	}
	local cpu sys
	cpu=$(bars "$TMPD/plot-$size.cpu"); sys=$(bars "$TMPD/plot-$size.sys")
	[ -n "$cpu" ] || return 0
	# A panel with no bars at all (no syscall counts) gets a placeholder line.
	[ -n "$sys" ] || sys="0 with lines title 'no syscall counts'"
	gnuplot <<EOF 2>"$TMPD/gp.err" || { sed 's/^/    /' "$TMPD/gp.err" >&2; log "gnuplot failed for $size B"; return 0; }
set terminal pngcairo size 1400,540 font "sans,10" noenhanced
set output '$PLOTS-echo$size.png'
set multiplot layout 1,2 title "coil features: TCP echo, $size-byte messages, loopback (median of $ROUNDS round(s) of $SECS s); io_uring backend"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key outside bottom center horizontal font ",9"
set xlabel "connections"
set title "server CPU per round trip / raw-uring's (lower is better)"
set yrange [0:*]
plot $cpu, 1 with lines lc rgb "black" dt 2 notitle
set title "syscalls per round trip"
plot $sys
unset multiplot
EOF
	echo "$PLOTS-echo$size.png"
}

for size in $SIZES; do run_echo "$size" "" "$SERVERS" "$SRV_ENV" "$SRV_ARGS"; done
judge_all "" "${JUDGE[@]}" >"$DATA/verdicts.tsv"

# ---- the best set: chosen from the verdicts, measured in a second pass ------------
if [ "$BEST" = auto ]; then
	BEST=""
	for f in "${HAVE[@]}"; do
		file_only "$f" && continue
		awk -F'\t' -v f="$f" '$1 == f && $4 == "pays" { p = 1 } $1 == f && $4 == "costs" { c = 1 }
			END { exit !(p && !c) }' "$DATA/verdicts.tsv" || continue
		for g in $(feature_set "$f"); do [[ " $BEST " == *" $g "* ]] || BEST="$BEST $g"; done
	done
	BEST=${BEST# }
	log "best set (paid somewhere, cost nowhere): ${BEST:-none}"
	BEST_HOW="auto: every feature that paid somewhere and cost nowhere in the first pass"
else
	BEST_HOW="given by --best"
fi
BEST_READ=copy
[[ " $BEST " == *" bufring "* ]] && BEST_READ=lend
# shellcheck disable=SC2086
BEST_VALUE=$(features_value $BEST)
SERVERS2="$SERVERS2 coil-best=$ECHO"
SRV_ENV2="$SRV_ENV2 coil-best=COIL_BACKEND=uring coil-best=COIL_FEATURES=$BEST_VALUE"
LEGEND+=("coil-best (second pass)|$BEST_VALUE|$BEST_READ")
[ "$BEST_READ" = copy ] || SRV_ARGS2="coil-best=--read coil-best=lend"
for size in $SIZES; do run_echo "$size" "-best" "$SERVERS2" "$SRV_ENV2" "$SRV_ARGS2"; done
judge_all "-best" "best set (${BEST:-none})|coil-best|coil-base" >>"$DATA/verdicts.tsv"

# ---- memory -----------------------------------------------------------------------
if [ "$DO_MEMORY" = 1 ]; then
	msrv="raw-uring=$RAW coil-copy=$ECHO coil-lend-nobufring=$ECHO"
	menv="coil-copy=COIL_BACKEND=uring coil-copy=COIL_FEATURES=$OFF"
	menv="$menv coil-lend-nobufring=COIL_BACKEND=uring coil-lend-nobufring=COIL_FEATURES=$OFF"
	margs="coil-lend-nobufring=--read,lend"
	if has bufring; then
		msrv="$msrv coil-lend-bufring=$ECHO"
		menv="$menv coil-lend-bufring=COIL_BACKEND=uring coil-lend-bufring=COIL_FEATURES=$(features_value bufring)"
		margs="$margs coil-lend-bufring=--read,lend"
	fi
	log "idle-connection memory: ${MEM_CONNS:-the default number of} connections"
	timeout -k 5 1800 "$HERE/memory.sh" --no-fibers ${MEM_CONNS:+--conns "$MEM_CONNS"} \
		--servers "$msrv" --server-env "$menv" --server-args "$margs" >"$DATA/memory.md" ||
		log "memory.sh failed (exit $?)"
fi

# ---- files -----------------------------------------------------------------------
if [ "$DO_FILES" = 1 ]; then
	fenv="coil-base=COIL_BACKEND=uring coil-base=COIL_FEATURES=$OFF"
	# The features that change file reads, alone, then all.
	for f in fixedbufs nowait fixedfiles sqpoll; do
		has "$f" && fenv="$fenv coil-$f=COIL_BACKEND=uring coil-$f=COIL_FEATURES=$(features_value "$f")"
	done
	fenv="$fenv coil-all=COIL_BACKEND=uring coil-all=COIL_FEATURES=$(features_value "${HAVE[@]}")"
	log "files: coil-base and coil-all against fio, $ROUNDS round(s) of $SECS s"
	timeout -k 5 3600 "$HERE/files.sh" --rounds "$ROUNDS" --seconds "$SECS" --coil-env "$fenv" \
		--raw-out "$DATA/files.tsv" >"$DATA/files.md" || log "files.sh failed (exit $?)"
fi

# ---- report --------------------------------------------------------------------------
PNGS=()
if [ -n "$PLOTS" ] && command -v gnuplot >/dev/null; then
	for size in $SIZES; do
		[ -s "$DATA/echo-$size.tsv" ] || continue
		p=$(plot_echo "$size") && [ -n "$p" ] && PNGS+=("$p")
	done
fi

echo "Kernel $(uname -r), liburing $(pkg-config --modversion liburing 2>/dev/null || echo n/a); every coil server on the io_uring backend (COIL_BACKEND=uring). Echo: $ROUNDS round(s) of ${WARMUP} s warmup + ${SECS} s per server, servers interleaved; server on CPU 1, loadgen on CPU 0; loopback."
echo
echo "### Features"
echo
echo "| feature | in this build |"
echo "|---|---|"
for f in $KNOWN; do
	if has "$f"; then echo "| \`$f\` | yes |"; else echo "| \`$f\` | no: ${WHY[$f]} |"; fi
done
echo
echo "Servers (examples/echo_server unless raw-uring; \"-name\" forces a feature off):"
echo
echo "| server | COIL_FEATURES | --read |"
echo "|---|---|---|"
echo "| raw-uring | (bench/raw_uring_echo: the plain liburing loop, the baseline) | |"
echo "| raw-uring-fixed | (bench/raw_uring_echo --fixed-files: the same loop, sockets as registered direct descriptors) | |"
for l in "${LEGEND[@]}"; do IFS='|' read -r n v r <<<"$l"; echo "| $n | \`$v\` | $r |"; done

echo
echo "### Verdict"
echo
echo "Rule: per point (size, connections), the server CPU per round trip of the row over its reference's, paired by round. **pays** if every round's ratio is below $(awk -v n="$NOISE" 'BEGIN { print 1 - n }'), **costs** if every round's ratio is above $(awk -v n="$NOISE" 'BEGIN { print 1 + n }'), otherwise **within noise** (a ratio range that straddles the band, or lies inside it). The reference differs only by the feature: coil-lend-nofeature for bufring (both read through coil_reader), coil-bufring for bundle, coil-base for the others and for the best set (second pass: raw-uring, coil-base and coil-best interleaved again; the set: $BEST_HOW). Cells: verdict, median ratio (min–max over rounds). A feature pays on this machine if it pays somewhere and costs nowhere.$([ "$ROUNDS" -lt 3 ] && echo " With $ROUNDS round(s) the range is a single run: read this as a smoke test, not a verdict.")"
echo
if [ -s "$DATA/verdicts.tsv" ]; then
	verdict_table
	echo
	verdict_paragraph
else
	echo "No echo results to judge."
fi
missing=""
for f in $KNOWN; do has "$f" || missing="$missing, \`$f\`"; done
[ -z "$missing" ] || { echo; echo "Not in this build (not measured): ${missing#, }."; }

for size in $SIZES; do
	echo
	echo "### Echo, $size-byte messages"
	echo
	if [ ! -s "$DATA/echo-$size.tsv" ]; then echo "No results (see stderr)."; continue; fi
	[ -z "$PLOTS" ] || [ ! -s "$PLOTS-echo$size.png" ] || { echo "![features, echo $size B]($(basename "$PLOTS")-echo$size.png)"; echo; }
	echo "Medians over rounds; ratios paired by round, median (min–max). \"vs its coil reference\": the row the verdict uses. Syscalls from one separate ${SYS_SECS} s run under perf (strace if perf cannot)."
	echo
	echo_table "$size" "" "$SERVERS"
	if [ -s "$DATA/echo-best-$size.tsv" ]; then
		echo
		echo "The best set (\`${BEST:-none}\`, $BEST_HOW), second pass:"
		echo
		echo_table "$size" "-best" "$SERVERS2"
	fi
	echo
	echo "<details><summary>echo_compare.sh's full tables ($size B)</summary>"
	echo
	sed "s/^### /#### /" "$DATA/echo-$size.md"
	echo
	echo "</details>"
done

if [ "$DO_MEMORY" = 1 ]; then
	echo
	echo "### Idle-connection memory"
	echo
	echo "coil-copy: every feature off, --read copy (16 KiB buffer on each fiber's stack); coil-lend-*: --read lend (coil_reader), with and without the provided-buffer ring. Ratios to raw-uring's bytes per connection."
	echo
	sed 's/^### .*//' "$DATA/memory.md" | sed '/./,$!d'
	echo
	echo "| server | connections held | RSS per connection | vs raw-uring |"
	echo "|---|---|---|---|"
	awk -F'|' '$3 ~ /^ *[0-9]+ *$/ { n = $2; gsub(/ /, "", n); h[n] = $3 + 0; v = $6; gsub(/[^0-9]/, "", v); o[++k] = n; b[n] = v }
		END { for (i = 1; i <= k; i++) { n = o[i]
			printf "| %s | %d%s | %s | %s |\n", n, h[n], (h[n] < h["raw-uring"]) ? " (fewer: see the note above)" : "",
				b[n] == "" ? "NA" : b[n] " B", (b[n] != "" && b["raw-uring"] > 0) ? sprintf("%.2f", b[n] / b["raw-uring"]) : "NA" } }' "$DATA/memory.md"
fi

if [ "$DO_FILES" = 1 ]; then
	echo
	echo "### Files: 4 KiB random reads"
	echo
	echo "coil-base: \`COIL_FEATURES=$OFF\`; coil-all: \`COIL_FEATURES=$(features_value "${HAVE[@]}")\`. Ratios are IOPS over fio-io_uring's in the same round. Syscalls per read are not counted here."
	echo
	if [ -s "$DATA/files.md" ]; then
		sed "s/^### /#### /" "$DATA/files.md"
		echo
		echo "coil-all over coil-base, CPU ns per read, paired by round (same noise rule):"
		echo
		echo "| mode | QD | ratio | verdict |"
		echo "|---|---|---|---|"
		awk -F'\t' -v noise="$NOISE" '
		function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t } }
		{ v[$1, $2, $3, $4] = $8; if (!(($1 SUBSEP $2) in seen)) { seen[$1, $2] = 1; P[++np] = $1 SUBSEP $2 }; if ($3 > maxr) maxr = $3 }
		END { for (i = 1; i <= np; i++) { split(P[i], mq, SUBSEP); n = 0
			for (r = 1; r <= maxr; r++) if ((P[i] SUBSEP r SUBSEP "coil-all") in v && v[P[i], r, "coil-base"] > 0) R[++n] = v[P[i], r, "coil-all"] / v[P[i], r, "coil-base"]
			if (!n) { printf "| %s | %s | NA | no result |\n", mq[1], mq[2]; continue }
			sortv(R, n); m = n % 2 ? R[(n + 1) / 2] : (R[n / 2] + R[n / 2 + 1]) / 2
			printf "| %s | %s | %.3f (%.3f–%.3f) | %s |\n", mq[1], mq[2], m, R[1], R[n],
				(R[n] < 1 - noise) ? "pays" : (R[1] > 1 + noise) ? "costs" : "within noise" } }' "$DATA/files.tsv"
	else
		echo "No results (see stderr)."
	fi
else
	echo
	echo "### Files"
	echo
	echo "Not run ($([ "$QUICK" = 1 ] && echo "--quick" || echo "--no-files"))."
fi

if [ -n "$PLOTS" ] && [ ${#PNGS[@]} -eq 0 ]; then
	echo
	echo "No plots: $(command -v gnuplot >/dev/null && echo "gnuplot failed (see stderr)" || echo "gnuplot is not installed (apt-get install gnuplot-nox)")."
fi
