#!/usr/bin/env python3
"""ctest tls_interop: coil's TLS streams (tests/tls_peer) against Python's
ssl module and the openssl CLI (s_client, s_server), with certificates made
for the run by tests/tls_certs.sh.

  tls_interop.py TLS_PEER CERTS_SH
"""
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

from program_util import Programs, connects, until

PEER, CERTS_SH = sys.argv[1], sys.argv[2]
TIMEOUT = 30
PROGRAMS = Programs()  # the tls_peer servers, killed if a check fails


def fail(msg):
    print("tls_interop: FAIL:", msg)
    sys.exit(1)


def coil_server(d, n):
    return PROGRAMS.start([PEER, "server", f"{d}/server.pem", f"{d}/server.key", str(n)],
                          first_line=r"port (\d+)\n")


def echo(s, blob):
    """Send blob on the TLS socket s while reading its echo back; return
    what came back. One thread, non-blocking: an SSL object must never be
    used by two threads at once (a sendall thread beside recv made recv
    see a false end of stream now and then)."""
    s.setblocking(False)
    sent, got = 0, bytearray()
    while len(got) < len(blob):
        moved, want_write = False, []
        if sent < len(blob):
            try:
                sent += s.send(blob[sent:sent + 65536])
                moved = True
            except ssl.SSLWantWriteError:
                want_write = [s]
            except ssl.SSLWantReadError:
                pass
        try:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            moved = True
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        if moved:
            continue
        readable, writable, _ = select.select([s], want_write, [], TIMEOUT)
        if not readable and not writable:
            fail(f"python client: nothing moved for {TIMEOUT} s ({sent} sent, {len(got)} back)")
    s.setblocking(True)
    s.settimeout(TIMEOUT)
    return got


def python_client_to_coil_server(d):
    srv, port = coil_server(d, 3)
    ctx = ssl.create_default_context(cafile=f"{d}/ca.pem")
    ctx.set_alpn_protocols(["http/1.1"])
    blob = os.urandom(1 << 20)
    session = None
    for i in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
                if s.selected_alpn_protocol() != "http/1.1":
                    fail(f"python client: ALPN {s.selected_alpn_protocol()}")
                got = echo(s, blob)
                if bytes(got) != blob:
                    fail(f"python client: echo of 1 MiB came back as {len(got)} other bytes")
                if i == 1 and not s.session_reused:
                    fail("python client: the second connection was not resumed")
                session = s.session
                s.unwrap()
    print("tls_interop: python ssl client <-> coil server: 1 MiB echo, ALPN, resumption ok")
    # openssl s_client: h2 by ALPN, verified, a line echoed.
    c = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                          "-CAfile", f"{d}/ca.pem", "-verify_return_error",
                          "-servername", "localhost", "-verify_hostname", "localhost",
                          "-alpn", "h2,http/1.1", "-quiet"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    c.stdin.write("hello from s_client\n")
    c.stdin.flush()
    line = c.stdout.readline()
    c.kill()
    c.wait()
    if line != "hello from s_client\n":
        fail(f"s_client: echo was {line!r}; stderr: {c.stderr.read()}")
    print("tls_interop: openssl s_client <-> coil server: echo ok")
    out, _ = srv.communicate(timeout=TIMEOUT)
    lines = out.splitlines()
    if srv.returncode != 0 or len(lines) != 3:
        fail(f"tls_peer server: status {srv.returncode}, said {out!r}")
    if not lines[0].startswith("conn ok 1048576 http/1.1 resumed=0"):
        fail(f"first python connection: {lines[0]}")
    if not lines[1].startswith("conn ok 1048576 http/1.1 resumed=1"):
        fail(f"second python connection: {lines[1]}")
    if " h2 " not in lines[2]:
        fail(f"s_client connection: {lines[2]} (h2 by ALPN expected)")


def python_server(d, cert):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(f"{d}/{cert}.pem", f"{d}/{cert}.key")
    ctx.set_alpn_protocols(["http/1.1"])
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(TIMEOUT)
    seen = []

    def serve():
        try:
            raw, _ = ls.accept()
            with ctx.wrap_socket(raw, server_side=True) as s:
                data = b""
                while b"bye\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    s.sendall(chunk)
                    data += chunk
                seen.append(data)
        except (ssl.SSLError, OSError) as e:
            seen.append(e)
        finally:
            ls.close()

    t = threading.Thread(target=serve)
    t.start()
    return t, ls.getsockname()[1], seen


def coil_client_to_python_server(d):
    t, port, seen = python_server(d, "server")
    r = subprocess.run([PEER, "client", str(port), "localhost", f"{d}/ca.pem", "ping\n", "ping\n"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    t.join()
    if r.returncode != 0 or r.stdout != "alpn http/1.1\n" or seen != [b"ping\nbye\n"]:
        fail(f"coil client -> python server: {r.returncode} {r.stdout!r} {r.stderr!r} {seen}")
    print("tls_interop: coil client <-> python ssl server: echo, ALPN ok")
    t, port, seen = python_server(d, "self")
    r = subprocess.run([PEER, "client", str(port), "localhost", f"{d}/ca.pem", "ping\n", "ping\n"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    t.join()
    if r.returncode != 1 or "Key was rejected" not in r.stderr or "self-signed" not in r.stderr:
        fail(f"coil client -> self-signed python server: {r.returncode} {r.stderr!r}")
    print("tls_interop: coil client refuses a self-signed python server:", r.stderr.strip())


def coil_client_to_s_server(d):
    with socket.socket() as probe:  # a free port for s_server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                          "-cert", f"{d}/server.pem", "-key", f"{d}/server.key", "-quiet"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        # Until s_server listens, a connect is refused (the probe that
        # gets through is a failed handshake to it: it goes on).
        until(lambda: s.poll() is not None or connects(port), "s_server never listened",
              step=0.05)
        if s.poll() is not None:
            fail("s_server exited")
        c = subprocess.Popen([PEER, "client", str(port), "localhost", f"{d}/ca.pem",
                              "hello\n", "pong\n"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        line = s.stdout.readline()
        if line != "hello\n":
            fail(f"s_server printed {line!r}")
        s.stdin.write("pong\n")
        s.stdin.flush()
        line = s.stdout.readline()
        out, err = c.communicate(timeout=TIMEOUT)
    finally:
        s.kill()
        s.wait()
    if line != "bye\n" or c.returncode != 0 or out != "alpn -\n":
        fail(f"coil client -> s_server: s_server read {line!r}; client {c.returncode} {out!r} {err!r}")
    print("tls_interop: coil client <-> openssl s_server: ok")


def main():
    if shutil.which("openssl") is None:
        print("tls_interop: no openssl CLI")
        sys.exit(77)
    with tempfile.TemporaryDirectory(prefix="coil-tls-") as d, PROGRAMS:
        subprocess.run(["sh", CERTS_SH, d], check=True)
        python_client_to_coil_server(d)
        coil_client_to_python_server(d)
        coil_client_to_s_server(d)
    print("tls_interop: ok")


main()
