"""Run CPython's own multiprocessing test classes against dotbridge (or the stdlib).

Usage (with the venv's python, i.e. Debian's python3.11 + libpython3.11-testsuite)::

    .venv/bin/python tests/conformance/run_conformance.py            # against dotbridge
    .venv/bin/python tests/conformance/run_conformance.py --stdlib   # validate the harness itself
    .venv/bin/python tests/conformance/run_conformance.py --classes _TestPool,_TestQueue -v

How it mirrors CPython (``Lib/test/_test_multiprocessing.py``): for every base class
``_TestX`` it builds ``WithProcessesTestX(_TestX, Mixin, unittest.TestCase)`` exactly as
``install_tests_in_module_dict`` does, with a mixin that provides what ``ProcessesMixin``
provides, bound to dotbridge (``Pool = staticmethod(dotbridge.Pool)``, ...) or, with
``--stdlib``, to ``multiprocessing`` under the spawn start method (what
``test_multiprocessing_spawn`` runs).

Some classes (``_TestPoolWorkerErrors``, ``_TestPoolWorkerLifetime``) call the test
module's global ``multiprocessing.Pool`` directly: the harness replaces that global by
:class:`_MultiprocessingProxy`, which resolves top-level names dotbridge provides
(``Pool``, ``TimeoutError``, ``cpu_count``, ...) to dotbridge and everything else,
including every submodule (``multiprocessing.pool.RemoteTraceback``, ``.RUN``, ...),
to the stdlib.

The generated classes live in *this* module (imported as ``run_conformance``, never as
``__main__``), and are also created on demand by the module ``__getattr__``, so worker
processes can unpickle references such as ``WithProcessesTestPool._test_traceback``;
``tests/conformance`` is put on ``PYTHONPATH`` so the workers can import it.

Each class runs in its own child process (bounded: ``--class-timeout``), and each
test in it under ``faulthandler.dump_traceback_later(--test-timeout, exit=True)``, so a
hanging test is reported as failed and the other classes still run. The closing line is
``conformance: N passed, N failed, N skipped``; exit status 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

DEFAULT_CLASSES = ["_TestPool", "_TestPoolWorkerErrors", "_TestPoolWorkerLifetime"]
ISSUE4_CLASSES = ["_TestProcess", "_TestQueue", "_TestLock", "_TestSemaphore", "_TestCondition",
                  "_TestEvent", "_TestBarrier", "_TestValue", "_TestArray", "_TestConnection",
                  "_TestSharedMemory"]

# "stdlib" or "dotbridge"; children and workers inherit it through the environment.
TARGET_ENV = "DOTBRIDGE_CONFORMANCE_TARGET"
FAKE_ENV = "DOTBRIDGE_CONFORMANCE_FAKE_NATIVE"

# Submodules and module-level machinery that always stay the stdlib's, even where
# dotbridge has a name of its own (dotbridge reuses the stdlib's classes/constants).
_STDLIB_ALWAYS = {
    "pool", "process", "connection", "context", "util", "managers", "heap", "queues", "dummy",
    "shared_memory", "sharedctypes", "reduction", "synchronize", "spawn", "popen_fork",
    "popen_spawn_posix", "popen_forkserver", "forkserver", "resource_tracker", "resource_sharer",
    "set_start_method", "get_start_method", "get_context", "set_forkserver_preload",
}


def target() -> str:
    return os.environ.get(TARGET_ENV, "dotbridge")


def test_module():
    """CPython's ``test._test_multiprocessing`` (raises ImportError if the interpreter lacks it)."""
    import test._test_multiprocessing as tm  # noqa: PLC0415 - deliberately lazy
    return tm


class _MultiprocessingProxy(types.ModuleType):
    """Stands in for the test module's global ``multiprocessing``.

    Top-level names dotbridge provides resolve to dotbridge; submodules and the rest to
    the stdlib ``multiprocessing``.
    """

    def __init__(self) -> None:
        super().__init__("multiprocessing", "dotbridge-over-stdlib proxy used by the conformance harness")

    def __getattr__(self, name: str):
        import multiprocessing as std
        if name.startswith("__") or name in _STDLIB_ALWAYS:
            return getattr(std, name)
        import dotbridge
        try:
            value = getattr(dotbridge, name)
        except AttributeError:
            return getattr(std, name)
        if isinstance(value, types.ModuleType):
            return getattr(std, name)
        return value

    def __repr__(self) -> str:
        return "<multiprocessing proxy: dotbridge's Pool, TimeoutError, ...; the stdlib's rest>"


def _install_proxy(tm) -> None:
    if target() == "dotbridge" and not isinstance(tm.multiprocessing, _MultiprocessingProxy):
        tm.multiprocessing = _MultiprocessingProxy()


def make_mixin(tm):
    """A ``ProcessesMixin`` equivalent bound to dotbridge or (``--stdlib``) to ``multiprocessing``."""
    base = tm.ProcessesMixin
    if target() == "stdlib":
        return base
    import dotbridge
    import multiprocessing as std
    attrs = {"TYPE": "processes", "__module__": __name__}
    for name, value in vars(base).items():
        if name.startswith("__") or name == "TYPE":
            continue
        if isinstance(value, staticmethod):
            attrs[name] = staticmethod(getattr(dotbridge, name, getattr(std, name)))
        elif isinstance(value, types.ModuleType):  # connection
            attrs[name] = value
        else:
            attrs[name] = getattr(dotbridge, name, value)
    attrs["Pool"] = staticmethod(dotbridge.Pool)
    return type("DotbridgeProcessesMixin", (base,), attrs)


_built: dict = {}


def _adapted_worker_finalization(self):
    """CPython's test with ``from dotbridge import Pool`` in the child script (bpo-38744, bpo-39360):
    a pool still referenced from a global at interpreter exit must not hang or crash it."""
    import test.support.script_helper
    cmd = '''if 1:
        from dotbridge import Pool
        problem = None
        class A:
            def __init__(self):
                self.pool = Pool(processes=1)
        def test():
            global problem
            problem = A()
            problem.pool.map(float, tuple(range(10)))
        if __name__ == "__main__":
            test()
    '''
    rc, out, err = test.support.script_helper.assert_python_ok('-c', cmd)
    self.assertEqual(rc, 0)


# Tests whose own code names the stdlib where the class attributes cannot reach (a child
# script doing `from multiprocessing import Pool`): run against dotbridge, they get a
# copy with the import changed (listed in the report as "adapted").
ADAPTED = {
    ("_TestPoolWorkerLifetime", "test_worker_finalization_via_atexit_handler_of_multiprocessing"):
        _adapted_worker_finalization,
}


def build_class(base_name: str):
    """``WithProcessesX`` for CPython's ``_X``, as ``install_tests_in_module_dict`` builds it."""
    import unittest
    newname = "WithProcesses" + base_name[1:]
    if newname in _built:
        return _built[newname]
    tm = test_module()
    _install_proxy(tm)
    base = getattr(tm, base_name)
    if isinstance(base, type) and issubclass(base, tm.BaseTestCase):
        if "processes" not in base.ALLOWED_TYPES:
            raise ValueError(f"{base_name} does not run with processes (ALLOWED_TYPES={base.ALLOWED_TYPES})")
        attrs = {}
        if target() == "dotbridge":
            attrs = {meth: fn for (b, meth), fn in ADAPTED.items() if b == base_name}
        cls = type(newname, (base, make_mixin(tm), unittest.TestCase), attrs)
    else:  # a plain unittest.TestCase of the module (TestWait, OtherTest, ...)
        newname = base_name
        cls = type(base_name, (base, object), {})
    cls.__qualname__ = newname
    cls.__module__ = __name__
    _built[newname] = cls
    globals()[newname] = cls
    return cls


def __getattr__(name: str):  # PEP 562: workers unpickle WithProcessesX.<method> references
    if name.startswith("WithProcesses"):
        return build_class("_" + name[len("WithProcesses"):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the child: run one class, write one JSON line per event --------------------------

def _error_line(err) -> str:
    """``Type: first line of the message``; plus the last exception line inside a multi-line
    message (e.g. a child script's stderr that script_helper quotes)."""
    etype, value, _ = err
    lines = [ln.strip() for ln in str(value).splitlines() if ln.strip() and set(ln.strip()) != {"-"}]
    text = f"{etype.__name__}: {lines[0] if lines else ''}"
    tail = [ln for ln in lines[1:] if ("Error" in ln or "Exception" in ln) and not ln.startswith("File ")]
    if tail:
        text += " ... " + tail[-1]
    return text[:400]


def run_child(base_name: str, events_path: str, test_timeout: float, verbose: bool) -> int:
    import faulthandler
    import unittest

    events = open(events_path, "a", buffering=1)

    def emit(**kw) -> None:
        events.write(json.dumps(kw) + "\n")
        events.flush()

    # A shell that starts scripts/test in the background (`cmd &`) leaves SIGINT ignored, and
    # Python then keeps it ignored: restore the default handler, as tests that expect
    # KeyboardInterrupt (_TestCondition.test_wait_result, SharedMemoryServer_ignores_sigint) need.
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Both targets: the stdlib's own objects (Process, Queue, ...) start their children
    # with spawn, as test_multiprocessing_spawn does (fork left _TestProcess hanging).
    import multiprocessing
    multiprocessing.set_start_method("spawn", force=True)
    if target() == "stdlib":
        pass
    elif os.environ.get(FAKE_ENV):
        sys.path.insert(0, os.path.join(REPO, "tests", "python"))
        from support.fake_native import FakeNativePool
        mod = types.ModuleType("dotbridge._native")
        mod.NativePool = FakeNativePool
        sys.modules["dotbridge._native"] = mod
        import dotbridge
        dotbridge._native = mod

    tm = test_module()
    import multiprocessing
    multiprocessing.util.get_temp_dir()
    cls = build_class(base_name)

    class Result(unittest.TextTestResult):
        def startTest(self, test):
            emit(event="start", test=test.id())
            faulthandler.dump_traceback_later(test_timeout, exit=True)
            super().startTest(test)

        def stopTest(self, test):
            faulthandler.cancel_dump_traceback_later()
            super().stopTest(test)

        def addSuccess(self, test):
            super().addSuccess(test)
            emit(event="result", test=test.id(), outcome="passed")

        def addFailure(self, test, err):
            super().addFailure(test, err)
            emit(event="result", test=test.id(), outcome="failed", detail=_error_line(err))

        def addError(self, test, err):
            super().addError(test, err)
            emit(event="result", test=test.id(), outcome="failed", detail=_error_line(err))

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            emit(event="result", test=test.id(), outcome="skipped", detail=str(reason)[:300])

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            emit(event="result", test=test.id(), outcome="passed", detail="expected failure")

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            emit(event="result", test=test.id(), outcome="failed", detail="unexpected success")

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    emit(event="class", name=base_name, tests=[t.id() for t in suite])
    # setUpClass/tearDownClass run outside startTest: bound them too
    faulthandler.dump_traceback_later(test_timeout * 2, exit=True)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2 if verbose else 0, resultclass=Result)
    runner.run(suite)
    faulthandler.cancel_dump_traceback_later()
    tm.support.gc_collect()
    multiprocessing.util._cleanup_tests()
    emit(event="done")
    events.close()
    return 0


# -- the parent: one child per class, sum and report ----------------------------------

def _reap_group(pgid: int, grace: float = 3.0) -> int:
    """Wait up to ``grace`` s for the child's process group to empty, then SIGKILL it; return how many were left."""
    import signal
    end = time.monotonic() + grace
    while True:
        left = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as f:
                        rest = f.read().rsplit(")", 1)[-1].split()
                except OSError:
                    continue
                if int(rest[3]) == pgid and rest[0] != "Z":
                    left.append(int(name))
        if not left or time.monotonic() > end:
            break
        time.sleep(0.1)
    if left:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(left)


def run_class(base_name: str, args) -> dict:
    """Run one class in a child process; return {passed, failed, skipped, failures:[(test, line)]}."""
    fd, events_path = tempfile.mkstemp(prefix="conformance-", suffix=".jsonl")
    os.close(fd)
    env = dict(os.environ)
    env[TARGET_ENV] = "stdlib" if args.stdlib else "dotbridge"
    if args.fake_native:
        env[FAKE_ENV] = "1"
    env["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    cmd = [sys.executable, "-c",
           "import sys, run_conformance as rc; sys.exit(rc.run_child(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == '1'))",
           base_name, events_path, str(args.test_timeout), "1" if args.verbose else "0"]
    out = None if args.verbose else subprocess.DEVNULL
    t0 = time.monotonic()
    timed_out = False
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=REPO, start_new_session=True)
    try:
        rc = proc.wait(timeout=args.class_timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        import signal
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
        except ProcessLookupError:
            pass
        rc = proc.wait(timeout=30)
    elapsed = time.monotonic() - t0
    leftovers = _reap_group(proc.pid)
    with open(events_path) as f:
        events = [json.loads(line) for line in f if line.strip()]
    os.unlink(events_path)

    res = {"class": base_name, "passed": 0, "failed": 0, "skipped": 0, "failures": [], "seconds": elapsed,
           "leftover_processes": leftovers}
    outcomes: dict = {}
    started: list = []
    declared: list = []
    done = False
    for ev in events:
        if ev["event"] == "class":
            declared = ev["tests"]
        elif ev["event"] == "start":
            started.append(ev["test"])
        elif ev["event"] == "result":
            # a test can report an error in tearDown after a success: keep the worst
            prev = outcomes.get(ev["test"])
            if prev is None or ev["outcome"] == "failed":
                outcomes[ev["test"]] = (ev["outcome"], ev.get("detail", ""))
        elif ev["event"] == "done":
            done = True
    if not done:
        why = (f"timed out after {args.class_timeout:g} s" if timed_out else
               f"child exited with status {rc} (a test hung past {args.test_timeout:g} s, or the process crashed)")
        hung = [t for t in started if t not in outcomes]
        for t in hung:
            outcomes[t] = ("failed", why)
        if not declared:
            outcomes[f"{base_name} (import/setup)"] = ("failed", why)
        for t in declared:
            if t not in outcomes:
                outcomes[t] = ("failed", "not run: " + why)
    # a class-level error (setUpClass/tearDownClass: not a declared test id): declared tests
    # it kept from running count as failed with its message; otherwise it counts itself
    class_level = [(t, o) for t, o in outcomes.items() if declared and t not in declared]
    unrun = [t for t in declared if t not in outcomes]
    if class_level and unrun:
        for t, _ in class_level:
            del outcomes[t]
        reason = "; ".join(f"{t.split(' ')[0]} failed: {d}" for t, (_, d) in class_level)
        for t in unrun:
            outcomes[t] = ("failed", "not run: " + reason)
    for t, (outcome, detail) in outcomes.items():
        res[outcome] += 1
        if outcome == "failed":
            res["failures"].append((t, detail))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stdlib", action="store_true",
                    help="bind the mixin to the stdlib's multiprocessing (spawn) instead of dotbridge: validates the harness")
    ap.add_argument("--classes", default=",".join(DEFAULT_CLASSES),
                    help="comma-separated CPython base classes (default: %(default)s); 'issue4' adds "
                         + ",".join(ISSUE4_CLASSES))
    ap.add_argument("--test-timeout", type=float, default=120.0, help="seconds per test before it counts as hung (default: %(default)s)")
    ap.add_argument("--class-timeout", type=float, default=600.0, help="seconds per class (child process)")
    ap.add_argument("--fake-native", action="store_true",
                    help="run dotbridge over tests/python/support/fake_native.py (the shim's Python test double)")
    ap.add_argument("--json", metavar="FILE", help="also write the per-class results as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the children's unittest output")
    args = ap.parse_args(argv)

    classes = []
    for c in args.classes.split(","):
        c = c.strip()
        if not c:
            continue
        if c == "issue4":
            classes += ISSUE4_CLASSES
        elif c == "default":
            classes += DEFAULT_CLASSES
        else:
            classes.append(c)

    try:
        tm = test_module()
    except ImportError as e:
        print(f"conformance: CPython's test package is not installed for {sys.executable} ({e}); "
              f"on Debian: apt-get install libpython{sys.version_info[0]}.{sys.version_info[1]}-testsuite")
        print(f"conformance: 0 passed, 0 failed, {len(classes)} skipped")
        return 0
    classes = [c if hasattr(tm, c) or not hasattr(tm, "_" + c) else "_" + c for c in classes]
    missing = [c for c in classes if not hasattr(tm, c)]
    if missing:
        print(f"conformance: unknown classes in {tm.__file__}: {', '.join(missing)}")
        return 2

    which = "stdlib multiprocessing (spawn)" if args.stdlib else "dotbridge" + (" over the fake native pool" if args.fake_native else "")
    print(f"conformance: CPython {sys.version.split()[0]} {tm.__file__} against {which}", flush=True)
    if not args.stdlib:
        for b, meth in ADAPTED:
            if b in classes:
                print(f"  adapted for dotbridge: {b}.{meth} (its child script imports dotbridge's Pool)")
    total = {"passed": 0, "failed": 0, "skipped": 0}
    results = []
    for c in classes:
        r = run_class(c, args)
        results.append(r)
        for k in total:
            total[k] += r[k]
        print(f"  {c:<28} {r['passed']:3d} passed {r['failed']:3d} failed {r['skipped']:3d} skipped  ({r['seconds']:.1f} s)",
              flush=True)
        by_detail: dict = {}
        for t, detail in r["failures"]:
            by_detail.setdefault(detail, []).append(t.rsplit(".", 1)[-1] if "." in t else t)
        for detail, names in by_detail.items():
            shown = ", ".join(names[:6]) + (f" (+{len(names) - 6} more)" if len(names) > 6 else "")
            print(f"    FAIL {shown}: {detail}")
        if r["leftover_processes"]:
            print(f"    WARNING: {r['leftover_processes']} process(es) of this class were still alive 3 s after it ended (killed)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"target": which, "python": sys.version.split()[0], "classes": results, "total": total}, f, indent=2)
    print(f"conformance: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped", flush=True)
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    import run_conformance  # the classes must live in an importable module, not __main__
    sys.exit(run_conformance.main())
