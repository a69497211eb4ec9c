"""Smoke tests of zero-copy shared memory and cross-language locks with C# fixture methods.

A numpy array in shared memory reaches a ``Span<T>``/``Memory<T>`` parameter of a C# method
(``Bridge.Tests.SharedMemoryFixtures``) and is scaled in place; a Python ``Lock`` blocks a .NET
worker and a shared ``Value`` adds up from both sides. The fixtures come from
``DOTBRIDGE_TEST_ASSEMBLY`` or the newest built ``Bridge.Tests.dll``. The figures (numpy to C#,
``Queue`` and ``Lock`` across processes, against the stdlib) are ``scripts/bench_shared.py``'s:
``scripts/bench --only shm_numpy,shm_numpy_ref,queue_rt,lock_2p``.
"""

from __future__ import annotations

import glob
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
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

