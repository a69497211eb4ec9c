"""Inline C# kernels in the demo and the benchmarks (helper "inline"; called by scripts/demo.py and scripts/bench.py).

- :func:`run_inline` is the demo's third part: the primes loop written in C# inside
  this file, compiled by ``dotbridge.dotnet.compile`` (once; later runs read the
  cache) and run by ``dotbridge.Pool(2)`` over the same ranges.
- :func:`bench_inline` measures the first-call cost (compile + load) and the
  cached-call cost of an inline kernel, and its throughput against the same
  method from a compiled assembly (``Bridge.Samples.Primes.Count``): the two
  must be within 10 %.

Run alone: ``.venv/bin/python scripts/_inline.py demo [--limit N]`` or
``.venv/bin/python scripts/_inline.py bench [--limit N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

# The C# twin of Bridge.Samples.Primes.Count (same algorithm, same IL shape), and of the
# demo's pure-Python count_primes: odd trial divisors up to the square root.
PRIMES_KERNEL = """
public static class InlinePrimes
{
    public static long Count(long lo, long hi)
    {
        long count = 0;
        for (long n = Math.Max(lo, 0); n < hi; n++)
        {
            if (IsPrime(n))
            {
                count++;
            }
        }
        return count;
    }

    public static bool IsPrime(long n)
    {
        if (n < 2)
        {
            return false;
        }
        if (n <= int.MaxValue)
        {
            return IsPrime32((uint)n); // a 32-bit division is about twice as fast
        }
        if (n % 2 == 0)
        {
            return n == 2;
        }
        for (long d = 3; d * d <= n; d += 2)
        {
            if (n % d == 0)
            {
                return false;
            }
        }
        return true;
    }

    private static bool IsPrime32(uint n)
    {
        if (n % 2 == 0)
        {
            return n == 2;
        }
        for (uint d = 3; d * d <= n; d += 2)
        {
            if (n % d == 0)
            {
                return false;
            }
        }
        return true;
    }
}
"""


def _ranges(limit: int, parts: int) -> list[tuple[int, int]]:
    step = max(1, -(-limit // parts))
    return [(lo, min(lo + step, limit)) for lo in range(0, limit, step)]


def describe_last_compile() -> str:
    """'compiled in 0.81 s' or 'read from the cache in 0.2 ms' for the last compile() of this process."""
    from dotbridge import _compile
    info = _compile.last_compile
    if not info:
        return "not compiled"
    if info["cached"]:
        return f"read from the cache in {info['seconds'] * 1e3:.1f} ms"
    return f"compiled in {info['seconds']:.2f} s (Roslyn {info['compiler_ms'] / 1e3:.2f} s)"


def run_inline(work) -> tuple[int, float, float]:
    """The demo's inline part: compile PRIMES_KERNEL, run it over ``work`` with dotbridge.Pool(2).

    Returns:
        (total, seconds computing, seconds including the compile and the pool start-up)
    """
    import dotbridge
    t0 = time.perf_counter()
    kernels = dotbridge.dotnet.compile(PRIMES_KERNEL)
    with dotbridge.Pool(2) as pool:
        t1 = time.perf_counter()
        total = sum(pool.starmap(kernels.InlinePrimes.Count, work, chunksize=1))
        t2 = time.perf_counter()
    return total, t2 - t1, t2 - t0


def demo(limit: int = 10_000_000, parts: int = 64) -> int:
    """Stand-alone demo: stdlib Pool(2) over pure Python vs dotbridge Pool(2) over inline C#."""
    import multiprocessing
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from demo import count_primes  # the pure-Python loop of scripts/demo.py
    work = _ranges(limit, parts)
    print(f"Counting the primes below {limit:,} in {len(work)} ranges on 2 workers.", flush=True)
    print("  stdlib multiprocessing.Pool(2), pure Python ...", end=" ", flush=True)
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        expected = sum(pool.starmap(count_primes, work, chunksize=1))
    py_s = time.perf_counter() - t0
    print(f"{expected:,} primes in {py_s:.2f} s", flush=True)
    print("  dotbridge.Pool(2), inline C# (dotbridge.dotnet.compile) ...", end=" ", flush=True)
    total, compute, wall = run_inline(work)
    print(f"{total:,} primes in {compute:.3f} s (kernel {describe_last_compile()}; "
          f"with compile and pool start-up {wall:.2f} s)", flush=True)
    if total != expected:
        print(f"MISMATCH: {expected} != {total}")
        return 1
    print(f"Same answer. Speed-up of inline C# over pure Python: {py_s / compute:.1f}x")
    return 0


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def bench_inline(limit: int = 3_000_000, parts: int = 32, repeats: int = 5, out=print) -> dict:
    """Inline-kernel benchmark; prints one line per figure through ``out`` and returns them.

    Figures (seconds unless stated): compile_cold (compile() with an empty cache: runs
    Bridge.Compiler), compile_cached (a new process's compile(): the disk cache, no
    compiler), first_call_cold (compile_cold + the first call on a running .NET
    worker: assembly load + JIT), first_call_cached (the same with the cache),
    call_inline_us / call_compiled_us (median apply round trip once warm), and
    throughput: starmap of the primes below ``limit`` with the inline kernel vs
    Bridge.Samples.Primes.Count (best of ``repeats``, alternating), ``ratio`` =
    inline / compiled time, ``within_10pct``.
    """
    import dotbridge
    from dotbridge import _compile
    res: dict = {}
    old_cache = os.environ.get("DOTBRIDGE_CACHE")
    cache = tempfile.mkdtemp(prefix="dotbridge-bench-kernels-")
    os.environ["DOTBRIDGE_CACHE"] = cache  # an empty cache: the first compile is a real one
    compiled = dotbridge.dotnet.method("Bridge.Samples.Primes.Count")
    try:
        saved_memo = dict(_compile._memo)
        _compile._memo.clear()
        with dotbridge.Pool(2) as pool:
            pool.starmap(compiled, [(0, 10)] * 4)  # start the .NET workers
            res["compile_cold"], kernels = _timed(lambda: dotbridge.dotnet.compile(PRIMES_KERNEL))
            res["compiler_process"] = _compile.last_compile["compiler_ms"] / 1e3
            inline = kernels.InlinePrimes.Count
            load, _ = _timed(lambda: pool.apply(inline, (0, 10)))
            res["first_call_cold"] = res["compile_cold"] + load
            _compile._memo.clear()  # as in a second run of the script
            res["compile_cached"], _ = _timed(lambda: dotbridge.dotnet.compile(PRIMES_KERNEL))
        with dotbridge.Pool(2) as pool:  # fresh workers: the cached kernel still has to be loaded
            pool.starmap(compiled, [(0, 10)] * 4)
            _compile._memo.clear()
            t_compile, kernels = _timed(lambda: dotbridge.dotnet.compile(PRIMES_KERNEL))
            load, _ = _timed(lambda: pool.apply(kernels.InlinePrimes.Count, (0, 10)))
            res["first_call_cached"] = t_compile + load
            pool.starmap(kernels.InlinePrimes.Count, [(0, 10)] * 8)  # both workers have loaded it

            def call_us(fn):
                samples = []
                for _ in range(300):
                    t = time.perf_counter()
                    pool.apply(fn, (0, 10))
                    samples.append(time.perf_counter() - t)
                return statistics.median(samples) * 1e6
            res["call_inline_us"] = call_us(kernels.InlinePrimes.Count)
            res["call_compiled_us"] = call_us(compiled)

            work = _ranges(limit, parts)
            times = {"inline": [], "compiled": []}
            answers = set()
            for i in range(repeats):
                for name, fn in (("inline", kernels.InlinePrimes.Count), ("compiled", compiled))[:: 1 if i % 2 == 0 else -1]:
                    t, total = _timed(lambda: sum(pool.starmap(fn, work, chunksize=1)))
                    times[name].append(t)
                    answers.add(total)
            res["answers_equal"] = len(answers) == 1
            res["throughput_inline"] = min(times["inline"])
            res["throughput_compiled"] = min(times["compiled"])
            res["ratio"] = res["throughput_inline"] / res["throughput_compiled"]
            res["within_10pct"] = abs(res["ratio"] - 1) <= 0.10
    finally:
        _compile._memo.clear()
        _compile._memo.update(saved_memo)
        if old_cache is None:
            os.environ.pop("DOTBRIDGE_CACHE", None)
        else:
            os.environ["DOTBRIDGE_CACHE"] = old_cache
        shutil.rmtree(cache, ignore_errors=True)

    out("inline C# kernel (dotbridge.dotnet.compile):")
    out(f"  compile, empty cache        {res['compile_cold']:8.3f} s  (Bridge.Compiler process {res['compiler_process']:.3f} s)")
    out(f"  compile, cached             {res['compile_cached'] * 1e3:8.3f} ms (no compiler process)")
    out(f"  first call, empty cache     {res['first_call_cold']:8.3f} s  (compile + assembly load + JIT in a running worker)")
    out(f"  first call, cached          {res['first_call_cached'] * 1e3:8.1f} ms (cache read + assembly load + JIT)")
    out(f"  apply round trip, warm      {res['call_inline_us']:8.1f} us inline, {res['call_compiled_us']:.1f} us compiled assembly")
    out(f"  starmap primes < {limit:,}: {res['throughput_inline']:.3f} s inline vs {res['throughput_compiled']:.3f} s "
        f"Bridge.Samples.Primes.Count (ratio {res['ratio']:.3f}, best of {repeats}) -> "
        f"{'within 10%' if res['within_10pct'] else 'NOT within 10%'}"
        f"{'' if res['answers_equal'] else '; ANSWERS DIFFER'}")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["demo", "bench"])
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    if args.what == "demo":
        return demo(args.limit or 10_000_000)
    res = bench_inline(args.limit or 3_000_000)
    return 0 if res["within_10pct"] and res["answers_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
