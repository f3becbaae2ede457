#!/usr/bin/env bash
# echo_compare.sh: compare TCP echo servers by server CPU time per round trip.
#
#   bench/echo_compare.sh [--conns "50 500"] [--size 64] [--seconds 5] [--rounds 3]
#                         [--warmup 1] [--syscall-seconds 2]
#                         [--servers "raw=PATH/raw_uring_echo coil=PATH/echo_server"]
#                         [--loadgen PATH] [--raw-out FILE] [--syscall-tool auto|strace]
#                         [--server-env "NAME=VAR=VALUE ..."] [--loadgen-args "ARGS"]
#                         [--unit rt] [--sys-out FILE] [--server-args "NAME=ARG ..."]
#                         [--server-cpus LIST] [--loadgen-cpus LIST]
#
# For each conns value, for each round, for each server in turn (A B, B A, A B ...):
# start the server pinned to CPU 1 with --port 0, read its port from the line
# "listening on 127.0.0.1:PORT", run bench/loadgen pinned to CPU 0, and take the
# server's CPU time over loadgen's measured window (loadgen --sample-pid reads
# /proc/PID/task/*/schedstat, ns on CPU, and utime from /proc/PID/stat exactly at
# the window's start and end). Then, per conns value and server, one extra short
# run under `perf stat -e syscalls:sys_enter_io_uring_enter,raw_syscalls:sys_enter
# -p PID` (strace -f -c if perf cannot) counts syscalls per round trip: all, and
# io_uring_enter, epoll_wait/poll (all their variants), reads (read, readv,
# recvfrom, recvmsg) and writes (write, writev, sendto, sendmsg) apart.
# The first server is the baseline of the "ratio" column. See bench/README.md.
# --server-env gives one server environment variables (e.g.
# "coil-epoll=COIL_BACKEND=epoll"); --loadgen-args passes extra arguments to
# every loadgen run (e.g. --churn, with --unit conn for the column names);
# --server-args appends arguments to one server's command line, one word per
# NAME=ARG (e.g. "tokio2=--threads tokio2=2"). --server-cpus / --loadgen-cpus
# (taskset lists; 1 and 0 by default) let a server with several threads use
# both CPUs: they then share them with loadgen, and CPU per round trip is
# still the server's own (every thread's schedstat).
# A server that does not start is left out (with a message), not fatal.
#
# Each server must be the executable itself (not a wrapper script: the PID we
# measure is the one we start), accept `--port 0`, print the listening line on
# stdout (flushed), and exit on SIGTERM. Loopback only; every step is time-bounded.
# Needs: taskset (util-linux), awk, gcc (only if loadgen/raw_uring_echo are not
# built), perf (Debian package linux-perf; installed with apt-get if missing) or
# strace as the fallback for the syscall column.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

CONNS="50 500"
SIZE=64
SECS=5
ROUNDS=3
WARMUP=1
SYS_SECS=2
SERVERS=""
LOADGEN=""
RAW_OUT=""
SYSTOOL=auto
SRV_ENV=""
LG_ARGS=""
UNIT=rt
SYS_OUT=""
SRV_ARGS=""
SRV_CPUS=1
LG_CPUS=0

usage() { sed -n '2,42p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--conns) CONNS=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--syscall-seconds) SYS_SECS=$2; shift 2 ;;
	--servers) SERVERS=$2; shift 2 ;;
	--loadgen) LOADGEN=$2; shift 2 ;;
	--syscall-tool) SYSTOOL=$2; shift 2 ;;
	--raw-out) RAW_OUT=$2; shift 2 ;;
	--server-env) SRV_ENV=$2; shift 2 ;;
	--loadgen-args) LG_ARGS=$2; shift 2 ;;
	--unit) UNIT=$2; shift 2 ;;
	--sys-out) SYS_OUT=$2; shift 2 ;;
	--server-args) SRV_ARGS=$2; shift 2 ;;
	--server-cpus) SRV_CPUS=$2; shift 2 ;;
	--loadgen-cpus) LG_CPUS=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "echo_compare: unknown argument: $1" >&2; usage ;;
	esac
done

for v in "$SIZE" "$ROUNDS"; do
	[[ "$v" =~ ^[0-9]+$ ]] || { echo "echo_compare: --size/--rounds take whole numbers" >&2; exit 2; }
done
for v in "$SECS" "$WARMUP" "$SYS_SECS"; do
	[[ "$v" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "echo_compare: --seconds/--warmup/--syscall-seconds take numbers" >&2; exit 2; }
done
for v in $CONNS; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "echo_compare: --conns takes positive whole numbers" >&2; exit 2; }
done
if awk -v s="$SECS" 'BEGIN { exit !(s <= 0) }' || [ "$ROUNDS" -eq 0 ] || [ "$SIZE" -eq 0 ] || [ -z "${CONNS// /}" ]; then
	echo "echo_compare: --seconds, --rounds, --size must be > 0 and --conns not empty" >&2; exit 2
fi

TMPD=$(mktemp -d /tmp/echo_compare.XXXXXX)
SRV_PID=""
MON_PID=""

cleanup() {
	for p in $MON_PID $SRV_PID; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "echo_compare: $*" >&2; }

# ---- tools ------------------------------------------------------------------
[ "$(nproc)" -ge 2 ] || { log "needs 2 CPUs (server on CPU 1, loadgen on CPU 0)"; exit 1; }
command -v taskset >/dev/null || { log "taskset (util-linux) not found"; exit 1; }

build_tool() { # name -> path of a built binary (from build/ if there, else gcc into TMPD)
	local name=$1 libs=$2 p
	for p in "$ROOT/build/bench/$name" "$ROOT/build/$name"; do
		[ -x "$p" ] && { echo "$p"; return; }
	done
	log "building $name from bench/$name.c with gcc"
	gcc -std=c11 -O2 -Wall -Wextra -o "$TMPD/$name" "$HERE/$name.c" ${libs:+"$libs"} >&2
	echo "$TMPD/$name"
}

[ -n "$LOADGEN" ] || LOADGEN=$(build_tool loadgen "")
if [ -z "$SERVERS" ]; then
	SERVERS="raw=$(build_tool raw_uring_echo -luring)"
	for p in "$ROOT/build/bench/examples/echo_server" "$ROOT/build/examples/echo_server" \
		 "$ROOT/build/bench/echo_server"; do
		[ -x "$p" ] && { SERVERS="$SERVERS coil=$p"; break; }
	done
fi

NAMES=(); BINS=()
for s in $SERVERS; do
	n=${s%%=*}; b=${s#*=}
	if [ "$n" = "$s" ] || [ -z "$n" ]; then log "--servers entries are NAME=PATH: $s"; exit 2; fi
	[ -x "$b" ] || { log "$n: not executable: $b"; exit 1; }
	NAMES+=("$n"); BINS+=("$b")
done

# Syscall counter: perf if it can read the syscall tracepoints, else strace.
SYSCOUNT=none
PERF_EVENTS=raw_syscalls:sys_enter
for e in io_uring_enter epoll_wait epoll_pwait epoll_pwait2 poll ppoll read readv recvfrom recvmsg \
	 write writev sendto sendmsg; do
	PERF_EVENTS="$PERF_EVENTS,syscalls:sys_enter_$e"
done
perf_ok() { timeout 10 perf stat -x, -e "$PERF_EVENTS" -- true >/dev/null 2>&1; }
if ! command -v perf >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	log "perf missing: apt-get install -y linux-perf"
	(timeout 300 apt-get install -y -qq linux-perf >/dev/null 2>&1 ||
	 { timeout 120 apt-get update -qq >/dev/null 2>&1 && timeout 300 apt-get install -y -qq linux-perf >/dev/null 2>&1; }) || true
fi
if [ "$SYSTOOL" = strace ]; then
	command -v strace >/dev/null && SYSCOUNT=strace
elif command -v perf >/dev/null && perf_ok; then
	SYSCOUNT=perf
else
	if ! command -v strace >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "perf unusable and strace missing: apt-get install -y strace"
		(timeout 300 apt-get install -y -qq strace >/dev/null 2>&1 ||
		 { timeout 120 apt-get update -qq >/dev/null 2>&1 && timeout 300 apt-get install -y -qq strace >/dev/null 2>&1; }) || true
	fi
	command -v strace >/dev/null && SYSCOUNT=strace
fi
[ "$SYSCOUNT" = none ] && log "neither perf nor strace usable: syscall columns will be NA"
awk -v s="$SYS_SECS" 'BEGIN { exit !(s <= 0) }' && SYSCOUNT=none

# Keep this script (and the tools it forks) off the server's CPU.
taskset -cp 0 $$ >/dev/null

# ---- server control ---------------------------------------------------------
SRV_PORT=""
server_env() { # name -> "VAR=VALUE ..." from --server-env
	local e
	for e in $SRV_ENV; do
		[ "${e%%=*}" = "$1" ] && printf '%s ' "${e#*=}"
	done
	return 0
}
server_args() { # name -> "ARG ..." from --server-args
	local e
	for e in $SRV_ARGS; do
		[ "${e%%=*}" = "$1" ] && printf '%s ' "${e#*=}"
	done
	return 0
}
start_server() { # bin [name]
	local bin=$1 i
	local -a envs args
	read -r -a envs <<<"$(server_env "${2:-}")"
	read -r -a args <<<"$(server_args "${2:-}")"
	: >"$TMPD/srv.out"
	# env and taskset exec: the PID we get is the server's.
	env "${envs[@]}" taskset -c "$SRV_CPUS" "$bin" --port 0 "${args[@]}" >"$TMPD/srv.out" 2>"$TMPD/srv.err" </dev/null &
	SRV_PID=$!
	SRV_PORT=""
	for i in $(seq 100); do # up to 5 s
		SRV_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p;T;q' "$TMPD/srv.out")
		[ -n "$SRV_PORT" ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	log "$bin did not print 'listening on 127.0.0.1:PORT' within 5 s; stderr:"
	sed 's/^/    /' "$TMPD/srv.err" >&2 || true
	stop_server
	return 1
}

stop_server() {
	local i
	[ -n "$SRV_PID" ] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for i in $(seq 40); do # up to 2 s, then SIGKILL
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$SRV_PID" 2>/dev/null; then
		log "server $SRV_PID ignored SIGTERM for 2 s: SIGKILL"
		kill -KILL "$SRV_PID" 2>/dev/null || true
	fi
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

kv() { # key line -> value of key=value in line, or NA
	awk -v k="$1=" '{ for (i = 1; i <= NF; i++) if (index($i, k) == 1) { v = substr($i, length(k) + 1); f = 1; exit } }
		END { print f ? v : "NA" }' <<<"$2"
}

run_loadgen() { # conns seconds warmup [extra args] -> loadgen's line on stdout
	local c=$1 s=$2 w=$3; shift 3
	local -a extra
	read -r -a extra <<<"$LG_ARGS"
	timeout -k 2 "$(awk -v a="$s" -v b="$w" 'BEGIN { printf "%d", a + b + 30 }')" taskset -c "$LG_CPUS" \
		"$LOADGEN" --host 127.0.0.1 --port "$SRV_PORT" \
		--conns "$c" --size "$SIZE" --duration "$s" --warmup "$w" "${extra[@]}" "$@" 2>"$TMPD/lg.err" || true
	if [ -s "$TMPD/lg.err" ]; then sed 's/^/    loadgen: /' "$TMPD/lg.err" >&2; fi
}

# ---- measured runs ----------------------------------------------------------
RES="$TMPD/results.tsv"   # conns round server cpu_ns_rt user_ns_rt rps p50 p99 errors
SYS="$TMPD/syscalls.tsv"  # conns server enter_rt syscalls_rt wait_rt read_rt write_rt
: >"$RES"; : >"$SYS"
CLK_TCK=$(getconf CLK_TCK)
total_runs=$(( $(wc -w <<<"$CONNS") * ROUNDS * ${#NAMES[@]} ))
log "servers: ${SERVERS}; loadgen: $LOADGEN; syscall counter: $SYSCOUNT"
log "$total_runs runs of ${WARMUP}+${SECS} s, about $(awk -v n="$total_runs" -v w="$WARMUP" -v s="$SECS" 'BEGIN { printf "%d", n * (w + s + 0.6) }') s plus the syscall runs"

# Warn if the CPUs are not idle before we start: other work makes rps and latency
# noisy (CPU per round trip much less so).
cpu_busy() { awk '$1 ~ /^cpu[0-9]+$/ { print $1, $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
b0=$(cpu_busy); sleep 0.5; b1=$(cpu_busy)
awk 'NR == FNR { busy[$1] = $2; idle[$1] = $3; next }
	{ db = $2 - busy[$1]; di = $3 - idle[$1]
	  if (db + di > 0 && db / (db + di) > 0.10)
		printf "echo_compare: warning: %s is %.0f%% busy before the runs: rps/latency will be noisy\n", $1, 100 * db / (db + di) }' \
	<(echo "$b0") <(echo "$b1") >&2

# Prime: one unrecorded short run, so that the first recorded run does not pay for a
# cold system (page cache, socket slabs, CPU frequency) alone.
if start_server "${BINS[0]}" "${NAMES[0]}"; then
	run_loadgen "$(awk '{ print $1 }' <<<"$CONNS")" 1 0 >/dev/null
	stop_server
fi
declare -A BROKEN=()

NSRV=${#NAMES[@]}
for c in $CONNS; do
	for r in $(seq "$ROUNDS"); do
		# Interleave, rotating who goes first each round (A B, B A, A B, ... for two
		# servers), so that an order effect does not always favour the same server.
		for k in $(seq 0 $((NSRV - 1))); do
			i=$(( (k + r - 1) % NSRV ))
			n=${NAMES[$i]}
			[ -z "${BROKEN[$n]:-}" ] || continue
			start_server "${BINS[$i]}" "$n" || { log "$n: left out"; BROKEN[$n]=1; continue; }
			line=$(run_loadgen "$c" "$SECS" "$WARMUP" --sample-pid "$SRV_PID")
			nthreads=$(find "/proc/$SRV_PID/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l || true)
			stop_server
			rtt=$(kv rtt "$line"); cpu=$(kv srv_cpu_ns "$line")
			ut=$(kv srv_utime_ticks "$line"); st=$(kv srv_stime_ticks "$line")
			errs=$(kv errors "$line")
			if [ "$rtt" = NA ] || [ "$rtt" = 0 ] || [ "$cpu" = NA ]; then
				log "conns=$c round=$r $n: no usable result: '$line'"
				continue
			fi
			[ "$errs" = 0 ] || log "conns=$c round=$r $n: loadgen reported $errs errors"
			awk -v c="$c" -v r="$r" -v n="$n" -v rtt="$rtt" -v cpu="$cpu" -v ut="$ut" \
			    -v tck="$CLK_TCK" -v rps="$(kv rps "$line")" -v p50="$(kv p50_us "$line")" \
			    -v p99="$(kv p99_us "$line")" -v e="$errs" 'BEGIN {
				printf "%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\n", c, r, n, cpu / rtt,
				       ut * 1e9 / tck / rtt, rps, p50, p99, e }' >>"$RES"
			log "conns=$c round=$r $n: $(tail -n1 "$RES" | cut -f4) ns/$UNIT, $(kv rps "$line") $UNIT/s, server busy $(awk -v c="$cpu" -v s="$(kv seconds "$line")" 'BEGIN { printf "%.0f", (s > 0 ? c / s / 1e7 : 0) }')%, threads=$nthreads"
			# Cross-check: /proc/PID/stat utime+stime (whole thread group, also threads
			# that exited in the window; clock ticks) against the schedstat sum.
			awk -v cpu="$cpu" -v t="$((ut + st))" -v tck="$CLK_TCK" 'BEGIN {
				s = t * 1e9 / tck; d = s - cpu; if (d < 0) d = -d
				if (d > 0.03 * cpu + 2e9 / tck)
					printf "echo_compare:   warning: CPU from schedstat %.3f s, from /proc/PID/stat %.3f s (threads that exited?)\n", cpu / 1e9, s / 1e9 }' >&2
		done
	done

	# Syscalls per round trip: one separate short run per server.
	for i in "${!NAMES[@]}"; do
		n=${NAMES[$i]}
		enter=NA; all=NA; wt=NA; rd=NA; wr=NA
		[ -z "${BROKEN[$n]:-}" ] || continue
		if [ "$SYSCOUNT" != none ]; then
			start_server "${BINS[$i]}" "$n" || { log "$n: left out"; BROKEN[$n]=1; continue; }
			if [ "$SYSCOUNT" = perf ]; then
				taskset -c 0 perf stat -x, -o "$TMPD/sys.out" -e "$PERF_EVENTS" \
					-p "$SRV_PID" >/dev/null 2>"$TMPD/mon.err" &
			else
				taskset -c 0 strace -f -c -o "$TMPD/sys.out" -p "$SRV_PID" \
					>/dev/null 2>"$TMPD/mon.err" &
			fi
			MON_PID=$!
			sleep 0.5
			line=$(run_loadgen "$c" "$SYS_SECS" 0)
			kill -INT "$MON_PID" 2>/dev/null || true
			for _ in $(seq 100); do kill -0 "$MON_PID" 2>/dev/null || break; sleep 0.05; done
			kill -KILL "$MON_PID" 2>/dev/null || true
			wait "$MON_PID" 2>/dev/null || true
			MON_PID=""
			stop_server
			rtt=$(kv total_rtt "$line")
			# name count pairs, then sums per group
			if [ "$SYSCOUNT" = perf ]; then
				awk -F, '$3 ~ /^(raw_)?syscalls:sys_enter/ { n = $3; sub(/.*sys_enter_?/, "", n); if (n == "") n = "total"; print n, ($1 ~ /^[0-9]+$/ ? $1 : 0) }' \
					"$TMPD/sys.out" >"$TMPD/sys.cnt"
			else # strace -c table: % time, seconds, usecs/call, calls, [errors], syscall
				awk '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ { print $NF, $4 }' "$TMPD/sys.out" >"$TMPD/sys.cnt"
			fi
			grp() { awk -v re="$1" '$1 ~ re { s += $2; f = 1 } END { print f ? s : "NA" }' "$TMPD/sys.cnt"; }
			e=$(grp '^io_uring_enter$'); a=$(grp '^total$')
			w=$(grp '^(epoll_wait|epoll_pwait|epoll_pwait2|poll|ppoll)$')
			rr=$(grp '^(read|readv|recvfrom|recvmsg)$'); ww=$(grp '^(write|writev|sendto|sendmsg)$')
			per() { [[ "$1" =~ ^[0-9]+$ ]] && awk -v x="$1" -v y="$rtt" 'BEGIN { printf "%.3f", x / y }' || echo NA; }
			if [[ "$rtt" =~ ^[0-9]+$ ]] && [ "$rtt" -gt 0 ]; then
				enter=$(per "$e"); all=$(per "$a"); wt=$(per "$w"); rd=$(per "$rr"); wr=$(per "$ww")
			fi
			[ "$enter" != NA ] || { log "conns=$c $n: syscall count failed"; sed 's/^/    /' "$TMPD/mon.err" >&2 || true; }
		fi
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$c" "$n" "$enter" "$all" "$wt" "$rd" "$wr" >>"$SYS"
	done
done

[ -z "$RAW_OUT" ] || cp "$RES" "$RAW_OUT"
[ -z "$SYS_OUT" ] || cp "$SYS" "$SYS_OUT"

# ---- report -----------------------------------------------------------------
echo
echo "Echo servers, loopback TCP, ${SIZE}-byte messages${LG_ARGS:+ (loadgen $LG_ARGS)}; server on CPU $SRV_CPUS, loadgen on CPU $LG_CPUS;"
echo "$ROUNDS rounds of ${WARMUP} s warmup + ${SECS} s, servers interleaved (first one rotated per round); median (min–max) over rounds."
if [ "$SYSCOUNT" = none ]; then
	echo "Kernel $(uname -r); no syscall counts (no separate syscall run)."
else
	echo "Kernel $(uname -r); syscall counts from $SYSCOUNT in a separate ${SYS_SECS} s run."
fi
for c in $CONNS; do
	echo
	echo "### conns=$c"
	echo
	awk -F'\t' -v c="$c" -v names="${NAMES[*]}" -v u="$UNIT" '
	function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
	function med(a, n) { sortv(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	function stat(s, col, fmt,   n, i, a) { n = 0; for (i = 1; i <= cnt[s]; i++) a[++n] = v[s, i, col];
		if (!n) return "NA"; m = med(a, n); return sprintf(fmt " (" fmt "–" fmt ")", m, a[1], a[n]) }
	function median_of(s, col,   n, i, a) { n = 0; for (i = 1; i <= cnt[s]; i++) a[++n] = v[s, i, col]; return n ? med(a, n) : 0 }
	FILENAME == ARGV[1] && $1 == c { s = $3; k = ++cnt[s]; for (f = 4; f <= 9; f++) v[s, k, f] = $f; rnd[s, k] = $2; errs[s] += $9 }
	FILENAME == ARGV[2] && $1 == c { ent[$2] = $3; sys[$2] = $4; wt[$2] = $5; rd[$2] = $6; wr[$2] = $7 }
	END {
		ns = split(names, N, " "); base = N[1]
		rs = (u == "rt") ? "rps" : u "/s"
		print "| server | CPU ns/" u " | ratio vs " base " | user ns/" u " | " rs " | p50 us | p99 us | io_uring_enter/" u " | epoll_wait+poll/" u " | read+recv/" u " | write+send/" u " | syscalls/" u " | errors |"
		print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		bm = median_of(base, 4)
		for (x = 1; x <= ns; x++) {
			s = N[x]
			if (!cnt[s]) { printf "| %s | no result |  |  |  |  |  |  |  |  |  |  |  |\n", s; continue }
			# ratio: of medians, with min–max of the per-round ratios (paired by round)
			ratio = "NA"
			if (s == base) ratio = "1 (baseline)"
			else if (bm > 0) {
				n = 0
				for (i = 1; i <= cnt[s]; i++) for (j = 1; j <= cnt[base]; j++)
					if (rnd[base, j] == rnd[s, i] && v[base, j, 4] > 0) pr[++n] = v[s, i, 4] / v[base, j, 4]
				if (n) { sortv(pr, n); ratio = sprintf("%.3f (%.3f–%.3f)", median_of(s, 4) / bm, pr[1], pr[n]) }
				else ratio = sprintf("%.3f", median_of(s, 4) / bm)
			}
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", s,
			       stat(s, 4, "%.0f"), ratio, stat(s, 5, "%.0f"), stat(s, 6, "%.0f"),
			       stat(s, 7, "%.1f"), stat(s, 8, "%.1f"),
			       (s in ent) ? ent[s] : "NA", (s in wt) ? wt[s] : "NA", (s in rd) ? rd[s] : "NA",
			       (s in wr) ? wr[s] : "NA", (s in sys) ? sys[s] : "NA", errs[s]
		}
	}' "$RES" "$SYS"
done
