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

need=""
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need="$need haproxy"
command -v wrk >/dev/null || need="$need wrk"
if [ -n "$need" ]; then
	echo "proxy_compare: installing$need (bench only)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ -z "$BUILD" ]; then
	BUILD=$ROOT/build/bench
	if [ ! -x "$BUILD/examples/http_proxy" ] || [ ! -x "$BUILD/examples/http_hello" ]; then
		cmake --preset bench >/dev/null
		cmake --build --preset bench -j2 --target http_proxy http_hello >/dev/null
	fi
fi
PROXY=$BUILD/examples/http_proxy
HELLO=$BUILD/examples/http_hello

TMP=$(mktemp -d)
UP_PID="" SRV_PID=""
cleanup() {
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	[ -n "$UP_PID" ] && kill "$UP_PID" 2>/dev/null && wait "$UP_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cpu_ticks() {
	[ -r /proc/"$1"/stat ] || { echo 0; return; }
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' /proc/"$1"/stat
}

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "proxy_compare: nothing listens on $1" >&2
	return 1
}

nginx_conf() { # dir, body of the http block
	mkdir -p "$1"
	cat >"$1/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $1/error.log;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_timeout 75s;
	keepalive_requests 100000;
	client_body_temp_path $1;
	proxy_temp_path $1;
	fastcgi_temp_path $1;
	uwsgi_temp_path $1;
	scgi_temp_path $1;
$2
}
CONF
}

UP_PORT=$(free_port)
if [ "$UPSTREAM" = coil ]; then
	taskset -c 0 "$HELLO" --port "$UP_PORT" >"$TMP/hello.out" &
else
	nginx_conf "$TMP/up" "	server {
		listen 127.0.0.1:$UP_PORT backlog=1024;
		default_type text/plain;
		location / { return 200 \"Hello, World!\"; }
	}"
	taskset -c 0 "$NGINX" -p "$TMP/up" -c "$TMP/up/nginx.conf" 2>"$TMP/up/stderr" &
fi
UP_PID=$!
wait_port "$UP_PORT"

start_coil() {
	taskset -c 1 "$PROXY" --port "$1" --upstream "127.0.0.1:$UP_PORT" >"$TMP/proxy.out" &
	SRV_PID=$!
	wait_port "$1"
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
	taskset -c 1 "$HAPROXY" -f "$TMP/haproxy.cfg" -db 2>"$TMP/haproxy.err" &
	SRV_PID=$!
	wait_port "$1"
}

start_nginx() {
	nginx_conf "$TMP/nginx" "	upstream up {
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
	taskset -c 1 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
	SRV_PID=$!
	wait_port "$1"
}

stop_server() {
	kill -TERM "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

# One wrk run: prints "rps p50_ms p99_ms requests cpu_us_per_req".
measure() {
	local port=$1 t0 t1 out hz
	t0=$(cpu_ticks "$SRV_PID")
	out=$(timeout $((SECS + 30)) taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		"http://127.0.0.1:$port/")
	t1=$(cpu_ticks "$SRV_PID")
	echo "$out" >>"$TMP/wrk.log"
	hz=$(getconf CLK_TCK)
	echo "$out" | awk -v ticks=$((t1 - t0)) -v hz="$hz" '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
		/requests in/ { reqs = $1 } /^Requests\/sec:/ { rps = $2 }
		/Non-2xx|Socket errors/ { bad = bad $0 " " }
		END { if (bad != "") print "wrk: " bad > "/dev/stderr";
		      printf "%.0f %.3f %.3f %d %.3f\n", rps, p50, p99, reqs, reqs ? ticks * 1e6 / hz / reqs : 0 }'
}

PROXIES=(haproxy nginx coil)
declare -A RES
for round in $(seq "$ROUNDS"); do
	n=${#PROXIES[@]}
	for i in $(seq 0 $((n - 1))); do
		srv=${PROXIES[$(((i + round - 1) % n))]}
		port=$(free_port)
		"start_$srv" "$port"
		timeout 20 taskset -c 0 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null
		r=$(measure "$port")
		RES[$srv]="${RES[$srv]:-}$r
"
		echo "round $round $srv: $r (req/s p50ms p99ms requests cpu_us/req) load $(cut -d' ' -f1 /proc/loadavg)"
		stop_server
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "${RES[$1]}" | awk -v c="$2" 'NF { print $c }' | median; }

up_name="coil http_hello"
[ "$UPSTREAM" = nginx ] && up_name="nginx return 200"
{
	echo "| proxy | req/s | p50 ms | p99 ms | proxy CPU us/req | req/s per core | req/s vs HAProxy | per core vs HAProxy |"
	echo "|---|---|---|---|---|---|---|---|"
	hr=$(col haproxy 1) hc=$(col haproxy 5)
	for srv in haproxy nginx coil; do
		rps=$(col $srv 1) p50=$(col $srv 2) p99=$(col $srv 3) cpu=$(col $srv 5)
		awk -v s="$srv" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v hr="$hr" -v hc="$hc" \
			'BEGIN { pc = c > 0 ? 1e6 / c : 0; hpc = hc > 0 ? 1e6 / hc : 0;
			         printf "| %s | %.0f | %.3f | %.3f | %.2f | %.0f | %.2fx | %.2fx |\n", s, r, a, b, c, pc, r / hr, (hpc > 0 ? pc / hpc : 0) }'
	done
	echo
	echo "median of $ROUNDS rounds; wrk -t1 -c$CONNS -d${SECS}s keep-alive; upstream: $up_name;" \
		"proxy on CPU 1, wrk and upstream on CPU 0; $(nproc) CPUs; $("$HAPROXY" -v 2>&1 | head -1 | cut -d' ' -f1-3);" \
		"$("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
} | tee "${OUT:-/dev/null}"
