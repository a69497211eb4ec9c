"""Plain numpy arrays to C# methods travel through shared memory above SHM_THRESHOLD (issue 4.1).

The Python client copies such an array once into a fresh dotbridge segment, sends an ext 3
reference, copies the segment back into the caller's array when the chunk's result is taken
(if the array is writable), and unlinks the segment (Bridge/SHARED.md "Numpy arrays to C#
methods"). Every test checks that no segment it staged is left in /dev/shm or mapped here.
The C# fixtures are ``Bridge.Tests.SharedMemoryFixtures`` (a built Bridge.Tests.dll).
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time

import msgpack
import pytest

np = pytest.importorskip("numpy")

import dotbridge  # noqa: E402
from dotbridge import dotnet, shared_memory  # noqa: E402
from conftest import real_native_available  # noqa: E402
import test_shared_bench  # noqa: E402


def fixtures_assembly() -> str | None:
    """$DOTBRIDGE_TEST_ASSEMBLY, else the newest built Bridge.Tests.dll that has this file's fixtures."""
    import glob
    env = os.environ.get("DOTBRIDGE_TEST_ASSEMBLY")
    if env and os.path.exists(env):
        return env
    found = sorted(glob.glob(os.path.join(test_shared_bench.REPO, "**", "bin", "**", "Bridge.Tests.dll"), recursive=True)
                   + glob.glob("/tmp/art-*/bin/Bridge.Tests/*/Bridge.Tests.dll"), key=os.path.getmtime)
    for path in reversed(found):
        try:
            with open(path, "rb") as f:
                if b"SleepThenScale" in f.read():
                    return path
        except OSError:
            continue
    return None

_ok, _why = real_native_available()
_ASM = fixtures_assembly()
if _ok and _ASM is None:
    _ok, _why = False, "no Bridge.Tests.dll with these fixtures (dotnet build tests/Bridge.Tests) or set DOTBRIDGE_TEST_ASSEMBLY"
pytestmark = [pytest.mark.skipif(not _ok, reason=_why), pytest.mark.timeout(120)]

N = 1024 * 1024 // 8  # 1 MB of float64


def fx(name: str):
    return dotnet.method("Bridge.Tests.SharedMemoryFixtures." + name, assembly=_ASM)


def _mapped_here(name: str) -> bool:
    with open("/proc/self/maps") as f:
        return any(("/dev/shm/" + name) in line for line in f)


@pytest.fixture
def staged(monkeypatch):
    """Names of the segments the client staged during the test; afterwards none may exist or stay mapped."""
    names: list[str] = []
    real = shared_memory._create

    def recording(name, size):
        made = real(name, size)
        names.append(made[0])
        return made

    monkeypatch.setattr(shared_memory, "_create", recording)
    yield names
    end = time.monotonic() + 10  # a crashed/cancelled chunk is released when the pool reports it
    while time.monotonic() < end and any(os.path.exists("/dev/shm/" + n) for n in names):
        time.sleep(0.05)
    left = [n for n in names if os.path.exists("/dev/shm/" + n)]
    assert not left, f"segments left in /dev/shm: {left}"
    mapped = [n for n in names if _mapped_here(n)]
    assert not mapped, f"segments still mapped: {mapped}"


@pytest.fixture(scope="module")
def pool():
    with dotbridge.Pool(1) as p:
        yield p


def _ext_codes(payload: bytes) -> list[int]:
    codes: list[int] = []

    def hook(code, data):
        codes.append(code)
        return None
    msgpack.unpackb(payload, ext_hook=hook, raw=False, strict_map_key=False)
    return codes


def test_plain_1mb_array_is_scaled_in_place(pool, staged):
    arr = np.full(N, 1.5)
    assert pool.apply(fx("SumAndScale"), (arr, 2.0)) == 1.5 * N
    assert (arr == 3.0).all()
    assert len(staged) == 1  # went through one segment (ext 3), not by value
    assert pool.apply(fx("SumAndScaleSpan"), (arr, 2.0)) == 3.0 * N  # Span<T> as well
    assert (arr == 6.0).all()


def test_read_only_array_is_not_written_back_nor_corrupted(pool, staged):
    arr = np.arange(N, dtype=np.float64)
    arr.flags.writeable = False
    assert pool.apply(fx("SumAndScale"), (arr, 2.0)) == float(N * (N - 1) // 2)
    assert (arr == np.arange(N)).all()
    assert len(staged) == 1
    # a read-only view of a writable array: nothing comes back either
    base = np.ones(N)
    view = base.view()
    view.flags.writeable = False
    pool.apply(fx("SumAndScaleSpan"), (view, 5.0))
    assert (base == 1.0).all()


def test_small_array_still_goes_by_value(pool, staged):
    small = np.ones(shared_memory.SHM_THRESHOLD // 8 - 1)
    codec = dotbridge.pool._Codec(fx("SumAndScale"), True, None)
    payload, _ = codec.encode([(small, 2.0)])
    assert _ext_codes(payload) == [2] and not staged
    big = np.ones(shared_memory.SHM_THRESHOLD // 8)
    payload, _ = codec.encode([(big, 2.0)])
    assert _ext_codes(payload) == [3] and len(staged) == 1
    codec.stage.release()  # never submitted
    assert pool.apply(fx("SumAndScale"), (small, 2.0)) == small.size
    assert (small == 1.0).all()  # a copy travelled: the method's writes stay in the worker


def test_int32_array_to_an_int_array_parameter(pool, staged):
    ints = np.arange(N, dtype=np.int32)
    assert pool.apply(fx("SumInts"), (ints,)) == int(ints.astype(np.int64).sum())
    assert (ints == np.arange(N, dtype=np.int32)).all()  # T[] gets a copy: unchanged
    assert pool.apply(fx("ScaleInts"), (ints, 3)) == N  # Span<int>: scaled in place
    assert (ints == 3 * np.arange(N, dtype=np.int32)).all()
    assert len(staged) == 2


def test_non_contiguous_array_is_written_back_through_the_view(pool, staged):
    base = np.ones(2 * N)
    view = base[::2]
    assert pool.apply(fx("SumAndScale"), (view, 4.0)) == N
    assert (base[::2] == 4.0).all() and (base[1::2] == 1.0).all()
    grid = np.ones((512, 512))  # 2-D: ext 2 cannot carry it, ext 3 can (flattened for Span<T>)
    assert pool.apply(fx("SumAndScale"), (grid, 2.0)) == 512 * 512
    assert (grid == 2.0).all()


def test_method_that_throws_releases_the_segment(pool, staged):
    arr = np.ones(N)
    with pytest.raises(dotbridge.DotNetError) as info:
        pool.apply(fx("ScaleThenThrow"), (arr, 2.0))
    assert "failed on purpose" in str(info.value)
    assert len(staged) == 1
    assert (arr == 2.0).all()  # it ran and raised: its writes show, as with an ndarray() argument
    assert pool.apply(fx("SumAndScale"), (np.ones(N), 1.0)) == N  # the pool goes on


def test_every_pool_entry_point_writes_back(pool, staged):
    m = N // 4
    arrs = [np.full(m, float(i)) for i in range(6)]
    f = fx("SumAndScale")
    assert pool.starmap(f, [(a, 2.0) for a in arrs], chunksize=2) == [float(i * m) for i in range(6)]
    assert [a[0] for a in arrs] == [2.0 * i for i in range(6)]
    # T[] parameter: works on a copy of the staged copy; the caller's arrays are unchanged
    assert pool.starmap(fx("SumAndScaleArray"), [(a, 10.0) for a in arrs]) == [2.0 * i * m for i in range(6)]
    assert [a[0] for a in arrs] == [2.0 * i for i in range(6)]
    double = fx("DoubleInPlace")
    assert pool.map(double, arrs, chunksize=4) == [2.0 * i * m for i in range(6)]
    assert [a[0] for a in arrs] == [4.0 * i for i in range(6)]
    got = []
    r = pool.apply_async(f, (arrs[1], 2.0), callback=got.append)
    assert r.get(60) == 4.0 * m and got == [4.0 * m] and arrs[1][0] == 8.0
    assert pool.starmap_async(f, [(arrs[2], 0.5)]).get(60) == [8.0 * m] and arrs[2][0] == 4.0
    before = [a[0] for a in arrs]
    assert list(pool.imap(double, arrs, chunksize=1)) == [x * m for x in before]
    assert [a[0] for a in arrs] == [2 * x for x in before]
    assert sorted(pool.imap_unordered(double, arrs, chunksize=2)) == sorted(2 * x * m for x in before)
    assert [a[0] for a in arrs] == [4 * x for x in before]
    lazy = pool.imap(double, (a for a in arrs[:3]), chunksize=1)  # a lazy iterable: the feeder thread packs
    assert list(lazy) == [4 * x * m for x in before[:3]]
    assert [a[0] for a in arrs[:3]] == [8 * x for x in before[:3]]
    assert len(staged) == 6 + 6 + 6 + 1 + 1 + 6 + 6 + 3


def test_executor_submit_and_map_write_back(staged):
    f = fx("SumAndScale")
    with dotbridge.futures.ProcessPoolExecutor(1) as exe:
        arr = np.ones(N)
        assert exe.submit(f, arr, 3.0).result(60) == N
        assert (arr == 3.0).all()
        arrs = [np.ones(N // 2) for _ in range(3)]
        assert list(exe.map(f, arrs, [2.0] * 3, timeout=60)) == [N // 2] * 3
        assert all((a == 2.0).all() for a in arrs)
        with pytest.raises(dotbridge.DotNetError):
            exe.submit(fx("ScaleThenThrow"), np.ones(N), 2.0).result(60)


def test_cancelled_future_releases_its_segment(staged):
    with dotbridge.futures.ProcessPoolExecutor(1) as exe:
        busy = exe.submit(dotnet.method("Bridge.Samples.Echo.Sleep"), 1000)
        arr = np.ones(N)
        queued = exe.submit(fx("SumAndScale"), arr, 2.0)
        assert queued.cancel()
        assert busy.result(60) == 1000
        with pytest.raises(concurrent.futures.CancelledError):
            queued.result(5)
        assert (arr == 1.0).all()


def test_worker_crash_releases_the_segment(staged):
    with dotbridge.Pool(1) as p:
        p.apply(fx("SumAndScale"), (np.ones(4), 1.0))  # the .NET worker is up
        pid = p._native.workers("dotnet")[0]["pid"]
        arr = np.ones(N)
        r = p.apply_async(fx("SleepThenScale"), (arr, 5000, 2.0))
        end = time.monotonic() + 10
        while time.monotonic() < end and not any(_mapped_by(pid, n) for n in staged):
            time.sleep(0.02)  # until the worker has mapped the argument
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(dotbridge.WorkerCrashedError):
            r.get(30)
        assert (arr == 1.0).all()  # nothing copied back from a crashed call
        assert p.apply(fx("SumAndScale"), (np.ones(N), 1.0)) == N  # the replacement works


def test_terminate_releases_pending_segments(staged):
    p = dotbridge.Pool(1)
    try:
        p.apply(dotnet.method("Bridge.Samples.Echo.Sleep"), (1,))
        p.apply_async(dotnet.method("Bridge.Samples.Echo.Sleep"), (2000,))
        r = p.apply_async(fx("SumAndScale"), (np.ones(N), 2.0))
    finally:
        p.terminate()
        p.join()
    with pytest.raises(Exception):
        r.get(30)


def test_python_targets_still_pickle(staged):
    with dotbridge.Pool(1) as p:
        arr = np.ones(N)
        out = p.apply(np.multiply, (arr, 2.0))
        assert (out == 2.0).all() and (arr == 1.0).all()
        assert not staged


def _mapped_by(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any(("/dev/shm/" + name) in line for line in f)
    except OSError:
        return False


_KILLED_CALLER = r"""
import sys, time
import numpy as np
import dotbridge
from dotbridge import dotnet, shared_memory

real = shared_memory._create
def recording(name, size):
    made = real(name, size)
    print("STAGED", made[0], flush=True)
    return made
shared_memory._create = recording

if __name__ == "__main__":
    slow = dotnet.method("Bridge.Tests.SharedMemoryFixtures.SleepThenScale", assembly=sys.argv[1])
    pool = dotbridge.Pool(1)
    arr = np.ones(%d)
    r = pool.apply_async(slow, (arr, 30000, 2.0))
    print("SUBMITTED", flush=True)
    time.sleep(60)
"""


def test_killed_caller_leaves_no_segment(tmp_path):
    import subprocess
    import sys
    script = tmp_path / "caller.py"
    script.write_text(_KILLED_CALLER % N)
    p = subprocess.Popen([sys.executable, str(script), _ASM], stdout=subprocess.PIPE, text=True)
    names = []
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            line = p.stdout.readline()
            if not line or line.startswith("SUBMITTED"):
                break
            if line.startswith("STAGED"):
                names.append(line.split()[1])
        assert names and all(os.path.exists("/dev/shm/" + n) for n in names)
    finally:
        p.kill()
        p.wait(10)
        p.stdout.close()
    end = time.monotonic() + 15  # the caller's resource tracker unlinks what it had registered
    while time.monotonic() < end and any(os.path.exists("/dev/shm/" + n) for n in names):
        time.sleep(0.05)
    assert not [n for n in names if os.path.exists("/dev/shm/" + n)]
