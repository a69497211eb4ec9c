"""Sum test counts from the runners scripts/test drives and print one closing line.

    python scripts/_counts.py PART=KIND:PATH:EXIT ... [--extra-failed NAME ...]

KIND is ``dotnet`` (``dotnet test``'s console log, TRX files in ``trx/`` beside it),
``trx`` (a directory of TRX files), ``junit`` (pytest's
--junitxml file) or ``conformance`` (run_conformance.py's --json file); EXIT is
the runner's exit status. A runner that failed (EXIT != 0) without reporting a
failed test (a build error, a crash, a timeout) counts as one failed test, so
a broken part can never look green. Prints one line per part, then the plain
``N passed, N failed, N skipped`` line CI reads, and exits 1 if anything failed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def _trx(path: str) -> tuple[int, int, int, list[str]]:
    passed = failed = skipped = 0
    names: list[str] = []
    for f in sorted(glob.glob(os.path.join(path, "**", "*.trx"), recursive=True)):
        root = ET.parse(f).getroot()
        ns = {"t": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
        counters = root.find(".//t:ResultSummary/t:Counters", ns) if ns else root.find(".//ResultSummary/Counters")
        if counters is None:
            continue
        c = {k: int(v) for k, v in counters.attrib.items() if v.isdigit()}
        passed += c.get("passed", 0)
        failed += c.get("failed", 0) + c.get("error", 0) + c.get("timeout", 0) + c.get("aborted", 0)
        skipped += c.get("notExecuted", 0) + c.get("inconclusive", 0)
        for r in root.iterfind(".//t:UnitTestResult" if ns else ".//UnitTestResult", ns):
            if r.get("outcome") in ("Failed", "Error", "Timeout", "Aborted"):
                names.append(r.get("testName", "?"))
    return passed, failed, skipped, names


_SUMMARY = re.compile(r"(Passed|Failed)!\s+-\s+Failed:\s+(\d+),\s+Passed:\s+(\d+),\s+Skipped:\s+(\d+),\s+Total:\s+(\d+)")


def _dotnet(path: str) -> tuple[int, int, int, list[str]]:
    """``dotnet test``'s console log (one "Failed: N, Passed: N, Skipped: N" line per test
    assembly), with the failing test names from the TRX files in ``trx/`` beside it."""
    passed = failed = skipped = 0
    found = False
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            text = f.read()
        for m in _SUMMARY.finditer(text):  # verbosity=minimal: one line per assembly
            found = True
            failed += int(m.group(2))
            passed += int(m.group(3))
            skipped += int(m.group(4))
        if not found:  # verbosity=normal: a "Total tests: N" block per assembly
            for block in re.finditer(r"^Total tests: \d+\s*\n((?:[ \t]+[A-Za-z ]+: [\d.]+.*\n?)+)", text, re.M):
                found = True
                for key, n in re.findall(r"^\s+(Passed|Failed|Skipped): (\d+)", block.group(1), re.M):
                    if key == "Passed":
                        passed += int(n)
                    elif key == "Failed":
                        failed += int(n)
                    else:
                        skipped += int(n)
    tp, tf, ts, names = _trx(os.path.join(os.path.dirname(path), "trx"))
    if not found:  # no console summary (e.g. a different logger): fall back to the TRX counters
        return tp, tf, ts, names
    return passed, failed, skipped, names


def _junit(path: str) -> tuple[int, int, int, list[str]]:
    if not os.path.exists(path):
        return 0, 0, 0, []
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    passed = failed = skipped = 0
    names: list[str] = []
    for s in suites:
        tests, fails = int(s.get("tests", 0)), int(s.get("failures", 0)) + int(s.get("errors", 0))
        skips = int(s.get("skipped", 0))
        passed += tests - fails - skips
        failed += fails
        skipped += skips
        for case in s.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                names.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    return passed, failed, skipped, names


def _conformance(path: str) -> tuple[int, int, int, list[str]]:
    if not os.path.exists(path):
        return 0, 0, 0, []
    with open(path) as f:
        data = json.load(f)
    t = data["total"]
    names = [name for c in data.get("classes", []) for name, _ in c.get("failures", [])]
    return t["passed"], t["failed"], t["skipped"], names


def _status(path: str) -> tuple[int, int, int, list[str]]:
    """A part that is one check: the file holds its exit status."""
    try:
        code = int(open(path, encoding="utf-8").read().strip() or "1")
    except (OSError, ValueError):
        code = 1
    return (1, 0, 0, []) if code == 0 else (0, 1, 0, [path])


READERS = {"dotnet": _dotnet, "trx": _trx, "junit": _junit, "conformance": _conformance, "status": _status}


def main(argv: list[str]) -> int:
    total = [0, 0, 0]
    extra = []
    args = list(argv)
    while "--extra-failed" in args:
        i = args.index("--extra-failed")
        extra.append(args[i + 1])
        del args[i:i + 2]
    for spec in args:
        part, rest = spec.split("=", 1)
        kind, rest = rest.split(":", 1)
        path, code = rest.rsplit(":", 1)
        p, f, s, names = READERS[kind](path)
        note = ""
        if int(code) != 0 and f == 0:
            f = 1
            note = f" (the runner exited with status {code} without a failed test: build error, crash or timeout)"
        total[0] += p
        total[1] += f
        total[2] += s
        print(f"  {part:<12} {p:5d} passed {f:4d} failed {s:4d} skipped{note}")
        for n in names[:5]:
            print(f"      FAILED {n}")
        if len(names) > 5:
            print(f"      ... and {len(names) - 5} more (see the part's own output above)")
    for e in extra:
        total[1] += 1
        print(f"  {e:<12}     0 passed    1 failed    0 skipped (step failed; see its output above)")
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
