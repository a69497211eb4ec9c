"""scripts/bench.py plugin (helper "shmbench"): numpy arrays to C#, queues and locks across processes.

Rows (Bridge/SHARED.md "Benchmarks"):

- ``shm_numpy``: a 100 MB float64 numpy array to a C# method that sums it and scales it in
  place (``Bridge.Samples.Arrays.SumAndScale(Memory<double>, double)``, published with the
  worker: a Release build) through ``dotbridge.Pool(1).apply``; the array is a *plain* numpy
  array, so it takes the automatic path (copied into a fresh segment, ext 3, copied back).
  Against the stdlib's spawn ``Pool(1).apply`` of the same array to a Python worker that sums
  it, scales it and returns it (pickled both ways, so the caller gets the writes too).
  Target: at least 10x faster.
- ``shm_numpy_ref``: the same with the array already in shared memory
  (``dotbridge.shared_memory.ndarray``: no copy at all).
- ``queue_rt``: ``put`` then ``get`` of a small item through an echo process (two queues):
  ``dotbridge.Queue`` against ``multiprocessing.Queue``. Target: within 1.5x.
- ``lock_2p``: two processes acquire+release one lock at once (contended); the slower
  process's time per pair. ``dotbridge.Lock`` against ``multiprocessing.Lock``. Target:
  within 1.5x.

Both sides run in this one process (bench.py starts one per benchmark), set up once and
measured in alternation (the machine is shared and its load changes within seconds); child
processes use the spawn start method on both sides.
"""

from __future__ import annotations

import statistics
import sys
import time

# register with the running bench.py (it is __main__ when run as a script), not with a second copy of it
_host = sys.modules.get("__main__")
if not hasattr(_host, "REGISTRY"):
    import bench as _host
bench = _host.bench

SECTION = "Shared memory, queues and locks across processes"


# -- interleaving ----------------------------------------------------------------------------
# The machine is shared: load comes and goes within seconds. Each row measures both sides in
# alternation on the stdlib side's call (setups made once, repeats interleaved), returns the
# stdlib median and keeps the dotbridge median for the dotbridge side's call (as bench_inline does).

_state: dict = {}


def _interleaved(name: str, side: str, cfg: dict, setup) -> float:
    if side == "dotbridge" and name in _state:
        return _state.pop(name)
    runs = {s: setup(s, cfg) for s in ("stdlib", "dotbridge")}  # side -> (one() -> value, close())
    times: dict = {"stdlib": [], "dotbridge": []}
    try:
        for i in range(cfg["repeats"]):
            for s in (("stdlib", "dotbridge") if i % 2 == 0 else ("dotbridge", "stdlib")):
                times[s].append(runs[s][0]())
    finally:
        for one, close in runs.values():
            close()
    _state[name] = statistics.median(times["dotbridge"])
    return statistics.median(times["stdlib"]) if side == "stdlib" else _state.pop(name)


# -- numpy arrays to a C# method -----------------------------------------------------------

def py_sum_and_scale(arr, factor):
    """The stdlib side's task: sum, scale in place, and send the array back (the caller sees the writes)."""
    s = float(arr.sum())
    arr *= factor
    return s, arr


def _warm(_):
    return None


def _numpy_setup(in_shm: bool):
    def setup(side: str, cfg: dict):
        import numpy as np
        n = (20 if cfg["quick"] else 100) * 1024 * 1024 // 8
        box = {"i": 0}
        if side == "stdlib":
            import multiprocessing
            pool = multiprocessing.get_context("spawn").Pool(1)
            pool.apply(_warm, (None,))
            box["arr"] = np.ones(n)

            def one():
                t0 = time.perf_counter()
                s, box["arr"] = pool.apply(py_sum_and_scale, (box["arr"], 2.0))
                dt = time.perf_counter() - t0
                assert s == n * 2.0 ** box["i"] and box["arr"][0] == 2.0 ** (box["i"] + 1), s
                box["i"] += 1
                return dt
        else:
            import dotbridge
            from dotbridge import shared_memory
            sum_and_scale = dotbridge.dotnet.method("Bridge.Samples.Arrays.SumAndScale")
            if in_shm:
                arr = shared_memory.ndarray(n, "float64")
                arr[:] = 1.0
            else:
                arr = np.ones(n)
            pool = dotbridge.Pool(1)
            pool.apply(sum_and_scale, (np.ones(n // 64), 1.0))  # start the .NET worker, JIT the loop

            def one():
                t0 = time.perf_counter()
                s = pool.apply(sum_and_scale, (arr, 2.0))
                dt = time.perf_counter() - t0
                assert s == n * 2.0 ** box["i"] and arr[0] == 2.0 ** (box["i"] + 1) and arr[-1] == arr[0], s
                box["i"] += 1
                return dt

        def close():
            pool.terminate()
            pool.join()
        return one, close
    return setup


@bench("shm_numpy", section=SECTION,
       title="100 MB float64 numpy array (plain) to a C# method that sums it and scales it in place "
             "(`Arrays.SumAndScale`, `Pool.apply`) vs the stdlib's `Pool.apply` of it to a Python worker "
             "(interleaved runs)",
       unit="s", ratio="s/d", target=(">=", 10.0), timeout=600.0, notes="--quick: 20 MB")
def shm_numpy(side, cfg):
    return _interleaved("shm_numpy", side, cfg, _numpy_setup(in_shm=False))


@bench("shm_numpy_ref", section=SECTION,
       title="the same, the array already in shared memory (`dotbridge.shared_memory.ndarray`)",
       unit="s", ratio="s/d", target=(">=", 10.0), timeout=600.0, notes="--quick: 20 MB")
def shm_numpy_ref(side, cfg):
    return _interleaved("shm_numpy_ref", side, cfg, _numpy_setup(in_shm=True))


# -- queues --------------------------------------------------------------------------------

def queue_echo(qin, qout):
    """The other process: send back whatever arrives, until None."""
    while True:
        item = qin.get()
        qout.put(item)
        if item is None:
            return


def _ctx(side: str):
    import multiprocessing
    if side == "stdlib":
        return multiprocessing.get_context("spawn")
    import dotbridge
    return dotbridge.get_context()  # dotbridge's Queue/Lock/...; Process is the stdlib's spawn one


def _queue_setup(side: str, cfg: dict):
    ctx = _ctx(side)
    qin, qout = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=queue_echo, args=(qin, qout), daemon=True)
    p.start()
    item = (1, "x", 2.5)
    qin.put(item)
    assert qout.get(timeout=60) == item  # the echo process is up
    calls = 2_000 if cfg["quick"] else 10_000
    for _ in range(200):
        qin.put(item)
        qout.get(timeout=60)

    def one():
        t0 = time.perf_counter()
        for _ in range(calls):
            qin.put(item)
            qout.get(timeout=60)
        return (time.perf_counter() - t0) / calls * 1e6

    def close():
        qin.put(None)
        qout.get(timeout=60)
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join(5)
    return one, close


@bench("queue_rt", section=SECTION,
       title="`Queue` put + get round trip through an echo process (two queues, a small tuple; interleaved runs)",
       unit="µs", ratio="d/s", target=("<=", 1.5), timeout=300.0, notes="--quick: 2,000 round trips")
def queue_rt(side, cfg):
    return _interleaved("queue_rt", side, cfg, _queue_setup)


# -- locks ---------------------------------------------------------------------------------

def lock_hammer(lock, n, start, result=None):
    """Acquire+release ``lock`` ``n`` times once ``start`` is set; microseconds (also into ``result``)."""
    if not start.wait(60):
        raise RuntimeError("start event not set")
    t0 = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    us = (time.perf_counter() - t0) * 1e6
    if result is not None:
        result.value = us
    return us


def _lock_setup(side: str, cfg: dict):
    ctx = _ctx(side)
    n = 100_000 if cfg["quick"] else 500_000
    lock = ctx.Lock()

    def one():
        start, result = ctx.Event(), ctx.RawValue("d", 0.0)
        p = ctx.Process(target=lock_hammer, args=(lock, n, start, result), daemon=True)
        p.start()
        time.sleep(0.3)  # let the child import and wait on the event
        start.set()
        mine = lock_hammer(lock, n, start)
        p.join(120)
        if p.exitcode != 0:
            raise RuntimeError(f"the other process failed (exit code {p.exitcode})")
        return max(mine, result.value) / n
    return one, lambda: None


@bench("lock_2p", section=SECTION,
       title="`Lock` acquire + release, two processes hammering one lock at once "
             "(the slower one's time per pair; interleaved runs)",
       unit="µs", ratio="d/s", target=("<=", 1.5), timeout=300.0, notes="--quick: 100,000 pairs")
def lock_2p(side, cfg):
    return _interleaved("lock_2p", side, cfg, _lock_setup)
