"""ctest tcp_proxy: examples/tcp_proxy as users run it.

A Python upstream echoes what it receives and, once its client has shut
down its sending side, sends "BYE" and closes. Through tcp_proxy (--port 0):
echo on one connection, a large transfer both ways at once, half-close
(the client shuts down its write side and still receives the rest, BYE
included: the proxy forwarded the shutdown and kept the other direction),
an upstream that refuses or never completes the connect (--timeout: the
client is closed), several connections at once; a connection open at
SIGTERM (SIGINT with --sigint) kept while new ones are refused, then
exit 0.
    python3 tcp_proxy.py PATH_TO_tcp_proxy [--workers N] [--sigint]
"""
import hashlib
import socket
import socketserver
import sys
import threading

from program_util import (Programs, connects, exits_0, refused_port, serve, stop,
                          stop_signal, unanswered_port, until)

exe = sys.argv[1]
args = sys.argv[2:]
sig = stop_signal(args)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        while True:
            data = s.recv(65536)
            if not data:
                break
            s.sendall(data)
        s.sendall(b"BYE")
        s.close()


def recv_all(s):
    out = bytearray()
    while True:
        d = s.recv(1 << 20)
        if not d:
            return bytes(out)
        out += d


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=30)


up, up_port = serve(socketserver.ThreadingTCPServer, Echo)
closed_port = refused_port()
stuck_up_port, stuck_up = unanswered_port()

programs = Programs()


def start_proxy(up, *extra):
    """tcp_proxy on a free port in front of 127.0.0.1:up."""
    return programs.start([exe, "--port", "0", "--upstream", "127.0.0.1:%d" % up]
                          + list(extra) + args)


try:
    proxy, port = start_proxy(up_port)
    bad, bad_port = start_proxy(closed_port)
    stuck, stuck_port = start_proxy(stuck_up_port, "--timeout", "300")

    # Echo, message by message on one connection.
    s = connect(port)
    for i in range(50):
        msg = b"message %d\n" % i
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += s.recv(100)
        assert got == msg, got
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"BYE"
    s.close()

    # A large transfer both ways at once, then half-close: everything
    # sent comes back, then BYE, though the client stopped sending first.
    data = bytes(range(256)) * (64 << 10)  # 16 MiB
    s = connect(port)

    def send_then_shut():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send_then_shut)
    t.start()
    back = recv_all(s)
    t.join()
    s.close()
    assert len(back) == len(data) + 3, len(back)
    assert hashlib.sha256(back[:-3]).digest() == hashlib.sha256(data).digest()
    assert back[-3:] == b"BYE"

    # Several connections at once.
    socks = [connect(port) for _ in range(20)]
    for i, c in enumerate(socks):
        c.sendall(b"conn %d" % i)
        c.shutdown(socket.SHUT_WR)
    for i, c in enumerate(socks):
        got = recv_all(c)
        assert got == b"conn %d" % i + b"BYE", (i, got)
        c.close()

    # An upstream that refuses, and one whose connect never completes
    # (after --timeout): the client's connection is closed.
    for p in (bad_port, stuck_port):
        s = connect(p)
        try:
            assert recv_all(s) == b""
        except ConnectionResetError:
            pass
        s.close()

    # Draining: a connection open when the signal comes goes on (both
    # ways, half-close included) while new ones are refused.
    s = connect(port)
    s.sendall(b"before")
    assert s.recv(100) == b"before"
    proxy.send_signal(sig)
    until(lambda: not connects(port), "still accepting after the signal")
    s.sendall(b"after")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"afterBYE"
    s.close()
    exits_0(proxy)

    stop([bad, stuck], sig)
    print("tcp_proxy: all checks passed, exit 0 on %s" % sig.name)
finally:
    programs.kill()
    up.shutdown()
