#!/usr/bin/env bash
# files_http_compare.sh: coil's file_server against nginx serving static
# files, same machine, same run.
#
#   bench/files_http_compare.sh [--seconds 5] [--rounds 3] [--conns 100]
#                               [--big-conns 20] [--backends "uring epoll"]
#                               [--server PATH] [--baseline PATH] [--tls]
#                               [--out FILE]
#
# Both serve one directory holding a 4 KiB and a 1 MiB file, keep-alive.
# nginx (Debian's) runs as its static-file users run it: one worker
# (master_process off, so that the process we measure is the worker),
# sendfile on, tcp_nopush on, access_log off, keepalive_requests 1000;
# no open_file_cache (coil opens, stats and closes each file per request
# too). coil runs examples/file_server --workers 1 on each backend of
# --backends (io_uring sends cached bodies by sendfile(2) on the worker,
# others by splice through a pipe; epoll by sendfile(2)). Each server is pinned to CPU 1 and wrk (Debian's, -t1) to
# CPU 0; in each round every server in turn (the order rotates):
#   4k   wrk -t1 -c CONNS     -d SECONDS --latency http://.../4k.bin
#   1m   wrk -t1 -c BIG_CONNS -d SECONDS --latency http://.../1m.bin
# and the server's CPU time (utime + stime of all its threads, from
# /proc/PID/stat) over the run divided by the requests wrk counted. The
# table gives the median of the rounds and ratios to nginx (requests/s:
# > 1 is coil faster; CPU per request: < 1 is coil cheaper).
# --baseline PATH adds one more server, coil-uring-before: another build
# of file_server (say, the commit before a change) on io_uring, taking
# its turn in the same rounds.
#
# --tls: HTTPS on both, with the same ECDSA P-256 certificate made for the
# run, both on Debian's libssl3 (nginx: ssl_session_tickets on; coil:
# file_server --tls, http/1.1 by ALPN as wrk offers no ALPN). This kernel
# has no kTLS (CONFIG_TLS), so neither can sendfile a body over TLS: nginx
# turns sendfile off on SSL connections and reads into its buffers, coil
# reads the file into a buffer and writes it through the session.
#
# nginx and wrk are installed with apt-get when missing (root): for this
# benchmark only, not for CI. Loopback only; every step is time-bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=5
ROUNDS=3
CONNS=100
BIG_CONNS=20
BACKENDS="uring epoll"
SERVER=""
BASELINE=""
OUT=""
TLS=0

usage() { sed -n '2,37p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--big-conns) BIG_CONNS=$2; shift 2 ;;
	--backends) BACKENDS=$2; shift 2 ;;
	--server) SERVER=$2; shift 2 ;;
	--baseline) BASELINE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--tls) TLS=1; shift ;;
	*) usage ;;
	esac
done

# shellcheck source=http_lib.sh source-path=SCRIPTDIR
. "$HERE/http_lib.sh"
need nginx nginx-light
need wrk wrk
[ -f /etc/mime.types ] || NEED="$NEED media-types"
install_needed
NGINX=$(cmd_path nginx)
if [ -z "$SERVER" ]; then
	build_examples file_server
	SERVER=$ROOT/build/bench/examples/file_server
fi

TMP=$(mktemp -d)
SRV_PID=""
cleanup() { kill_wait "$SRV_PID"; rm -rf "$TMP"; }
trap cleanup EXIT

# The files, in a directory both servers can read (nginx's worker may
# drop to nobody when run as root: the tree is world-readable).
chmod 755 "$TMP"
mkdir -p "$TMP/www"
head -c 4096 /dev/urandom >"$TMP/www/4k.bin"
head -c $((1 << 20)) /dev/urandom >"$TMP/www/1m.bin"
chmod -R a+rX "$TMP/www"

SCHEME=http NGINX_SSL="" COIL_TLS=() TLS_NOTE=""
if [ "$TLS" = 1 ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 \
		-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
	chmod a+r "$TMP/key.pem"
	SCHEME=https
	NGINX_SSL="ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;"
	COIL_TLS=(--tls "$TMP/cert.pem" "$TMP/key.pem")
	TLS_NOTE="; HTTPS, ECDSA P-256, no kTLS, $(openssl version)"
fi

start_nginx() {
	nginx_conf "$TMP/nginx" 1 4096 "	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000;
	server {
		listen 127.0.0.1:$1 ${NGINX_SSL:+ssl} reuseport backlog=1024;
		$NGINX_SSL
		root $TMP/www;
	}"
	run_nginx "$TMP/nginx" "$1" 1
}

start_coil() {
	COIL_BACKEND=$2 start_server "$1" 1 "$TMP/coil.out" - "${3:-$SERVER}" --port "$1" --root "$TMP/www" --workers 1 "${COIL_TLS[@]}"
}

# One wrk run: prints "rps p50_ms p99_ms requests cpu_us_per_req MiB_per_s".
measure() { wrk_measure 0 "$3" "$SECS" "$SCHEME://127.0.0.1:$1/$2"; }

SERVERS="nginx"
for b in $BACKENDS; do SERVERS="$SERVERS coil-$b"; done
[ -n "$BASELINE" ] && SERVERS="$SERVERS coil-uring-before"
# The body each server sends must be the file: check once, before timing.
check_body() {
	local port=$1 f
	for f in 4k.bin 1m.bin; do
		curl -ksf "$SCHEME://127.0.0.1:$port/$f" | cmp -s - "$TMP/www/$f" ||
			{ log "$f differs"; exit 1; }
	done
}

for round in $(seq "$ROUNDS"); do
	# shellcheck disable=SC2086 # a list of names
	for srv in $(rotate "$round" $SERVERS); do
		port=$(free_port)
		case $srv in
		nginx) start_nginx "$port" ;;
		coil-uring-before) start_coil "$port" uring "$BASELINE" ;;
		coil-*) start_coil "$port" "${srv#coil-}" ;;
		esac
		[ "$round" = 1 ] && command -v curl >/dev/null && check_body "$port"
		wrk_warmup 0 "$CONNS" "$SCHEME://127.0.0.1:$port/4k.bin"
		for size in 4k 1m; do
			conns=$CONNS
			[ "$size" = 1m ] && conns=$BIG_CONNS
			r=$(measure "$port" "$size.bin" "$conns")
			add "$srv,$size" "$r"
			echo "round $round $srv $size: $r (req/s p50ms p99ms requests cpu_us/req MiB/s)"
		done
		stop_server
	done
done

{
	echo "| file | server | req/s | MiB/s | p50 ms | p99 ms | server CPU us/req | req/s vs nginx | CPU/req vs nginx |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for size in 4k 1m; do
		nr=$(col "nginx,$size" 1) nc=$(col "nginx,$size" 5)
		for srv in $SERVERS; do
			rps=$(col "$srv,$size" 1) p50=$(col "$srv,$size" 2) p99=$(col "$srv,$size" 3)
			cpu=$(col "$srv,$size" 5) mb=$(col "$srv,$size" 6)
			awk -v m="$size" -v s="$srv" -v r="$rps" -v t="$mb" -v a="$p50" -v b="$p99" -v c="$cpu" -v nr="$nr" -v nc="$nc" \
				'BEGIN { printf "| %s | %s | %.0f | %.0f | %.3f | %.3f | %.2f | %.2fx | %.2fx |\n", m, s, r, t, a, b, c, r / nr, (nc > 0 ? c / nc : 0) }'
		done
	done
	echo
	echo "median of $ROUNDS rounds; wrk -t1 -d${SECS}s, -c$CONNS for 4 KiB, -c$BIG_CONNS for 1 MiB; keep-alive;" \
		"server on CPU 1, wrk on CPU 0; $(nproc) CPUs; kernel $(uname -r); $("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1)${TLS_NOTE}"
} | tee "${OUT:-/dev/null}"
