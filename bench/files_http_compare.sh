#!/usr/bin/env bash
# files_http_compare.sh: coil's file_server against nginx serving static
# files, same machine, same run.
#
#   bench/files_http_compare.sh [--seconds 5] [--rounds 3] [--conns 100]
#                               [--big-conns 20] [--backends "uring epoll"]
#                               [--server PATH] [--out FILE]
#
# Both serve one directory holding a 4 KiB and a 1 MiB file, keep-alive.
# nginx (Debian's) runs as its static-file users run it: one worker
# (master_process off, so that the process we measure is the worker),
# sendfile on, tcp_nopush on, access_log off, keepalive_requests 1000;
# no open_file_cache (coil opens, stats and closes each file per request
# too). coil runs examples/file_server --workers 1 on each backend of
# --backends (io_uring sends bodies by splice through a pipe, epoll by
# sendfile(2)). Each server is pinned to CPU 1 and wrk (Debian's, -t1) to
# CPU 0; in each round every server in turn (the order rotates):
#   4k   wrk -t1 -c CONNS     -d SECONDS --latency http://.../4k.bin
#   1m   wrk -t1 -c BIG_CONNS -d SECONDS --latency http://.../1m.bin
# and the server's CPU time (utime + stime of all its threads, from
# /proc/PID/stat) over the run divided by the requests wrk counted. The
# table gives the median of the rounds and ratios to nginx (requests/s:
# > 1 is coil faster; CPU per request: < 1 is coil cheaper).
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
OUT=""

usage() { sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--big-conns) BIG_CONNS=$2; shift 2 ;;
	--backends) BACKENDS=$2; shift 2 ;;
	--server) SERVER=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) usage ;;
	esac
done

need=""
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v wrk >/dev/null || need="$need wrk"
[ -f /etc/mime.types ] || need="$need media-types"
if [ -n "$need" ]; then
	echo "files_http_compare: installing$need (bench only)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -z "$SERVER" ]; then
	SERVER=$ROOT/build/bench/examples/file_server
	if [ ! -x "$SERVER" ]; then
		cmake --preset bench >/dev/null
		cmake --build --preset bench -j2 --target file_server >/dev/null
	fi
fi

TMP=$(mktemp -d)
SRV_PID=""
cleanup() {
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# The files, in a directory both servers can read (nginx's worker may
# drop to nobody when run as root: the tree is world-readable).
chmod 755 "$TMP"
mkdir -p "$TMP/www"
head -c 4096 /dev/urandom >"$TMP/www/4k.bin"
head -c $((1 << 20)) /dev/urandom >"$TMP/www/1m.bin"
chmod -R a+rX "$TMP/www"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

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
	echo "files_http_compare: nothing listens on $1" >&2
	return 1
}

start_nginx() {
	local port=$1
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $TMP/nginx/error.log;
pid $TMP/nginx/nginx.pid;
events { worker_connections 4096; }
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 75s;
	keepalive_requests 1000;
	client_body_temp_path $TMP/nginx;
	proxy_temp_path $TMP/nginx;
	fastcgi_temp_path $TMP/nginx;
	uwsgi_temp_path $TMP/nginx;
	scgi_temp_path $TMP/nginx;
	server {
		listen 127.0.0.1:$port reuseport backlog=1024;
		root $TMP/www;
	}
}
CONF
	taskset -c 1 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
	SRV_PID=$!
	wait_port "$port"
}

start_coil() {
	local port=$1 backend=$2
	COIL_BACKEND=$backend taskset -c 1 "$SERVER" --port "$port" --root "$TMP/www" \
		--workers 1 >"$TMP/coil.out" &
	SRV_PID=$!
	wait_port "$port"
}

stop_server() {
	kill -TERM "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

# One wrk run: prints "rps p50_ms p99_ms requests cpu_us_per_req MiB_per_s".
measure() {
	local port=$1 file=$2 conns=$3 t0 t1 out hz
	t0=$(cpu_ticks "$SRV_PID")
	out=$(timeout $((SECS + 30)) taskset -c 0 wrk -t1 -c"$conns" -d"${SECS}s" --latency \
		"http://127.0.0.1:$port/$file")
	t1=$(cpu_ticks "$SRV_PID")
	echo "$out" >>"$TMP/wrk.log"
	hz=$(getconf CLK_TCK)
	echo "$out" | awk -v ticks=$((t1 - t0)) -v hz="$hz" '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		function mib(v) { if (v ~ /GB$/) return v * 1024; if (v ~ /MB$/) return v + 0; if (v ~ /KB$/) return v / 1024; return v / 1048576 }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
		/requests in/ { reqs = $1 } /^Requests\/sec:/ { rps = $2 } /^Transfer\/sec:/ { tput = mib($2) }
		/Non-2xx|Socket errors/ { bad = bad $0 " " }
		END { if (bad != "") print "wrk: " bad > "/dev/stderr";
		      printf "%.0f %.3f %.3f %d %.3f %.1f\n", rps, p50, p99, reqs, reqs ? ticks * 1e6 / hz / reqs : 0, tput }'
}

SERVERS="nginx"
for b in $BACKENDS; do SERVERS="$SERVERS coil-$b"; done
# The body each server sends must be the file: check once, before timing.
check_body() {
	local port=$1 f
	for f in 4k.bin 1m.bin; do
		curl -sf "http://127.0.0.1:$port/$f" | cmp -s - "$TMP/www/$f" ||
			{ echo "files_http_compare: $f differs" >&2; exit 1; }
	done
}

declare -A RES
read -r -a servers <<<"$SERVERS"
for round in $(seq "$ROUNDS"); do
	# rotate the order: each server goes first in some round
	order=()
	for i in "${!servers[@]}"; do
		order+=("${servers[$(((i + round - 1) % ${#servers[@]}))]}")
	done
	for srv in "${order[@]}"; do
		port=$(free_port)
		case $srv in
		nginx) start_nginx "$port" ;;
		coil-*) start_coil "$port" "${srv#coil-}" ;;
		esac
		[ "$round" = 1 ] && command -v curl >/dev/null && check_body "$port"
		timeout 20 taskset -c 0 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/4k.bin" >/dev/null
		for size in 4k 1m; do
			conns=$CONNS
			[ "$size" = 1m ] && conns=$BIG_CONNS
			r=$(measure "$port" "$size.bin" "$conns")
			RES[$srv,$size]="${RES[$srv,$size]:-}$r
"
			echo "round $round $srv $size: $r (req/s p50ms p99ms requests cpu_us/req MiB/s)"
		done
		stop_server
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "${RES[$1,$2]}" | awk -v c="$3" 'NF { print $c }' | median; }

{
	echo "| file | server | req/s | MiB/s | p50 ms | p99 ms | server CPU us/req | req/s vs nginx | CPU/req vs nginx |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for size in 4k 1m; do
		nr=$(col nginx $size 1) nc=$(col nginx $size 5)
		for srv in $SERVERS; do
			rps=$(col $srv $size 1) p50=$(col $srv $size 2) p99=$(col $srv $size 3)
			cpu=$(col $srv $size 5) mb=$(col $srv $size 6)
			awk -v m="$size" -v s="$srv" -v r="$rps" -v t="$mb" -v a="$p50" -v b="$p99" -v c="$cpu" -v nr="$nr" -v nc="$nc" \
				'BEGIN { printf "| %s | %s | %.0f | %.0f | %.3f | %.3f | %.2f | %.2fx | %.2fx |\n", m, s, r, t, a, b, c, r / nr, (nc > 0 ? c / nc : 0) }'
		done
	done
	echo
	echo "median of $ROUNDS rounds; wrk -t1 -d${SECS}s, -c$CONNS for 4 KiB, -c$BIG_CONNS for 1 MiB; keep-alive;" \
		"server on CPU 1, wrk on CPU 0; $(nproc) CPUs; kernel $(uname -r); $("$NGINX" -v 2>&1); $(wrk -v 2>&1 | head -1)"
} | tee "${OUT:-/dev/null}"
