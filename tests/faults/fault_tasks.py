"""Tasks the fault suite runs in Python workers (importable: tests/faults is on sys.path)."""

import os
import signal
import sys
import time


def slow_square(x):
    time.sleep(0.01)
    return x * x


def pid(_=None):
    return os.getpid()


def boom(x):
    raise ValueError(f"boom {x}")


def unpicklable_result(_=None):
    return lambda: None


def identity(x):
    return x


def eat_memory(limit_mb):
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    blocks = []
    while True:
        blocks.append(bytearray(16 << 20))


def recurse(n=0):
    return recurse(n + 1) + 1


def chatter(mb):
    chunk = "x" * 1023 + "\n"
    for _ in range(mb * 1024):
        sys.stdout.write(chunk)
        sys.stderr.write(chunk)
    sys.stdout.flush()
    return mb


def ignore_sigterm_and_sleep(seconds):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)
    return seconds


def worker_fds(_=None):
    """fd -> link target of fds 3 and 4 of the worker."""
    return {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in (3, 4)}
