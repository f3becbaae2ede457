"""ctest http_proxy: examples/http_proxy as users run it.

Starts examples/http_hello and a Python upstream (which reports what it
received and counts the connections made to it), then http_proxy with
--port 0 in front of them, and checks: answers through it, round robin,
X-Forwarded-For, hop-by-hop fields dropped both ways, large bodies
streamed both ways (by length and chunked), keep-alive reuse of upstream
connections (and a kept one the upstream dropped), 502 for an upstream
that refuses or dies before its body, 504 for one that never answers or
never completes the connect (--timeout), an upstream's answer that comes
before it read the body (413) relayed, a body cut by the upstream seen
as cut by the client, HEAD; a request in flight at SIGTERM (SIGINT with
--sigint) answered, then exit 0.
    python3 http_proxy.py PATH_TO_http_proxy PATH_TO_http_hello [--workers N] [--sigint]
"""
import hashlib
import http.client
import http.server
import json
import sys
import threading

from program_util import (Programs, exits_0, refused_port, request, serve, stop,
                          stop_signal, unanswered_port)

proxy_exe, hello_exe = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
sig = stop_signal(args)

connections = 0            # made to the Python upstream
count_lock = threading.Lock()
release = threading.Event()  # ends /hang
slow_entered = threading.Event()  # /slow has its request
slow_release = threading.Event()  # and answers once this is set
refuse_release = threading.Event()  # ends /refuse's wait


def pattern(n):
    block = bytes(range(256)) * 256
    return (block * (n // len(block) + 1))[:n]


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global connections
        super().setup()
        with count_lock:
            connections += 1

    def log_message(self, *a):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def send_body(self, body, chunked, extra=()):
        self.send_response(200)
        for k, v in extra:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 100000):
                part = body[i:i + 100000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", self.path.split("=")[1] if "=" in self.path else "0")
        self.end_headers()

    def handle_any(self):
        path = self.path
        if path.startswith("/refuse"):
            # An answer before the body, which is never read: the proxy
            # must stop sending it and relay the answer.
            self.send_response(413)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"refused")
            self.wfile.flush()
            refuse_release.wait(60)
            self.close_connection = True
            return
        body = self.read_body()
        if path.startswith("/headers"):
            seen = [[k, v] for k, v in self.headers.items()]
            self.send_body(json.dumps({"headers": seen, "body": len(body)}).encode(), False,
                           [("Connection", "X-Up-Secret"), ("X-Up-Secret", "1"),
                            ("Keep-Alive", "timeout=5"), ("Proxy-Thing", "x"),
                            ("Trailer", "X-T"), ("X-Up-Kept", "yes")])
        elif path.startswith("/echo"):
            self.send_body(body, "chunked" in path)
        elif path.startswith("/big"):
            self.send_body(pattern(int(path.split("=")[1])), "chunked" in path)
        elif path.startswith("/drop"):
            # Kept alive by its headers, then closed: a server whose idle
            # timeout ends a connection the proxy keeps.
            self.send_body(b"dropped", False)
            self.close_connection = True
        elif path.startswith("/who"):
            self.send_body(b"python", False)
        elif path.startswith("/cut"):
            self.send_response(200)
            if "chunked" in path:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
            else:
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
        elif path.startswith("/headonly"):
            # A head, then the end before any body byte: still a clean 502.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nX-Up: 1\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        elif path.startswith("/slow"):
            slow_entered.set()
            slow_release.wait(60)
            self.send_body(b"slow", False)
        elif path.startswith("/hang"):
            release.wait(60)
            self.close_connection = True
        else:
            self.send_body(b"?", False)


up, up_port = serve(http.server.ThreadingHTTPServer, Upstream)
closed_port = refused_port()
stuck_up_port, stuck_up = unanswered_port()

programs = Programs()


def start_proxy(*upstreams, timeout=None):
    """http_proxy on a free port in front of 127.0.0.1:PORT of each upstream."""
    cmd = [proxy_exe, "--port", "0"] + (["--timeout", str(timeout)] if timeout else [])
    for u in upstreams:
        cmd += ["--upstream", "127.0.0.1:%d" % u]
    return programs.start(cmd + args)


try:
    hello, hello_port = programs.start([hello_exe, "--port", "0"])
    proxy, port = start_proxy(up_port)
    # A short --timeout only where it is the point: elsewhere a loaded
    # machine could make a slow answer a 504.
    short, short_port = start_proxy(up_port, timeout=300)
    rr, rr_port = start_proxy(hello_port, up_port)
    bad, bad_port = start_proxy(closed_port)
    stuck, stuck_port = start_proxy(stuck_up_port, timeout=300)
    drain, drain_port = start_proxy(up_port)

    # The coil upstream, keep-alive on one connection; round robin.
    c = http.client.HTTPConnection("127.0.0.1", rr_port, timeout=30)
    answers = [request(rr_port, "GET", "/who", conn=c)[1] for _ in range(10)]
    c.close()
    assert sorted(set(answers)) == [b"Hello, World!", b"python"], answers
    assert answers.count(b"python") == 5, answers

    # X-Forwarded-For, and hop-by-hop fields dropped both ways.
    r, data = request(port, "GET", "/headers", headers={
        "X-Forwarded-For": "10.0.0.1", "Connection": "keep-alive, X-Secret",
        "X-Secret": "s", "Keep-Alive": "300", "TE": "trailers", "Trailer": "X-T",
        "Upgrade": "h2c", "Proxy-Authorization": "Basic eA==", "X-Kept": "yes"})
    assert r.status == 200, r.status
    seen = {k.lower(): v for k, v in json.loads(data)["headers"]}
    assert seen.get("x-forwarded-for") == "10.0.0.1, 127.0.0.1", seen
    assert seen.get("x-kept") == "yes", seen
    for gone in ("x-secret", "keep-alive", "te", "trailer", "upgrade",
                 "proxy-authorization"):
        assert gone not in seen, (gone, seen)
    assert seen.get("connection") in (None, "keep-alive"), seen
    assert r.getheader("X-Up-Kept") == "yes"
    for gone in ("X-Up-Secret", "Keep-Alive", "Proxy-Thing", "Trailer"):
        assert r.getheader(gone) is None, (gone, r.getheaders())
    r, data = request(port, "GET", "/headers")
    seen = {k.lower(): v for k, v in json.loads(data)["headers"]}
    assert seen.get("x-forwarded-for") == "127.0.0.1", seen

    # Large bodies both ways: by length and chunked, up and down.
    big = pattern(5 << 20)
    digest = hashlib.sha256(big).digest()
    for up_chunked in (False, True):
        for down in ("/echo", "/echo/chunked"):
            body = big if not up_chunked else (big[i:i + 65536]
                                               for i in range(0, len(big), 65536))
            r, data = request(port, "POST", down, body=body)
            assert r.status == 200, r.status
            assert len(data) == len(big) and hashlib.sha256(data).digest() == digest, \
                (up_chunked, down, len(data))
            if down.endswith("chunked"):
                assert r.getheader("Transfer-Encoding") == "chunked"
            else:
                assert r.getheader("Content-Length") == str(len(big))
    r, data = request(port, "GET", "/big/chunked?n=%d" % (3 << 20))
    assert data == pattern(3 << 20)

    # Keep-alive upstream: sequential requests reuse one connection.
    before = connections
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(30):
        r, data = request(port, "GET", "/who?%d" % i, conn=c)
        assert data == b"python"
    c.close()
    assert connections - before <= 1, connections - before

    # An upstream that answers 413 before reading the body and never reads
    # it: the client gets the 413 (not a 504 at the proxy's timeout).
    r, data = request(port, "POST", "/refuse", body=pattern(32 << 20))
    assert (r.status, data) == (413, b"refused"), (r.status, data)
    refuse_release.set()

    # 502: the upstream refuses; 504: it never answers.
    r, data = request(bad_port, "GET", "/")
    assert r.status == 502, r.status
    r, data = request(short_port, "GET", "/hang")
    assert r.status == 504, r.status
    r, data = request(stuck_port, "GET", "/")  # the connect times out
    assert r.status == 504, r.status

    r, data = request(port, "GET", "/headonly")
    assert r.status == 502 and r.getheader("X-Up") is None, (r.status, r.getheaders())

    # A body the upstream cuts: the client sees a cut, never a whole body.
    for target in ("/cut", "/cut/chunked"):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", target)
        r = c.getresponse()
        assert r.status == 200
        try:
            data = r.read()
            raise AssertionError("%s: read %d bytes as whole" % (target, len(data)))
        except (http.client.IncompleteRead, ConnectionError):
            pass
        c.close()

    # An upstream that drops the connection the proxy kept: the next GET
    # is sent again on a new one, and the client never sees it.
    for i in range(5):
        r, data = request(port, "GET", "/drop")
        assert data == b"dropped", data
        r, data = request(port, "GET", "/who")
        assert r.status == 200 and data == b"python", (r.status, data)

    # HEAD: the upstream's length passed on, no body, the connection kept.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    r, data = request(port, "HEAD", "/big?n=12345", conn=c)
    assert r.status == 200 and data == b"", (r.status, data)
    assert r.getheader("Content-Length") == "12345", r.getheaders()
    r, data = request(port, "GET", "/who", conn=c)
    assert data == b"python"
    c.close()

    # Still serving after all that.
    r, data = request(port, "GET", "/who")
    assert data == b"python"

    # Draining: a request in flight when the signal comes is answered.
    # The server closes its idle connections when the drain starts: an
    # idle one tells us when that is.
    idle = http.client.HTTPConnection("127.0.0.1", drain_port, timeout=30)
    r, data = request(drain_port, "GET", "/who", conn=idle)
    assert data == b"python"
    result = {}

    def slow():
        try:
            result["r"] = request(drain_port, "GET", "/slow")
        except Exception as e:
            result["r"] = e

    t = threading.Thread(target=slow)
    t.start()
    assert slow_entered.wait(30)
    drain.send_signal(sig)
    assert idle.sock.recv(1) == b""  # closed: the drain has begun
    idle.close()
    slow_release.set()
    t.join(30)
    assert isinstance(result.get("r"), tuple), result
    r, data = result["r"]
    assert r.status == 200 and data == b"slow", (r.status, data)
    assert r.getheader("Connection") == "close", r.getheaders()
    exits_0(drain)

    stop([proxy, short, rr, bad, stuck], sig)
    print("http_proxy: all checks passed, exit 0 on %s" % sig.name)
finally:
    release.set()
    slow_release.set()
    programs.kill()
    up.shutdown()
