#!/usr/bin/env bash
# echo_sleeps.sh: server CPU and sleeps per round trip of TCP echo servers,
# interleaved, for finding where a server's CPU goes (bench/echo_compare.sh
# gives syscalls; this gives context switches).
#
#   bench/echo_sleeps.sh [--conns 50] [--seconds 3] [--rounds 3] [--cpus 0,1]
#                        NAME='[ENV... --] PATH ARGS...' ...
#
# Each NAME runs (in turn, every round) with its environment and arguments
# plus --port 0, pinned with loadgen to --cpus; loadgen (build/bench/loadgen)
# measures for --seconds after 1 s of warmup. Per run one line:
#   NAME cpu_ns/rt rps p50_us p99_us vol/rt invol/rt
# vol and invol are the server's voluntary (it slept: a blocking wait) and
# involuntary (preempted) context switches over warmup and measurement,
# summed over its threads (/proc/PID/task/*/status), per round trip of the
# same window. Loopback only; each run is bounded by loadgen's duration.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOADGEN=${LOADGEN:-$HERE/../build/bench/loadgen}
CONNS=50 SECS=3 ROUNDS=3 CPUS=0,1
while [ $# -gt 0 ]; do
	case "$1" in
	--conns) CONNS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--cpus) CPUS=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

switches() { # pid -> "voluntary involuntary"
	local v=0 n=0 a b
	for t in /proc/$1/task/*; do
		a=$(awk '/^voluntary_ctxt/ { print $2 }' "$t/status" 2>/dev/null || echo 0)
		b=$(awk '/^nonvoluntary_ctxt/ { print $2 }' "$t/status" 2>/dev/null || echo 0)
		v=$((v + ${a:-0})); n=$((n + ${b:-0}))
	done
	echo "$v $n"
}

one() { # name spec
	local name=$1 spec=$2 envs=() words pid port v0 n0 v1 n1 out
	read -r -a words <<<"$spec"
	if [[ " $spec " == *" -- "* ]]; then
		while [ "${words[0]}" != "--" ]; do envs+=("${words[0]}"); words=("${words[@]:1}"); done
		words=("${words[@]:1}")
	fi
	env ${envs[@]+"${envs[@]}"} taskset -c "$CPUS" "${words[@]}" --port 0 >"$TMPD/out" 2>"$TMPD/err" &
	pid=$!
	for _ in $(seq 100); do grep -q listening "$TMPD/out" && break; sleep 0.1; done
	port=$(grep -o '127.0.0.1:[0-9]*' "$TMPD/out" | cut -d: -f2)
	[ -n "$port" ] || { echo "$name did not start" >&2; kill "$pid" 2>/dev/null; return; }
	read -r v0 n0 < <(switches "$pid")
	out=$(timeout $((SECS + 30)) taskset -c "$CPUS" "$LOADGEN" --host 127.0.0.1 --port "$port" \
		--conns "$CONNS" --size 64 --duration "$SECS" --warmup 1 --sample-pid "$pid")
	read -r v1 n1 < <(switches "$pid")
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "$name $out vol=$((v1 - v0)) invol=$((n1 - n0))" | awk '{
		for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
		if (v["rtt"] > 0)
			printf "%s cpu_ns/rt=%.0f rps=%s p50_us=%s p99_us=%s vol/rt=%.3f invol/rt=%.3f\n", $1,
				v["srv_cpu_ns"] / v["rtt"], v["rps"], v["p50_us"], v["p99_us"],
				v["vol"] / v["total_rtt"], v["invol"] / v["total_rtt"] }'
}

for ((r = 0; r < ROUNDS; r++)); do
	for s in "$@"; do one "${s%%=*}" "${s#*=}"; done
done
