#!/usr/bin/env bash
# http_compare.sh: coil's http_hello against nginx, same machine, same run.
#
#   bench/http_compare.sh [--seconds 5] [--rounds 3] [--conns 100] [--depth 16]
#                         [--hello PATH] [--workers 1] [--tls] [--out FILE]
#
# Both servers answer GET / with "Hello, World!" (text/plain), keep-alive.
# nginx (Debian's) runs with one worker (worker_processes 1, master_process
# off so that the process we measure is the worker), access_log off,
# keepalive_requests 1000 (its default), `return 200 "Hello, World!"`.
# coil runs examples/http_hello --workers 1. Each server is pinned to CPU 1
# and wrk (Debian's, -t1) to CPU 0; for each round, each server in turn:
#   keep-alive   wrk -t1 -c CONNS -d SECONDS --latency
#   pipelined    the same with bench/http_pipeline.lua, DEPTH requests per write
# and the server's CPU time (utime + stime of all its threads, from
# /proc/PID/stat) over the run, divided by the requests wrk counted: server
# CPU per request. The table gives the median of the rounds and coil/nginx
# ratios (requests/s: > 1 is coil faster; CPU per request: < 1 is coil
# cheaper). --workers 2 runs coil with two workers and nginx with two
# worker processes (then master_process on, CPU of all its processes), both
# on CPUs 0-1 shared with wrk. --tls: HTTPS on both, with the same ECDSA
# P-256 certificate made for the run, both on Debian's libssl3 (nginx:
# ssl_session_tickets on; coil: http_hello --tls, http/1.1 by ALPN); wrk
# keeps its connections in keepalive and pipelined; a third mode, close,
# sends "Connection: close": a new connection and a full handshake (wrk
# resumes no session) per request.
#
# nginx and wrk are installed with apt-get when missing (root): for this
# benchmark only, not for CI. Loopback only; every step is time-bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=5
ROUNDS=3
CONNS=100
DEPTH=16
HELLO=""
WORKERS=1
OUT=""
TLS=0

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--depth) DEPTH=$2; shift 2 ;;
	--hello) HELLO=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--tls) TLS=1; shift ;;
	*) usage ;;
	esac
done

need=""
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v wrk >/dev/null || need="$need wrk"
if [ -n "$need" ]; then
	echo "http_compare: installing$need (bench only)"
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
cleanup() {
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

SCHEME=http NGINX_SSL="" COIL_TLS=() TLS_NOTE="" MODES="keepalive pipelined"
if [ "$TLS" = 1 ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 \
		-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
	SCHEME=https
	NGINX_SSL="ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;"
	COIL_TLS=(--tls "$TMP/cert.pem" "$TMP/key.pem")
	TLS_NOTE="; HTTPS, ECDSA P-256, $(openssl version)"
	MODES="keepalive pipelined close"
fi

if [ "$WORKERS" = 1 ]; then
	SRV_CPUS=1 LG_CPUS=0 MASTER=off
else
	SRV_CPUS=0-1 LG_CPUS=0-1 MASTER=on
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The CPU ticks (utime + stime) of a process and its children (nginx with
# a master: its workers).
cpu_ticks() {
	local total=0 p
	for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
		[ -r /proc/"$p"/stat ] || continue
		total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' /proc/"$p"/stat)))
	done
	echo "$total"
}

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "http_compare: nothing listens on $1" >&2
	return 1
}

start_nginx() {
	local port=$1
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx/nginx.conf" <<CONF
daemon off;
master_process $MASTER;
worker_processes $WORKERS;
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
		listen 127.0.0.1:$port ${NGINX_SSL:+ssl} reuseport backlog=1024;
		$NGINX_SSL
		default_type text/plain;
		location / { return 200 "Hello, World!"; }
	}
}
CONF
	taskset -c "$SRV_CPUS" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
	SRV_PID=$!
	wait_port "$port"
}

start_coil() {
	local port=$1
	taskset -c "$SRV_CPUS" "$HELLO" --port "$port" --workers "$WORKERS" "${COIL_TLS[@]}" >"$TMP/coil.out" &
	SRV_PID=$!
	wait_port "$port"
}

stop_server() {
	kill -TERM "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

# One wrk run: prints "rps p50_ms p99_ms requests cpu_us_per_req".
measure() {
	local port=$1 mode=$2 script=() extra=() t0 t1 out
	[ "$mode" = pipelined ] && script=(-s "$HERE/http_pipeline.lua") && extra=(-- "$DEPTH")
	[ "$mode" = close ] && script=(-H "Connection: close")
	t0=$(cpu_ticks "$SRV_PID")
	out=$(timeout $((SECS + 30)) taskset -c "$LG_CPUS" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		"${script[@]}" "$SCHEME://127.0.0.1:$port/" "${extra[@]}")
	t1=$(cpu_ticks "$SRV_PID")
	echo "$out" >>"$TMP/wrk.log"
	local hz
	hz=$(getconf CLK_TCK)
	echo "$out" | awk -v ticks=$((t1 - t0)) -v hz="$hz" '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
		/requests in/ { reqs = $1 } /^Requests\/sec:/ { rps = $2 }
		/Non-2xx|Socket errors/ { bad = bad $0 " " }
		END { if (bad != "") print "wrk: " bad > "/dev/stderr";
		      printf "%.0f %.3f %.3f %d %.3f\n", rps, p50, p99, reqs, reqs ? ticks * 1e6 / hz / reqs : 0 }'
}

declare -A RES
for round in $(seq "$ROUNDS"); do
	order="nginx coil"
	[ $((round % 2)) = 0 ] && order="coil nginx"
	for srv in $order; do
		port=$(free_port)
		"start_$srv" "$port"
		# warm up: connections, caches
		timeout 20 taskset -c "$LG_CPUS" wrk -t1 -c"$CONNS" -d1s "$SCHEME://127.0.0.1:$port/" >/dev/null
		for mode in $MODES; do
			r=$(measure "$port" "$mode")
			RES[$srv,$mode]="${RES[$srv,$mode]:-}$r
"
			echo "round $round $srv $mode: $r (req/s p50ms p99ms requests cpu_us/req)"
		done
		stop_server
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "${RES[$1,$2]}" | awk -v c="$3" 'NF { print $c }' | median; }

{
	echo "| test | server | req/s | p50 ms | p99 ms | server CPU us/req | req/s vs nginx | CPU/req vs nginx |"
	echo "|---|---|---|---|---|---|---|---|"
	for mode in $MODES; do
		nr=$(col nginx $mode 1) nc=$(col nginx $mode 5)
		for srv in nginx coil; do
			rps=$(col $srv $mode 1) p50=$(col $srv $mode 2) p99=$(col $srv $mode 3) cpu=$(col $srv $mode 5)
			awk -v m="$mode" -v s="$srv" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v nr="$nr" -v nc="$nc" \
				'BEGIN { printf "| %s | %s | %.0f | %.3f | %.3f | %.2f | %.2fx | %.2fx |\n", m, s, r, a, b, c, r / nr, (nc > 0 ? c / nc : 0) }'
		done
	done
	echo
	echo "median of $ROUNDS rounds; wrk -t1 -c$CONNS -d${SECS}s (pipelined: $DEPTH deep); workers $WORKERS;" \
		"server on CPU $SRV_CPUS, wrk on CPU $LG_CPUS; $(nproc) CPUs; $("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1)${TLS_NOTE}"
} | tee "${OUT:-/dev/null}"
