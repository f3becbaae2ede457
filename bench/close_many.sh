#!/usr/bin/env bash
# close_many.sh: closing N idle connections at once, io_uring against epoll
# in the same run (bench/close_many.c: a one-worker server, a child process
# holding the clients).
#
#   bench/close_many.sh [--conns "1000 5000 15000"] [--rounds 3]
#                       [--closer client|server] [--read reader|plain]
#                       [--bin PATH] [--base PATH]
#
# Per N and round, the runs in rotating order: io_uring, epoll (and, with
# --base, io_uring through PATH: close_many linked against an older
# libcoil, for a before/after). Prints a table of medians over the rounds:
# wall seconds from the signal to the last server fiber's end, the server's
# CPU seconds, CPU per connection (flat when closing is linear), and
# io_uring's ratios to epoll. Build first: cmake --preset bench &&
# cmake --build --preset bench --target close_many. N needs N + a few fds
# per process (RLIMIT_NOFILE's hard limit). Loopback only; each run is
# bounded by a timeout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNS="1000 5000 15000" ROUNDS=3 CLOSER=client READ=reader
BIN="$ROOT/build/bench/close_many" BASE=""
while [ $# -gt 0 ]; do
	case "$1" in
	--conns) CONNS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--closer) CLOSER=$2; shift 2 ;;
	--read) READ=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--base) BASE=$2; shift 2 ;;
	*) sed -n '2,19p' "$0" >&2; exit 2 ;;
	esac
done
[ -x "$BIN" ] || { echo "no $BIN: build the bench preset first" >&2; exit 2; }
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

names=(uring epoll)
[ -n "$BASE" ] && names+=(uring-base)

run() { # name n -> "seconds cpu" appended to $TMPD/name.n
	local name=$1 n=$2 bin=$BIN backend=${1%-base} line
	[ "$name" = uring-base ] && bin=$BASE
	if ! line=$(COIL_BACKEND=$backend timeout 900 "$bin" --conns "$n" --closer "$CLOSER" \
		--read "$READ" 2>"$TMPD/err"); then
		echo "close_many.sh: $name conns=$n failed: $(tail -n 2 "$TMPD/err")" >&2
		return
	fi
	echo "close_many.sh: $line ($name)" >&2
	sed -n 's/.*seconds=\([0-9.]*\) cpu=\([0-9.]*\).*/\1 \2/p' <<<"$line" >>"$TMPD/$name.$n"
}

median() { # column of file
	sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {if (NR == 0) print "NA"; else
		if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'
}

for n in $CONNS; do
	for r in $(seq "$ROUNDS"); do
		k=${#names[@]}
		for i in $(seq 0 $((k - 1))); do
			run "${names[$(((i + r) % k))]}" "$n"
		done
	done
done

echo "closer=$CLOSER read=$READ, $ROUNDS rounds, median; kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| conns | backend | seconds | server CPU s | CPU us/conn | vs epoll: seconds | vs epoll: CPU |"
echo "|---|---|---|---|---|---|---|"
for n in $CONNS; do
	es=$(median "$TMPD/epoll.$n" 1 2>/dev/null || echo NA)
	ec=$(median "$TMPD/epoll.$n" 2 2>/dev/null || echo NA)
	for name in "${names[@]}"; do
		f="$TMPD/$name.$n"
		[ -s "$f" ] || { echo "| $n | $name | NA | NA | NA | NA | NA |"; continue; }
		s=$(median "$f" 1) c=$(median "$f" 2)
		awk -v n="$n" -v name="$name" -v s="$s" -v c="$c" -v es="$es" -v ec="$ec" 'BEGIN {
			rs = (es + 0 > 0) ? sprintf("%.2fx", s / es) : "NA"
			rc = (ec + 0 > 0) ? sprintf("%.2fx", c / ec) : "NA"
			printf "| %d | %s | %.3f | %.3f | %.1f | %s | %s |\n", n, name, s, c, c * 1e6 / n, rs, rc }'
	done
done
