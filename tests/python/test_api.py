"""The package surface: cheap import, stdlib re-exports, contexts, dotnet handles."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys

import pytest

import dotbridge
from conftest import PYTHON_SRC


def test_import_is_cheap_and_does_not_load_the_native_library():
    code = ("import sys, dotbridge; "
            "print(sorted(m for m in ('dotbridge._native', 'dotbridge.pool', 'ctypes', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=PYTHON_SRC))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_module_has_all():
    import dotbridge.dotnet
    import dotbridge.futures
    import dotbridge.pool
    import dotbridge.shared_memory
    from dotbridge import _errors, _frames, _worker
    for mod in (dotbridge, dotbridge.pool, dotbridge.futures, dotbridge.dotnet, dotbridge.shared_memory,
                _errors, _frames, _worker):
        assert mod.__all__
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


def test_stdlib_names_are_available():
    for name in multiprocessing.__all__:
        assert hasattr(dotbridge, name), name
    assert dotbridge.Process is multiprocessing.get_context("spawn").Process
    assert dotbridge.cpu_count() == multiprocessing.cpu_count()
    assert dotbridge.current_process().name == multiprocessing.current_process().name
    assert dotbridge.get_start_method() == "spawn"
    from dotbridge.pool import Pool
    assert dotbridge.Pool is Pool
    ctx = dotbridge.get_context()
    assert ctx.Process is dotbridge.Process and callable(ctx.Pool)
    assert dotbridge.get_context("fork").Process is multiprocessing.get_context("fork").Process
    q = dotbridge.Queue()
    q.put(1)
    assert q.get(timeout=5) == 1
    q.close()
    q.join_thread()
    from multiprocessing import shared_memory as std_shm
    assert issubclass(dotbridge.shared_memory.SharedMemory, std_shm.SharedMemory)


def test_dotbridge_primitives_are_its_own_named_ones():
    import dotbridge.sharedctypes
    import dotbridge.synchronize
    assert dotbridge.Lock is dotbridge.synchronize.Lock
    assert dotbridge.Value is dotbridge.sharedctypes.Value
    assert dotbridge.get_context().Event is dotbridge.synchronize.Event
    lock = dotbridge.Lock()
    assert lock.acquire(timeout=5)
    lock.release()
    v = dotbridge.Value("i", 3)
    with v.get_lock():
        v.value += 1
    assert v.value == 4


def test_dotnet_method_handle():
    m = dotbridge.dotnet.method("Bridge.Samples.Primes.Count")
    assert m == dotbridge.dotnet.method("Bridge.Samples.Primes.Count")
    assert hash(m) == hash(dotbridge.dotnet.method("Bridge.Samples.Primes.Count"))
    assert m.target == "Bridge.Samples.Primes.Count"
    assert "Bridge.Samples.Primes.Count" in repr(m)
    assert pickle.loads(pickle.dumps(m)) == m
    a = dotbridge.dotnet.method("A.B.C", assembly="rel/Lib.dll")
    assert a.assembly == os.path.abspath("rel/Lib.dll")
    assert a.target == "A.B.C@" + os.path.abspath("rel/Lib.dll")
    assert a != m
    with pytest.raises(ValueError):
        dotbridge.dotnet.method("nodots")
    with pytest.raises(TypeError, match="keyword"):
        m(1, x=2)


def test_dotnet_compile_is_exported():
    assert callable(dotbridge.dotnet.compile)


def test_stdlib_submodules_and_constants_are_reachable_as_on_multiprocessing():
    import multiprocessing as mp
    import dotbridge
    for name in ("process", "reduction", "context", "util", "managers", "SUBDEBUG", "SUBWARNING"):
        assert getattr(dotbridge, name) is getattr(mp, name), name
    assert dotbridge.util.Finalize is mp.util.Finalize
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        dotbridge.no_such_name
