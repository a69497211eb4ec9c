"""Benchmarks of zero-copy shared memory and cross-process locks (for scripts/bench.py), plus a smoke test of each.

Functions (all return a dict of figures; nothing here asserts timing):
- ``bench_numpy_to_csharp(mb=100, repeat=3)``: a ``mb`` MB float64 array in
  shared memory (``dotbridge.shared_memory.ndarray``) to the C# method
  ``Bridge.Tests.SharedMemoryFixtures.SumAndScale(Memory<double>, double)``
  through a dotbridge Pool (ext 3, zero copy, the method scales in place),
  against the stdlib's spawn ``Pool.apply`` of a plain numpy array to a
  Python function that sums and scales it (pickled both ways). Target: >= 10x.
- ``bench_lock(n=100_000)``: acquire/release of one lock by two processes at
  once, dotbridge ``Lock`` (Python + Python, and Python + a .NET worker)
  against the stdlib's ``Lock`` (Python + Python).

Command: ``.venv/bin/python tests/python/test_shared_bench.py [--mb 100]``.
The figures in the benchmark table come from ``scripts/bench_shared.py``
(``scripts/bench --only shm_numpy,shm_numpy_ref,queue_rt,lock_2p``), which also
measures a *plain* numpy array (staged into shared memory automatically) and
needs no test build (its C# method is ``Bridge.Samples.Arrays.SumAndScale``).
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _tasks_shared as tasks  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))


def fixtures_assembly() -> str | None:
    """Path of the built Bridge.Tests.dll (holds SharedMemoryFixtures), or None."""
    env = os.environ.get("DOTBRIDGE_TEST_ASSEMBLY")
    if env and os.path.exists(env):
        return env
    found = sorted(glob.glob(os.path.join(REPO, "**", "bin", "**", "Bridge.Tests.dll"), recursive=True)
                   + glob.glob("/tmp/art-*/bin/Bridge.Tests/*/Bridge.Tests.dll"), key=os.path.getmtime)
    return found[-1] if found else None


def _method(name: str):
    import dotbridge.dotnet
    asm = fixtures_assembly()
    if asm is None:
        raise RuntimeError("Bridge.Tests.dll not built (dotnet build tests/Bridge.Tests) or set DOTBRIDGE_TEST_ASSEMBLY")
    return dotbridge.dotnet.method("Bridge.Tests.SharedMemoryFixtures." + name, assembly=asm)


def bench_numpy_to_csharp(mb: int = 100, repeat: int = 3) -> dict:
    import numpy as np
    import dotbridge
    from dotbridge import shared_memory
    n = mb * 1024 * 1024 // 8
    arr = shared_memory.ndarray(n, "float64")
    arr[:] = 1.0
    sum_and_scale = _method("SumAndScale")
    with dotbridge.Pool(1) as pool:
        pool.apply(sum_and_scale, (shared_memory.ndarray(8), 1.0))  # start the .NET worker
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            s = pool.apply(sum_and_scale, (arr, 2.0))
            best = min(best, time.perf_counter() - t0)
        assert s == n * 2.0 ** (repeat - 1) and arr[0] == 2.0 ** repeat
    plain = np.ones(n)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(tasks.fill, ([0.0], 1.0))
        std_best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            s, plain = pool.apply(tasks.sum_and_scale, (plain, 2.0))
            std_best = min(std_best, time.perf_counter() - t0)
    return {"mb": mb, "dotbridge_s": best, "stdlib_s": std_best, "speedup": std_best / best}


def _hammer(lock, n, start, result=None):
    start.wait(30)
    t0 = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    us = (time.perf_counter() - t0) * 1e6
    if result is not None:
        result.value = us
    return us


def _two_python(lock, n) -> float:
    """Both processes hammer ``lock`` at once; the slower one's microseconds per acquire+release."""
    ctx = multiprocessing.get_context("spawn")
    start, result = ctx.Event(), ctx.RawValue("d", 0.0)
    p = ctx.Process(target=_hammer, args=(lock, n, start, result))
    p.start()
    time.sleep(0.5)  # let the child import and wait on the event
    start.set()
    mine = _hammer(lock, n, start)
    p.join(120)
    return max(mine, result.value) / n


def bench_lock(n: int = 100_000) -> dict:
    """Acquire+release, two processes at once: dotbridge Lock vs the stdlib's, and Python + .NET worker."""
    from dotbridge import synchronize
    out = {"n": n,
           "dotbridge_py_py_us": _two_python(synchronize.Lock(), n),
           "stdlib_py_py_us": _two_python(multiprocessing.get_context("spawn").Lock(), n)}
    try:
        import dotbridge
        hammer = _method("HammerLock")
        lk = synchronize.Lock()
        with dotbridge.Pool(1) as pool:
            pool.apply(hammer, (lk.name, 1))
            r = pool.apply_async(hammer, (lk.name, n))
            py_us = _hammer(lk, n, _Set())
            out["dotbridge_py_dotnet_us"] = max(py_us, r.get(120)) / n
    except (ImportError, RuntimeError) as e:
        out["dotbridge_py_dotnet_us"] = f"n/a ({e})"
    return out


class _Set:
    def wait(self, timeout=None):
        return True


# --- smoke tests (correctness only, small sizes) --------------------------------------------

def _dotnet_pool_or_skip():
    try:
        import dotbridge
        from dotbridge import _native  # noqa: F401
    except ImportError as e:
        pytest.skip(f"native pool not available: {e}")
    if fixtures_assembly() is None:
        pytest.skip("Bridge.Tests.dll not built")
    return dotbridge


@pytest.mark.timeout(120)
def test_shm_array_to_csharp_method_is_scaled_in_place():
    dotbridge = _dotnet_pool_or_skip()
    from dotbridge import shared_memory
    arr = shared_memory.ndarray(1000, "float64")
    arr[:] = 1.5
    with dotbridge.Pool(1) as pool:
        assert pool.apply(_method("SumAndScale"), (arr, 2.0)) == 1500.0
        assert arr[0] == 3.0 and arr[-1] == 3.0
        assert pool.apply(_method("SumAndScaleSpan"), (arr[10:20], 2.0)) == 30.0
        assert arr[9] == 3.0 and arr[10] == 6.0 and arr[19] == 6.0 and arr[20] == 3.0
        # a T[] parameter gets a copy: the caller's array is unchanged
        assert pool.apply(_method("SumAndScaleArray"), (arr[:4], 10.0)) == 12.0
        assert arr[0] == 3.0


@pytest.mark.timeout(120)
def test_python_lock_blocks_a_csharp_worker_and_value_is_shared():
    dotbridge = _dotnet_pool_or_skip()
    from dotbridge import sharedctypes, synchronize
    lk = synchronize.Lock()
    v = sharedctypes.Value("q", 0)
    with dotbridge.Pool(1) as pool:
        with lk:
            assert pool.apply(_method("TryAcquireLock"), (lk.name, 200)) is False
        assert pool.apply(_method("TryAcquireLock"), (lk.name, 5000)) is True
        r = pool.apply_async(_method("AddToSharedValue"), (v.descriptor, 5000))
        for _ in range(5000):
            with v.get_lock():
                v.value += 1
        r.get(60)
    assert v.value == 10000


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--locks", type=int, default=100_000)
    a = ap.parse_args()
    print(bench_numpy_to_csharp(a.mb))
    print(bench_lock(a.locks))
