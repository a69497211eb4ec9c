#!/usr/bin/env python3
"""Run the fault rounds (tests/faults/rounds.py) and print the figures.

    .venv/bin/python scripts/faults.py [--seeds N] [--quick]

Faults injected, tasks that ended with a result or a clear error, tasks lost, hangs,
processes and segments left behind, bad frames tried. Exit status 1 if anything was
lost, hung or left behind, or a decoder crashed. Default run: well under 2 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))

import rounds  # noqa: E402
import csharp_rounds  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2, help="kill rounds per (kind, call) (default 2)")
    ap.add_argument("--frames", type=int, default=5000, help="fuzzed frames (default 5000)")
    ap.add_argument("--no-dotnet", action="store_true", help="Python workers only")
    args = ap.parse_args()

    rows = []  # (round, faults, tasks, ended, lost, hangs, left procs, left segments, bad frames)
    t0 = time.monotonic()
    kinds = ["python"] if args.no_dotnet else ["python", "dotnet"]
    host = None
    for kind in kinds:
        for api in ("map", "imap", "apply_async", "submit"):
            agg = dict(faults=0, tasks=0, ended=0, lost=0, hangs=0)
            for seed in range(1, args.seeds + 1):
                r = rounds.kill_round(kind, api, seed)
                for k in agg:
                    agg[k] += r[k]
            rows.append((f"SIGKILL {kind} worker / {api}", agg["faults"], agg["tasks"], agg["ended"],
                         agg["lost"], agg["hangs"], 0, 0, 0))
    if not args.no_dotnet:
        agg = dict(faults=0, left_processes=0, left_segments=0, hangs=0)
        for seed in range(1, args.seeds + 1):
            r = rounds.parent_kill_round(seed)
            for k in agg:
                agg[k] += r[k]
        rows.append(("SIGKILL Python parent", agg["faults"], 0, 0, 0, agg["hangs"],
                     agg["left_processes"], agg["left_segments"], 0))
        # the same from C# (tests/FaultHost; its .NET resource tracker unlinks its names)
        host = csharp_rounds.find_fault_host()
        if host is None:
            print("faults.py: tests/FaultHost could not be built: C# parent rounds skipped", file=sys.stderr)
        else:
            agg = dict(faults=0, left_processes=0, left_segments=0, hangs=0)
            for seed in range(1, args.seeds + 1):
                r = csharp_rounds.csharp_parent_kill_round(host, seed)
                for k in agg:
                    agg[k] += r[k]
            rows.append(("SIGKILL C# parent", agg["faults"], 0, 0, 0, agg["hangs"],
                         agg["left_processes"], agg["left_segments"], 0))
        # the chatty task prints megabytes to the workers' stdout/stderr (the user's): not here
        sys.stdout.flush()
        saved = [os.dup(1), os.dup(2)]
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            r = rounds.task_fault_round()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved + [devnull]:
                os.close(fd)
        rows.append(("misbehaving tasks", r["faults"], r["faults"], r["ended"], r["lost"], r["hangs"], 0, 0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        r = rounds.fake_worker_round(tmp)
    rows.append(("fake worker sends garbage", 1, 2, r["ended"], r["lost"], r["hangs"], 0, 0, r["bad_frames"]))
    if not args.no_dotnet and host is not None:
        r = csharp_rounds.csharp_fake_worker_round(host)
        rows.append(("fake .NET worker / C# caller", r["faults"], r["tasks"], r["ended"], r["lost"], r["hangs"],
                     0, 0, r["bad_frames"]))
    f = rounds.fuzz_python_decoder(seed=5, count=args.frames)
    rows.append(("fuzzed frames (Python decoder)", f["bad_frames"], 0, 0, f["crashes"], 0, 0, 0, f["bad_frames"]))
    trust = None
    if not args.no_dotnet:
        trust = rounds.trust_round()

    head = ("round", "faults", "tasks", "ended", "lost", "hangs", "procs left", "segs left", "bad frames")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % widths[0] if i == 0 else "{:>%d}" % widths[i] for i in range(len(head)))
    print(fmt.format(*head))
    for row in rows:
        print(fmt.format(*row))
    tot = [sum(r[i] for r in rows) for i in range(1, len(head))]
    print(fmt.format("total", *tot))
    bad = tot[3] + tot[4] + tot[5] + tot[6]
    if trust is not None:
        print(f"trust boundaries: {trust['checks']} checks, {trust['violations']} violations"
              + "".join(f"\n  - {d}" for d in trust["details"]))
        bad += trust["violations"]
    print(f"faults.py: {'OK' if bad == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
