"""coil for Python: the background runtime (coil/bg.h) over ctypes.

A coil runtime runs on threads of its own with a main fiber written in C
(Python code never runs on a fiber stack); Python submits commands and takes
events. libcoil is found as load() says: $COIL_LIB, else pkg-config's coil,
else the Python prefix's lib directory, else the system's (README.md).

    import coil
    node = ctypes.CDLL("libswarm_node.so")           # a C main fiber
    rt = coil.Runtime(node.swarm_node_main, node.swarm_node_new(1))
    rt.submit(KIND, data=b"...")                     # blocks while the queue is full
    ev = rt.next_event(timeout=1.0)                  # coil.Event, or None on timeout
    rt.stop(); rt.close()

Errors are OSError subclasses with the errno coil returned: BrokenPipeError
(EPIPE: stopped), TimeoutError (ETIMEDOUT) for timed calls.
"""
import ctypes
import ctypes.util
import errno
import os
import subprocess
import sys
import sysconfig

__all__ = ["Runtime", "Event", "CLOSED", "version", "load", "find_library"]

CLOSED = -1  # COIL_BG_CLOSED: the last event of every runtime
_NO_DEADLINE = 2**63 - 1


class _Event(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("result", ctypes.c_int), ("id", ctypes.c_uint64),
                ("data", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Event:
    """An event taken from a runtime: it owns a copy of its data."""
    __slots__ = ("kind", "result", "id", "data")

    def __init__(self, kind, result, id, data):
        self.kind, self.result, self.id, self.data = kind, result, id, data

    def __repr__(self):
        return f"Event(kind={self.kind}, result={self.result}, id={self.id}, data={self.data!r})"


_lib = None


# The ABI follows libcoil's major version (libcoil.so.MAJOR): this module
# was written against 0.
_SONAMES = ("libcoil.so.0", "libcoil.so")


def _pkg_config_libdir():
    """The libdir of pkg-config's coil (honours $PKG_CONFIG_PATH), or None."""
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "coil"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def _prefix_libdirs():
    """lib directories of the prefixes Python runs from (a venv, /usr/local):
    where `cmake --install --prefix P` and `pip install --prefix P` meet."""
    arch = sysconfig.get_config_var("MULTIARCH")
    dirs = []
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, "/usr/local")):
        for sub in (["lib/" + arch] if arch else []) + ["lib64", "lib"]:
            dirs.append(os.path.join(prefix, sub))
    return dirs


def find_library():
    """Where libcoil is, in the order load() tries: $COIL_LIB (a path to
    libcoil.so), the libdir of pkg-config's coil, the lib directories of
    Python's prefix and /usr/local, then the system's (the dynamic loader's
    path and cache, ctypes.util.find_library). Returns a path or a name
    for ctypes.CDLL, or None."""
    env = os.environ.get("COIL_LIB")
    if env:
        return env
    dirs = [d for d in [_pkg_config_libdir()] if d] + _prefix_libdirs()
    for d in dirs:
        for so in _SONAMES:
            if os.path.exists(os.path.join(d, so)):
                return os.path.join(d, so)
    return ctypes.util.find_library("coil")


def load(path=None):
    """Load libcoil (once) and declare the calls used here. path: a path to
    libcoil.so; None: find_library()."""
    global _lib
    if _lib is not None:
        return _lib
    path = path or find_library()
    if not path:
        raise OSError(errno.ENOENT, "libcoil not found: install coil (cmake --install), "
                      "point PKG_CONFIG_PATH at its coil.pc, or set COIL_LIB to the path "
                      "of libcoil.so")
    lib = ctypes.CDLL(path)
    P, I, U64, SZ, I64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_int64
    lib.coil_bg_start.argtypes = [ctypes.POINTER(P), P, SZ, P, P]
    lib.coil_bg_try_submit.argtypes = [P, I, U64, P, SZ]
    lib.coil_bg_submit.argtypes = [P, I, U64, P, SZ, I64]
    lib.coil_bg_try_next_event.argtypes = [P, ctypes.POINTER(ctypes.POINTER(_Event))]
    lib.coil_bg_next_event.argtypes = [P, ctypes.POINTER(ctypes.POINTER(_Event)), I64]
    lib.coil_bg_event_free.argtypes = [ctypes.POINTER(_Event)]
    lib.coil_bg_event_free.restype = None
    lib.coil_bg_event_fd.argtypes = [P]
    lib.coil_bg_stop.argtypes = [P]
    lib.coil_bg_free.argtypes = [P]
    lib.coil_bg_free.restype = None
    lib.coil_now.restype = I64
    lib.coil_now.argtypes = []
    for name in ("coil_bg_start", "coil_bg_try_submit", "coil_bg_submit", "coil_bg_try_next_event",
                 "coil_bg_next_event", "coil_bg_event_fd", "coil_bg_stop"):
        getattr(lib, name).restype = I
    _lib = lib
    return lib


def _check(r, what):
    if r < 0:
        raise OSError(-r, f"{what}: {os.strerror(-r)}")
    return r


def _deadline(lib, timeout):
    if timeout is None:
        return _NO_DEADLINE
    return lib.coil_now() + max(0, int(timeout * 1e9))


def version():
    """The version of the loaded libcoil ("0.1.0"), if it has coil_version."""
    lib = load()
    try:
        f = lib.coil_version
    except AttributeError:
        return None
    f.restype = ctypes.c_char_p
    return f().decode()


class Runtime:
    """A coil_bg runtime. main is a C function pointer (a ctypes function of a
    loaded library) of type void *(*)(coil_bg *, void *); arg its argument."""

    def __init__(self, main, arg=None, queue_cap=256):
        self._lib = load()
        self._bg = ctypes.c_void_p()
        main_ptr = ctypes.cast(main, ctypes.c_void_p)
        _check(self._lib.coil_bg_start(ctypes.byref(self._bg), None, queue_cap, main_ptr,
                                       ctypes.c_void_p(arg) if isinstance(arg, int) else arg),
               "coil_bg_start")

    def _live(self):
        if not self._bg:
            raise ValueError("runtime closed")
        return self._bg

    def try_submit(self, kind, id=0, data=b""):
        """Queue a command without blocking: True, or False when the queue is full."""
        r = self._lib.coil_bg_try_submit(self._live(), kind, id, data or None, len(data))
        if r == -errno.EAGAIN:
            return False
        _check(r, "coil_bg_try_submit")
        return True

    def submit(self, kind, id=0, data=b"", timeout=None):
        """Queue a command, waiting for room (timeout in seconds, None: no limit)."""
        _check(self._lib.coil_bg_submit(self._live(), kind, id, data or None, len(data),
                                        _deadline(self._lib, timeout)), "coil_bg_submit")

    def next_event(self, timeout=None):
        """The next event; None when none came within timeout (0: do not wait)."""
        out = ctypes.POINTER(_Event)()
        if timeout == 0:
            r = self._lib.coil_bg_try_next_event(self._live(), ctypes.byref(out))
            if r == -errno.EAGAIN:
                return None
        else:
            r = self._lib.coil_bg_next_event(self._live(), ctypes.byref(out),
                                             _deadline(self._lib, timeout))
            if r == -errno.ETIMEDOUT:
                return None
        _check(r, "coil_bg_next_event")
        e = out.contents
        data = ctypes.string_at(e.data, e.len) if e.len else b""
        ev = Event(e.kind, e.result, e.id, data)
        self._lib.coil_bg_event_free(out)
        return ev

    def fileno(self):
        """The event fd: readable while events wait (for select/selectors/asyncio)."""
        return _check(self._lib.coil_bg_event_fd(self._live()), "coil_bg_event_fd")

    def stop(self):
        """Stop the runtime and join its threads; returns its result (0 or -errno).
        Events not taken yet stay, ending with the CLOSED event."""
        return self._lib.coil_bg_stop(self._live())

    def close(self):
        """Stop (if not yet) and free the runtime."""
        if self._bg:
            self._lib.coil_bg_free(self._bg)
            self._bg = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
