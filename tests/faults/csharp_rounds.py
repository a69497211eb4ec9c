"""Fault rounds with a C# caller, for scripts/faults.py: they run tests/FaultHost (a C# program
that references Bridge). The NUnit tests HostKillTests/FakeWorkerPoolTests check the same things.

- csharp_parent_kill_round: SIGKILL a C# parent with a busy pool of both worker kinds, a
  segment, a lock and a shared value; every process it started must be gone within 2 s, its
  names unlinked (by its .NET resource tracker, Bridge/Tracking) within 2 s more.
- csharp_fake_worker_round: a C# ProcessPool whose .NET worker is tests/faults/fake_dotnet_worker.py
  sends garbage, an oversized length, a truncated frame, a non-array frame, a result for an
  unknown task, or exits mid-task: every call ends (result or WorkerCrashedException), no hang.
"""

from __future__ import annotations

import glob
import json
import os
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
T = 60.0

from rounds import _children, alive  # noqa: E402


def _newest_source() -> float:
    newest = 0.0
    for top in ("Bridge", os.path.join("tests", "FaultHost"), "Interop"):
        for d, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [x for x in dirs if x not in ("bin", "obj")]
            for f in files:
                if f.endswith((".cs", ".csproj")):
                    newest = max(newest, os.path.getmtime(os.path.join(d, f)))
    return newest


def find_fault_host(build: bool = True) -> str | None:
    """The FaultHost apphost in the dotnet artifacts (built by `dotnet test Bridge.sln`); builds it
    when it is missing or older than the C# sources. None if that is not possible."""
    artifacts = os.environ.get("DOTBRIDGE_ARTIFACTS") or os.path.join(REPO, "artifacts", "dotnet")
    found = [p for p in glob.glob(os.path.join(artifacts, "bin", "*", "*", "FaultHost"))
             if os.access(p, os.X_OK) and os.path.exists(os.path.join(os.path.dirname(p), "Bridge"))]
    def built(p):  # an unchanged FaultHost.dll is not rewritten when only Bridge changed
        return max(os.path.getmtime(p + ".dll"), os.path.getmtime(os.path.join(os.path.dirname(p), "Bridge.dll")))
    found.sort(key=built, reverse=True)
    if found and built(found[0]) >= _newest_source():
        return found[0]
    if not build:
        return found[0] if found else None
    try:
        r = subprocess.run(["dotnet", "build", os.path.join(REPO, "tests", "FaultHost", "FaultHost.csproj"),
                            "--artifacts-path", artifacts, "-nologo", "-v", "q"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    except (OSError, subprocess.TimeoutExpired):
        return found[0] if found else None
    path = os.path.join(artifacts, "bin", "FaultHost", "debug", "FaultHost")
    if r.returncode == 0 and os.path.exists(path):
        return path
    sys.stderr.write(r.stdout.decode(errors="replace")[-2000:])
    return found[0] if found else None


def _family(root: int) -> set:
    family, frontier = set(), [root]
    while frontier:
        kids = [k for q in frontier for k in _children(q) if k not in family]
        family.update(kids)
        frontier = kids
    return family


def csharp_parent_kill_round(host: str, seed: int) -> dict:
    import random
    res = {"faults": 0, "left_processes": 0, "left_segments": 0, "hangs": 0, "pids": 0, "names": 0}
    p = subprocess.Popen([host, "pool"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, DOTBRIDGE_PYTHON=sys.executable))
    names = []
    family = set()
    try:
        r, _, _ = select.select([p.stdout], [], [], T)
        if not r:
            res["hangs"] += 1
            return res
        info = json.loads(p.stdout.readline())
        names = info["names"]
        time.sleep(random.Random(seed).uniform(0.0, 0.2))
        family = _family(p.pid) | set(info["pids"])
        p.kill()
        res["faults"] += 1
        p.wait(T)
        res["pids"], res["names"] = len(family), len(names)
        end = time.monotonic() + 2.0
        while time.monotonic() < end and any(alive(q) for q in family):
            time.sleep(0.02)
        left = [q for q in family if alive(q)]
        res["left_processes"] = len(left)
        end = time.monotonic() + 2.0
        while time.monotonic() < end and any(os.path.exists("/dev/shm/" + n) for n in names):
            time.sleep(0.02)
        res["left_segments"] = sum(os.path.exists("/dev/shm/" + n) for n in names)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(T)
        for q in family:  # clean up what was left, if anything
            if alive(q):
                try:
                    os.kill(q, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for n in names:
            try:
                os.unlink("/dev/shm/" + n)
            except OSError:
                pass
    return res


def csharp_fake_worker_round(host: str) -> dict:
    script = os.path.join(HERE, "fake_dotnet_worker.py")
    env = dict(os.environ)
    env.setdefault("FAKE_PYTHON", sys.executable)
    try:
        r = subprocess.run([host, "fake", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=T * 3, env=env)
    except subprocess.TimeoutExpired:
        return {"faults": 7, "tasks": 0, "ended": 0, "lost": 0, "hangs": 1, "bad_frames": 6, "details": {}}
    try:
        return json.loads(r.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"faults": 7, "tasks": 0, "ended": 0, "lost": 1, "hangs": 0, "bad_frames": 6,
                "details": {"error": (r.stdout + r.stderr).decode(errors="replace")[-500:]}}
