#!/usr/bin/env bash
# http_attack.sh: a healthy client's latency while hostile clients run,
# coil's http_hello beside nginx, same machine, same run.
#
#   bench/http_attack.sh [--seconds 10] [--rounds 3] [--conns 10]
#                        [--slowloris 200] [--deaf 10] [--garbage 10]
#                        [--hello PATH] [--out FILE]
#
# The servers are those of bench/http_compare.sh: examples/http_hello
# --workers 1 (its defaults: head deadline 10 s, per-I/O timeout 60 s) and
# Debian's nginx with one worker (master_process off, access_log off; its
# defaults: client_header_timeout 60 s, send_timeout 60 s), each pinned to
# CPU 1. The healthy client is wrk -t1 -c CONNS --latency on CPU 0, GET /
# keep-alive. For each round, each server in turn (the order alternates):
#   quiet     the healthy client alone
#   attacked  the same while bench/http_attackers.py (on CPU 0 too) runs
#             SLOWLORIS connections sending a head a byte a second, DEAF
#             connections that pipeline requests and never read, GARBAGE
#             connections sending random bytes; they start 3 s before the
#             healthy client and stop after it
# The table gives the medians of p50, p99 and requests/s, the attacked /
# quiet ratio of each server, and coil / nginx. Loopback only; each step
# is time-bounded. nginx and wrk are installed with apt-get when missing
# (root): for this benchmark only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=10
ROUNDS=3
CONNS=10
SLOW=200
DEAF=10
GARB=10
HELLO=""
OUT=""

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--slowloris) SLOW=$2; shift 2 ;;
	--deaf) DEAF=$2; shift 2 ;;
	--garbage) GARB=$2; shift 2 ;;
	--hello) HELLO=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) usage ;;
	esac
done

# shellcheck source=http_lib.sh source-path=SCRIPTDIR
. "$HERE/http_lib.sh"
need nginx nginx-light
need wrk wrk
install_needed
NGINX=$(cmd_path nginx)
if [ -z "$HELLO" ]; then
	build_examples http_hello
	HELLO=$ROOT/build/bench/examples/http_hello
fi

TMP=$(mktemp -d)
SRV_PID=""
ATK_PID=""
cleanup() { kill_wait "$ATK_PID" "$SRV_PID"; rm -rf "$TMP"; }
trap cleanup EXIT
# Attack connections: a few hundred fds in the servers and in the attacker.
ulimit -n 65536 2>/dev/null || true

start_nginx() {
	nginx_conf "$TMP/nginx" 1 4096 "	keepalive_requests 1000;
$(nginx_hello "$1")" "worker_rlimit_nofile 65536;"
	run_nginx "$TMP/nginx" "$1" 1
}

start_coil() {
	start_server "$1" 1 "$TMP/coil.out" - "$HELLO" --port "$1" --workers 1
}

# One healthy wrk run: prints "rps p50_ms p99_ms".
measure() { wrk_measure 0 "$CONNS" "$SECS" "http://127.0.0.1:$1/" | cut -d' ' -f1-3; }

for round in $(seq "$ROUNDS"); do
	for srv in $(rotate "$round" nginx coil); do
		port=$(free_port)
		"start_$srv" "$port"
		wrk_warmup 0 "$CONNS" "http://127.0.0.1:$port/"
		r=$(measure "$port")
		add "$srv,quiet" "$r"
		echo "round $round $srv quiet: $r (req/s p50ms p99ms)"
		taskset -c 0 python3 "$HERE/http_attackers.py" --port "$port" --seconds $((SECS + 5)) \
			--slowloris "$SLOW" --deaf "$DEAF" --garbage "$GARB" >"$TMP/attackers.out" 2>&1 &
		ATK_PID=$!
		sleep 3 # the attack ramps up first (pacing, not synchronisation)
		r=$(measure "$port")
		add "$srv,attacked" "$r"
		echo "round $round $srv attacked: $r (req/s p50ms p99ms)"
		wait "$ATK_PID" || true
		ATK_PID=""
		sed "s/^/  $srv: /" "$TMP/attackers.out"
		stop_server
	done
done

{
	echo "| server | load | req/s | p50 ms | p99 ms | p50 attacked/quiet | p99 attacked/quiet |"
	echo "|---|---|---|---|---|---|---|"
	for srv in nginx coil; do
		q50=$(col "$srv,quiet" 2) q99=$(col "$srv,quiet" 3)
		for load in quiet attacked; do
			rps=$(col "$srv,$load" 1) p50=$(col "$srv,$load" 2) p99=$(col "$srv,$load" 3)
			awk -v s="$srv" -v l="$load" -v r="$rps" -v a="$p50" -v b="$p99" -v qa="$q50" -v qb="$q99" \
				'BEGIN { printf "| %s | %s | %.0f | %.3f | %.3f | %.2fx | %.2fx |\n", s, l, r, a, b, (qa > 0 ? a / qa : 0), (qb > 0 ? b / qb : 0) }'
		done
	done
	echo
	for load in quiet attacked; do
		awk -v l="$load" -v c50="$(col "coil,$load" 2)" -v n50="$(col "nginx,$load" 2)" \
			-v c99="$(col "coil,$load" 3)" -v n99="$(col "nginx,$load" 3)" \
			'BEGIN { printf "coil / nginx, %s: p50 %.3fx, p99 %.3fx\n", l, (n50 > 0 ? c50 / n50 : 0), (n99 > 0 ? c99 / n99 : 0) }'
	done
	echo
	echo "median of $ROUNDS rounds; healthy client wrk -t1 -c$CONNS -d${SECS}s on CPU 0;" \
		"attackers (CPU 0): $SLOW slowloris, $DEAF deaf, $GARB garbage; server on CPU 1;" \
		"$(nproc) CPUs; $("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1)"
} | tee "${OUT:-/dev/null}"
