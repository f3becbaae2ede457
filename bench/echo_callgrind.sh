#!/usr/bin/env bash
# echo_callgrind.sh: user-space instructions per echo round trip, under
# valgrind --tool=callgrind: a deterministic figure, unlike CPU time on a
# shared VM. Each server runs under callgrind with --exit-after CONNS (a
# process parked in io_uring_enter under valgrind takes no signal) while
# loadgen drives CONNS connections x K requests of SIZE bytes.
#
#   bench/echo_callgrind.sh [--conns N] [--requests K] [--size B]
#                           [--server-env "NAME=VAR=VALUE ..."]
#                           [--server-args "NAME=ARG,ARG ..."] NAME=BINARY...
#
# Prints "NAME conns=N rt=R Ir=TOTAL Ir_per_rt=X" per server (Ir_per_rt=NA
# and a message on stderr if the server fails under valgrind). Build first:
# cmake --preset bench && cmake --build --preset bench.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNS=50 K=2000 SIZE=64
LOADGEN="$ROOT/build/bench/loadgen"
SRV_ENV=""
SRV_ARGS=""
servers=()
while [ $# -gt 0 ]; do
	case "$1" in
	--conns) CONNS=$2; shift 2 ;;
	--requests) K=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--loadgen) LOADGEN=$2; shift 2 ;;
	--server-env) SRV_ENV=$2; shift 2 ;;
	--server-args) SRV_ARGS=$2; shift 2 ;;
	*=*) servers+=("$1"); shift ;;
	*) echo "usage: $0 [--conns N] [--requests K] [--size B] NAME=BINARY..." >&2; exit 2 ;;
	esac
done
[ ${#servers[@]} -gt 0 ] || servers=("raw=$ROOT/build/bench/raw_uring_echo"
				      "coil=$ROOT/build/bench/examples/echo_server")
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[ -x "$LOADGEN" ] || { echo "no $LOADGEN: build the bench preset first" >&2; exit 2; }
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

server_env() { local e; for e in $SRV_ENV; do [ "${e%%=*}" = "$1" ] && printf '%s ' "${e#*=}"; done; return 0; }
# Extra arguments of a server, comma-separated ("lend=--read,lend").
server_args() { local e; for e in $SRV_ARGS; do [ "${e%%=*}" = "$1" ] && printf '%s ' "${e#*=}" | tr , ' '; done; return 0; }
fail() { echo "$name conns=$CONNS rt=$((CONNS * K)) Ir=NA Ir_per_rt=NA"; echo "echo_callgrind: $name: $*" >&2; }

for s in "${servers[@]}"; do
	name=${s%%=*} bin=${s#*=}
	out="$TMPD/$name.cg"
	read -r -a envs <<<"$(server_env "$name")"
	read -r -a args <<<"$(server_args "$name")"
	env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "${args[@]}" --port 0 \
		--exit-after "$CONNS" >"$TMPD/$name.port" 2>"$TMPD/$name.vg" &
	pid=$!
	for _ in $(seq 200); do grep -q listening "$TMPD/$name.port" 2>/dev/null && break; sleep 0.1; done
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMPD/$name.port")
	if [ -z "$port" ]; then
		fail "no listening line under valgrind: $(tail -n 3 "$TMPD/$name.vg" | tr '\n' ' ')"
		kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; continue
	fi
	timeout 300 "$LOADGEN" --host 127.0.0.1 --port "$port" --conns "$CONNS" --size "$SIZE" \
		--duration 280 --requests-per-conn "$K" >"$TMPD/$name.lg" 2>"$TMPD/$name.lgerr" || true
	if ! timeout 60 tail --pid="$pid" -f /dev/null; then
		fail "did not exit after $CONNS connections closed"
		kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; continue
	fi
	wait "$pid" 2>/dev/null || true
	total=$(awk '/^(summary|totals):/ {print $2; exit}' "$out" 2>/dev/null || true)
	rt=$((CONNS * K))
	if [ -z "$total" ] || ! grep -q 'errors=0' "$TMPD/$name.lg"; then
		fail "no callgrind total or loadgen errors"; continue
	fi
	echo "$name conns=$CONNS rt=$rt Ir=$total Ir_per_rt=$((total / rt))"
done
