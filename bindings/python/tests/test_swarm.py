"""Three gossip nodes (examples/swarm_node.c, loaded as libswarm_node.so)
driven from Python through the coil binding: dial, publish, delivery once
per node, stop with CLOSED, errors after stop. Needs $COIL_LIB and
$SWARM_LIB (ctest "python" sets them)."""
import ctypes
import errno
import os
import selectors
import time

import pytest

import coil

DIAL, PUBLISH = 0, 1
LISTENING, PEER_UP, PEER_DOWN, MESSAGE = 0, 1, 2, 3


@pytest.fixture(scope="module")
def node_lib():
    lib = ctypes.CDLL(os.environ["SWARM_LIB"])
    lib.swarm_node_new.restype = ctypes.c_void_p
    lib.swarm_node_new.argtypes = [ctypes.c_uint64]
    lib.swarm_node_free.argtypes = [ctypes.c_void_p]
    lib.swarm_node_free.restype = None
    return lib


class Node:
    def __init__(self, lib, ident):
        self.lib = lib
        self.ptr = lib.swarm_node_new(ident)
        self.rt = coil.Runtime(lib.swarm_node_main, self.ptr, queue_cap=64)
        self.port = None
        self.peers = 0
        self.messages = []
        self.closed = None

    def take(self):
        while self.closed is None:
            ev = self.rt.next_event(timeout=0)
            if ev is None:
                return
            if ev.kind == LISTENING:
                assert ev.result == 0
                self.port = ev.id
            elif ev.kind == PEER_UP:
                self.peers += 1
            elif ev.kind == PEER_DOWN:
                assert ev.result == 0, f"dial failed: {os.strerror(-ev.result)}"
                self.peers -= 1
            elif ev.kind == MESSAGE:
                self.messages.append((ev.id, ev.data))
            elif ev.kind == coil.CLOSED:
                self.closed = ev.result
                return  # the last one: next_event now raises BrokenPipeError


# A bound that only catches a hang: a busy machine may be slow, never wrong.
HANG = 60


def wait_until(nodes, done, seconds=HANG):
    sel = selectors.DefaultSelector()
    for n in nodes:
        sel.register(n.rt.fileno(), selectors.EVENT_READ, n)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            for n in nodes:
                n.take()
            if done():
                return True
            sel.select(timeout=0.01)
        return False
    finally:
        sel.close()


def test_three_nodes_gossip_and_stop(node_lib):
    nodes = [Node(node_lib, i + 1) for i in range(3)]
    try:
        assert wait_until(nodes, lambda: all(n.port for n in nodes))
        for a, b in ((0, 1), (1, 2)):
            nodes[a].rt.submit(DIAL, data=nodes[b].port.to_bytes(2, "little"))
        assert wait_until(nodes, lambda: [n.peers for n in nodes] == [1, 2, 1])
        for i in range(50):
            nodes[0].rt.submit(PUBLISH, data=f"from A {i}".encode())
            assert nodes[2].rt.try_submit(PUBLISH, data=f"from C {i}".encode()) or \
                nodes[2].rt.submit(PUBLISH, data=f"from C {i}".encode(), timeout=HANG) is None
        assert wait_until(nodes, lambda: [len(n.messages) for n in nodes] == [50, 100, 50])
        time.sleep(0.05)
        for n in nodes:
            n.take()
        assert sorted(d for _, d in nodes[0].messages) == sorted(f"from C {i}".encode() for i in range(50))
        assert sorted(d for _, d in nodes[2].messages) == sorted(f"from A {i}".encode() for i in range(50))
        for n in nodes:
            assert len({mid for mid, _ in n.messages}) == len(n.messages)  # each once
        for n in nodes:
            assert n.rt.stop() == 0
            n.take()
            assert n.closed == 0
            with pytest.raises(BrokenPipeError):
                n.rt.submit(PUBLISH, data=b"late")
            with pytest.raises(BrokenPipeError):
                n.rt.next_event(timeout=0)
    finally:
        for n in nodes:
            n.rt.close()
            node_lib.swarm_node_free(n.ptr)


def test_timed_calls_time_out(node_lib):
    ptr = node_lib.swarm_node_new(9)
    with coil.Runtime(node_lib.swarm_node_main, ptr, queue_cap=4) as rt:
        ev = rt.next_event(timeout=HANG)
        assert ev.kind == LISTENING
        t0 = time.monotonic()
        assert rt.next_event(timeout=0.02) is None  # nothing comes: None after the timeout
        assert time.monotonic() - t0 >= 0.02
        assert rt.stop() == 0
        assert rt.next_event(timeout=HANG).kind == coil.CLOSED
    node_lib.swarm_node_free(ptr)


def test_missing_library_is_a_clear_error(monkeypatch):
    with pytest.raises(OSError):
        ctypes.CDLL("/nonexistent/libcoil.so")
