#!/bin/sh
# ctest trace: coil-trace on trace-load for 2 s must see what the load does
# (completions of NOP, READ and TIMEOUT, READ's io-wq punts, CQ overflows).
# Exit 77 (skipped) where it cannot trace: not root, no BTF, BPF refused.
#
#   trace-test.sh COIL_TRACE TRACE_LOAD
set -u
trace=$1
load=$2
if [ "$(id -u)" != 0 ]; then
	echo "trace: skipped, not root"
	exit 77
fi
if [ ! -r /sys/kernel/btf/vmlinux ]; then
	echo "trace: skipped, the kernel has no BTF"
	exit 77
fi
fail() {
	echo "trace: FAIL: $*"
	exit 1
}

"$load" 20 &
load_pid=$!
out=$("$trace" --pid "$load_pid" --duration 2 --interval 1 --json 2>trace.err)
rc=$?
kill "$load_pid" 2>/dev/null
wait "$load_pid"
load_rc=$?
cat trace.err
echo "$out"
if [ $rc != 0 ]; then
	# A kernel or container that refuses BPF to root: not ours to test.
	grep -q "not allowed to load BPF" trace.err && exit 77
	fail "coil-trace exited $rc"
fi
[ $load_rc = 0 ] || fail "trace-load exited $load_rc"

summary=$(echo "$out" | grep '"type":"summary"') || fail "no summary line"
for op in NOP READ TIMEOUT; do
	echo "$summary" | grep -q "\"op\":\"$op\",\"opcode\":[0-9]*,\"submitted\":[1-9][0-9]*,\"completed\":[1-9]" ||
		fail "no $op completions"
done
echo "$summary" | grep -q '"op":"READ",[^}]*"punts":[1-9]' || fail "no READ punts"
echo "$summary" | grep -q '"cq_overflows":[1-9]' || fail "no CQ overflows"
echo "trace: ok"
