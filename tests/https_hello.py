"""ctest https_hello: examples/http_hello --tls CERT KEY as users run it.

Makes certificates (tests/tls_certs.sh), starts it on --port 0, then over
HTTPS: a client offering h2 and http/1.1 gets h2 by ALPN (h2_hello.py
speaks it); keep-alive requests on one connection (http/1.1 by ALPN, the
chain and the name verified by Python's ssl), a few on new connections, a plain
HTTP request to the TLS port (closed, the server goes on), an idle
connection left open; SIGTERM must end it with status 0.
    python3 https_hello.py PATH_TO_http_hello CERTS_SH [--workers N]
"""
import http.client
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

from program_util import Programs, request, stop

exe, certs_sh = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
if shutil.which("openssl") is None:
    print("https_hello: no openssl CLI")
    sys.exit(77)
with tempfile.TemporaryDirectory(prefix="coil-https-") as d, Programs() as programs:
    subprocess.run(["sh", certs_sh, d], check=True)
    proc, port = programs.start([exe, "--port", "0", "--tls", f"{d}/server.pem",
                                 f"{d}/server.key"] + args)
    both = ssl.create_default_context(cafile=f"{d}/ca.pem")
    both.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with both.wrap_socket(raw, server_hostname="localhost") as t:
            assert t.selected_alpn_protocol() == "h2", t.selected_alpn_protocol()
    ctx = ssl.create_default_context(cafile=f"{d}/ca.pem")
    ctx.set_alpn_protocols(["http/1.1"])

    def https():
        return http.client.HTTPSConnection("localhost", port, timeout=30, context=ctx)

    conn = https()
    for i in range(20):
        r, body = request(port, "GET", "/any/path?%d" % i, conn=conn)
        assert r.status == 200, r.status
        assert body == b"Hello, World!", body
        assert r.getheader("Content-Length") == "13"
    assert conn.sock.selected_alpn_protocol() == "http/1.1", conn.sock.selected_alpn_protocol()
    conn.close()
    # Not TLS at all: the server drops it and goes on.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        while raw.recv(4096):
            pass
    for i in range(5):
        c = https()
        r, body = request(port, "POST", "/", body=b"x" * 50000, conn=c)
        assert body == b"Hello, World!"
        c.close()
    idle = https()
    request(port, "GET", "/", conn=idle)
    stop([proc], signal.SIGTERM)
    print("https_hello: 26 HTTPS requests answered, a plain one refused, exit 0")
