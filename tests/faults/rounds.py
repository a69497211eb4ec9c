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
        killers = [_killer(rng, lambda: _worker_pids(pool, kind), stop, counter)]
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
                    killers.append(_killer(rng, lambda: _executor_pids(ex, kind), stop, counter))
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
        for k in killers:  # a kill already under way must land before "the pool keeps serving" is checked
            k.join(5)
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


# -- the parent dies -------------------------------------------------------------------

_PARENT = r"""
import json, sys, time
sys.path.insert(0, %(faults)r)
import dotbridge, fault_tasks
from dotbridge import shared_memory
pool = dotbridge.Pool(2)
pool.apply(fault_tasks.pid)
pool.apply(dotbridge.dotnet.method("Bridge.Samples.Primes.IsPrime"), (7,))
seg = shared_memory.SharedMemory(create=True, size=4096)
lock = dotbridge.Lock()
mgr = dotbridge.Manager()  # its server process must go too
shared = mgr.dict(a=1)
res = pool.map_async(fault_tasks.slow_square, range(10000), chunksize=1)
pids = [d["pid"] for k in ("python", "dotnet") for d in pool._native.workers(k)] + [mgr._process.pid]
print(json.dumps({"pids": pids, "shm": seg.name}), flush=True)
time.sleep(60)
"""


def _shm_and_sems():
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def parent_kill_round(seed: int) -> dict:
    """SIGKILL a Python parent with a busy pool and a Manager; its workers and the manager
    process must exit within 2 s, its
    segments and semaphores must be gone."""
    import select
    before_shm = _shm_and_sems()
    p = subprocess.Popen([sys.executable, "-c", _PARENT % {"faults": HERE}], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL,  # its resource tracker reports the reclaimed segment
                         env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "python")))
    res = {"faults": 0, "left_processes": 0, "left_segments": 0, "hangs": 0, "pids": 0}
    try:
        r, _, _ = select.select([p.stdout], [], [], T)
        if not r:
            res["hangs"] += 1
            return res
        info = json.loads(p.stdout.readline())
        time.sleep(random.Random(seed).uniform(0.0, 0.2))
        # every process the parent started: workers, resource tracker, their children
        family = set(info["pids"])
        frontier = [p.pid]
        while frontier:
            kids = [k for q in frontier for k in _children(q) if k not in family]
            family.update(kids)
            frontier = kids
        p.kill()
        res["faults"] += 1
        p.wait(T)
        pids = sorted(family)
        res["pids"] = len(pids)
        end = time.monotonic() + 2.0
        while time.monotonic() < end and any(alive(q) for q in pids):
            time.sleep(0.02)
        left = [q for q in pids if alive(q)]
        res["left_processes"] = len(left)
        for q in left:  # clean up what the pool failed to
            try:
                os.kill(q, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        # only what this parent made counts (other test runs may share /dev/shm): its segment
        # and any new POSIX semaphore
        new = {n for n in _shm_and_sems() - before_shm
               if n == info["shm"].lstrip("/") or n.startswith("sem.")}
        res["left_segments"] = len(new)
        res["left_names"] = sorted(new)
        for name in new:  # do not leave them to the next run
            if name.startswith(("psm_", "db", "sem.")) or info["shm"].lstrip("/") in name:
                try:
                    os.unlink(os.path.join("/dev/shm", name))
                except OSError:
                    pass
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(T)
    return res


# -- bad frames ------------------------------------------------------------------------

def _vectors():
    with open(os.path.join(REPO, "tests", "vectors", "frames.json")) as f:
        return [bytes.fromhex(v["hex"]) for v in json.load(f) if "hex" in v]


def mutate(rng, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0 and b:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 1 and len(b) > 4:  # truncate the body (and maybe fix the header)
        b = b[:rng.randrange(4, len(b))]
        if rng.random() < 0.5:
            b[0:4] = struct.pack(">I", max(1, len(b) - 4))
    elif op == 2:  # append garbage, fix the header
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        b[0:4] = struct.pack(">I", len(b) - 4)
    elif op == 3:  # huge or zero length
        b[0:4] = struct.pack(">I", rng.choice([0, 0xFFFFFFFF, 1 << 31, (1 << 30) + 1]))
    elif op == 4:  # pure random frame
        body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        b = bytearray(struct.pack(">I", len(body)) + body)
    else:  # containers claiming huge sizes
        body = rng.choice([b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xf0a",
                           b"\xc6\xff\xff\xff\xf0", b"\x91" * 200 + b"\x01"])
        b = bytearray(struct.pack(">I", len(body)) + body)
    return bytes(b)


def fuzz_python_decoder(seed: int, count: int = 3000) -> dict:
    """Feed random and mutated frames to dotbridge._frames.FrameReader: every outcome is a
    decoded frame, a ProtocolError, or 'needs more bytes' - never another exception."""
    from dotbridge import _frames
    rng = random.Random(seed)
    vecs = _vectors()
    res = {"bad_frames": 0, "protocol_errors": 0, "decoded": 0, "incomplete": 0, "crashes": 0, "crash_examples": []}
    for _ in range(count):
        data = mutate(rng, rng.choice(vecs))
        res["bad_frames"] += 1
        reader = _frames.FrameReader(max_frame_bytes=1 << 20)
        reader.feed(data)
        try:
            got = list(reader.frames())
            if got:
                for fr in got:
                    _frames.check_depth(fr)
                res["decoded"] += 1
            else:
                res["incomplete"] += 1
        except _frames.ProtocolError:
            res["protocol_errors"] += 1
        except Exception as e:  # anything else is a decoder bug: record it
            res["crashes"] += 1
            if len(res["crash_examples"]) < 5:
                res["crash_examples"].append((data.hex(), repr(e)))
    return res


_FAKE = """#!/bin/sh
# stands in for the Python worker: worker 1 says HELLO, takes its task, answers garbage;
# the others are real workers
if [ "$DOTBRIDGE_WORKER_ID" = "1" ]; then
  exec %(py)s -c 'import os, struct, time, fcntl
body = bytes([0x94, 1, 1, 0xa6]) + b"python" + bytes([0xce]) + struct.pack(">I", os.getpid())
os.write(4, struct.pack(">I", len(body)) + body)
time.sleep(1.0)
os.set_blocking(3, False)
try:
    os.read(3, 1 << 20)
except BlockingIOError:
    pass
os.write(4, bytes.fromhex("00000006c1c1c1c1c1c1"))
time.sleep(5)'
fi
exec %(py)s "$@"
"""


def fake_worker_round(tmpdir: str) -> dict:
    """A worker that sends garbage: its in-flight task fails with a protocol error, the pool goes on."""
    import multiprocessing.spawn as spawn
    path = os.path.join(tmpdir, "fake-python")
    with open(path, "w") as f:
        f.write(_FAKE % {"py": sys.executable})
    os.chmod(path, 0o700)
    old = spawn.get_executable()
    spawn.set_executable(path)
    res = {"bad_frames": 1, "protocol_error": 0, "ended": 0, "lost": 0, "hangs": 0, "error": ""}
    try:
        pool = dotbridge.Pool(1)
    finally:
        spawn.set_executable(old)
    try:
        try:
            pool.apply_async(fault_tasks.identity, (1,)).get(T)
            res["lost"] += 1  # a result from the garbage worker cannot be right
        except TimeoutErrorTypes:
            res["hangs"] += 1
        except Exception as e:  # the clear error expected
            res["ended"] += 1
            res["error"] = f"{type(e).__name__}: {e}"
            res["protocol_error"] = int("protocol" in res["error"].lower() or "frame" in res["error"].lower())
        try:
            if pool.apply_async(fault_tasks.identity, (2,)).get(T) == 2:
                res["ended"] += 1
            else:
                res["lost"] += 1
        except TimeoutErrorTypes:
            res["hangs"] += 1
    finally:
        pool.terminate()
        pool.join()
    return res


# -- misbehaving tasks -----------------------------------------------------------------

def _outcome(fn, timeout=T):
    """("ok", value) | ("err", exc) | ("hang", None)."""
    try:
        return "ok", fn(timeout)
    except TimeoutErrorTypes:
        return "hang", None
    except Exception as e:  # the clear error the caller inspects
        return "err", e


def task_fault_round() -> dict:
    """Tasks that raise, return unpicklable/unconvertible values, take unpicklable arguments,
    exhaust memory, recurse without end, print megabytes, ignore SIGTERM."""
    res = {"faults": 0, "ended": 0, "lost": 0, "hangs": 0, "details": {}}
    pool = dotbridge.Pool(2)
    try:
        cases = {
            "raise": (lambda t: pool.apply_async(fault_tasks.boom, (1,)).get(t), ValueError),
            "unpicklable_result": (lambda t: pool.apply_async(fault_tasks.unpicklable_result).get(t), Exception),
            "unpicklable_arg": (lambda t: pool.apply_async(fault_tasks.identity, (threading.Lock(),)).get(t), Exception),
            "memory": (lambda t: pool.apply_async(fault_tasks.eat_memory, (300,)).get(t), Exception),
            "recursion": (lambda t: pool.apply_async(fault_tasks.recurse).get(t), RecursionError),
            "chatter": (lambda t: pool.apply_async(fault_tasks.chatter, (2,)).get(t), 2),
            "dotnet_raise": (lambda t: pool.apply(dotbridge.dotnet.method("Bridge.Samples.Errors.Divide"), (1, 0)), Exception),
            "dotnet_unconvertible_result": (lambda t: pool.apply(dotbridge.dotnet.method("Bridge.Samples.Errors.Unencodable")), Exception),
            "dotnet_unconvertible_arg": (lambda t: pool.apply(dotbridge.dotnet.method("Bridge.Samples.Primes.IsPrime"), (object(),)), Exception),
        }
        for name, (fn, want) in cases.items():
            res["faults"] += 1
            kind, val = _outcome(fn)
            res["details"][name] = f"{kind}: {type(val).__name__}: {str(val)[:120]}"
            if kind == "hang":
                res["hangs"] += 1
            elif isinstance(want, type):
                ok = kind == "err" and isinstance(val, want)
                res["ended" if ok else "lost"] += 1
            else:
                res["ended" if (kind, val) == ("ok", want) else "lost"] += 1
            # the pool keeps serving after each fault
            k2, v2 = _outcome(lambda t: pool.apply_async(fault_tasks.identity, (5,)).get(t))
            if (k2, v2) != ("ok", 5):
                res["lost"] += 1
                res["details"][name + "/after"] = f"{k2}: {v2!r}"
    finally:
        pool.terminate()
        pool.join()
    # a task that ignores SIGTERM: terminate() still finishes (SIGKILL after the grace)
    pool = dotbridge.Pool(1)
    res["faults"] += 1
    try:
        pool.apply_async(fault_tasks.ignore_sigterm_and_sleep, (60,))
        time.sleep(0.5)
        pids = _worker_pids(pool, "python")
        if not pids:  # the check below would be vacuous
            res["lost"] += 1
        t0 = time.monotonic()
        done = threading.Event()
        th = threading.Thread(target=lambda: (pool.terminate(), pool.join(), done.set()), daemon=True)
        th.start()
        if done.wait(T):
            res["ended"] += 1
        else:
            res["hangs"] += 1
        res["details"]["ignore_sigterm"] = f"terminate+join took {time.monotonic() - t0:.2f}s ({len(pids)} worker)"
        end = time.monotonic() + 5
        while time.monotonic() < end and any(alive(p) for p in pids):
            time.sleep(0.05)
        if any(alive(p) for p in pids):
            res["lost"] += 1
    finally:
        pool.terminate()
    return res


# -- trust boundaries ------------------------------------------------------------------

def _listening_inodes(pid) -> set:
    """Inodes of listening TCP/TCP6/Unix sockets in the network namespace of ``pid``."""
    out = set()
    for name, state_col, inode_col, listen in (("tcp", 3, 9, "0A"), ("tcp6", 3, 9, "0A"), ("unix", 5, 6, "01")):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                next(f)
                for line in f:
                    c = line.split()
                    if name == "unix":
                        # Flags column 3 has __SO_ACCEPTCON (00010000) for listeners
                        if len(c) > 6 and c[3] == "00010000":
                            out.add(c[6])
                    elif c[state_col] == listen:
                        out.add(c[inode_col])
        except OSError:
            pass
    return out


def _socket_inodes(pid) -> set:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(link[8:-1])
    except OSError:
        pass
    return out


def _cmd(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
    except OSError:
        return "?"


def trust_round() -> dict:
    """No listening socket in the pool's processes; worker fds 3/4 are pipes; an unrelated
    child started while the pool lives holds none of the pool's pipes; segments 0600."""
    res = {"checks": 0, "violations": 0, "details": []}

    def check(ok, what):
        res["checks"] += 1
        if not ok:
            res["violations"] += 1
            res["details"].append(what)

    pool = dotbridge.Pool(2)
    try:
        fds = pool.apply(fault_tasks.worker_fds)
        check(all(v.startswith("pipe:") for v in fds.values()), f"worker fds 3/4 are not pipes: {fds}")
        pool.apply(dotbridge.dotnet.method("Bridge.Samples.Primes.IsPrime"), (7,))
        pids = [os.getpid()] + [d["pid"] for k in ("python", "dotnet") for d in pool._native.workers(k)]
        for p in pids:
            listening = _listening_inodes(p) & _socket_inodes(p)
            check(not listening, f"process {p} ({_cmd(p)}) holds listening sockets {listening}")
        # pipes of the pool (as seen in the parent) vs an unrelated child's fds
        pool_pipes = set()
        for p in pids[1:]:
            for fd in ("3", "4"):  # the pool's pipes (other fds are inherited from the user)
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("pipe:"):
                    pool_pipes.add(link)
        for close_fds in (True, False):
            child = subprocess.Popen(["sleep", "5"], close_fds=close_fds)
            try:
                time.sleep(0.2)
                held = {os.readlink(f"/proc/{child.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{child.pid}/fd") if int(fd) > 2}
                leaked = {h for h in held if h in pool_pipes}
                check(not leaked, f"Popen(close_fds={close_fds}) child holds the pool's pipes {leaked}")
            finally:
                child.kill()
                child.wait(T)
        from dotbridge import shared_memory
        segs = [shared_memory.SharedMemory(create=True, size=4096) for _ in range(3)]
        try:
            names = [s.name for s in segs]
            check(len(set(names)) == 3 and all(len(n.lstrip("/")) >= 12 for n in names),
                  f"segment names look guessable: {names}")
            for n in names:
                mode = os.stat("/dev/shm/" + n.lstrip("/")).st_mode & 0o777
                check(mode == 0o600, f"segment {n} has mode {oct(mode)}")
        finally:
            for s in segs:
                s.close()
                s.unlink()
    finally:
        pool.terminate()
        pool.join()
    return res
