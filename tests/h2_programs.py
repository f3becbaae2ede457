"""ctest h2_programs: examples/http_hello, file_server and http_proxy
speaking HTTP/2 to real clients (nghttp2-client's nghttp and h2load, curl).

Each program runs twice: plaintext (h2c by prior knowledge, beside
HTTP/1.1 on the same port) and with --tls CERT KEY (h2 by ALPN). Checked: nghttp -nv gets the
answer; curl --http2-prior-knowledge / --http2 (verifying the chain)
gets it as HTTP/2 (and --http1.1 still works; plaintext, curl --http2
gets it by Upgrade: h2c, 101); h2load -n 1000 -c 10 -m 10 has every request
succeed; a file of 1 MiB comes back whole through file_server; the proxy
forwards to http_hello (over HTTP/1.1, and over h2c with --upstream-h2). SIGTERM must end each with status 0.
    python3 h2_programs.py HTTP_HELLO FILE_SERVER HTTP_PROXY CERTS_SH [--workers N]
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

from program_util import Programs, stop

hello, file_server, proxy, certs_sh = sys.argv[1:5]
args = sys.argv[5:]
for tool in ("nghttp", "h2load", "curl", "openssl"):
    if shutil.which(tool) is None:
        print("h2_programs: no %s (scripts/install-deps installs it)" % tool)
        sys.exit(77)
RUN = 60  # seconds: a hang detector for each client run


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=RUN)
    return p.returncode, p.stdout


def check_nghttp(url, ca):
    rc, out = run(["nghttp", "-nv", url])
    text = out.decode(errors="replace")
    assert rc == 0, "nghttp %s: %d\n%s" % (url, rc, text)
    assert re.search(r"recv \(stream_id=\d+\) :status: 200", text), text
    return text


def check_curl(url, ca, body=None):
    h2 = ["--http2-prior-knowledge"] if url.startswith("http:") else ["--http2"]
    tls = ["--cacert", ca] if ca else []
    rc, out = run(["curl", "-sS", "-o", "-", "-w", "\n%{http_version} %{http_code}"] + h2 + tls +
                  [url])
    assert rc == 0, "curl %s: %d %r" % (url, rc, out[-300:])
    got, _, tail = out.rpartition(b"\n")
    assert tail == b"2 200", tail
    if body is not None:
        assert got == body, (len(got), len(body))
    rc, out = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                   "--http1.1"] + tls + [url])
    assert rc == 0 and out == b"1.1 200", (rc, out)
    if not ca:
        # h2c by Upgrade: curl --http2 on http: sends Upgrade: h2c.
        rc, out = run(["curl", "-sS", "-o", "-", "-w", "\n%{http_version} %{http_code}",
                       "--http2", url])
        got, _, tail = out.rpartition(b"\n")
        assert rc == 0 and tail == b"2 200", (rc, out[-300:])
        if body is not None:
            assert got == body, (len(got), len(body))


def check_h2load(url):
    rc, out = run(["h2load", "-n", "1000", "-c", "10", "-m", "10", url])
    text = out.decode(errors="replace")
    assert rc == 0, text
    assert "requests: 1000 total, 1000 started, 1000 done, 1000 succeeded" in text, text
    assert "status codes: 1000 2xx" in text, text
    if url.startswith("https:"):
        assert "Application protocol: h2" in text, text


def both(prog_args, path, check, tls_dir, programs):
    """Run the program plaintext, then over TLS; check(base_url, ca)."""
    for tls in (False, True):
        extra = ["--tls", f"{tls_dir}/server.pem", f"{tls_dir}/server.key"] if tls else []
        proc, port = programs.start(prog_args + ["--port", "0"] + extra + args)
        base = ("https://localhost:%d" if tls else "http://127.0.0.1:%d") % port
        check(base + path, f"{tls_dir}/ca.pem" if tls else None)
        stop([proc], signal.SIGTERM)


with tempfile.TemporaryDirectory(prefix="coil-h2-") as d, Programs() as programs:
    subprocess.run(["sh", certs_sh, d], check=True)
    # nghttp and h2load do not verify the server's chain; curl does.

    def hello_checks(url, ca):
        check_nghttp(url, ca)
        check_curl(url, ca, b"Hello, World!")
        check_h2load(url)

    both([hello], "/", hello_checks, d, programs)

    root = os.path.join(d, "root")
    os.mkdir(root)
    blob = os.urandom(1 << 20)
    with open(os.path.join(root, "blob.bin"), "wb") as f:
        f.write(blob)

    def file_checks(url, ca):
        check_nghttp(url, ca)
        check_curl(url, ca, blob)

    both([file_server, "--root", root], "/blob.bin", file_checks, d, programs)

    up, up_port = programs.start([hello, "--port", "0"])

    def proxy_checks(url, ca):
        check_nghttp(url, ca)
        check_curl(url, ca, b"Hello, World!")
        check_h2load(url)

    both([proxy, "--upstream", "127.0.0.1:%d" % up_port], "/", proxy_checks, d, programs)
    # The proxy speaking h2c to its upstream (its client's HTTP/2).
    both([proxy, "--upstream", "127.0.0.1:%d" % up_port, "--upstream-h2"], "/", proxy_checks,
         d, programs)
    stop([up], signal.SIGTERM)
    print("h2_programs: http_hello, file_server, http_proxy over h2c and h2 (TLS): "
          "nghttp, curl, h2load 1000/1000")
