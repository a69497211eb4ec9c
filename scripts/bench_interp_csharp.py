"""scripts/bench.py plugin: interpreter workers from C# (``Bridge.InterpreterPool``, sub-interpreters with their own GIL).

(``scripts/bench_interp.py`` has the same workers driven from Python, ``Pool(workers="interpreters")``.)

``tests/InterpreterBench`` runs once per ``bench.py`` run (interpreter workers and the in-process
interpreter on pyenv's Python 3.13, else 3.12, or ``$DOTBRIDGE_INTERP_LIBPYTHON``; process workers on
this Python, the venv's); its last line is JSON with the figures. Without a Python 3.12+ shared
library every row says "skipped: no Python 3.12+". Rows (issue 7's targets):

- ``cs_interp_cpu``: a CPU-bound pure-Python function over 24 inputs: one in-process interpreter, one
  call at a time (left) against 2 interpreter workers (right): speed-up >= 1.7x.
- ``cs_interp_cpu_proc``: the same on 2 process workers (left) against 2 interpreter workers (right).
  No issue target (0.5x is a floor): the two run different CPython builds (see the row's note).
- ``cs_interp_start``: start-up of one worker: a pool of one worker until its first result is back,
  process worker (left) against a cold interpreter worker (right, a new sub-interpreter): <= 0.2x.
- ``cs_interp_start_spare``: the same, the interpreter pool as configured by default: it adopts the
  spare interpreter that the previous pool left behind (``InterpreterPoolOptions.UseSpare``).
- ``cs_interp_start_mod``, ``cs_interp_start_mod_spare``: the same with a first task from a user module
  that imports os (which ``site`` imported before and a cold interpreter worker imports on first use).
- ``cs_interp_start2``, ``cs_interp_start2_spare``: the same per worker for pools of 2 (by default after a pool of 2, which leaves two spares; until both
  workers have run a task, / 2).
- ``cs_interp_task``: per-task round trip, sequential ``ApplyAsync`` of ``builtins.abs`` on 2 workers:
  process workers (left) against interpreter workers (right): <= 1x.
"""

from __future__ import annotations

import sys

_host = sys.modules.get("__main__")
if not hasattr(_host, "REGISTRY"):
    import bench as _host
bench = _host.bench

_SECTION = "Interpreter workers from C# (Bridge.InterpreterPool, Python 3.12+)"
_SKIPPED = "skipped: no Python 3.12+"


def _figures(cfg) -> dict:
    return _host.dotnet_program_figures("InterpreterBench", ["--python", sys.executable],
                                        "interp-csharp-bench.json", cfg)


def _pick(cfg, key):
    f = _figures(cfg)
    return _SKIPPED if "skipped" in f else f[key]


@bench("cs_interp_cpu", section=_SECTION,
       title="CPU-bound pure-Python function over 24 inputs: 1 in-process interpreter (left) vs 2 interpreter workers (right)",
       unit="s", ratio="s/d", target=(">=", 1.7), timeout=900, notes="--quick: 8 inputs")
def cs_interp_cpu(side, cfg):
    return _pick(cfg, "cpu_inprocess_s" if side == "stdlib" else "cpu_2_interpreters_s")


@bench("cs_interp_cpu_proc", section=_SECTION,
       title="the same on 2 process workers (left) vs 2 interpreter workers (right); no issue target: "
             "process workers run the venv's Python (Debian 3.11), interpreters pyenv's 3.13",
       unit="s", ratio="s/d", target=(">=", 0.5), timeout=900)
def cs_interp_cpu_proc(side, cfg):
    return _pick(cfg, "cpu_2_processes_s" if side == "stdlib" else "cpu_2_interpreters_s")


@bench("cs_interp_start", section=_SECTION,
       title="start-up of one worker (pool of 1 until its first result): process worker (left) vs interpreter worker, "
             "cold: a new sub-interpreter (`UseSpare = false`) (right)",
       unit="ms", ratio="d/s", target=("<=", 0.2), timeout=900)
def cs_interp_start(side, cfg):
    return _pick(cfg, "startup_process_ms" if side == "stdlib" else "startup_interpreter_cold_ms")


@bench("cs_interp_start_spare", section=_SECTION,
       title="the same, interpreter worker by default: the pool adopts the spare interpreter the previous pool left (right)",
       unit="ms", ratio="d/s", target=("<=", 0.2), timeout=900)
def cs_interp_start_spare(side, cfg):
    return _pick(cfg, "startup_process_ms" if side == "stdlib" else "startup_interpreter_ms")


@bench("cs_interp_start_mod", section=_SECTION,
       title="start-up of one worker, first task from a user module that imports os (a process worker has os already): "
             "process (left) vs interpreter, cold (right)",
       unit="ms", ratio="d/s", target=("<=", 0.2), timeout=900)
def cs_interp_start_mod(side, cfg):
    return _pick(cfg, "startup_module_process_ms" if side == "stdlib" else "startup_module_interpreter_cold_ms")


@bench("cs_interp_start_mod_spare", section=_SECTION,
       title="the same, interpreter worker by default (adopts the spare, which imported os in the background) (right)",
       unit="ms", ratio="d/s", target=("<=", 0.2), timeout=900)
def cs_interp_start_mod_spare(side, cfg):
    return _pick(cfg, "startup_module_process_ms" if side == "stdlib" else "startup_module_interpreter_ms")


@bench("cs_interp_start2", section=_SECTION,
       title="start-up per worker, pools of 2 (until both workers have run a task, / 2): process (left) vs interpreter, cold (right)",
       unit="ms", ratio="d/s", target=("<=", 0.2), timeout=900)
def cs_interp_start2(side, cfg):
    return _pick(cfg, "startup2_process_ms_per_worker" if side == "stdlib" else "startup2_interpreter_cold_ms_per_worker")


@bench("cs_interp_start2_spare", section=_SECTION,
       title="the same, interpreter workers by default (after a pool of 2: both adopt the spares it left) (right)",
       unit="ms", ratio="d/s", target=("<=", 0.2), timeout=900)
def cs_interp_start2_spare(side, cfg):
    return _pick(cfg, "startup2_process_ms_per_worker" if side == "stdlib" else "startup2_interpreter_ms_per_worker")


@bench("cs_interp_task", section=_SECTION,
       title="per-task round trip, sequential `ApplyAsync` of `builtins.abs` on 2 workers: process (left) vs interpreter (right)",
       unit="µs", ratio="d/s", target=("<=", 1.0), timeout=900)
def cs_interp_task(side, cfg):
    return _pick(cfg, "per_task_process_us" if side == "stdlib" else "per_task_interpreter_us")
