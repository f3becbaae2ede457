#!/usr/bin/env bash
# files.sh: 4 KiB random reads of one file: coil (build/bench/file_randread)
# against fio's io_uring, libaio and psync engines, buffered and O_DIRECT, at
# several queue depths; interleaved rounds; a markdown table per mode.
#
#   bench/files.sh [--file PATH] [--size-mb 1024] [--qds "1 32 128"]
#                  [--modes "buffered direct"] [--seconds 3] [--warmup 1]
#                  [--rounds 3] [--cpu 1] [--raw-out FILE]
#                  [--coil-env "NAME=VAR=VALUE ..."]
#
# The file (default build/bench/files/randread.dat) is written once with
# real blocks (dd from /dev/zero, fsync), so every read goes to the device
# under O_DIRECT. Buffered runs read it once first (cat), so they measure
# the page-cache path (fio runs with --invalidate=0 so that it does not drop
# the cache); O_DIRECT runs measure the device. Every program runs
# pinned to --cpu. QD = coil fibers; fio iodepth (io_uring, libaio); psync is
# synchronous, so its QD is numjobs threads. Baseline: fio io_uring.
# CPU per read: coil from getrusage over its measured window; fio from each
# job's usr_cpu+sys_cpu percent times its runtime. Latency: coil times
# coil_file_read() (queueing in the batch included); fio reports clat.
# libaio on a buffered file is synchronous inside io_submit (a known libaio
# limitation), which the numbers show.
# coil runs with this script's environment (COIL_BACKEND, COIL_FEATURES, ...);
# --coil-env runs several coil contenders instead, each NAME with its own
# variables, interleaved with fio in the same rounds (e.g. "coil-off=COIL_FEATURES=-bufring
# coil-all=COIL_FEATURES=all"; a NAME may appear more than once).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD="$ROOT/build/bench"
FILE="$BUILD/files/randread.dat"
SIZE_MB=1024
QDS="1 32 128"
MODES="buffered direct"
SECS=3
WARMUP=1
ROUNDS=3
CPU=1
RAW_OUT=""
COIL_ENV=""
while [ $# -gt 0 ]; do
	case "$1" in
	--file) FILE=$2; shift 2 ;;
	--size-mb) SIZE_MB=$2; shift 2 ;;
	--qds) QDS=$2; shift 2 ;;
	--modes) MODES=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--cpu) CPU=$2; shift 2 ;;
	--raw-out) RAW_OUT=$2; shift 2 ;;
	--coil-env) COIL_ENV=$2; shift 2 ;;
	-h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	*) echo "files: unknown argument $1" >&2; exit 2 ;;
	esac
done
log() { echo "files: $*" >&2; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v fio >/dev/null || { log "fio missing (apt-get install fio)"; exit 1; }
[ -x "$BUILD/file_randread" ] || { log "no $BUILD/file_randread: build the bench preset"; exit 1; }
TMPD=$(mktemp -d /tmp/files.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT

mkdir -p "$(dirname "$FILE")"
want=$((SIZE_MB * 1024 * 1024))
have=$(stat -c %s "$FILE" 2>/dev/null || echo 0)
if [ "$have" -ne "$want" ]; then
	log "writing $FILE ($SIZE_MB MiB)"
	timeout 600 dd if=/dev/zero of="$FILE" bs=1M count="$SIZE_MB" conv=fsync status=none
fi
dev=$(df --output=source "$FILE" | tail -n1)
fstype=$(df --output=fstype "$FILE" | tail -n1)
log "file $FILE on $dev ($fstype)"

TMO=$(awk -v a="$SECS" -v b="$WARMUP" 'BEGIN { printf "%d", a + b + 60 }')
MS() { awk -v a="$1" 'BEGIN { printf "%dms", a * 1000 }'; }
RES="$TMPD/res.tsv" # mode qd round who iops p50 p99 cpu_ns_op
: >"$RES"
# The coil contenders: "coil" (this environment) unless --coil-env names others.
COILS=()
for e in $COIL_ENV; do
	n=${e%%=*}
	[[ " ${COILS[*]} " == *" $n "* ]] || COILS+=("$n")
done
[ ${#COILS[@]} -gt 0 ] || COILS=(coil)
is_coil() { [[ " ${COILS[*]} " == *" $1 "* ]]; }
coil_env() { local e; for e in $COIL_ENV; do [ "${e%%=*}" = "$1" ] && printf '%s ' "${e#*=}"; done; return 0; }
run_one() { # mode qd who round
	local mode=$1 qd=$2 who=$3 r=$4 d=0 line
	[ "$mode" = direct ] && d=1
	if is_coil "$who"; then
		local -a envs
		read -r -a envs <<<"$(coil_env "$who")"
		line=$(env "${envs[@]}" timeout "$TMO" taskset -c "$CPU" "$BUILD/file_randread" --file "$FILE" \
			--qd "$qd" $([ $d = 1 ] && echo --direct) --seconds "$SECS" --warmup "$WARMUP" 2>"$TMPD/err") ||
			{ log "$who $mode qd=$qd failed: $(cat "$TMPD/err")"; return 0; }
		awk -v m="$mode" -v q="$qd" -v r="$r" -v w="$who" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m, q, r, w, v["iops"], v["p50_us"], v["p99_us"], v["cpu_ns_op"] }' \
			<<<"$line" >>"$RES"
	else
		local eng=${who#fio-} jobs=1 depth=$qd
		[ "$eng" = psync ] && { jobs=$qd; depth=1; }
		timeout "$TMO" taskset -c "$CPU" fio --name=rr --filename="$FILE" --rw=randread \
			--bs=4k --ioengine="$eng" --iodepth="$depth" --numjobs="$jobs" --thread --direct="$d" \
			--invalidate=0 --time_based --runtime="$(MS "$SECS")" --ramp_time="$(MS "$WARMUP")" --norandommap --randrepeat=0 \
			--output-format=json >"$TMPD/fio.json" 2>"$TMPD/err" ||
			{ log "$who $mode qd=$qd failed: $(tail -n 3 "$TMPD/err")"; return 0; }
		"$PY" - "$TMPD/fio.json" "$mode" "$qd" "$r" "$who" >>"$RES" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ios = iops = cpu_ns = 0.0
p50 = p99 = 0.0
for j in d["jobs"]:
    rd = j["read"]
    ios += rd["total_ios"]; iops += rd["iops"]
    cpu_ns += (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * j["job_runtime"] * 1e6
    pc = rd["clat_ns"].get("percentile", {})
    p50 = max(p50, pc.get("50.000000", 0) / 1000.0)
    p99 = max(p99, pc.get("99.000000", 0) / 1000.0)
print("%s\t%s\t%s\t%s\t%.0f\t%.1f\t%.1f\t%.0f" % (sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
      iops, p50, p99, cpu_ns / ios if ios else 0))
PYEOF
	fi
	log "$mode qd=$qd round=$r $who: $(tail -n1 "$RES" | cut -f5-8 | tr '\t' ' ')"
}

WHO=(fio-io_uring "${COILS[@]}" fio-libaio fio-psync)
for mode in $MODES; do
	[ "$mode" = buffered ] && { log "reading the file into the page cache"; cat "$FILE" >/dev/null; }
	for qd in $QDS; do
		for ((r = 1; r <= ROUNDS; r++)); do
			for ((k = 0; k < ${#WHO[@]}; k++)); do
				run_one "$mode" "$qd" "${WHO[$(((k + r - 1) % ${#WHO[@]}))]}" "$r"
			done
		done
	done
done
[ -z "$RAW_OUT" ] || cp "$RES" "$RAW_OUT"

echo "4 KiB random reads of a ${SIZE_MB} MiB file on $dev ($fstype), pinned to CPU $CPU; $ROUNDS rounds of ${WARMUP} s warmup + ${SECS} s, contenders interleaved; median (min–max) over rounds; ratios per round to fio io_uring, then median (min–max)."
for mode in $MODES; do
	echo
	echo "### $mode$([ "$mode" = direct ] && echo " (O_DIRECT)")"
	echo
	echo "| QD | contender | IOPS | ratio vs fio-io_uring | p50 us | p99 us | CPU ns/read |"
	echo "|---|---|---|---|---|---|---|"
	awk -F'\t' -v m="$mode" -v qds="$QDS" -v who="${WHO[*]}" '
	function med(list,   a, k, i, j, t) { k = split(list, a, " ")
		for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		lo = a[1]; hi = a[k]; return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
	function cell(l, f,   m) { if (l == "") return "NA"; m = med(l); return sprintf(f " (" f "–" f ")", m, lo, hi) }
	$1 == m { k = $2 SUBSEP $4; io[k] = io[k] " " $5; p5[k] = p5[k] " " $6; p9[k] = p9[k] " " $7; cp[k] = cp[k] " " $8; byr[$2, $4, $3] = $5 }
	END { nq = split(qds, Q, " "); nw = split(who, W, " ")
		for (a = 1; a <= nq; a++) for (b = 1; b <= nw; b++) { q = Q[a]; w = W[b]; k = q SUBSEP w
			if (!(k in io)) continue
			rl = ""
			for (r = 1; r <= 99; r++) if ((q SUBSEP w SUBSEP r) in byr && byr[q, "fio-io_uring", r] > 0) rl = rl " " byr[q, w, r] / byr[q, "fio-io_uring", r]
			rt = (w == "fio-io_uring") ? "1 (baseline)" : (rl == "" ? "NA" : cell(rl, "%.2f"))
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", q, w, cell(io[k], "%.0f"), rt, cell(p5[k], "%.1f"), cell(p9[k], "%.1f"), cell(cp[k], "%.0f") } }' "$RES"
done
