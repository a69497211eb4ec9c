"""dotbridge against the stdlib, side by side: one table of medians and ratios.

    .venv/bin/python scripts/bench.py [--quick] [--only NAME[,NAME...]] [--list]

Run through ``scripts/bench`` (which sets everything up first). Each benchmark runs
in its own child process with a time limit, both sides (``stdlib`` and
``dotbridge``) one after the other; a side that fails or times out shows as an
error in the table and the others still run. The table goes to stdout and, as
Markdown, to ``artifacts/bench.md``.

Adding benchmarks: decorate a function ``fn(side, cfg) -> float`` with
:func:`bench` (here, or in a ``scripts/bench_<topic>.py`` module, which is
imported automatically). ``side`` is ``"stdlib"`` or ``"dotbridge"``; ``cfg`` has
``quick`` (bool) and ``repeats``. Return the measured median in the benchmark's
unit. ``ratio`` says how the ratio is formed, ``target`` the goal for it.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@dataclass
class Bench:
    name: str
    section: str
    title: str
    unit: str                  # "µs", "s", "tasks/s", ...
    ratio: str                 # "d/s": dotbridge / stdlib; "s/d": stdlib / dotbridge (speed-up)
    target: tuple[str, float]  # ("<=", 0.5) or (">=", 2.0): the goal for the ratio
    fn: Callable
    timeout: float = 300.0
    sides: tuple = ("stdlib", "dotbridge")
    notes: str = ""


REGISTRY: dict[str, Bench] = {}


def bench(name, *, section, title, unit, ratio, target, timeout=300.0, notes=""):
    """Register ``fn(side, cfg) -> float`` as a benchmark (see the module docstring)."""
    def deco(fn):
        REGISTRY[name] = Bench(name, section, title, unit, ratio, target, fn, timeout, notes=notes)
        return fn
    return deco


# -- helpers ---------------------------------------------------------------------------

def median_of(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def make_pool(side: str, processes: int = 2):
    if side == "stdlib":
        import multiprocessing
        return multiprocessing.Pool(processes)
    import dotbridge
    return dotbridge.Pool(processes)


def per_call_us(call, calls: int, repeats: int, warmup: int = 50) -> float:
    for _ in range(warmup):
        call()

    def one():
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - t0) / calls * 1e6
    return median_of(one, repeats)


def dotnet_program_figures(project: str, args: list, cache_name: str, cfg: dict, env=None) -> dict:
    """The figures a C# bench program prints as its last line (JSON), from
    ``dotnet run -c Release --project tests/<project> -- <args> [--quick]``, run once per
    ``bench.py`` run: the rows of one plugin each run in a child of bench.py and share the
    result through ``artifacts/<cache_name>`` (keyed by bench.py's pid and the mode)."""
    cache = os.path.join(ROOT, "artifacts", cache_name)
    run = os.getppid()  # bench.py's pid: every row runs in a child of it
    try:
        with open(cache, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("run") == run and data.get("quick") == cfg["quick"]:
            return data["figures"]
    except (OSError, ValueError):
        pass
    artifacts = os.environ.get("DOTBRIDGE_ARTIFACTS", os.path.join(ROOT, "artifacts", "dotnet"))
    build = subprocess.run(["dotnet", "build", "-c", "Release", os.path.join(ROOT, "tests", project),
                            "--artifacts-path", artifacts, "-nologo", "-v", "q"],
                           capture_output=True, text=True, timeout=600, env=env)
    if build.returncode != 0:
        raise RuntimeError((build.stdout.strip() or build.stderr.strip() or "build failed").splitlines()[-1])
    # The Python worker package the program's process workers import (Bridge.csproj copies it beside
    # Bridge.dll): byte-compiled, as an installed package is. This machine sets PYTHONDONTWRITEBYTECODE=1,
    # so otherwise every process worker would compile it from source at start-up (about 10 ms more).
    bundled = os.path.join(artifacts, "bin", project, "release", "python")
    if os.path.isdir(bundled):
        subprocess.run([sys.executable, "-m", "compileall", "-q", bundled], capture_output=True, timeout=120)
    cmd = ["dotnet", "run", "--no-build", "-c", "Release", "--project", os.path.join(ROOT, "tests", project),
           "--artifacts-path", artifacts, "-nologo", "-v", "q", "--"] + list(args) + (["--quick"] if cfg["quick"] else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip() or out.stdout.strip() or f"exit {out.returncode}").splitlines()[-1])
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w", encoding="utf-8") as f:
        json.dump({"run": run, "quick": cfg["quick"], "figures": figures}, f)
    return figures


# -- the pool benchmarks (the targets) -------------------------------------------

@bench("apply_py", section="Pool (Python API)", title="`Pool.apply(pow, (2, 5))` round trip, Python task",
       unit="µs", ratio="d/s", target=("<=", 0.5))
def apply_py(side, cfg):
    pool = make_pool(side)
    try:
        return per_call_us(lambda: pool.apply(pow, (2, 5)), 200 if cfg["quick"] else 1000, cfg["repeats"])
    finally:
        pool.terminate()
        pool.join()


@bench("apply_cs", section="Pool (Python API)",
       title="`Pool.apply` round trip, C# task `Echo.Identity` (stdlib: the Python task)",
       unit="µs", ratio="d/s", target=("<=", 0.25))
def apply_cs(side, cfg):
    if side == "stdlib":
        return apply_py(side, cfg)
    import dotbridge
    identity = dotbridge.dotnet.method("Bridge.Samples.Echo.Identity")
    pool = make_pool(side)
    try:
        return per_call_us(lambda: pool.apply(identity, (32,)), 200 if cfg["quick"] else 1000, cfg["repeats"])
    finally:
        pool.terminate()
        pool.join()


def _throughput(side, cfg, n, run) -> float:
    pool = make_pool(side)
    try:
        run(pool, 1000)  # warm up: workers started, code paths hot

        def one():
            t0 = time.perf_counter()
            run(pool, n)
            return n / (time.perf_counter() - t0)
        return median_of(one, cfg["repeats"])
    finally:
        pool.terminate()
        pool.join()


@bench("imap", section="Pool (Python API)", title="`imap(abs, range(20000), chunksize=1)` throughput",
       unit="tasks/s", ratio="d/s", target=(">=", 2.0), notes="--quick: 5,000 tasks")
def imap_bench(side, cfg):
    def run(pool, n):
        total = 0
        for v in pool.imap(abs, range(n), chunksize=1):
            total += v
        assert total == n * (n - 1) // 2
    return _throughput(side, cfg, 5_000 if cfg["quick"] else 20_000, run)


@bench("map", section="Pool (Python API)", title="`map(abs, range(200000))` throughput, default chunksize",
       unit="tasks/s", ratio="d/s", target=(">=", 1.0), notes="--quick: 50,000 tasks")
def map_bench(side, cfg):
    def run(pool, n):
        assert len(pool.map(abs, range(n))) == n
    return _throughput(side, cfg, 50_000 if cfg["quick"] else 200_000, run)


@bench("primes", section="Pool (Python API)",
       title="primes below 10^7 on 2 workers: C# `Primes.Count` vs pure Python (stdlib side: one run)",
       unit="s", ratio="s/d", target=(">=", 20.0), timeout=600.0,
       notes="--quick: below 10^6")  # stdlib side: one run
def primes(side, cfg):
    sys.path.insert(0, HERE)
    import demo
    limit = 1_000_000 if cfg["quick"] else 10_000_000
    work = demo.ranges(limit, 64)
    if side == "stdlib":
        # one run: the pure-Python side is the slow one (~25 s at 10^7)
        n, compute, _ = demo.run_stdlib(work)
        assert n == demo.KNOWN[limit], n
        return compute  # one run (noted in the table)
    times = []
    for _ in range(cfg["repeats"]):
        n, compute, _ = demo.run_dotbridge(work)
        assert n == demo.KNOWN[limit], n
        times.append(compute)
    return statistics.median(times)


_STARTUP = {
    "stdlib": "import multiprocessing\nctx = multiprocessing.get_context('spawn')\nmake = ctx.Pool\n",
    "dotbridge": "import dotbridge\nmake = dotbridge.Pool\n",
}


@bench("startup", section="Pool (Python API)",
       title="`Pool(2)` + one task + close/join, fresh process (stdlib: spawn context)",
       unit="ms", ratio="d/s", target=("<=", 1.0))
def startup(side, cfg):
    code = _STARTUP[side] + (
        "import time\n"
        "if __name__ == '__main__':\n"
        "    t0 = time.perf_counter()\n"
        "    p = make(2)\n"
        "    assert p.apply(pow, (2, 5)) == 32\n"
        "    p.close()\n"
        "    p.join()\n"
        "    print((time.perf_counter() - t0) * 1e3)\n")

    def one():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
        return float(out.stdout.strip().splitlines()[-1])
    return median_of(one, 3 if cfg["quick"] else 7)


# -- running ---------------------------------------------------------------------------

def load_plugins() -> None:
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        importlib.import_module(os.path.splitext(os.path.basename(path))[0])


def run_child(name: str, cfg: dict) -> dict:
    """Both sides of one benchmark in this process; returns {side: value | "error: ..."}."""
    b = REGISTRY[name]
    out = {}
    for side in b.sides:
        try:
            out[side] = b.fn(side, cfg)
        except Exception as e:  # a failing side is reported in the table, not fatal
            out[side] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
    return out


def run_isolated(b: Bench, cfg: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    cmd = [sys.executable, os.path.join(HERE, "bench.py"), "--child", b.name, "--cfg", json.dumps(cfg)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=b.timeout, env=env, start_new_session=True)
    except subprocess.TimeoutExpired:
        return {s: f"error: timed out after {b.timeout:g} s" for s in b.sides}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT "):])
    err = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
    return {s: f"error: {err}"[:200] for s in b.sides}


def fmt_value(v, unit) -> str:
    if isinstance(v, str):
        return v
    if unit == "tasks/s":
        return f"{v:,.0f} {unit}"
    if v >= 100:
        return f"{v:,.0f} {unit}"
    if v >= 10:
        return f"{v:.1f} {unit}"
    return f"{v:.3g} {unit}"


def ratio_of(b: Bench, res: dict):
    s, d = res.get("stdlib"), res.get("dotbridge")
    if not isinstance(s, (int, float)) or not isinstance(d, (int, float)) or s <= 0 or d <= 0:
        return None
    return d / s if b.ratio == "d/s" else s / d


def machine() -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        dn = subprocess.run(["dotnet", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        dn = "?"
    try:
        import dotbridge
        db = dotbridge.__version__
    except ImportError:
        db = "?"
    return [f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, {platform.system()} {platform.release()}",
            f"python: {platform.python_implementation()} {platform.python_version()} ({sys.executable}); "
            f".NET SDK {dn}; dotbridge {db}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="dotbridge vs the stdlib: medians and ratios")
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (about a minute)")
    ap.add_argument("--only", help="comma-separated benchmark names (see --list)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--out", default=os.path.join(ROOT, "artifacts", "bench.md"), help="Markdown output (default: %(default)s)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    load_plugins()

    if args.child:
        res = run_child(args.child, json.loads(args.cfg))
        print("BENCH-RESULT " + json.dumps(res), flush=True)
        return 0
    if args.list:
        for b in REGISTRY.values():
            print(f"{b.name:<12} [{b.section}] {b.title}")
        return 0

    names = list(REGISTRY)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            print(f"unknown benchmark(s): {', '.join(unknown)}; see --list", file=sys.stderr)
            return 2
    cfg = {"quick": args.quick, "repeats": 3 if args.quick else 5}

    head = machine()
    for line in head:
        print(line)
    print(f"mode: {'quick' if args.quick else 'full'}; medians of {cfg['repeats']} runs unless noted\n", flush=True)

    rows = []
    for n in names:
        b = REGISTRY[n]
        t0 = time.monotonic()
        print(f"  running {n} ...", end=" ", flush=True)
        res = run_isolated(b, cfg)
        r = ratio_of(b, res)
        op, goal = b.target
        meets = None if r is None else (r <= goal if op == "<=" else r >= goal)
        rows.append((b, res, r, meets))
        print(f"{time.monotonic() - t0:.1f} s", flush=True)

    table = ["| benchmark | stdlib | dotbridge | ratio | target | meets |",
             "| --- | ---: | ---: | ---: | ---: | :---: |"]
    section = None
    for b, res, r, meets in rows:
        if b.section != section:
            section = b.section
            table.append(f"| **{section}** | | | | | |")
        ratio_txt = "—" if r is None else f"{r:.2f}×" + (" speed-up" if b.ratio == "s/d" else "")
        target_txt = f"{b.target[0].replace('<=', '≤').replace('>=', '≥')} {b.target[1]:g}×"
        meets_txt = {True: "yes", False: "**no**", None: "—"}[meets]
        title = b.title + (f" ({b.notes})" if b.notes and args.quick else "")
        table.append(f"| {title} | {fmt_value(res.get('stdlib'), b.unit)} | {fmt_value(res.get('dotbridge'), b.unit)} "
                     f"| {ratio_txt} | {target_txt} | {meets_txt} |")
    print()
    for line in table:
        print(line)
    print("\nratio: dotbridge / stdlib, except 'speed-up' (stdlib time / dotbridge time).")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("# dotbridge benchmarks\n\n")
        for line in head:
            f.write(f"- {line}\n")
        f.write(f"- mode: {'quick' if args.quick else 'full'} (`scripts/bench{' --quick' if args.quick else ''}`); "
                f"medians of {cfg['repeats']} runs unless noted\n\n")
        f.write("\n".join(table) + "\n\n")
        f.write("ratio: dotbridge / stdlib, except 'speed-up' (stdlib time / dotbridge time).\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
