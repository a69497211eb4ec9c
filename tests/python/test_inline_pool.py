"""Inline C# kernels end to end: compiled by dotbridge.dotnet.compile, run by .NET workers.

First one .NET worker spoken to directly over its pipes (needs only the published worker),
then through dotbridge.Pool and the executor (needs the native pool library too).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

import dotbridge
from dotbridge import _frames
from _inline_support import KERNELS, compiled_kernels, python_count_primes  # noqa: F401 (a fixture)
from _pool_cases import T, make_fixtures
from conftest import real_native_available

_WORKER = os.path.join(os.path.dirname(os.path.abspath(dotbridge.__file__)), "_bin", "worker")
# DOTBRIDGE_TEST_DOTNET_WORKER: another built `Bridge` executable for the direct-worker tests
_WORKER_EXE = os.environ.get("DOTBRIDGE_TEST_DOTNET_WORKER") or os.path.join(_WORKER, "Bridge")

needs_worker = pytest.mark.skipif(not os.path.exists(_WORKER_EXE),
                                  reason=f"the .NET worker is not built ({_WORKER_EXE} is missing)")
_ok, _why = real_native_available()
if _ok and not os.path.exists(_WORKER):
    _ok, _why = False, f"the .NET worker is not built ({_WORKER} is missing)"
needs_pool = pytest.mark.skipif(not _ok, reason=_why)

make_pool, make_executor = make_fixtures()


@pytest.fixture
def kernels(compiled_kernels):
    return compiled_kernels


RANGES = [(lo, lo + 2_500) for lo in range(0, 20_000, 2_500)]


class _DotNetWorker:
    """One .NET worker over its own pipes (PROTOCOL.md), no pool in between."""

    def __init__(self):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        self.proc = subprocess.Popen([_WORKER_EXE, "worker"], pass_fds=(r1, w2),
                                     env=dict(os.environ, DOTBRIDGE_FDS=f"{r1},{w2}"))
        os.close(r1)
        os.close(w2)
        self.w, self.r = w1, r2
        self.reader = _frames.FrameReader()
        self.send([_frames.INIT, 1, {}])
        hello = self.recv()
        assert hello[0] == _frames.HELLO and hello[2] == "dotnet"
        self._ids = iter(range(1, 1 << 30))

    def send(self, frame):
        os.write(self.w, _frames.encode_frame(frame))

    def recv(self):
        end = time.monotonic() + T
        while True:
            for f in self.reader.frames():
                return f
            left = end - time.monotonic()
            assert left > 0, "no frame from the .NET worker in time"
            if select.select([self.r], [], [], left)[0]:
                data = os.read(self.r, 1 << 20)
                assert data, "the .NET worker closed its pipe"
                self.reader.feed(data)

    def call(self, handle, calls):
        self.send([_frames.TASK, next(self._ids), 1, handle.target, calls])
        return self.recv()

    def close(self):
        try:
            self.send([_frames.STOP])
        except OSError:
            pass
        try:
            assert self.proc.wait(T) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(T)
            os.close(self.w)
            os.close(self.r)


@pytest.fixture
def dotnet_worker():
    worker = _DotNetWorker()
    yield worker
    worker.close()


@needs_worker
def test_a_dotnet_worker_loads_and_runs_the_kernel(kernels, dotnet_worker):
    res = dotnet_worker.call(kernels.Kernels.CountPrimes, [list(r) for r in RANGES[:3]])
    assert res[0] == _frames.RESULT and res[3] == [python_count_primes(lo, hi) for lo, hi in RANGES[:3]]
    assert dotnet_worker.call(kernels.Demo.Inline.Vec.Nested.Twice, [[21]])[3] == [42]
    assert dotnet_worker.call(kernels.Demo.Inline.Vec.Dot, [[[1.0, 2.0], [3.0, 4.0]]])[3] == [11.0]
    assert dotnet_worker.call(kernels.Demo.Inline.Vec.SumSquares, [[[1, 2, 3]]])[3] == [14]


@needs_worker
def test_a_kernel_stack_trace_names_the_line_in_the_source(kernels, dotnet_worker):
    err = dotnet_worker.call(kernels.Kernels.Fail, [[7]])
    assert err[0] == _frames.ERROR
    info = err[2]
    assert info["type"] == "System.InvalidOperationException" and info["message"] == "kernel failed on 7"
    line = next(i for i, text in enumerate(KERNELS.splitlines(), 1) if "kernel failed on" in text)
    assert f"inline.cs:line {line}" in info["traceback"]


@needs_pool
def test_starmap_over_an_inline_kernel_matches_python(make_pool, kernels):
    pool = make_pool(2)
    got = pool.starmap(kernels.Kernels.CountPrimes, RANGES)
    assert got == [python_count_primes(lo, hi) for lo, hi in RANGES]
    assert pool.apply(kernels.Kernels.IsPrime, (97,)) is True


@needs_pool
def test_every_pool_method_takes_inline_handles(make_pool, kernels):
    pool = make_pool(2)
    is_prime = kernels.Kernels.IsPrime
    expected = [python_count_primes(n, n + 1) == 1 for n in range(50)]
    assert pool.map(is_prime, range(50)) == expected
    assert list(pool.imap(is_prime, range(50), chunksize=7)) == expected
    assert sorted(pool.imap_unordered(kernels.Demo.Inline.Vec.Nested.Twice, range(10))) == [2 * i for i in range(10)]
    assert pool.apply_async(kernels.Demo.Inline.Vec.Dot, ([1.0, 2.0], [3.0, 4.0])).get(T) == 11.0
    assert pool.starmap_async(kernels.Demo.Inline.Vec.SumSquares, [([1, 2, 3],)]).get(T) == [14]


@needs_pool
def test_executor_submits_inline_handles(make_executor, kernels):
    exe = make_executor(2)
    futures = [exe.submit(kernels.Kernels.CountPrimes, lo, hi) for lo, hi in RANGES[:3]]
    assert [f.result(T) for f in futures] == [python_count_primes(lo, hi) for lo, hi in RANGES[:3]]
    assert list(exe.map(kernels.Demo.Inline.Vec.Nested.Twice, [1, 2], timeout=T)) == [2, 4]


@needs_pool
def test_new_workers_load_the_kernel_too(make_pool, kernels):
    # maxtasksperchild=1: every chunk runs in a fresh .NET worker, which must load the assembly itself
    pool = make_pool(2, maxtasksperchild=1)
    pids = [pool.apply(kernels.Kernels.Pid) for _ in range(4)]
    assert len(set(pids)) >= 3, pids
    assert pool.starmap(kernels.Kernels.CountPrimes, RANGES[:4], chunksize=1) == \
        [python_count_primes(lo, hi) for lo, hi in RANGES[:4]]


@needs_pool
def test_a_kernel_exception_arrives_as_dotnet_error(make_pool, kernels):
    pool = make_pool(1)
    with pytest.raises(dotbridge.DotNetError) as info:
        pool.apply(kernels.Kernels.Fail, (7,))
    assert info.value.dotnet_type == "System.InvalidOperationException"
    assert "kernel failed on 7" in str(info.value)
    assert pool.apply(kernels.Kernels.IsPrime, (7,)) is True  # the pool stays healthy


@needs_pool
def test_a_handle_called_directly_runs_on_the_default_pool(kernels):
    assert kernels.Demo.Inline.Vec.Nested.Twice(21) == 42


_SCRIPT = '''
import dotbridge

kernels = dotbridge.dotnet.compile("public static class S { public static int Sq(int x) => x * x; }")


def py_sq(x):  # runs in Python workers, which re-import this script (spawn): compile() again, from the cache
    return kernels.S.Sq.name, x * x


if __name__ == "__main__":
    from dotbridge import _compile
    cached = _compile.last_compile["cached"]
    with dotbridge.Pool(2) as pool:
        print(pool.map(kernels.S.Sq, range(5)), [v for _, v in pool.map(py_sq, range(5))], cached)
'''


@needs_pool
def test_a_script_with_a_kernel_runs_twice_and_compiles_once(tmp_path, no_leftover_children):
    script = tmp_path / "script_with_kernel.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, DOTBRIDGE_CACHE=str(tmp_path / "kernels"))
    first = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split("]")[0] + "]" == "[0, 1, 4, 9, 16]" and first.stdout.strip().endswith("False")
    env["DOTBRIDGE_COMPILER"] = "/nonexistent/Bridge.Compiler"  # the second run must not need it
    second = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "[0, 1, 4, 9, 16] [0, 1, 4, 9, 16] True"
