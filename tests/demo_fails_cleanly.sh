#!/bin/sh
# A step of the demo that fails (here: the file step, in a directory that
# does not exist) is named on stderr and the demo exits 1, promptly; it
# never prints "all good".
# usage: demo_fails_cleanly.sh [EMULATOR] DEMO (the command that runs the demo)
set -eu
out=$(DEMO_TMPDIR=/nonexistent/coil-demo timeout 60 "$@" 2>&1) && st=0 || st=$?
echo "$out"
[ "$st" -eq 1 ] || { echo "demo exited $st, wanted 1"; exit 1; }
echo "$out" | grep -q "demo: open a file:" || { echo "no message naming the step"; exit 1; }
if echo "$out" | grep -q "all good"; then echo "said all good"; exit 1; fi
echo "demo failed cleanly"
