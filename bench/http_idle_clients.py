#!/usr/bin/env python3
"""http_idle_clients.py: hold many idle keep-alive connections to a server.

    http_idle_clients.py --port P --conns N [--src 127.0.0.2] [--hold 120]

Opens N connections to 127.0.0.1:P from source address SRC, one after the
other; on each sends one "GET / HTTP/1.1" and reads its response up to the
"Hello, World!" body, so each connection is a keep-alive connection that has
served a request. Then prints "ready N" (flushed) and holds them, idle, until
stdin closes or HOLD seconds pass; exits 0. Exits 1 with a message when a
connection fails (refused, reset, closed by the server, no answer in 10 s).
Used by bench/http_peers.sh; several processes with different SRC addresses
reach counts one process's RLIMIT_NOFILE or one address's ports would not.
"""
import argparse
import signal
import socket
import sys

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the port at connect time
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BODY = b"Hello, World!"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--src", default="127.0.0.1")
    ap.add_argument("--hold", type=float, default=120)
    a = ap.parse_args()
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(0))
    socks = []
    for i in range(a.conns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.settimeout(10)
        try:
            s.bind((a.src, 0))
            s.connect(("127.0.0.1", a.port))
            s.sendall(REQUEST)
            got = b""
            while not got.endswith(BODY):
                b = s.recv(4096)
                if not b:
                    raise ConnectionError("closed by the server")
                got += b
        except (OSError, ConnectionError) as e:
            print(f"http_idle_clients: connection {i}: {e}", file=sys.stderr)
            return 1
        socks.append(s)
    print(f"ready {len(socks)}", flush=True)
    signal.alarm(max(1, int(a.hold)))
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
