"""What the ctest scripts that run a program share: start it, read the port
from its first line, stop it by a signal and check its exit status, kill
what is left when a check fails; a bounded wait and an HTTP request.

Each bound is a hang detector, not a measure of speed: well beyond what a
loaded machine takes, short of ctest's own timeout, so a hang fails with a
message instead of a killed script.
"""
import http.client
import re
import signal
import socket
import subprocess
import threading

HANG = 60  # seconds: for a first line, an exit
LISTENING = r"listening on 127\.0\.0\.1:(\d+)\n"


def stop_signal(args):
    """SIGINT when args (changed in place) held --sigint, else SIGTERM."""
    if "--sigint" in args:
        args.remove("--sigint")
        return signal.SIGINT
    return signal.SIGTERM


class Programs:
    """The programs a script started: each still running at kill() or at
    the end of the with block (a check failed) is killed and waited for."""

    def __init__(self):
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def start(self, cmd, first_line=LISTENING):
        """Start cmd, read its first line (killed if none comes within HANG
        seconds) and return (process, port): first_line's group 1."""
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        hung = threading.Event()
        hang = threading.Timer(HANG, lambda: (hung.set(), p.kill()))
        hang.start()
        try:
            line = p.stdout.readline()
        finally:
            hang.cancel()
        assert not hung.is_set(), "%s: no first line in %d s: killed" % (cmd[0], HANG)
        m = re.fullmatch(first_line, line)
        assert m, "%s: first line %r" % (cmd[0], line)
        return p, int(m.group(1))


def exits_0(proc):
    """Wait for proc (bounded) and check that it exited 0."""
    rc = proc.wait(timeout=HANG)
    assert rc == 0, "exit status %d" % rc


def stop(procs, sig):
    """Signal every process of procs, then check that each exits 0."""
    for p in procs:
        p.send_signal(sig)
    for p in procs:
        exits_0(p)


def until(cond, what, seconds=30, step=0.01):
    """Poll cond until it holds, at most seconds long, then fail with what."""
    for _ in range(int(seconds / step)):
        if cond():
            return
        threading.Event().wait(step)
    raise AssertionError(what)


def connects(port):
    """Whether a TCP connect to 127.0.0.1:port is taken (closed at once);
    False when it is refused or reset."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except (ConnectionRefusedError, ConnectionResetError):
        return False


def serve(server_class, handler):
    """Serve handler on 127.0.0.1 (a free port) from a daemon thread, a
    thread per connection: (server, port). The backlog is 128, room for
    every connection at once: an overflowing accept queue (the default
    is 5) makes the kernel reset some."""
    cls = type("Served", (server_class,), {"request_queue_size": 128,
                                           "allow_reuse_address": True,
                                           "daemon_threads": True})
    server = cls(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def refused_port():
    """A port nothing listens on: a connect to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unanswered_port():
    """A port whose connects never complete: its accept queue (backlog 0)
    is filled by one connection nobody accepts, and the kernel drops the
    SYNs that come after. (port, sockets to keep open while it is used)."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    filler = socket.create_connection(full.getsockname(), timeout=30)
    return full.getsockname()[1], (full, filler)


def request(port, method, target, body=None, headers=None, conn=None):
    """One HTTP request, on conn or on a new connection to port (closed
    after): (response, body). An iterable body goes chunked."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, target, body=body, headers=headers or {},
              encode_chunked=body is not None and not isinstance(body, (bytes, str)))
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r, data
