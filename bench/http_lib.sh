# shellcheck shell=bash
# http_lib.sh: what the HTTP benchmarks (http_compare.sh, files_http_compare.sh,
# http_attack.sh, http_peers.sh, proxy_compare.sh, tcp_proxy_compare.sh) share. Sourced, not run:
#
#   . "$HERE/http_lib.sh"
#
# The script sets ROOT (the checkout), TMP (its temporary directory) and
# SRV_PID (the server under test, "" when none) before it calls these, and
# keeps its results in RES (an associative array declared here).
#
#   log TEXT...           TEXT on stderr, after the script's name
#   need CMD PKG          add the Debian package PKG to NEED when CMD is neither
#                         in PATH nor in /usr/sbin (add to NEED by hand for what
#                         is not a command)
#   install_needed        apt-get install NEED (root; for the benchmark only,
#                         never for CI), bounded in time; nothing when empty
#   cmd_path CMD          CMD's path: in PATH, else /usr/sbin/CMD (root's PATH
#                         has sbin, a user's may not)
#   build_examples T...   configure and build the examples T... with the bench
#                         preset when one of build/bench/examples/T is missing
#   free_port             a free TCP port on 127.0.0.1
#   wait_port PORT [PID]  until something accepts on 127.0.0.1:PORT (10 s at
#                         most; fails with a message after, or at once when
#                         PID has exited)
#   start_server PORT CPUS OUT ERR CMD...
#                         CMD pinned to CPUS (taskset) in the background, its
#                         stdout to OUT and stderr to ERR ("-": the script's);
#                         SRV_PID is its pid; returns when PORT accepts (on
#                         failure ERR's last lines go to stderr)
#   stop_server           SIGTERM to SRV_PID, SIGKILL after 10 s, reap it
#   kill_wait PID...      SIGTERM to each PID given (empty ones skipped), reap
#   nginx_conf DIR WORKERS CONNS HTTP [MAIN]
#                         write DIR/nginx.conf: daemon off, WORKERS worker
#                         processes (1: master_process off, so that the process
#                         measured is the worker; more: master on), MAIN
#                         directives, worker_connections CONNS, logs and temp
#                         files in DIR, and an http block with access_log off,
#                         keepalive_timeout 75s and the directives HTTP
#   nginx_hello PORT [SSL]  an nginx server block answering every request with
#                         200 "Hello, World!" (text/plain) on 127.0.0.1:PORT;
#                         SSL: its ssl_* directives, and the listener speaks TLS
#   run_nginx DIR PORT CPUS start nginx with DIR/nginx.conf as the server
#                         (start_server; stderr to DIR/stderr); needs NGINX
#   pids_of PID           PID and its children (nginx's workers under a master)
#   cpu_ticks PID         utime + stime (clock ticks, HZ a second) of PID's
#                         threads and of its children's, from /proc/PID/stat
#   wrk_warmup CPUS CONNS URL
#                         wrk -t1 for 1 s, output dropped: connections, caches
#   wrk_measure CPUS CONNS SECS ARG...
#                         one run of wrk -t1 -c CONNS -d SECS --latency ARG...
#                         (ARG: the URL and any -s/-H, script arguments after
#                         --) pinned to CPUS, with SRV_PID's CPU time over it;
#                         prints "req/s p50_ms p99_ms requests
#                         server_cpu_us_per_request MiB/s", appends wrk's output
#                         to TMP/wrk.log, says on stderr when wrk saw non-2xx
#                         answers or socket errors
#   rotate ROUND ITEM...  the items rotated by ROUND - 1: each goes first in
#                         some round (two items: they alternate)
#   add KEY LINE          append LINE (one round's numbers) to RES[KEY]
#   median                the median of the numbers on stdin, one a line
#   col KEY C             the median over rounds of column C of RES[KEY]

BENCH=$(basename "$0" .sh)
HZ=$(getconf CLK_TCK)
NEED=""
declare -A RES=()

log() { echo "$BENCH: $*" >&2; }

need() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || NEED="$NEED $2"; }

install_needed() {
	[ -n "$NEED" ] || return 0
	log "installing$NEED (bench only)"
	# shellcheck disable=SC2086 # NEED is a list of package names
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends $NEED >/dev/null
}

cmd_path() { command -v "$1" || echo "/usr/sbin/$1"; }

build_examples() {
	local t
	for t in "$@"; do
		[ -x "$ROOT/build/bench/examples/$t" ] && continue
		(cd "$ROOT" && cmake --preset bench >/dev/null &&
			cmake --build --preset bench -j2 --target "$@" >/dev/null)
		return
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		[ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	log "nothing listens on $1"
	return 1
}

start_server() {
	local port=$1 cpus=$2 out=$3 err=$4
	shift 4
	(
		[ "$out" = - ] || exec >"$out"
		[ "$err" = - ] || exec 2>"$err"
		exec taskset -c "$cpus" "$@"
	) &
	SRV_PID=$!
	wait_port "$port" "$SRV_PID" && return
	[ "$err" = - ] || tail -n 5 "$err" >&2
	return 1
}

stop_server() {
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

kill_wait() {
	local p
	for p in "$@"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

nginx_conf() {
	local dir=$1 workers=$2 conns=$3 http=$4 main=${5:-} master=off
	[ "$workers" = 1 ] || master=on
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process $master;
worker_processes $workers;
$main
error_log $dir/error.log;
pid $dir/nginx.pid;
events { worker_connections $conns; }
http {
	access_log off;
	keepalive_timeout 75s;
	client_body_temp_path $dir;
	proxy_temp_path $dir;
	fastcgi_temp_path $dir;
	uwsgi_temp_path $dir;
	scgi_temp_path $dir;
$http
}
CONF
}

nginx_hello() {
	local ssl=${2:-}
	cat <<CONF
	server {
		listen 127.0.0.1:$1 ${ssl:+ssl} reuseport backlog=1024;
		$ssl
		default_type text/plain;
		location / { return 200 "Hello, World!"; }
	}
CONF
}

run_nginx() {
	start_server "$2" "$3" - "$1/stderr" "$NGINX" -p "$1" -c "$1/nginx.conf"
}

pids_of() {
	echo "$1"
	pgrep -P "$1" 2>/dev/null || true
}

cpu_ticks() {
	local total=0 p
	for p in $(pids_of "$1"); do
		[ -r /proc/"$p"/stat ] || continue
		total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' /proc/"$p"/stat)))
	done
	echo "$total"
}

wrk_warmup() {
	timeout 20 taskset -c "$1" wrk -t1 -c"$2" -d1s "$3" >/dev/null
}

wrk_measure() {
	local cpus=$1 conns=$2 secs=$3 t0 t1 out
	shift 3
	t0=$(cpu_ticks "$SRV_PID")
	out=$(timeout $((secs + 30)) taskset -c "$cpus" wrk -t1 -c"$conns" -d"${secs}s" --latency "$@")
	t1=$(cpu_ticks "$SRV_PID")
	echo "$out" >>"$TMP/wrk.log"
	echo "$out" | awk -v ticks=$((t1 - t0)) -v hz="$HZ" '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		function mib(v) { if (v ~ /GB$/) return v * 1024; if (v ~ /MB$/) return v + 0; if (v ~ /KB$/) return v / 1024; return v / 1048576 }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
		/requests in/ { reqs = $1 } /^Requests\/sec:/ { rps = $2 } /^Transfer\/sec:/ { tput = mib($2) }
		/Non-2xx|Socket errors/ { bad = bad $0 " " }
		END { if (bad != "") print "wrk: " bad > "/dev/stderr";
		      printf "%.0f %.3f %.3f %d %.3f %.1f\n", rps, p50, p99, reqs, reqs ? ticks * 1e6 / hz / reqs : 0, tput }'
}

rotate() {
	local round=$1 i
	shift
	local items=("$@") out=()
	for i in "${!items[@]}"; do
		out+=("${items[$(((i + round - 1) % ${#items[@]}))]}")
	done
	echo "${out[@]}"
}

add() {
	RES[$1]="${RES[$1]:-}$2
"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

col() { printf '%s' "${RES[$1]:-}" | awk -v c="$2" 'NF { print $c }' | median; }
