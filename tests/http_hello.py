"""ctest http_hello: examples/http_hello as users run it.

Starts it with --port 0 (and the --workers given), reads the port from its
"listening on 127.0.0.1:PORT" line, makes keep-alive requests over one
connection and a few over new ones, then sends SIGTERM (SIGINT with
--sigint) and checks that it exits 0.
    python3 http_hello.py PATH_TO_http_hello [--workers N] [--sigint]
"""
import http.client
import sys

from program_util import Programs, request, stop, stop_signal

exe = sys.argv[1]
args = sys.argv[2:]
sig = stop_signal(args)
with Programs() as programs:
    proc, port = programs.start([exe, "--port", "0"] + args)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(20):
        r, body = request(port, "GET", "/any/path?%d" % i, conn=conn)
        assert r.status == 200, r.status
        assert body == b"Hello, World!", body
        assert r.getheader("Content-Type") == "text/plain"
        assert r.getheader("Content-Length") == "13"
        assert r.getheader("Date")
    conn.close()
    for i in range(5):
        r, body = request(port, "POST", "/", body=b"x" * 1000)
        assert body == b"Hello, World!"
    # One connection left idle: the shutdown must close it, not wait for it.
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    request(port, "GET", "/", conn=idle)
    stop([proc], sig)
    print("http_hello: 26 requests answered, exit 0 on %s" % sig.name)
