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

need=""
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v wrk >/dev/null || need="$need wrk"
if [ -n "$need" ]; then
	echo "http_attack: installing$need (bench only)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -z "$HELLO" ]; then
	HELLO=$ROOT/build/bench/examples/http_hello
	if [ ! -x "$HELLO" ]; then
		cmake --preset bench >/dev/null
		cmake --build --preset bench -j2 --target http_hello >/dev/null
	fi
fi

TMP=$(mktemp -d)
SRV_PID=""
ATK_PID=""
cleanup() {
	[ -n "$ATK_PID" ] && kill "$ATK_PID" 2>/dev/null && wait "$ATK_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
# Attack connections: a few hundred fds in the servers and in the attacker.
ulimit -n 65536 2>/dev/null || true

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "http_attack: nothing listens on $1" >&2
	return 1
}

start_nginx() {
	local port=$1
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $TMP/nginx/error.log;
pid $TMP/nginx/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_timeout 75s;
	keepalive_requests 1000;
	client_body_temp_path $TMP/nginx;
	proxy_temp_path $TMP/nginx;
	fastcgi_temp_path $TMP/nginx;
	uwsgi_temp_path $TMP/nginx;
	scgi_temp_path $TMP/nginx;
	server {
		listen 127.0.0.1:$port reuseport backlog=1024;
		default_type text/plain;
		location / { return 200 "Hello, World!"; }
	}
}
CONF
	taskset -c 1 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
	SRV_PID=$!
	wait_port "$port"
}

start_coil() {
	local port=$1
	taskset -c 1 "$HELLO" --port "$port" --workers 1 >"$TMP/coil.out" &
	SRV_PID=$!
	wait_port "$port"
}

stop_server() {
	kill -TERM "$SRV_PID" 2>/dev/null || true
	# nginx and coil drain, the attackers are gone: bounded anyway
	for _ in $(seq 100); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

# One healthy wrk run: prints "rps p50_ms p99_ms".
measure() {
	local port=$1 out
	out=$(timeout $((SECS + 30)) taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		"http://127.0.0.1:$port/")
	echo "$out" >>"$TMP/wrk.log"
	echo "$out" | awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
		/^Requests\/sec:/ { rps = $2 }
		/Non-2xx|Socket errors/ { bad = bad $0 " " }
		END { if (bad != "") print "wrk: " bad > "/dev/stderr";
		      printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}

declare -A RES
for round in $(seq "$ROUNDS"); do
	order="nginx coil"
	[ $((round % 2)) = 0 ] && order="coil nginx"
	for srv in $order; do
		port=$(free_port)
		"start_$srv" "$port"
		timeout 20 taskset -c 0 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null
		r=$(measure "$port")
		RES[$srv,quiet]="${RES[$srv,quiet]:-}$r
"
		echo "round $round $srv quiet: $r (req/s p50ms p99ms)"
		taskset -c 0 python3 "$HERE/http_attackers.py" --port "$port" --seconds $((SECS + 5)) \
			--slowloris "$SLOW" --deaf "$DEAF" --garbage "$GARB" >"$TMP/attackers.out" 2>&1 &
		ATK_PID=$!
		sleep 3 # the attack ramps up first (pacing, not synchronisation)
		r=$(measure "$port")
		RES[$srv,attacked]="${RES[$srv,attacked]:-}$r
"
		echo "round $round $srv attacked: $r (req/s p50ms p99ms)"
		wait "$ATK_PID" || true
		ATK_PID=""
		sed "s/^/  $srv: /" "$TMP/attackers.out"
		stop_server
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "${RES[$1,$2]}" | awk -v c="$3" 'NF { print $c }' | median; }

{
	echo "| server | load | req/s | p50 ms | p99 ms | p50 attacked/quiet | p99 attacked/quiet |"
	echo "|---|---|---|---|---|---|---|"
	for srv in nginx coil; do
		q50=$(col $srv quiet 2) q99=$(col $srv quiet 3)
		for load in quiet attacked; do
			rps=$(col $srv $load 1) p50=$(col $srv $load 2) p99=$(col $srv $load 3)
			awk -v s="$srv" -v l="$load" -v r="$rps" -v a="$p50" -v b="$p99" -v qa="$q50" -v qb="$q99" \
				'BEGIN { printf "| %s | %s | %.0f | %.3f | %.3f | %.2fx | %.2fx |\n", s, l, r, a, b, (qa > 0 ? a / qa : 0), (qb > 0 ? b / qb : 0) }'
		done
	done
	echo
	for load in quiet attacked; do
		awk -v l="$load" -v c50="$(col coil $load 2)" -v n50="$(col nginx $load 2)" \
			-v c99="$(col coil $load 3)" -v n99="$(col nginx $load 3)" \
			'BEGIN { printf "coil / nginx, %s: p50 %.3fx, p99 %.3fx\n", l, (n50 > 0 ? c50 / n50 : 0), (n99 > 0 ? c99 / n99 : 0) }'
	done
	echo
	echo "median of $ROUNDS rounds; healthy client wrk -t1 -c$CONNS -d${SECS}s on CPU 0;" \
		"attackers (CPU 0): $SLOW slowloris, $DEAF deaf, $GARB garbage; server on CPU 1;" \
		"$(nproc) CPUs; $("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1)"
} | tee "${OUT:-/dev/null}"
