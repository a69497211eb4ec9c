"""Module-level callables the interpreter-worker tests run (importable inside a sub-interpreter:
no numpy, no C extension that refuses sub-interpreters, unless a test asks for exactly that)."""

import os
import sys
import threading
import time

_initialized = None


def sqr(x):
    return x * x


def add(a, b):
    return a + b


def fail_on(x, bad=3):
    if x == bad:
        raise ValueError(f"bad item {x}")
    return x


def chained(x):
    try:
        raise KeyError(x)
    except KeyError as e:
        raise RuntimeError(f"outer {x}") from e


def unpicklable(_=None):
    return threading.Lock()


def where(_=None):
    """(pid, thread id, interpreter id or None): proves the call ran in this process, another thread."""
    try:
        import _interpreters as m
    except ImportError:
        try:
            import _xxsubinterpreters as m
        except ImportError:
            m = None
    iid = int(m.get_current()[0] if isinstance(m.get_current(), tuple) else m.get_current()) if m else None
    return os.getpid(), threading.get_ident(), iid


def import_module(name):
    __import__(name)
    return name


def spin(n):
    """A pure-Python CPU loop; returns (wall start, wall end, this thread's CPU seconds)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    t = 0
    for i in range(n):
        t += i
    return t0, time.perf_counter(), time.thread_time() - c0


def sleep_then(x, delay=0.3):
    time.sleep(delay)
    return x


def exit_worker(code=3):
    sys.exit(code)


def init(value):
    global _initialized
    _initialized = value


def initialized(_=None):
    return _initialized


def gil_holder(path, timeout=5.0):
    """Spin without ever releasing this interpreter's GIL (switch interval 100 s, no blocking call) until
    another worker writes byte 0 of the mapped file: under one shared GIL it could not, and this times out."""
    import mmap
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), 2) as m:
            m[1] = 1  # spinning now
            end = time.perf_counter() + timeout
            while m[0] == 0 and time.perf_counter() < end:
                pass
            return "saw the other worker" if m[0] else "timed out: the other worker never ran"
    finally:
        sys.setswitchinterval(old)


def gil_poker(path):
    import mmap
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 2) as m:
        m[0] = 1
    return "poked"
