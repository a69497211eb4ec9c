"""scripts/bench.py plugin (helper "inline"): inline C# kernels from ``dotbridge.dotnet.compile``.

Two rows; here the table's left ("stdlib") column is the baseline named in the title:

- ``inline_first``: the first call of an inline kernel on running .NET workers, compile
  included: left with an empty kernel cache (Bridge.Compiler runs: Roslyn start-up,
  compile, write), right from the cache (a second run of the script: no compiler, only
  the cache read and the assembly load + JIT in the worker). Target: the cached first
  call costs at most a tenth of the cold one.
- ``inline_tp``: throughput of the inline twin of ``Bridge.Samples.Primes.Count``
  (right) against that method from its compiled assembly (left), ``starmap`` over the
  same ranges on ``Pool(2)``. Target: within 10 % (ratio ≤ 1.1).

``.venv/bin/python scripts/_inline.py bench`` prints the same figures (and the warm
``apply`` round trips) without the table.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

from _inline import PRIMES_KERNEL, _ranges

# register with the running bench.py (it is __main__ when run as a script), not with a second copy of it
_host = sys.modules.get("__main__")
if not hasattr(_host, "REGISTRY"):
    import bench as _host
bench = _host.bench

_state: dict = {}


def _warm_pool():
    import dotbridge
    pool = dotbridge.Pool(2)
    # start both .NET workers on a compiled-assembly method, so the figures exclude process start-up
    pool.starmap(dotbridge.dotnet.method("Bridge.Samples.Primes.Count"), [(0, 10)] * 4, chunksize=1)
    return pool


def _first_call_s(cache: str) -> float:
    import dotbridge
    from dotbridge import _compile
    old = os.environ.get("DOTBRIDGE_CACHE")
    os.environ["DOTBRIDGE_CACHE"] = cache
    _compile._memo.clear()  # as in a new process
    pool = _warm_pool()
    try:
        t0 = time.perf_counter()
        kernels = dotbridge.dotnet.compile(PRIMES_KERNEL)
        assert pool.apply(kernels.InlinePrimes.Count, (0, 100)) == 25
        return time.perf_counter() - t0
    finally:
        pool.terminate()
        pool.join()
        _compile._memo.clear()
        if old is None:
            os.environ.pop("DOTBRIDGE_CACHE", None)
        else:
            os.environ["DOTBRIDGE_CACHE"] = old


@bench("inline_first", section="Inline C# kernels (dotbridge.dotnet.compile)",
       title="first call of an inline kernel, compile included: empty cache (left) vs cached, "
             "i.e. a second run of the script (right)",
       unit="ms", ratio="d/s", target=("<=", 0.1))
def inline_first(side, cfg):
    repeats = 3 if cfg["quick"] else cfg["repeats"]
    if side == "stdlib":  # the left column: an empty cache every time
        times, caches = [], []
        for _ in range(repeats):
            cache = tempfile.mkdtemp(prefix="dotbridge-bench-kernels-")
            caches.append(cache)
            times.append(_first_call_s(cache))
        _state["cache"] = caches[-1]
        for cache in caches[:-1]:
            shutil.rmtree(cache, ignore_errors=True)
        return statistics.median(times) * 1e3
    cache = _state.get("cache") or tempfile.mkdtemp(prefix="dotbridge-bench-kernels-")
    try:
        _first_call_s(cache)  # fills the cache if the left column did not run
        return statistics.median(_first_call_s(cache) for _ in range(repeats)) * 1e3
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@bench("inline_tp", section="Inline C# kernels (dotbridge.dotnet.compile)",
       title="primes below 3·10^6 on `Pool(2)`: `Primes.Count` from its compiled assembly (left) "
             "vs the same method as an inline kernel (right); interleaved runs on one pool",
       unit="s", ratio="d/s", target=("<=", 1.1), notes="--quick: below 10^6")
def inline_tp(side, cfg):
    if side == "dotbridge" and "inline_tp" in _state:
        return _state.pop("inline_tp")  # measured with the left column, interleaved
    import dotbridge
    work = _ranges(1_000_000 if cfg["quick"] else 3_000_000, 32)
    fns = {"compiled": dotbridge.dotnet.method("Bridge.Samples.Primes.Count"),
           "inline": dotbridge.dotnet.compile(PRIMES_KERNEL).InlinePrimes.Count}  # the user's cache: compiled once
    pool = _warm_pool()
    try:
        for fn in fns.values():  # load + JIT (and tier-up of the hot loop) outside the timing
            pool.starmap(fn, work, chunksize=1)
        times = {name: [] for name in fns}
        totals = set()
        for i in range(max(3, cfg["repeats"])):
            for name in (("compiled", "inline") if i % 2 == 0 else ("inline", "compiled")):
                t0 = time.perf_counter()
                totals.add(sum(pool.starmap(fns[name], work, chunksize=1)))
                times[name].append(time.perf_counter() - t0)
        assert len(totals) == 1, f"the two methods disagree: {totals}"
    finally:
        pool.terminate()
        pool.join()
    _state["inline_tp"] = statistics.median(times["inline"])
    return statistics.median(times["compiled"]) if side == "stdlib" else _state.pop("inline_tp")
