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
# resumes no session) per request. Each server keeps its own cipher order
# (nginx follows the client's, ssl_prefer_server_ciphers off; coil's
# server puts AES-128-GCM first): the footer says what each chose.
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
cleanup() { kill_wait "$SRV_PID"; rm -rf "$TMP"; }
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
	SRV_CPUS=1 LG_CPUS=0
else
	SRV_CPUS=0-1 LG_CPUS=0-1
fi

start_nginx() {
	nginx_conf "$TMP/nginx" "$WORKERS" 4096 "	keepalive_requests 1000;
$(nginx_hello "$1" "$NGINX_SSL")"
	run_nginx "$TMP/nginx" "$1" "$SRV_CPUS"
}

start_coil() {
	start_server "$1" "$SRV_CPUS" "$TMP/coil.out" - "$HELLO" --port "$1" --workers "$WORKERS" "${COIL_TLS[@]}"
}

# One wrk run: prints "rps p50_ms p99_ms requests cpu_us_per_req".
measure() {
	local port=$1 mode=$2 script=() extra=()
	[ "$mode" = pipelined ] && script=(-s "$HERE/http_pipeline.lua") && extra=(-- "$DEPTH")
	[ "$mode" = close ] && script=(-H "Connection: close")
	wrk_measure "$LG_CPUS" "$CONNS" "$SECS" "${script[@]}" "$SCHEME://127.0.0.1:$port/" "${extra[@]}" | cut -d' ' -f1-5
}

declare -A CIPHER=()
for round in $(seq "$ROUNDS"); do
	for srv in $(rotate "$round" nginx coil); do
		port=$(free_port)
		"start_$srv" "$port"
		# warm up: connections, caches
		wrk_warmup "$LG_CPUS" "$CONNS" "$SCHEME://127.0.0.1:$port/"
		# the cipher a client with OpenSSL's default order (wrk's) gets
		if [ "$TLS" = 1 ]; then
			CIPHER[$srv]=$(timeout 5 openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null |
				sed -n 's/.*Cipher is \([^ ]*\).*/\1/p' | head -1)
		fi
		for mode in $MODES; do
			r=$(measure "$port" "$mode")
			add "$srv,$mode" "$r"
			echo "round $round $srv $mode: $r (req/s p50ms p99ms requests cpu_us/req)"
		done
		stop_server
	done
done

{
	echo "| test | server | req/s | p50 ms | p99 ms | server CPU us/req | req/s vs nginx | CPU/req vs nginx |"
	echo "|---|---|---|---|---|---|---|---|"
	for mode in $MODES; do
		nr=$(col "nginx,$mode" 1) nc=$(col "nginx,$mode" 5)
		for srv in nginx coil; do
			rps=$(col "$srv,$mode" 1) p50=$(col "$srv,$mode" 2) p99=$(col "$srv,$mode" 3) cpu=$(col "$srv,$mode" 5)
			awk -v m="$mode" -v s="$srv" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v nr="$nr" -v nc="$nc" \
				'BEGIN { printf "| %s | %s | %.0f | %.3f | %.3f | %.2f | %.2fx | %.2fx |\n", m, s, r, a, b, c, r / nr, (nc > 0 ? c / nc : 0) }'
		done
	done
	echo
	echo "median of $ROUNDS rounds; wrk -t1 -c$CONNS -d${SECS}s (pipelined: $DEPTH deep); workers $WORKERS;" \
		"server on CPU $SRV_CPUS, wrk on CPU $LG_CPUS; $(nproc) CPUs; $("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1)${TLS_NOTE}"
	if [ "$TLS" = 1 ]; then
		echo "cipher chosen for a client with OpenSSL's default order (wrk's):" \
			"nginx ${CIPHER[nginx]:-?}, coil ${CIPHER[coil]:-?}"
	fi
} | tee "${OUT:-/dev/null}"
