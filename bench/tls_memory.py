#!/usr/bin/env python3
"""tls_memory.py: server memory per idle HTTPS keep-alive connection, coil's
http_hello --tls beside nginx (one worker, master_process off, the same
ECDSA P-256 certificate, ssl_session_tickets on), same run.

  bench/tls_memory.py [--conns 1000] [--hello PATH]

For each server: start it, read its RSS (/proc/PID/status VmRSS), open
CONNS TLS connections from this process, each answered once (GET /, keep-
alive) and then left idle, read the RSS again; prints KiB per connection
(the RSS growth over CONNS), and how much of it is heap and other
anonymous memory (fiber stacks). coil's plain HTTP is measured too, for
what TLS adds. Memory per active connection (a request in flight on each) is not
measured here. Loopback only; bounded in time.
"""
import argparse
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--conns", type=int, default=1000)
here = os.path.dirname(os.path.abspath(__file__))
ap.add_argument("--hello", default=os.path.join(here, "..", "build", "bench", "examples", "http_hello"))
a = ap.parse_args()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_split(pid):
    """RSS KiB of the heap (brk) and of the other anonymous mappings
    (fiber stacks, mmap'ed arenas) of pid."""
    heap = anon = 0
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                name = head[5] if len(head) > 5 else ""
            elif head[0] == "Rss:":
                if name == "[heap]":
                    heap += int(head[1])
                elif name == "":
                    anon += int(head[1])
    return heap, anon


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"tls_memory: nothing listens on {port}")


def measure(name, argv, port, tls=True):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(0.2)
        pid = p.pid
        before = rss_kib(pid)
        heap0, anon0 = rss_split(pid)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conns = []
        for _ in range(a.conns):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            if tls:
                s = ctx.wrap_socket(s)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while b"Hello, World!" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    sys.exit(f"tls_memory: {name} closed a connection")
                got += chunk
            conns.append(s)
        # Idle means quiet: an HTTPS connection of coil's keeps OpenSSL's
        # record buffers for 2 s after its last request (src/http/conn.c).
        time.sleep(3)
        after = rss_kib(pid)
        heap1, anon1 = rss_split(pid)
        for s in conns:
            s.close()
        per = (after - before) / a.conns
        print(f"| {name} | {a.conns} | {before} | {after} | {per:.1f} | "
              f"{(heap1 - heap0) / a.conns:.1f} | {(anon1 - anon0) / a.conns:.1f} |")
        return per
    finally:
        p.terminate()
        p.wait(timeout=30)


# This process holds every client socket; the servers inherit the limit.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < a.conns + 200:
    if hard != resource.RLIM_INFINITY and hard < a.conns + 200:
        sys.exit(f"tls_memory: RLIMIT_NOFILE {hard} is too low for {a.conns} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (a.conns + 200, hard))
tmp = tempfile.mkdtemp(prefix="coil-tlsmem-")
try:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=localhost", "-days", "2", "-keyout", f"{tmp}/key.pem",
                    "-out", f"{tmp}/cert.pem"], check=True, capture_output=True)
    print("| server | idle connections | RSS before KiB | RSS after KiB | KiB per connection "
          "| of it heap | of it other anonymous (stacks) |")
    print("|---|---|---|---|---|---|---|")
    port = free_port()
    coil = measure("coil http_hello --tls", [a.hello, "--port", str(port), "--tls", f"{tmp}/cert.pem",
                                             f"{tmp}/key.pem"], port)
    port = free_port()
    measure("coil http_hello (plain HTTP, for reference)", [a.hello, "--port", str(port)], port, tls=False)
    port = free_port()
    conf = f"""daemon off; master_process off; worker_processes 1;
error_log {tmp}/error.log; pid {tmp}/nginx.pid;
events {{ worker_connections {a.conns + 100}; }}
http {{ access_log off; keepalive_timeout 75s;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {tmp}/cert.pem;
    ssl_certificate_key {tmp}/key.pem; ssl_session_tickets on;
    default_type text/plain; location / {{ return 200 "Hello, World!"; }} }} }}
"""
    with open(f"{tmp}/nginx.conf", "w") as f:
        f.write(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    ng = measure("nginx", [nginx, "-p", tmp, "-c", f"{tmp}/nginx.conf"], port)
    print(f"\ncoil/nginx KiB per idle TLS connection: {coil / ng:.2f}x" if ng > 0 else "")
finally:
    shutil.rmtree(tmp)
