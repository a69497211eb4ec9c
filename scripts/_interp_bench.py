"""Figures for interpreter workers from Python (helper "interp"); run under CPython 3.12+ (.venv-3.13).

    .venv-3.13/bin/python scripts/_interp_bench.py [--quick]          # all figures, one line each
    .venv-3.13/bin/python scripts/_interp_bench.py --one NAME SIDE    # one number (scripts/bench_interp.py)

NAME/SIDE: ``par`` 1|2 (seconds for a CPU-bound pure-Python function over 8 inputs on 1 or 2 interpreter
workers), ``apply`` processes|interpreters (``Pool.apply`` round trip, µs), ``start`` processes|interpreters
(``Pool(2)`` + one task + close/join, ms).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))

import dotbridge  # noqa: E402


def spin(n):
    t = 0
    for i in range(n):
        t += i
    return t


def _all_ready(p, n: int) -> None:
    """Wait until all n workers said HELLO (a map right after start-up could otherwise all go to the first)."""
    end = time.monotonic() + 60
    while sum(1 for w in p._native.workers("python") if w["ready"]) < n:
        if time.monotonic() > end:
            raise TimeoutError("workers did not start")
        time.sleep(0.01)


def par(side: str, quick: bool) -> float:
    n = 1_000_000 if quick else 3_000_000
    with dotbridge.Pool(int(side), workers="interpreters") as p:
        _all_ready(p, int(side))
        p.map(spin, [n // 100] * 8, chunksize=1)  # warm, and the pool's prefetch learns these are long tasks
        times = []
        for _ in range(3 if quick else 5):
            t0 = time.perf_counter()
            p.map(spin, [n] * 8, chunksize=1)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def apply(side: str, quick: bool) -> float:
    with dotbridge.Pool(1, workers=side) as p:
        p.apply(pow, (2, 5))
        k = 500 if quick else 2000
        t0 = time.perf_counter()
        for _ in range(k):
            p.apply(pow, (2, 5))
        return (time.perf_counter() - t0) / k * 1e6


def start(side: str, quick: bool) -> float:
    times = []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        p = dotbridge.Pool(2, workers=side)
        p.apply(pow, (2, 5))
        p.close()
        p.join()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


FIGURES = {"par": par, "apply": apply, "start": start}


def main(argv) -> int:
    quick = "--quick" in argv
    if "--one" in argv:
        i = argv.index("--one")
        print(FIGURES[argv[i + 1]](argv[i + 2], quick))
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    one, two = par("1", quick), par("2", quick)
    print(f"CPU-bound x8: 1 interpreter {one:.3f} s, 2 interpreters {two:.3f} s: {one / two:.2f}x")
    pa, ia = apply("processes", quick), apply("interpreters", quick)
    print(f"Pool.apply round trip: process workers {pa:.1f} us, interpreter workers {ia:.1f} us")
    ps, is_ = start("processes", quick), start("interpreters", quick)
    print(f"Pool(2) + one task + close/join: process workers {ps:.1f} ms, interpreter workers {is_:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
