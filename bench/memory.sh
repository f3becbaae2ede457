#!/usr/bin/env bash
# memory.sh: resident memory per sleeping fiber and per idle connection.
#
#   bench/memory.sh [--fibers 100000] [--conns 100000] [--hold 2]
#                   [--servers "NAME=PATH ..."] [--server-env "NAME=VAR=VALUE ..."]
#                   [--server-args "NAME=ARG,ARG ..."] [--no-fibers]
#
# 1. Fibers: build/bench/mem_fibers --fibers N --cq-entries 65536, and once
#    more with N = 30000 (below coil's in-flight bound of cq_entries/2 =
#    32768): VmRSS before and after N fibers have parked in coil_sleep(1 h),
#    per fiber; then N fibers sleeping 1 s each: how long until all woke.
#    Needs vm.max_map_count >= 2 N + some (each stack is a mapping plus a
#    guard page); raised with sysctl when root, and said so.
# 2. Idle connections: each server starts, loadgen opens --conns connections
#    (from 127.0.0.1..127.0.0.4, so more than one port range), does one 64 B
#    round trip on each (so that the server has accepted it and run its
#    read), then holds them idle; the server's VmRSS then, minus its VmRSS
#    before, divided by the connections held. Kernel socket memory is not in
#    VmRSS and is not counted. A server that stops accepting is reported with
#    the number it held.
# --no-fibers skips part 1 (for drivers that only compare servers).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD="$ROOT/build/bench"
FIBERS=100000
CONNS=100000
HOLD=2
SERVERS=""
SRV_ENV=""
SRV_ARGS=""
FIBERS_PART=1
while [ $# -gt 0 ]; do
	case "$1" in
	--fibers) FIBERS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--hold) HOLD=$2; shift 2 ;;
	--servers) SERVERS=$2; shift 2 ;;
	--server-env) SRV_ENV=$2; shift 2 ;;
	--server-args) SRV_ARGS=$2; shift 2 ;;
	--no-fibers) FIBERS_PART=0; shift ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	*) echo "memory: unknown argument $1" >&2; exit 2 ;;
	esac
done
log() { echo "memory: $*" >&2; }
TMPD=$(mktemp -d /tmp/memory.XXXXXX)
SRV_PID=""
cleanup() { [ -z "$SRV_PID" ] || kill -KILL "$SRV_PID" 2>/dev/null || true; rm -rf "$TMPD"; }
trap cleanup EXIT

# ---- fibers ------------------------------------------------------------------
kv() { awk -v k="$1=" '{ for (i = 1; i <= NF; i++) if (index($i, k) == 1) { print substr($i, length(k) + 1); exit } }' <<<"$2"; }
if [ "$FIBERS_PART" = 1 ]; then
	need=$((2 * FIBERS + 10000))
	mmc=$(sysctl -n vm.max_map_count)
	MMC_NOTE="vm.max_map_count was $mmc"
	if [ "$mmc" -lt "$need" ]; then
		if [ "$(id -u)" = 0 ] && sysctl -qw vm.max_map_count=262144 2>/dev/null; then
			MMC_NOTE="vm.max_map_count raised from $mmc to 262144 for this run (sysctl -w)"
		else
			MMC_NOTE="vm.max_map_count is $mmc (< $need): spawns beyond ~$((mmc / 2)) fibers fail"
		fi
	fi
	log "$MMC_NOTE"
	echo "### Sleeping fibers"
	echo
	echo "build/bench/mem_fibers: N fibers parked in coil_sleep(1 h), default 128 KiB stacks (touched pages only are resident), cq_entries = 65536, so at most 32768 operations in flight; $MMC_NOTE. Then N fibers that sleep 1 s each, spawned at once: time until all have woken and been joined."
	echo
	echo "| fibers | started | RSS per fiber | spawn (all started) | cancel + join all | N x 1 s sleeps: all woke after | woke |"
	echo "|---|---|---|---|---|---|---|"
	for n in 30000 "$FIBERS"; do
		line=$(timeout 120 "$BUILD/mem_fibers" --fibers "$n" --cq-entries 65536 --wake-ms 1000 2>"$TMPD/err") ||
			{ log "mem_fibers --fibers $n failed: $(tail -n 3 "$TMPD/err")"; }
		log "fibers=$n: $line"
		[ -n "$line" ] || { echo "| $n | failed: $(tail -n 1 "$TMPD/err") | | | | | |"; continue; }
		printf "| %s | %s | %s B | %s ms | %s ms | %s ms | %s |\n" "$n" "$(kv started "$line")" \
			"$(kv per_fiber_bytes "$line")" "$(kv spawn_ms "$line")" "$(kv cancel_join_ms "$line")" \
			"$(kv wake_all_ms "$line")" "$(kv woke "$line")"
	done
	echo
fi

# ---- idle connections ---------------------------------------------------------
# One process may have at most RLIMIT_NOFILE descriptors; loadgen holds one
# per connection, and so does the server. Raise it if we may, else fit.
CONN_NOTE=""
ulimit -n $((CONNS + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
lim=$(ulimit -n)
if [ "$lim" != unlimited ] && [ "$lim" -lt $((CONNS + 1000)) ]; then
	CONN_NOTE=" RLIMIT_NOFILE is capped at $lim here (no CAP_SYS_RESOURCE to raise it), so $((lim - 1000)) connections were requested instead of $CONNS."
	log "RLIMIT_NOFILE hard limit $lim: $((lim - 1000)) connections instead of $CONNS"
	CONNS=$((lim - 1000))
fi
echo "### Idle connections"
echo
echo "$CONNS connections requested from loadgen (4 source addresses), one 64 B round trip each, then held idle; server VmRSS after minus before, per connection held. Kernel socket memory is not included.$CONN_NOTE"
echo
echo "| server | connections held | RSS before | RSS with them held | RSS per connection | note |"
echo "|---|---|---|---|---|---|"

server_env() { local e; for e in $SRV_ENV; do [ "${e%%=*}" = "$1" ] && printf '%s ' "${e#*=}"; done; return 0; }
# Extra arguments of a server, comma-separated ("coil-lend=--read,lend").
server_args() { local e; for e in $SRV_ARGS; do [ "${e%%=*}" = "$1" ] && printf '%s ' "${e#*=}" | tr , ' '; done; return 0; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
for s in $SERVERS; do
	name=${s%%=*} bin=${s#*=}
	read -r -a envs <<<"$(server_env "$name")"
	read -r -a args <<<"$(server_args "$name")"
	env "${envs[@]}" "$bin" "${args[@]}" --port 0 >"$TMPD/srv.out" 2>"$TMPD/srv.err" </dev/null &
	SRV_PID=$!
	port=""
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMPD/srv.out")
		[ -n "$port" ] && break; sleep 0.05
	done
	if [ -z "$port" ]; then echo "| $name | did not start | | | | |"; kill -KILL "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""; continue; fi
	sleep 0.2
	r0=$(rss_kib "$SRV_PID")
	timeout $((HOLD + 300)) "$BUILD/loadgen" --port "$port" --conns "$CONNS" --size 64 --duration 200 \
		--requests-per-conn 1 --hold "$HOLD" --src-ips 4 --timeout 5 >"$TMPD/lg.out" 2>"$TMPD/lg.err" &
	lg=$!
	for _ in $(seq 3000); do [ -s "$TMPD/lg.out" ] && break; kill -0 "$lg" 2>/dev/null || break; sleep 0.1; done
	r1=$(rss_kib "$SRV_PID")
	alive=1; grep -q '^State:[[:space:]]*[RSD]' "/proc/$SRV_PID/status" 2>/dev/null || alive=0
	wait "$lg" 2>/dev/null || true
	line=$(cat "$TMPD/lg.out")
	held=$(kv held "$line"); held=${held:-0}
	note=""
	[ "$held" -lt "$CONNS" ] && note="stopped accepting or echoing at $held; $(grep -m1 -v '^loadgen: conn' "$TMPD/lg.err" | head -c 120)"
	[ "$alive" = 1 ] || { note="server was not running when its RSS was read: no result; $note"; held=0; }
	[ -n "$r1" ] && [ "$r1" -gt "$r0" ] || { note="server RSS did not grow (read ${r1:-nothing}): no result; $note"; held=0; }
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for _ in $(seq 40); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""
	per=NA
	[ "$held" -gt 0 ] && per=$(awk -v a="$r0" -v b="$r1" -v n="$held" 'BEGIN { printf "%.0f B", (b - a) * 1024 / n }')
	log "$name: held=$held rss0=${r0} KiB rss=${r1} KiB per=$per $note"
	echo "| $name | $held | $((r0 / 1024)) MiB | $((r1 / 1024)) MiB | $per | $note |"
	sleep 1
done
