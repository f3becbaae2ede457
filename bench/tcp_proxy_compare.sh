#!/usr/bin/env bash
# tcp_proxy_compare.sh: TCP proxies in front of one echo server: coil's
# examples/tcp_proxy with splice (coil_sock_splice) and with --copy (a
# buffer), on io_uring and epoll, against HAProxy in TCP mode with and
# without kernel splicing. Same machine, same run.
#
#   bench/tcp_proxy_compare.sh [--seconds 5] [--rounds 3] [--conns 50]
#                              [--sizes "64 65536"] [--build DIR] [--out FILE]
#
# The upstream is examples/echo_server (coil, 1 worker). bench/loadgen
# (closed loop: each connection sends SIZE bytes, waits for their echo,
# checks every byte, sends again) talks to the proxy under test, which is
# pinned to CPU 1; loadgen and the upstream share CPU 0. For each size,
# each round, each proxy in turn (the order rotates): a 1 s warm-up, then
# SECONDS measured; loadgen --sample-pid takes the proxy's CPU time (every
# thread's schedstat) over exactly that window. The table gives the median
# of the rounds: round trips/s, p50/p99, the proxy's CPU per round trip and
# per MiB carried (both ways), and its ratio to HAProxy without splice.
#   coil-splice      tcp_proxy (io_uring), bytes through a pipe
#   coil-copy        tcp_proxy --copy (io_uring), through a 64 KiB buffer
#   coil-epoll-*     the same on the epoll backend
#   haproxy          Debian's 2.6, nbthread 1, mode tcp, no splicing
#   haproxy-splice   the same with option splice-auto
# haproxy is installed with apt-get when missing (root): for this benchmark
# only, not for CI. Loopback only; every step is time-bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=5
ROUNDS=3
CONNS=50
SIZES="64 65536"
BUILD=""
OUT=""

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--sizes) SIZES=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) usage ;;
	esac
done

# shellcheck source=http_lib.sh source-path=SCRIPTDIR
. "$HERE/http_lib.sh"
need haproxy haproxy
install_needed
HAPROXY=$(cmd_path haproxy)
if [ -z "$BUILD" ]; then
	build_examples tcp_proxy echo_server
	BUILD=$ROOT/build/bench
fi
[ -x "$BUILD/loadgen" ] || (cd "$ROOT" && cmake --build --preset bench -j2 --target loadgen >/dev/null)
PROXY=$BUILD/examples/tcp_proxy
ECHO=$BUILD/examples/echo_server
LOADGEN=$BUILD/loadgen

TMP=$(mktemp -d)
UP_PID="" SRV_PID=""
cleanup() { kill_wait "$SRV_PID" "$UP_PID"; rm -rf "$TMP"; }
trap cleanup EXIT

UP_PORT=$(free_port)
start_server "$UP_PORT" 0 /dev/null "$TMP/up.err" "$ECHO" --port "$UP_PORT"
UP_PID=$SRV_PID SRV_PID=""

haproxy_conf() { # FILE PORT EXTRA
	cat >"$1" <<EOF
global
	nbthread 1
	maxconn 4000
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	$3
listen p
	bind 127.0.0.1:$2
	server up 127.0.0.1:$UP_PORT
EOF
}

# Start proxy NAME on PORT (SRV_PID).
start_proxy() {
	local name=$1 port=$2
	case "$name" in
	coil-splice) start_server "$port" 1 /dev/null "$TMP/err" env COIL_BACKEND=uring \
		"$PROXY" --port "$port" --upstream "127.0.0.1:$UP_PORT" ;;
	coil-copy) start_server "$port" 1 /dev/null "$TMP/err" env COIL_BACKEND=uring \
		"$PROXY" --port "$port" --upstream "127.0.0.1:$UP_PORT" --copy ;;
	coil-epoll-splice) start_server "$port" 1 /dev/null "$TMP/err" env COIL_BACKEND=epoll \
		"$PROXY" --port "$port" --upstream "127.0.0.1:$UP_PORT" ;;
	coil-epoll-copy) start_server "$port" 1 /dev/null "$TMP/err" env COIL_BACKEND=epoll \
		"$PROXY" --port "$port" --upstream "127.0.0.1:$UP_PORT" --copy ;;
	haproxy) haproxy_conf "$TMP/h.cfg" "$port" ""
		start_server "$port" 1 /dev/null "$TMP/err" "$HAPROXY" -db -f "$TMP/h.cfg" ;;
	haproxy-splice) haproxy_conf "$TMP/h.cfg" "$port" "option splice-auto"
		start_server "$port" 1 /dev/null "$TMP/err" "$HAPROXY" -db -f "$TMP/h.cfg" ;;
	esac
}

# start_server execs taskset, which execs env, which execs the proxy: SRV_PID
# is the proxy itself.
PROXIES=(haproxy haproxy-splice coil-splice coil-copy coil-epoll-splice coil-epoll-copy)
declare -A RES
for size in $SIZES; do
	for round in $(seq "$ROUNDS"); do
		for name in $(rotate "$round" "${PROXIES[@]}"); do
			port=$(free_port)
			if ! start_proxy "$name" "$port"; then
				log "$name did not start: left out"
				continue
			fi
			line=$(timeout $((SECS + 30)) taskset -c 0 "$LOADGEN" --host 127.0.0.1 --port "$port" \
				--conns "$CONNS" --size "$size" --warmup 1 --duration "$SECS" \
				--sample-pid "$SRV_PID" || true)
			stop_server
			echo "$size $name $line" >>"$TMP/runs.log"
			case "$line" in *srv_cpu_ns=*) ;; *) log "$name size $size: no result"; continue ;; esac
			r=$(echo "$line" | awk -v size="$size" '{
				for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
				printf "%.0f %.1f %.1f %.0f %.0f %d\n", v["rps"], v["p50_us"], v["p99_us"],
					v["srv_cpu_ns"] / v["total_rtt"],
					v["srv_cpu_ns"] / (v["total_rtt"] * size * 2 / 1048576), v["errors"] }')
			add "$size/$name" "$r"
		done
	done
done

{
	echo "# TCP proxies: $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%F)"
	echo
	echo "Command: \`bench/tcp_proxy_compare.sh --seconds $SECS --rounds $ROUNDS --conns $CONNS --sizes \"$SIZES\"\`;"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
	for size in $SIZES; do
		echo
		echo "## $size-byte messages, $CONNS connections (medians of $ROUNDS rounds)"
		echo
		echo "| proxy | round trips/s | p50 us | p99 us | proxy CPU ns/rt | proxy CPU ms/MiB | CPU ratio vs haproxy | errors |"
		echo "|---|---|---|---|---|---|---|---|"
		base=$(col "$size/haproxy" 4)
		for name in "${PROXIES[@]}"; do
			[ -n "${RES[$size/$name]:-}" ] || continue
			cpu=$(col "$size/$name" 4)
			ratio=$(awk -v a="$cpu" -v b="${base:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
			printf '| %s | %s | %s | %s | %s | %.3f | %s | %s |\n' "$name" "$(col "$size/$name" 1)" \
				"$(col "$size/$name" 2)" "$(col "$size/$name" 3)" "$cpu" \
				"$(awk -v v="$(col "$size/$name" 5)" 'BEGIN { print v / 1e6 }')" "$ratio" \
				"$(col "$size/$name" 6)"
		done
	done
} | tee "${OUT:-/dev/null}"
