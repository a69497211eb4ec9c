"""scripts/bench.py plugin: the C# direction (C# calls Python), from the C# sample's ``--bench``.

The sample (``tests/CSharpSample``, run with the venv's Python as the workers' Python) is run
once per ``bench.py`` run; its last line is JSON with the figures. Rows (issue 3's targets):

- ``cs_apply``: ``ProcessPool.ApplyAsync`` round trip of a trivial Python function from C#
  (right) against the stdlib's ``Pool.apply`` of a trivial task from Python (left): ≤ 1×.
- ``cs_cpu``: a CPU-bound pure-Python function over 48 inputs from C#: 1 worker (left)
  against 2 workers (right), speed-up ≥ 1.8×.
- ``cs_inproc``: the same work called in-process one at a time through ``Bridge.Interop``
  (left) against 2 workers (right), speed-up ≥ 1.7×.
- ``cs_call``: one in-process call of ``def inc(x): return x + 1`` through a typed
  ``Func<long, long>`` (right) against the 0.25 µs budget (left): ≤ 1×.
"""

from __future__ import annotations

import os
import sys

_host = sys.modules.get("__main__")
if not hasattr(_host, "REGISTRY"):
    import bench as _host
bench = _host.bench

_SECTION = "C# calls Python (Bridge.ProcessPool, Bridge.Interop)"


def _figures(cfg) -> dict:
    return _host.dotnet_program_figures("CSharpSample", ["--bench"], "csharp-sample-bench.json", cfg,
                                        env=dict(os.environ, DOTBRIDGE_PYTHON=sys.executable))


@bench("cs_apply", section=_SECTION,
       title="`ApplyAsync` round trip from C#, trivial Python function (stdlib: `Pool.apply` from Python)",
       unit="µs", ratio="d/s", target=("<=", 1.0), timeout=900)
def cs_apply(side, cfg):
    if side == "stdlib":
        return _host.apply_py(side, cfg)
    return _figures(cfg)["apply_python_median_us"]


@bench("cs_cpu", section=_SECTION,
       title="CPU-bound pure-Python function over 48 inputs from C#: 1 worker (left) vs 2 workers (right)",
       unit="s", ratio="s/d", target=(">=", 1.8), timeout=900)
def cs_cpu(side, cfg):
    f = _figures(cfg)
    return f["cpu_map_1_worker_s"] if side == "stdlib" else f["cpu_map_2_workers_s"]


@bench("cs_inproc", section=_SECTION,
       title="the same in-process, one call at a time, via Bridge.Interop (left) vs 2 workers (right)",
       unit="s", ratio="s/d", target=(">=", 1.7), timeout=900)
def cs_inproc(side, cfg):
    f = _figures(cfg)
    return f["cpu_inprocess_s"] if side == "stdlib" else f["cpu_map_2_workers_s"]


@bench("cs_call", section=_SECTION,
       title="in-process call of `inc(x)` through a typed `Func<long, long>` (right) vs the 0.25 µs budget (left)",
       unit="ns", ratio="d/s", target=("<=", 1.0), timeout=900)
def cs_call(side, cfg):
    return 250.0 if side == "stdlib" else _figures(cfg)["inprocess_call_ns"]
