"""The README's demo: count the primes below N twice and compare.

(a) the stdlib's ``multiprocessing.Pool(2)`` over a pure-Python trial-division
    function defined here;
(b) ``dotbridge.Pool(2)`` over the C# method ``Bridge.Samples.Primes.Count(long lo,
    long hi)`` (the same algorithm, in .NET worker processes).

Both split [0, N) into the same ranges (many more ranges than workers, so both
workers stay busy although higher ranges cost more), use ``starmap``, and must
give the same answer (exit status 1 if not). Run it through ``scripts/demo``,
which sets everything up first; or directly with ``.venv/bin/python scripts/demo.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time

# pi(10^k): a sanity check when N is a power of ten
KNOWN = {10: 4, 100: 25, 1_000: 168, 10_000: 1_229, 100_000: 9_592, 1_000_000: 78_498,
         10_000_000: 664_579, 100_000_000: 5_761_455}


def count_primes(lo: int, hi: int) -> int:
    """Primes in [lo, hi) by trial division by 2 and the odd numbers up to sqrt(n)."""
    count = 0
    for n in range(max(lo, 2), hi):
        if n % 2 == 0:
            count += n == 2
            continue
        i = 3
        while i * i <= n:
            if n % i == 0:
                break
            i += 2
        else:
            count += 1
    return count


def ranges(limit: int, parts: int) -> list[tuple[int, int]]:
    step = max(1, -(-limit // parts))
    return [(lo, min(lo + step, limit)) for lo in range(0, limit, step)]


def timed_starmap(make_pool, func, work) -> tuple[int, float, float]:
    """Sum of ``starmap(func, work)`` on a fresh pool: (answer, compute seconds, with start-up seconds)."""
    t0 = time.perf_counter()
    with make_pool(2) as pool:
        t1 = time.perf_counter()
        total = sum(pool.starmap(func, work, chunksize=1))
        t2 = time.perf_counter()
    return total, t2 - t1, t2 - t0


def run_stdlib(work) -> tuple[int, float, float]:
    return timed_starmap(multiprocessing.Pool, count_primes, work)


def run_dotbridge(work) -> tuple[int, float, float]:
    import dotbridge
    return timed_starmap(dotbridge.Pool, dotbridge.dotnet.method("Bridge.Samples.Primes.Count"), work)


# --- HOOK(inline): the inline C# kernel part (helper "inline"; code in scripts/_inline.py) ---
def run_inline(work) -> tuple[int, float, float]:
    """(c) dotbridge.Pool(2) over the same loop written as C# in the script (dotbridge.dotnet.compile)."""
    from _inline import run_inline as run
    return run(work)
# -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Count primes below N with the stdlib's Pool and with dotbridge's.")
    ap.add_argument("--limit", type=int, default=10_000_000, help="count the primes below this (default: %(default)s)")
    ap.add_argument("--parts", type=int, default=64, help="ranges [0, N) is split into (default: %(default)s)")
    ap.add_argument("--skip-stdlib", action="store_true", help="run only the dotbridge part (no comparison)")
    args = ap.parse_args(argv)
    work = ranges(args.limit, args.parts)
    print(f"Counting the primes below {args.limit:,} in {len(work)} ranges on 2 workers.", flush=True)

    answers = {}
    times = {}
    if not args.skip_stdlib:
        print("  (a) stdlib multiprocessing.Pool(2), pure Python ...", end=" ", flush=True)
        n, compute, wall = run_stdlib(work)
        answers["stdlib"], times["stdlib"] = n, compute
        print(f"{n:,} primes in {compute:.2f} s (with pool start-up {wall:.2f} s)", flush=True)

    for key, label, run in (("dotbridge", "(b) dotbridge.Pool(2), C# Bridge.Samples.Primes.Count", run_dotbridge),
                            ("inline", "(c) dotbridge.Pool(2), inline C# from dotbridge.dotnet.compile", run_inline)):
        print(f"  {label} ...", end=" ", flush=True)
        try:
            n, compute, wall = run(work)
        except Exception as e:  # report and fail: the demo must not pretend
            print(f"FAILED: {type(e).__name__}: {e}")
            return 1
        answers[key], times[key] = n, compute
        if key == "inline":  # HOOK(inline): the kernel is compiled once, later runs use the cache
            from _inline import describe_last_compile
            extra = f"kernel {describe_last_compile()}; with compile and pool start-up"
        else:
            extra = "with pool start-up"
        print(f"{n:,} primes in {compute:.3f} s ({extra} {wall:.2f} s)", flush=True)

    ok = len(set(answers.values())) == 1
    if args.limit in KNOWN and any(v != KNOWN[args.limit] for v in answers.values()):
        print(f"MISMATCH: pi({args.limit:,}) is {KNOWN[args.limit]:,}; got {answers}")
        return 1
    if not ok:
        print(f"MISMATCH: {answers}")
        return 1
    if "stdlib" in times:
        print(f"Same answer. Speed-up of dotbridge + C# over stdlib + pure Python: "
              f"{times['stdlib'] / times['dotbridge']:.1f}x")
        if "inline" in times:  # HOOK(inline)
            print(f"Speed-up of dotbridge + inline C# over stdlib + pure Python: "
                  f"{times['stdlib'] / times['inline']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
