#!/usr/bin/env bash
# proxy_compare.sh: coil's http_proxy against HAProxy and nginx as reverse
# proxies, same machine, same run.
#
#   bench/proxy_compare.sh [--seconds 5] [--rounds 3] [--conns 100]
#                          [--upstream coil|nginx] [--build DIR] [--out FILE]
#
# One upstream answers every request with "Hello, World!" (coil's
# examples/http_hello, or nginx with `return 200`), keep-alive. In front of
# it, in turn, each proxy, tuned as its users tune it for this:
#   coil     examples/http_proxy --workers 1 (keep-alive both sides; its
#            pool of upstream connections; X-Forwarded-For)
#   haproxy  Debian's 2.6, nbthread 1, mode http, keep-alive both sides
#            (its default), http-reuse always, option forwardfor
#   nginx    Debian's 1.22, 1 worker (master_process off: the process we
#            measure is the worker), access_log off, proxy_http_version
#            1.1 with Connection "" and an upstream keepalive pool of 256
#            (1.22's default proxies with HTTP/1.0 and no pool, which
#            would measure connection set-up), X-Forwarded-For set
# The proxy under test is pinned to CPU 1; wrk (-t1 -c CONNS, keep-alive)
# and the upstream share CPU 0. For each round, each proxy in turn (the
# order rotates): a 1 s warm-up, then wrk for SECONDS, and the proxy's CPU
# time (utime + stime of all its threads, /proc/PID/stat) over the run
# divided by the requests wrk counted: proxy CPU per request, and from it
# requests per CPU-second of the proxy (requests/s per core). The table
# gives the median of the rounds and ratios to HAProxy. With CPU 0 shared
# by wrk and the upstream, requests/s may be bound by CPU 0 rather than by
# the proxy: the per-core column is the proxy's own cost.
#
# nginx, haproxy and wrk are installed with apt-get when missing (root):
# for this benchmark only, not for CI. Loopback only; every step is
# time-bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=5
ROUNDS=3
CONNS=100
UPSTREAM=coil
BUILD=""
OUT=""

usage() { sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--upstream) UPSTREAM=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) usage ;;
	esac
done
case "$UPSTREAM" in coil|nginx) ;; *) usage ;; esac

# shellcheck source=http_lib.sh source-path=SCRIPTDIR
. "$HERE/http_lib.sh"
need nginx nginx-light
need haproxy haproxy
need wrk wrk
install_needed
NGINX=$(cmd_path nginx)
HAPROXY=$(cmd_path haproxy)
if [ -z "$BUILD" ]; then
	build_examples http_proxy http_hello
	BUILD=$ROOT/build/bench
fi
PROXY=$BUILD/examples/http_proxy
HELLO=$BUILD/examples/http_hello

TMP=$(mktemp -d)
UP_PID="" SRV_PID=""
cleanup() { kill_wait "$SRV_PID" "$UP_PID"; rm -rf "$TMP"; }
trap cleanup EXIT

# The upstream: started as a server, then kept aside in UP_PID.
UP_PORT=$(free_port)
if [ "$UPSTREAM" = coil ]; then
	start_server "$UP_PORT" 0 "$TMP/hello.out" - "$HELLO" --port "$UP_PORT"
else
	nginx_conf "$TMP/up" 1 4096 "	keepalive_requests 100000;
$(nginx_hello "$UP_PORT")"
	run_nginx "$TMP/up" "$UP_PORT" 0
fi
UP_PID=$SRV_PID SRV_PID=""

start_coil() {
	start_server "$1" 1 "$TMP/proxy.out" - "$PROXY" --port "$1" --upstream "127.0.0.1:$UP_PORT"
}

start_haproxy() {
	cat >"$TMP/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 4000
defaults
	mode http
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	option forwardfor
	http-reuse always
frontend fe
	bind 127.0.0.1:$1
	default_backend be
backend be
	server up 127.0.0.1:$UP_PORT
CONF
	start_server "$1" 1 - "$TMP/haproxy.err" "$HAPROXY" -f "$TMP/haproxy.cfg" -db
}

start_nginx() {
	nginx_conf "$TMP/nginx" 1 4096 "	keepalive_requests 100000;
	upstream up {
		server 127.0.0.1:$UP_PORT;
		keepalive 256;
		keepalive_requests 100000;
	}
	server {
		listen 127.0.0.1:$1 backlog=1024;
		location / {
			proxy_pass http://up;
			proxy_http_version 1.1;
			proxy_set_header Connection \"\";
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}"
	run_nginx "$TMP/nginx" "$1" 1
}

# One wrk run: prints "rps p50_ms p99_ms requests cpu_us_per_req".
measure() { wrk_measure 0 "$CONNS" "$SECS" "http://127.0.0.1:$1/" | cut -d' ' -f1-5; }

for round in $(seq "$ROUNDS"); do
	for srv in $(rotate "$round" haproxy nginx coil); do
		port=$(free_port)
		"start_$srv" "$port"
		wrk_warmup 0 "$CONNS" "http://127.0.0.1:$port/"
		r=$(measure "$port")
		add "$srv" "$r"
		echo "round $round $srv: $r (req/s p50ms p99ms requests cpu_us/req) load $(cut -d' ' -f1 /proc/loadavg)"
		stop_server
	done
done

up_name="coil http_hello"
[ "$UPSTREAM" = nginx ] && up_name="nginx return 200"
{
	echo "| proxy | req/s | p50 ms | p99 ms | proxy CPU us/req | req/s per core | req/s vs HAProxy | per core vs HAProxy |"
	echo "|---|---|---|---|---|---|---|---|"
	hr=$(col haproxy 1) hc=$(col haproxy 5)
	for srv in haproxy nginx coil; do
		rps=$(col "$srv" 1) p50=$(col "$srv" 2) p99=$(col "$srv" 3) cpu=$(col "$srv" 5)
		awk -v s="$srv" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v hr="$hr" -v hc="$hc" \
			'BEGIN { pc = c > 0 ? 1e6 / c : 0; hpc = hc > 0 ? 1e6 / hc : 0;
			         printf "| %s | %.0f | %.3f | %.3f | %.2f | %.0f | %.2fx | %.2fx |\n", s, r, a, b, c, pc, r / hr, (hpc > 0 ? pc / hpc : 0) }'
	done
	echo
	echo "median of $ROUNDS rounds; wrk -t1 -c$CONNS -d${SECS}s keep-alive; upstream: $up_name;" \
		"proxy on CPU 1, wrk and upstream on CPU 0; $(nproc) CPUs; $("$HAPROXY" -v 2>&1 | head -1 | cut -d' ' -f1-3);" \
		"$("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
} | tee "${OUT:-/dev/null}"
