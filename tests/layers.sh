#!/bin/sh
# ctest "layers": the folders of src/ are layers and includes point down
# only (DESIGN: "Arrows point down only"). Each folder may include its own
# headers, the public coil/ headers, and the folders below it: what the
# table says it may use, and what those may use in turn. Only folders are
# at the top of src/ (and coil.symbols): a source file there has no layer.
#   layers.sh SRC_DIR
set -eu
cd "$1"
# Every file, and every quoted include as "file include" (one awk pass).
{
	find . \( -name '*.[ch]' -o -name '*.S' \) | sed 's|^\./||' | sort | sed 's/$/ -/'
	grep -H '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $(find . \( -name '*.[ch]' -o -name '*.S' \)) |
		sed 's|^\./||; s/:[^"]*"\([^"]*\)".*/ \1/'
} | awk '
BEGIN {
	# folder: the folders it may use directly (closed transitively below).
	uses["base"] = ""
	uses["fiber"] = "base"
	uses["sched"] = "base fiber"
	uses["sync"] = "sched"
	uses["io"] = "sched base"
	uses["io/uring"] = "io"; uses["io/compat"] = "io"
	uses["io/wasi"] = "io"; uses["io/sim"] = "io"
	uses["net"] = "io sched"; uses["fs"] = "io sched"
	uses["tls"] = "net"
	uses["http"] = "net tls sync"
	# The top: coil_run, coil_loop, coil_bg drive every layer, and reach
	# the backends only through io (io/backend.h), never io/uring or
	# io/compat.
	uses["runtime"] = "http fs"
	for (f in uses) {
		reach[f, f] = 1
		todo = uses[f]
		while (todo != "") {
			n = split(todo, list, " ")
			todo = ""
			for (i = 1; i <= n; i++)
				if (!((f, list[i]) in reach)) {
					reach[f, list[i]] = 1
					todo = todo " " uses[list[i]]
				}
		}
	}
	status = 0
}
function folder(path) {
	if (path !~ /\//)
		return "."
	sub(/\/[^\/]*$/, "", path)
	return path
}
{
	from = folder($1)
	if (from == ".") {
		if (!(($1, ".") in told))
			print "layers: " $1 " is at the top of src/: put it in the folder of its layer"
		told[$1, "."] = 1
		status = 1
		next
	}
	if (!(from in uses)) {
		if (!(from in told))
			print "layers: " $1 " is in a folder the table does not know (" from "): add it to tests/layers.sh"
		told[from] = 1
		status = 1
		next
	}
	if ($2 == "-")
		next
	to = folder($2)
	if (to == "." || to == "coil" || (from, to) in reach)
		next
	print "layers: " $1 " includes " $2 ": " from " may not use " to " (upward or sideways)"
	status = 1
}
END {
	if (status == 0)
		print "layers: every include in src/ points down"
	exit status
}'
