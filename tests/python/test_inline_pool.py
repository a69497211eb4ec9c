"""Inline C# kernels end to end: compiled by dotbridge.dotnet.compile, run by dotbridge.Pool's .NET workers."""

from __future__ import annotations

import os

import pytest

import dotbridge
from dotbridge import _compile
from _inline_support import KERNELS, ensure_compiler, python_count_primes
from _pool_cases import T, make_fixtures
from conftest import real_native_available

_WORKER = os.path.join(os.path.dirname(os.path.abspath(dotbridge.__file__)), "_bin", "worker")

_ok, _why = real_native_available()
if _ok and not os.path.exists(_WORKER):
    _ok, _why = False, f"the .NET worker is not built ({_WORKER} is missing)"
pytestmark = pytest.mark.skipif(not _ok, reason=_why)

make_pool, make_executor = make_fixtures()


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    ok, why = ensure_compiler()
    if not ok:
        pytest.skip(why)
    old = os.environ.get("DOTBRIDGE_CACHE")
    os.environ["DOTBRIDGE_CACHE"] = str(tmp_path_factory.mktemp("kernels"))
    try:
        yield dotbridge.dotnet.compile(KERNELS)
    finally:
        _compile._memo.clear()
        if old is None:
            os.environ.pop("DOTBRIDGE_CACHE", None)
        else:
            os.environ["DOTBRIDGE_CACHE"] = old


RANGES = [(lo, lo + 2_500) for lo in range(0, 20_000, 2_500)]


def test_starmap_over_an_inline_kernel_matches_python(make_pool, kernels):
    pool = make_pool(2)
    got = pool.starmap(kernels.Kernels.CountPrimes, RANGES)
    assert got == [python_count_primes(lo, hi) for lo, hi in RANGES]
    assert pool.apply(kernels.Kernels.IsPrime, (97,)) is True


def test_every_pool_method_takes_inline_handles(make_pool, kernels):
    pool = make_pool(2)
    is_prime = kernels.Kernels.IsPrime
    expected = [python_count_primes(n, n + 1) == 1 for n in range(50)]
    assert pool.map(is_prime, range(50)) == expected
    assert list(pool.imap(is_prime, range(50), chunksize=7)) == expected
    assert sorted(pool.imap_unordered(kernels.Demo.Inline.Vec.Nested.Twice, range(10))) == [2 * i for i in range(10)]
    assert pool.apply_async(kernels.Demo.Inline.Vec.Dot, ([1.0, 2.0], [3.0, 4.0])).get(T) == 11.0
    assert pool.starmap_async(kernels.Demo.Inline.Vec.SumSquares, [([1, 2, 3],)]).get(T) == [14]


def test_executor_submits_inline_handles(make_executor, kernels):
    exe = make_executor(2)
    futures = [exe.submit(kernels.Kernels.CountPrimes, lo, hi) for lo, hi in RANGES[:3]]
    assert [f.result(T) for f in futures] == [python_count_primes(lo, hi) for lo, hi in RANGES[:3]]
    assert list(exe.map(kernels.Demo.Inline.Vec.Nested.Twice, [1, 2], timeout=T)) == [2, 4]


def test_new_workers_load_the_kernel_too(make_pool, kernels):
    # maxtasksperchild=1: every chunk runs in a fresh .NET worker, which must load the assembly itself
    pool = make_pool(2, maxtasksperchild=1)
    pids = [pool.apply(kernels.Kernels.Pid) for _ in range(4)]
    assert len(set(pids)) >= 3, pids
    assert pool.starmap(kernels.Kernels.CountPrimes, RANGES[:4], chunksize=1) == \
        [python_count_primes(lo, hi) for lo, hi in RANGES[:4]]


def test_a_kernel_exception_arrives_as_dotnet_error(make_pool, kernels):
    pool = make_pool(1)
    with pytest.raises(dotbridge.DotNetError) as info:
        pool.apply(kernels.Kernels.Fail, (7,))
    assert info.value.dotnet_type == "System.InvalidOperationException"
    assert "kernel failed on 7" in str(info.value)
    assert pool.apply(kernels.Kernels.IsPrime, (7,)) is True  # the pool stays healthy


def test_a_handle_called_directly_runs_on_the_default_pool(kernels):
    assert kernels.Demo.Inline.Vec.Nested.Twice(21) == 42
