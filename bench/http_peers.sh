#!/usr/bin/env bash
# http_peers.sh: coil's http_hello against nginx, h2o and hyper, same run.
#
#   bench/http_peers.sh [--seconds 4] [--rounds 3] [--conns 100] [--depth 16]
#                       [--ab-requests 15000] [--ab-conc 50] [--idle 19000]
#                       [--sections wrk,ab,idle] [--servers "nginx h2o hyper coil"]
#                       [--workers 1] [--hello PATH] [--out FILE]
#
# Every server answers GET / with "Hello, World!" (text/plain), keep-alive:
#   nginx 1.22  worker_processes 1, master_process off (the process measured
#               is the worker), access_log off, `return 200 "Hello, World!"`
#   h2o 2.2.5   num-threads 1, no access log, `file.file` of a 13-byte file
#               (h2o 2.2 returns a literal only through mruby; its static
#               file handler is its C path), file.etag OFF
#   hyper 0.14  bench/peers/hyper, Tokio's current-thread runtime (one
#               thread), http1_pipeline_flush on; built offline against
#               Debian's crates (librust-hyper-dev)
#   coil        examples/http_hello --workers 1 (io_uring; coil_epoll: the
#               same on the epoll backend, when named in --servers)
# Each server is pinned to CPU 1, its clients to CPU 0; in each round every
# server takes its turn (the order rotates), and the tables give the median
# of the rounds and ratios to nginx: of the medians, and the median (min-max)
# of each round's ratio. Sections:
#   wrk   keep-alive: wrk -t1 -c CONNS; pipelined: the same with
#         bench/http_pipeline.lua, DEPTH requests per write
#   ab    connection per request: ab -n AB_REQUESTS -c AB_CONC (no -k;
#         ab speaks HTTP/1.0, so every connection serves one request)
#   idle  IDLE keep-alive connections, each after one request, held idle by
#         bench/http_idle_clients.py (processes of <= 9000 connections, each
#         from its own 127.0.0.x address); the server's RSS and PSS
#         (/proc/PID/smaps_rollup, its processes summed) then, minus the
#         same server's idle figure just before, per connection held (open
#         sockets counted in /proc/PID/fd), and the growth of its page
#         tables (VmPTE, not in RSS). The kernel's sockets are in neither.
# Server CPU per request: utime + stime of all its threads and processes
# (/proc/PID/stat) over the run, divided by the requests the client counted.
# --workers 2: nginx with 2 worker processes (master on), h2o num-threads 2,
# coil --workers 2, servers and client all on CPUs 0-1; hyper is left out
# (the issue's peer is the current-thread runtime).
#
# nginx, h2o, wrk and ab (apache2-utils) and librust-hyper-dev are
# installed with apt-get when missing (root): for this benchmark only, not
# for CI. Loopback only; every step is time-bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=4
ROUNDS=3
CONNS=100
DEPTH=16
AB_N=15000
AB_C=50
IDLE=19000
SECTIONS=wrk,ab,idle
SERVERS=""
WORKERS=1
HELLO=""
OUT=""

usage() { sed -n '2,43p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--depth) DEPTH=$2; shift 2 ;;
	--ab-requests) AB_N=$2; shift 2 ;;
	--ab-conc) AB_C=$2; shift 2 ;;
	--idle) IDLE=$2; shift 2 ;;
	--sections) SECTIONS=$2; shift 2 ;;
	--servers) SERVERS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--hello) HELLO=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) usage ;;
	esac
done
if [ -z "$SERVERS" ]; then
	SERVERS="nginx h2o hyper coil"
	[ "$WORKERS" = 1 ] || SERVERS="nginx h2o coil"
fi
has() { case ",$SECTIONS," in *",$1,"*) return 0 ;; esac; return 1; }

# shellcheck source=http_lib.sh source-path=SCRIPTDIR
. "$HERE/http_lib.sh"
need nginx nginx-light
need h2o h2o
need wrk wrk
need ab apache2-utils
ls -d /usr/share/cargo/registry/hyper-0.14.* >/dev/null 2>&1 || NEED="$NEED librust-hyper-dev"
install_needed
NGINX=$(cmd_path nginx)
if [ -z "$HELLO" ]; then
	build_examples http_hello
	HELLO=$ROOT/build/bench/examples/http_hello
fi
HYPER=$ROOT/build/bench/peers/hyper-target/release/hello-hyper
case " $SERVERS " in *" hyper "*)
	if [ ! -x "$HYPER" ] || [ "$HERE/peers/hyper/src/main.rs" -nt "$HYPER" ]; then
		CARGO=$(command -v cargo || true)
		for c in /root/.cargo/bin/cargo /usr/bin/cargo; do
			[ -n "$CARGO" ] || { [ -x "$c" ] && CARGO=$c; }
		done
		log "building the hyper peer (offline, Debian's crates)"
		# bench/peers/hyper/.cargo/config.toml points crates-io at
		# /usr/share/cargo/registry; cargo reads it from the working directory.
		(cd "$HERE/peers/hyper" && CARGO_TARGET_DIR="$ROOT/build/bench/peers/hyper-target" \
			timeout 900 "$CARGO" build --release --offline) >&2
	fi ;;
esac

TMP=$(mktemp -d)
chmod 755 "$TMP" # h2o started as root may serve as nobody
SRV_PID=""
CLI_PIDS=()
cleanup() { kill_wait "${CLI_PIDS[@]}" "$SRV_PID"; rm -rf "$TMP"; }
trap cleanup EXIT

if [ "$WORKERS" = 1 ]; then
	SRV_CPUS=1 LG_CPUS=0
else
	SRV_CPUS=0-1 LG_CPUS=0-1
fi

# "rss_kib pss_kib sockets pte_kib" of the server's processes.
server_mem() {
	local p rss=0 pss=0 socks=0 pte=0
	for p in $(pids_of "$SRV_PID"); do
		[ -r /proc/"$p"/smaps_rollup ] || continue
		rss=$((rss + $(awk '/^Rss:/ { print $2 }' /proc/"$p"/smaps_rollup)))
		pss=$((pss + $(awk '/^Pss:/ { print $2 }' /proc/"$p"/smaps_rollup)))
		socks=$((socks + $(find /proc/"$p"/fd -lname 'socket:*' 2>/dev/null | wc -l)))
		pte=$((pte + $(awk '/^VmPTE:/ { print $2 }' /proc/"$p"/status)))
	done
	echo "$rss $pss $socks $pte"
}

start_nginx() {
	nginx_conf "$TMP/nginx" "$WORKERS" 20000 "	keepalive_requests 1000;
$(nginx_hello "$1")" "worker_rlimit_nofile 20000;"
	run_nginx "$TMP/nginx" "$1" "$SRV_CPUS"
}

start_h2o() {
	local port=$1
	mkdir -p "$TMP/h2o"
	chmod 755 "$TMP/h2o"
	printf 'Hello, World!' >"$TMP/h2o/hello.txt"
	chmod 644 "$TMP/h2o/hello.txt"
	cat >"$TMP/h2o/h2o.conf" <<CONF
num-threads: $WORKERS
max-connections: 20000
http1-request-timeout: 75
error-log: $TMP/h2o/error.log
file.etag: OFF
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      /:
        file.file: $TMP/h2o/hello.txt
CONF
	start_server "$port" "$SRV_CPUS" "$TMP/h2o/stdout" "$TMP/h2o/stderr" h2o -c "$TMP/h2o/h2o.conf"
}

start_hyper() {
	start_server "$1" "$SRV_CPUS" "$TMP/hyper.out" - "$HYPER" --port "$1"
}

start_coil() {
	start_server "$1" "$SRV_CPUS" "$TMP/coil.out" - "$HELLO" --port "$1" --workers "$WORKERS"
}

# coil on its epoll backend (--servers "... coil_epoll")
start_coil_epoll() { COIL_BACKEND=epoll start_coil "$@"; }

# One wrk run: "rps p50_ms p99_ms requests cpu_us_per_req".
measure_wrk() {
	local port=$1 mode=$2 script=()
	[ "$mode" = pipelined ] && script=(-s "$HERE/http_pipeline.lua")
	wrk_measure "$LG_CPUS" "$CONNS" "$SECS" "${script[@]}" "http://127.0.0.1:$port/" ${script:+-- "$DEPTH"} |
		cut -d' ' -f1-5
}

# One ab run: "rps p50_ms p99_ms requests cpu_us_per_req failed".
measure_ab() {
	local port=$1 t0 t1 out
	t0=$(cpu_ticks "$SRV_PID")
	out=$(timeout 120 taskset -c "$LG_CPUS" ab -q -n "$AB_N" -c "$AB_C" "http://127.0.0.1:$port/" 2>&1)
	t1=$(cpu_ticks "$SRV_PID")
	echo "$out" >>"$TMP/ab.log"
	echo "$out" | awk -v ticks=$((t1 - t0)) -v hz="$HZ" '
		/^Complete requests:/ { reqs = $3 } /^Failed requests:/ { failed = $3 }
		/^Requests per second:/ { rps = $4 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
		END { printf "%.0f %.3f %.3f %d %.3f %d\n", rps, p50, p99, reqs, reqs ? ticks * 1e6 / hz / reqs : 0, failed }'
}

# IDLE idle connections:
# "rss_kib_per_conn pss_kib_per_conn conns rss0_kib pss0_kib pte_kib_per_conn
#  close_all_s close_all_cpu_s".
measure_idle() {
	local port=$1 left=$IDLE i=0 n before after ready
	CLI_PIDS=()
	sleep 1 # the previous sections' connections are gone
	before=$(server_mem)
	while [ "$left" -gt 0 ]; do
		n=$((left > 9000 ? 9000 : left))
		mkfifo "$TMP/hold$i"
		taskset -c "$LG_CPUS" timeout 300 python3 "$HERE/http_idle_clients.py" --port "$port" \
			--conns "$n" --src "127.0.0.$((i + 2))" --hold 240 <"$TMP/hold$i" >"$TMP/ready$i" &
		CLI_PIDS+=($!)
		exec {fd}>"$TMP/hold$i" # the client holds its connections until this closes
		eval "HOLD_FD$i=$fd"
		left=$((left - n)) i=$((i + 1))
	done
	for _ in $(seq 1200); do
		ready=$(cat "$TMP"/ready* 2>/dev/null | grep -c '^ready' || true)
		[ "$ready" = "$i" ] && break
		local alive=0 p
		for p in "${CLI_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
		[ "$alive" = "$i" ] || break
		sleep 0.1
	done
	sleep 1 # let the server settle after the last answer
	after=$(server_mem)
	# then every client closes at once: how long until the server has
	# closed them all (its socket count back to before), and its CPU
	local t0 c0 t1 c1 socks0
	socks0=$(echo "$before" | cut -d' ' -f3)
	t0=$(date +%s.%N) c0=$(cpu_ticks "$SRV_PID")
	for ((j = 0; j < i; j++)); do
		eval "fd=\$HOLD_FD$j"
		exec {fd}>&-
	done
	for p in "${CLI_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	CLI_PIDS=()
	for _ in $(seq 1200); do # 60 s at most
		[ "$(server_mem | cut -d' ' -f3)" -le $((socks0 + 10)) ] && break
		sleep 0.05
	done
	t1=$(date +%s.%N) c1=$(cpu_ticks "$SRV_PID")
	rm -f "$TMP"/hold* "$TMP"/ready*
	echo "$before $after $t0 $t1 $((c1 - c0))" | awk -v hz="$HZ" '{ c = $7 - $3; if (c <= 0) { print "0 0 0 " $1 " " $2 " 0 0 0"; exit }
		printf "%.2f %.2f %d %d %d %.2f %.2f %.2f\n", ($5 - $1) / c, ($6 - $2) / c, c, $1, $2, ($8 - $4) / c, $10 - $9, $11 / hz }'
}

for round in $(seq "$ROUNDS"); do
	# shellcheck disable=SC2086 # a list of names
	for srv in $(rotate "$round" $SERVERS); do
		port=$(free_port)
		"start_$srv" "$port"
		if has wrk; then
			# warm up: connections, caches
			wrk_warmup "$LG_CPUS" "$CONNS" "http://127.0.0.1:$port/"
			for mode in keepalive pipelined; do
				r=$(measure_wrk "$port" "$mode")
				add "$srv,$mode" "$r"
				log "round $round $srv $mode: $r (req/s p50ms p99ms requests cpu_us/req)"
			done
		fi
		if has ab; then
			r=$(measure_ab "$port")
			add "$srv,ab" "$r"
			log "round $round $srv ab: $r (req/s p50ms p99ms requests cpu_us/req failed)"
		fi
		# last: the closing of IDLE connections at once is no part of the
		# other figures (coil on io_uring takes seconds over it)
		if has idle; then
			r=$(measure_idle "$port")
			add "$srv,idle" "$r"
			log "round $round $srv idle: $r (rss KiB/conn, pss KiB/conn, conns, idle rss KiB, idle pss KiB, page tables KiB/conn, s and CPU s to close them)"
		fi
		stop_server
	done
done

# The ratio srv/nginx of column c in each round (same round: the load the
# two met was closer), as "median (min-max)".
rcol() {
	paste <(printf '%s' "${RES[$1,$2]:-}" | awk -v c="$3" 'NF { print $c }') \
		<(printf '%s' "${RES[nginx,$2]:-}" | awk -v c="$3" 'NF { print $c }') |
		awk '$2 > 0 { print $1 / $2 }' | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.2fx (%.2f-%.2f)\n", m, v[1], v[NR] }'
}

{
	for mode in keepalive pipelined ab; do
		case $mode in ab) has ab || continue ;; *) has wrk || continue ;; esac
		case $mode in
		keepalive) echo "### Keep-alive: wrk -t1 -c$CONNS -d${SECS}s" ;;
		pipelined) echo "### Pipelined $DEPTH deep: wrk -t1 -c$CONNS -d${SECS}s -s bench/http_pipeline.lua" ;;
		ab) echo "### Connection per request: ab -n $AB_N -c $AB_C (no -k)" ;;
		esac
		echo
		echo "| server | req/s | p50 ms | p99 ms | server CPU us/req | req/s vs nginx | CPU/req vs nginx | req/s vs nginx, per round | CPU/req vs nginx, per round |"
		echo "|---|---|---|---|---|---|---|---|---|"
		nr=$(col "nginx,$mode" 1) nc=$(col "nginx,$mode" 5)
		for srv in $SERVERS; do
			rps=$(col "$srv,$mode" 1) p50=$(col "$srv,$mode" 2) p99=$(col "$srv,$mode" 3) cpu=$(col "$srv,$mode" 5)
			awk -v s="$srv" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v nr="$nr" -v nc="$nc" \
				-v rr="$(rcol "$srv" "$mode" 1)" -v rc="$(rcol "$srv" "$mode" 5)" \
				'BEGIN { printf "| %s | %.0f | %.3f | %.3f | %.2f | %.2fx | %.2fx | %s | %s |\n", s, r, a, b, c, (nr > 0 ? r / nr : 0), (nc > 0 ? c / nc : 0), rr, rc }'
		done
		if [ $mode = ab ]; then
			for srv in $SERVERS; do
				f=$(printf '%s' "${RES[$srv,ab]:-}" | awk 'NF { s += $6 } END { print s + 0 }')
				[ "$f" = 0 ] || echo "($srv: $f failed requests over the rounds)"
			done
		fi
		echo
	done
	if has idle; then
		echo "### Idle keep-alive connections: $IDLE held, server memory per connection"
		echo
		echo "| server | connections held | RSS KiB/conn | PSS KiB/conn | page tables KiB/conn | idle server RSS KiB | RSS/conn vs nginx | all closed at once: s to close | its server CPU s |"
		echo "|---|---|---|---|---|---|---|---|---|"
		nm=$(col "nginx,idle" 1)
		for srv in $SERVERS; do
			a=$(col "$srv,idle" 1) b=$(col "$srv,idle" 2) c=$(col "$srv,idle" 3) d=$(col "$srv,idle" 4) e=$(col "$srv,idle" 6)
			f=$(col "$srv,idle" 7) g=$(col "$srv,idle" 8)
			awk -v s="$srv" -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v e="$e" -v f="$f" -v g="$g" -v nm="$nm" \
				'BEGIN { printf "| %s | %d | %.2f | %.2f | %.2f | %d | %.2fx | %.2f | %.2f |\n", s, c, a, b, e, d, (nm > 0 ? a / nm : 0), f, g }'
		done
		echo
	fi
	echo "median of $ROUNDS rounds, servers in rotating order each round; workers $WORKERS;" \
		"servers on CPU $SRV_CPUS, clients on CPU $LG_CPUS; $(nproc) CPUs;" \
		"load average at the end: $(cut -d' ' -f1-3 /proc/loadavg);" \
		"$("$NGINX" -v 2>&1); $(h2o -v 2>&1 | head -1); hyper $(basename /usr/share/cargo/registry/hyper-0.14.* | sed 's/hyper-//');" \
		"$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $(ab -V 2>&1 | head -1)"
} | tee "${OUT:-/dev/null}"
