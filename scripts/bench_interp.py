"""scripts/bench.py plugin (helper "interp"): interpreter workers from Python (``Pool(workers="interpreters")``).

They need CPython 3.12+, so each figure runs ``scripts/_interp_bench.py`` under ``.venv-3.13`` (or
``.venv-3.12``; made by ``scripts/_env.sh`` ``ensure_interp_venv`` from pyenv); without one the rows say
so. Here the table's left ("stdlib") column is the baseline named in the title:

- ``interp_par``: a CPU-bound pure-Python function over 8 inputs, 1 interpreter worker (left) vs 2
  (right): the speed-up shows each sub-interpreter has its own GIL. Target ≥ 1.7× on 2 cores.
- ``interp_apply``: ``Pool.apply`` round trip, process workers (left) vs interpreter workers (right),
  same Python. Target ≤ 1. The two sides run interleaved (processes, interpreters, processes, ...;
  ``repeats`` pairs, the median of each side): on this shared 2-core machine the round trip moves
  2-3x within a minute with the other load, which one run per side would put into the ratio.
- ``interp_start``: ``Pool(2)`` + one task + close/join, process workers (left) vs interpreter
  workers (right), same Python. Target ≤ 1.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

_host = sys.modules.get("__main__")
if not hasattr(_host, "REGISTRY"):
    import bench as _host
bench = _host.bench

HERE = os.path.dirname(os.path.abspath(__file__))
_py: list = []


def _python() -> str:
    if not _py:
        out = subprocess.run(["bash", "-c", f"source {HERE}/_env.sh >/dev/null 2>&1; ensure_interp_venv"],
                             capture_output=True, text=True, timeout=300)
        path = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        if out.returncode != 0 or not os.path.exists(path):
            raise RuntimeError("no CPython 3.12+ under pyenv: interpreter workers cannot run here")
        _py.append(path)
    return _py[0]


def _one(name: str, side: str, cfg: dict) -> float:
    cmd = [_python(), os.path.join(HERE, "_interp_bench.py"), "--one", name, side]
    if cfg.get("quick"):
        cmd.append("--quick")
    # bytecode caching on (this machine sets PYTHONDONTWRITEBYTECODE), into artifacts/: start-up is then
    # what a user sees, not CPython compiling msgpack's pure-Python fallback in every interpreter
    env = dict(os.environ, PYTHONPYCACHEPREFIX=os.path.join(os.path.dirname(HERE), "artifacts", "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1])
    return float(out.stdout.strip().splitlines()[-1])


@bench("interp_par", section="Interpreter workers from Python (Pool(workers=\"interpreters\"), CPython 3.12+)",
       title="CPU-bound pure-Python function over 8 inputs: 1 interpreter worker (left) vs 2 (right)",
       unit="s", ratio="s/d", target=(">=", 1.7), timeout=600)
def interp_par(side, cfg):
    return _one("par", "1" if side == "stdlib" else "2", cfg)


_paired_cache: dict = {}


def _paired(name: str, left: str, right: str, side: str, cfg: dict) -> float:
    """Both sides of ``name`` measured interleaved, ``cfg["repeats"]`` pairs; this side's median."""
    key = (name, left, right)
    if key not in _paired_cache:
        got: dict = {left: [], right: []}
        for _ in range(cfg["repeats"]):
            for s in (left, right):
                got[s].append(_one(name, s, cfg))
        _paired_cache[key] = {s: statistics.median(v) for s, v in got.items()}
    return _paired_cache[key][left if side == "stdlib" else right]


@bench("interp_apply", section="Interpreter workers from Python (Pool(workers=\"interpreters\"), CPython 3.12+)",
       title="`Pool.apply(pow, (2, 5))` round trip: process workers (left) vs interpreter workers (right)",
       unit="µs", ratio="d/s", target=("<=", 1.0), timeout=600)
def interp_apply(side, cfg):
    return _paired("apply", "processes", "interpreters", side, cfg)


@bench("interp_start", section="Interpreter workers from Python (Pool(workers=\"interpreters\"), CPython 3.12+)",
       title="`Pool(2)` + one task + close/join: process workers (left) vs interpreter workers (right)",
       unit="ms", ratio="d/s", target=("<=", 1.0), timeout=600)
def interp_start(side, cfg):
    return _one("start", "processes" if side == "stdlib" else "interpreters", cfg)
