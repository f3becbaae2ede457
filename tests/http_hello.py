"""ctest http_hello: examples/http_hello as users run it.

Starts it with --port 0 (and the --workers given), reads the port from its
"listening on 127.0.0.1:PORT" line, makes keep-alive requests over one
connection and a few over new ones, then sends SIGTERM (SIGINT with
--sigint) and checks that it exits 0.
    python3 http_hello.py PATH_TO_http_hello [--workers N] [--sigint]
"""
import http.client
import re
import signal
import subprocess
import sys

exe = sys.argv[1]
args = sys.argv[2:]
sig = signal.SIGTERM
if "--sigint" in args:
    args.remove("--sigint")
    sig = signal.SIGINT
proc = subprocess.Popen([exe, "--port", "0"] + args, stdout=subprocess.PIPE, text=True)
try:
    line = proc.stdout.readline()
    m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
    assert m, "first line: %r" % line
    port = int(m.group(1))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(20):
        conn.request("GET", "/any/path?%d" % i)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, r.status
        assert body == b"Hello, World!", body
        assert r.getheader("Content-Type") == "text/plain"
        assert r.getheader("Content-Length") == "13"
        assert r.getheader("Date")
    conn.close()
    for i in range(5):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/", body=b"x" * 1000)
        r = c.getresponse()
        assert r.read() == b"Hello, World!"
        c.close()
    # One connection left idle: the shutdown must close it, not wait for it.
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    idle.request("GET", "/")
    idle.getresponse().read()
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    assert rc == 0, "exit status %d" % rc
    print("http_hello: 26 requests answered, exit 0 on %s" % sig.name)
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
