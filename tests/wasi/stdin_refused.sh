#!/bin/sh
# A fiber reading stdin while others sleep and do file I/O
# (stdin_refused.c), with stdin as /dev/null (Node's WASI refuses to poll
# it: the whole poll_oneoff fails with EPERM) and as a pipe (polled as
# usual); then both again under refusing_host.mjs, which refuses stdin as
# preview 1 says a host may: an event with its error set. Every fiber must
# finish, the reader with all of stdin.
#   stdin_refused.sh RUN_MJS REFUSING_HOST_MJS STDIN_REFUSED_WASM NODE [NODE_FLAGS...]
set -eu
run=$1 refusing=$2 prog=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 70000 /dev/urandom >"$tmp/in"
for host in "$run" "$refusing"; do
	echo "host: $host"
	"$@" "$host" "$prog" 0 </dev/null
	# The pipe's writer sends its second piece while the reader waits
	# (or not: either way all of it must arrive).
	{ head -c 1000 "$tmp/in"; sleep 0.1; tail -c +1001 "$tmp/in"; } |
		"$@" "$host" "$prog" 70000
	# A pipe that has ended before the program starts.
	: | "$@" "$host" "$prog" 0
done
echo "stdin_refused: /dev/null and pipes as stdin, both kinds of refusal, every fiber finished"
