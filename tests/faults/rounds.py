"""Fault rounds shared by tests/python/test_faults.py and scripts/faults.py.

Every round returns a dict of counts: faults, ended (tasks with a result or a clear
error), lost (tasks that never ended / wrong or duplicated results), hangs, leftovers.
Everything is bounded by timeouts and seeded (random.Random(seed)).
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import dotbridge  # noqa: E402
import fault_tasks  # noqa: E402

T = 30.0  # bound of any single wait
PRIMES = "Bridge.Samples.Primes.CountRange"


def _children(pid=None):
    pid = os.getpid() if pid is None else pid
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                rest = f.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(rest[1]) == pid and rest[0] != "Z":
            out.append(int(name))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _killer(rng, pids_fn, stop, counter, delay=(0.02, 0.15), max_kills=2):
    def run():
        for _ in range(max_kills):
            if stop.wait(rng.uniform(*delay)):
                return
            pids = pids_fn()
            if pids:
                try:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    counter[0] += 1
                except ProcessLookupError:
                    pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _worker_pids(pool, kind):
    try:
        return [d["pid"] for d in pool._native.workers(kind) if d.get("pid")]
    except Exception:  # pool already gone
        return []


def kill_round(kind: str, api: str, seed: int, n: int = 24) -> dict:
    """SIGKILL workers of ``kind`` ("python"/"dotnet") during ``api``; check every task ends."""
    rng = random.Random(seed)
    if kind == "python":
        func, args, expect = fault_tasks.slow_square, list(range(n)), [i * i for i in range(n)]
        call = lambda a: a  # noqa: E731
    else:
        func = dotbridge.dotnet.method(PRIMES)
        args = [[0, 400000 + i] for i in range(n)]
        expect = None
        call = lambda a: a  # noqa: E731
    res = {"faults": 0, "tasks": n, "ended": 0, "lost": 0, "hangs": 0, "errors": 0}
    counter = [0]
    stop = threading.Event()
    pool = dotbridge.Pool(2)
    try:
        if expect is None:  # reference results from an undisturbed run
            expect = pool.map(func, args, chunksize=1)
        _killer(rng, lambda: _worker_pids(pool, kind), stop, counter)
        outcomes = {}
        deadline = time.monotonic() + T
        if api == "map":
            try:
                r = pool.map_async(func, args, chunksize=1)
                vals = r.get(T)
                for i, v in enumerate(vals):
                    outcomes[i] = ("ok", v)
            except TimeoutErrorTypes:
                res["hangs"] += 1
            except Exception as e:  # a clear error ends every task of the map
                for i in range(n):
                    outcomes[i] = ("err", e)
        elif api == "imap":
            it = pool.imap(func, args)
            for i in range(n):
                try:
                    outcomes[i] = ("ok", it.next(max(0.1, deadline - time.monotonic())))
                except TimeoutErrorTypes:
                    res["hangs"] += 1
                    break
                except StopIteration:
                    break
                except Exception as e:  # that task's clear error
                    outcomes[i] = ("err", e)
        elif api in ("apply_async", "submit"):
            if api == "apply_async":
                handles = [pool.apply_async(func, (a,)) for a in args]
                get = lambda h, t: h.get(t)  # noqa: E731
            else:
                from dotbridge.futures import ProcessPoolExecutor
                ex = ProcessPoolExecutor(2)
                try:
                    handles = [ex.submit(func, a) for a in args]
                    _killer(rng, lambda: _executor_pids(ex, kind), stop, counter)
                    for i, h in enumerate(handles):
                        try:
                            outcomes[i] = ("ok", h.result(max(0.1, deadline - time.monotonic())))
                        except TimeoutErrorTypes:
                            res["hangs"] += 1
                        except Exception as e:  # clear error for that task
                            outcomes[i] = ("err", e)
                    # the executor may be broken by a crash (as the stdlib's); a new one must work
                finally:
                    ex.shutdown(wait=True, cancel_futures=True)
                handles = []
                get = None
            for i, h in enumerate(handles):
                try:
                    outcomes[i] = ("ok", get(h, max(0.1, deadline - time.monotonic())))
                except TimeoutErrorTypes:
                    res["hangs"] += 1
                except Exception as e:  # clear error for that task
                    outcomes[i] = ("err", e)
        stop.set()
        for i in range(n):
            o = outcomes.get(i)
            if o is None:
                res["lost"] += 1
            elif o[0] == "ok" and o[1] != expect[i]:
                res["lost"] += 1  # a wrong (e.g. another task's) result
            else:
                res["ended"] += 1
                res["errors"] += o[0] == "err"
        # the pool keeps serving
        after = pool.apply(func, (args[1],))
        if after != expect[1]:
            res["lost"] += 1
    finally:
        stop.set()
        res["faults"] = counter[0]
        pool.terminate()
        pool.join()
    return res


def _executor_pids(ex, kind):
    pool = getattr(ex, "_pool", None)
    native = getattr(pool, "_native", None) or getattr(ex, "_native", None)
    try:
        return [d["pid"] for d in native.workers(kind) if d.get("pid")]
    except Exception:  # executor not started / gone
        return []


import concurrent.futures  # noqa: E402
import multiprocessing  # noqa: E402

TimeoutErrorTypes = (TimeoutError, concurrent.futures.TimeoutError, multiprocessing.TimeoutError)
