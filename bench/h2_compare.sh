#!/usr/bin/env bash
# h2_compare.sh: HTTP/2 hello, coil's http_hello against nginx and h2o,
# same machine, same run.
#
#   bench/h2_compare.sh [--seconds 5] [--rounds 3] [--conns 100] [--streams 10]
#                       [--hello PATH] [--out FILE]
#
# Every server answers GET / with "Hello, World!" (text/plain) over h2c
# (prior knowledge, plaintext) and over h2 (TLS, ALPN), with the same
# ECDSA P-256 certificate made for the run, all on Debian's libssl3:
#   coil   examples/http_hello --workers 1 [--tls CERT KEY]
#   nginx  1 worker (master_process off: the process measured is the
#          worker), `listen ... http2` / `listen ... ssl http2`,
#          ssl_session_tickets on, keepalive_requests high enough that no
#          connection is closed in a run, `return 200 "Hello, World!"`
#   h2o    2.2.5, num-threads 1, an mruby handler returning the body
#          (h2o 2.2 has no `return`: its cheapest in-process answer)
# Each server is pinned to CPU 1 and h2load (nghttp2-client, -t1) to CPU 0;
# for each round, each mode (h2c, h2), each server in turn (the order
# rotates per round): h2load -t1 -c CONNS -m STREAMS -D SECONDS after a
# 1 s warm-up, and the server's CPU time (utime + stime of its threads and
# children, from /proc) over the run divided by the requests h2load
# completed. The table gives the medians of the rounds (req/s, h2load's
# mean request time, server CPU per request) and ratios against nginx and
# h2o (req/s: > 1 is coil faster; CPU per request: < 1 is coil cheaper).
#
# nginx (nginx-light has http_v2), h2o and nghttp2-client are installed with
# apt-get when missing (root): for this benchmark only. Loopback only;
# every step is time-bounded. On a shared, loaded machine the absolute
# numbers move from run to run: read the ratios.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=5
ROUNDS=3
CONNS=100
STREAMS=10
HELLO=""
OUT=""

usage() { sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--streams) STREAMS=$2; shift 2 ;;
	--hello) HELLO=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) usage ;;
	esac
done

# shellcheck source=http_lib.sh source-path=SCRIPTDIR
. "$HERE/http_lib.sh"
need nginx nginx-light
need h2o h2o
need h2load nghttp2-client
install_needed
NGINX=$(cmd_path nginx)
if [ -z "$HELLO" ]; then
	build_examples http_hello
	HELLO=$ROOT/build/bench/examples/http_hello
fi

TMP=$(mktemp -d)
chmod 755 "$TMP"
SRV_PID=""
cleanup() { kill_wait "$SRV_PID"; rm -rf "$TMP"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
SRV_CPUS=1 LG_CPUS=0

start_coil() { # PORT MODE
	local tls=()
	[ "$2" = h2 ] && tls=(--tls "$TMP/cert.pem" "$TMP/key.pem")
	start_server "$1" "$SRV_CPUS" "$TMP/coil.out" - "$HELLO" --port "$1" --workers 1 "${tls[@]}"
}

start_nginx() { # PORT MODE
	local listen="http2" ssl=""
	if [ "$2" = h2 ]; then
		listen="ssl http2"
		ssl="ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;"
	fi
	nginx_conf "$TMP/nginx" 1 4096 "	keepalive_requests 100000000;
	server {
		listen 127.0.0.1:$1 $listen reuseport backlog=1024;
		$ssl
		default_type text/plain;
		location / { return 200 \"Hello, World!\"; }
	}"
	run_nginx "$TMP/nginx" "$1" "$SRV_CPUS"
}

start_h2o() { # PORT MODE
	local ssl=""
	[ "$2" = h2 ] && ssl="  ssl:
    certificate-file: $TMP/cert.pem
    key-file: $TMP/key.pem"
	mkdir -p "$TMP/h2o"
	cat >"$TMP/h2o/h2o.conf" <<CONF
user: $(id -un)
num-threads: 1
pid-file: $TMP/h2o/pid
error-log: $TMP/h2o/error.log
listen:
  host: 127.0.0.1
  port: $1
$ssl
hosts:
  default:
    paths:
      /:
        mruby.handler: |
          Proc.new do |env|
            [200, {"content-type" => "text/plain"}, ["Hello, World!"]]
          end
CONF
	start_server "$1" "$SRV_CPUS" "$TMP/h2o/out" "$TMP/h2o/stderr" h2o -c "$TMP/h2o/h2o.conf"
}

# One h2load run: prints "req/s mean_ms requests cpu_us_per_req".
h2load_measure() { # URL
	local t0 t1 out ok
	t0=$(cpu_ticks "$SRV_PID")
	out=$(timeout $((SECS + 30)) taskset -c "$LG_CPUS" h2load -t1 -c"$CONNS" -m"$STREAMS" \
		-D "$SECS" "$1" 2>&1)
	t1=$(cpu_ticks "$SRV_PID")
	echo "$out" >>"$TMP/h2load.log"
	ok=$(echo "$out" | awk '/^requests:/ { print $8 }')
	if ! echo "$out" | grep -q "requests: .* 0 failed, 0 errored"; then
		log "h2load saw failures on $1: $(echo "$out" | grep '^requests:')"
	fi
	echo "$out" | awk -v ok="$ok" -v ticks=$((t1 - t0)) -v hz="$HZ" -v secs="$SECS" '
		/^time for request:/ { mean = $6; unit = $6; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", mean)
			mean = unit == "us" ? mean / 1000 : (unit == "s" ? mean * 1000 : mean) }
		END { printf "%.0f %.3f %d %.2f\n", ok / secs, mean, ok, (ok > 0 ? ticks * 1e6 / hz / ok : 0) }'
}

for round in $(seq "$ROUNDS"); do
	for mode in h2c h2; do
		scheme=http
		[ "$mode" = h2 ] && scheme=https
		for srv in $(rotate "$round" nginx h2o coil); do
			port=$(free_port)
			"start_$srv" "$port" "$mode"
			timeout 20 taskset -c "$LG_CPUS" h2load -t1 -c"$CONNS" -m"$STREAMS" -D 1 \
				"$scheme://127.0.0.1:$port/" >/dev/null 2>&1 || true
			r=$(h2load_measure "$scheme://127.0.0.1:$port/")
			add "$srv,$mode" "$r"
			echo "round $round $mode $srv: $r (req/s mean_ms requests cpu_us/req)"
			stop_server
		done
	done
done

{
	echo "| mode | server | req/s | mean ms | server CPU us/req | req/s vs nginx | req/s vs h2o | CPU/req vs nginx | CPU/req vs h2o |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for mode in h2c h2; do
		nr=$(col "nginx,$mode" 1) nc=$(col "nginx,$mode" 4)
		hr=$(col "h2o,$mode" 1) hc=$(col "h2o,$mode" 4)
		for srv in nginx h2o coil; do
			rps=$(col "$srv,$mode" 1) mean=$(col "$srv,$mode" 2) cpu=$(col "$srv,$mode" 4)
			awk -v m="$mode" -v s="$srv" -v r="$rps" -v a="$mean" -v c="$cpu" -v nr="$nr" -v nc="$nc" \
				-v hr="$hr" -v hc="$hc" 'BEGIN {
				printf "| %s | %s | %.0f | %.3f | %.2f | %.2fx | %.2fx | %.2fx | %.2fx |\n", m, s, r, a, c,
					r / nr, r / hr, (nc > 0 ? c / nc : 0), (hc > 0 ? c / hc : 0) }'
		done
	done
	echo
	echo "median of $ROUNDS rounds; h2load -t1 -c$CONNS -m$STREAMS -D ${SECS}s; server on CPU $SRV_CPUS," \
		"h2load on CPU $LG_CPUS; $(nproc) CPUs, shared with other work; $("$NGINX" -v 2>&1);" \
		"$(h2o --version 2>&1 | head -1); $(h2load --version 2>&1 | head -1); ECDSA P-256, $(openssl version)"
} | tee "${OUT:-/dev/null}"
