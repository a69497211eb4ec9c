"""Shared fixtures: which NativePool to run against, time-bounded teardown, child-process checks."""

from __future__ import annotations

import os
import sys
import time
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

REPO = os.path.dirname(os.path.dirname(HERE))
PYTHON_SRC = os.path.join(REPO, "python")


def children(pid: int | None = None) -> list[int]:
    """Live (non-zombie) child processes of ``pid`` (default: this process), from /proc."""
    pid = os.getpid() if pid is None else pid
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) >= 2 and int(rest[1]) == pid and rest[0] != "Z":
            out.append(int(name))
    return out


def wait_no_children(before: set[int], timeout: float = 10.0) -> list[int]:
    """Wait until no child other than those in ``before`` is alive; return the leftovers."""
    end = time.monotonic() + timeout
    while True:
        left = [p for p in children() if p not in before]
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


def real_native_available() -> tuple[bool, str]:
    try:
        from dotbridge import _native  # noqa: F401
    except ImportError as e:
        return False, f"dotbridge._native is not available yet ({e})"
    try:
        p = _native.NativePool({"processes": 1, "prestart": []})
        p.terminate()
    except Exception as e:  # the library is missing or fails to load
        return False, f"the native library does not load: {e}"
    return True, ""


def use_fake_native(monkeypatch) -> None:
    """Make ``dotbridge._native`` the Python test double (tests/python/support/fake_native.py)."""
    from support.fake_native import FakeNativePool
    mod = types.ModuleType("dotbridge._native")
    mod.NativePool = FakeNativePool
    monkeypatch.setitem(sys.modules, "dotbridge._native", mod)
    import dotbridge
    monkeypatch.setattr(dotbridge, "_native", mod, raising=False)


@pytest.fixture
def no_leftover_children():
    before = set(children())
    yield
    left = wait_no_children(before)
    assert not left, f"child processes left behind: {left}"
