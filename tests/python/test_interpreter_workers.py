"""Interpreter workers from Python: ``Pool(workers="interpreters")`` and ``InterpreterPoolExecutor``.

They need CPython 3.12+ (a GIL per sub-interpreter): ``scripts/test`` runs this file under
``.venv-3.13`` (``scripts/_env.sh`` ``ensure_interp_venv``, from pyenv's 3.13 or 3.12). Under 3.11
(the project's .venv) only the refusal tests run; the rest skip with that reason.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import dotbridge
import _interp_tasks as tasks
from dotbridge.futures import InterpreterPoolExecutor, ProcessPoolExecutor
from dotbridge.interpreters import InterpreterWorkersUnavailable, supported_here

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SUPPORTED, REASON = supported_here()
needs_312 = pytest.mark.skipif(not SUPPORTED, reason=f"interpreter workers unavailable here: {REASON}")


def _interp_threads() -> list:
    return [t for t in threading.enumerate() if t.name.startswith("dotbridge-interpreter-")]


def _wait_no_interp_threads(timeout: float = 10.0) -> list:
    end = time.monotonic() + timeout
    while _interp_threads() and time.monotonic() < end:
        time.sleep(0.02)
    return _interp_threads()


@pytest.fixture
def pool():
    p = dotbridge.Pool(2, workers="interpreters")
    try:
        yield p
    finally:
        p.terminate()
        p.join()
    assert not _wait_no_interp_threads(), "interpreter worker threads left behind"


# -- below 3.12: a clear refusal ------------------------------------------------------------------

@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ runs interpreter workers (tests below)")
def test_refused_below_312_with_the_version_and_the_alternative():
    for make in (lambda: dotbridge.Pool(1, workers="interpreters"),
                 lambda: ProcessPoolExecutor(1, workers="interpreters"),
                 lambda: InterpreterPoolExecutor(1)):
        with pytest.raises(InterpreterWorkersUnavailable) as info:
            make()
        msg = str(info.value)
        assert "3.12" in msg and f"{sys.version_info.major}.{sys.version_info.minor}" in msg
        assert "process workers" in msg


def test_unknown_worker_kind_is_a_value_error():
    with pytest.raises(ValueError, match="workers must be one of"):
        dotbridge.Pool(1, workers="threads")
    with pytest.raises(ValueError, match="workers must be one of"):
        ProcessPoolExecutor(1, workers="threads")


# -- 3.12+: the task API ------------------------------------------------------------------------

@needs_312
def test_workers_are_subinterpreters_of_this_process_on_other_threads(pool):
    seen = pool.map(tasks.where, range(8), chunksize=1)
    pids = {p for p, _, _ in seen}
    threads = {t for _, t, _ in seen}
    interps = {i for _, _, i in seen}
    assert pids == {os.getpid()}
    assert threading.get_ident() not in threads
    assert 0 not in interps and None not in interps  # never the main interpreter
    assert [w["pid"] for w in pool._native.workers("python")] == [os.getpid()] * 2


@needs_312
def test_apply_map_imap_starmap_and_async(pool):
    assert pool.apply(tasks.add, (2, 3)) == 5
    assert pool.apply(pow, (2, 100)) == 2 ** 100
    assert pool.map(tasks.sqr, range(100)) == [x * x for x in range(100)]
    assert pool.map(tasks.sqr, range(50), chunksize=7) == [x * x for x in range(50)]
    assert pool.starmap(tasks.add, [(1, 2), (3, 4), (5, 6)]) == [3, 7, 11]
    assert list(pool.imap(tasks.sqr, range(20))) == [x * x for x in range(20)]
    assert list(pool.imap(tasks.sqr, iter(range(20)), chunksize=3)) == [x * x for x in range(20)]
    assert sorted(pool.imap_unordered(tasks.sqr, range(20))) == [x * x for x in range(20)]
    got = []
    r = pool.map_async(tasks.sqr, range(10), callback=got.append)
    assert r.get(timeout=30) == [x * x for x in range(10)]
    r.wait(10)
    assert got == [[x * x for x in range(10)]]
    assert pool.apply_async(tasks.sleep_then, (7, 0.01)).get(timeout=30) == 7


@needs_312
def test_errors_map_as_for_process_workers(pool):
    with pytest.raises(ValueError, match="bad item 3") as info:
        pool.map(tasks.fail_on, range(6), chunksize=1)
    cause = info.value.__cause__
    assert type(cause).__name__ == "RemoteTraceback"
    assert "_interp_tasks.py" in str(cause) and "raise ValueError" in str(cause)
    with pytest.raises(RuntimeError, match="outer 1") as info:
        pool.apply(tasks.chained, (1,))
    assert "KeyError" in str(info.value.__cause__)
    with pytest.raises(multiprocessing_pool().MaybeEncodingError):
        pool.apply(tasks.unpicklable)
    errors = []
    pool.apply_async(tasks.fail_on, (3,), error_callback=errors.append).wait(30)
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(errors[0], ValueError)
    assert pool.apply(tasks.sqr, (9,)) == 81  # the pool stays healthy


def multiprocessing_pool():
    import multiprocessing.pool
    return multiprocessing.pool


@needs_312
def test_a_module_that_refuses_subinterpreters_is_a_clear_import_error(pool):
    name = None
    for candidate in ("numpy", "_testsinglephase"):
        try:
            __import__(candidate)
        except ImportError:
            continue
        name = candidate
        break
    if name is None:
        pytest.skip("neither numpy nor _testsinglephase is importable in this Python")
    with pytest.raises(ImportError) as info:
        pool.apply(tasks.import_module, (name,))
    msg = str(info.value)
    assert name in msg and "sub-interpreters" in msg and "process workers" in msg
    assert pool.apply(tasks.sqr, (4,)) == 16  # the worker is still usable


@needs_312
def test_a_worker_that_exits_fails_its_task_and_is_replaced(pool):
    with pytest.raises(dotbridge.WorkerCrashedError) as info:
        pool.apply(tasks.exit_worker, (3,))
    assert info.value.exitcode == 3
    assert "interpreter worker" in str(info.value)
    assert pool.map(tasks.sqr, range(10)) == [x * x for x in range(10)]


@needs_312
def test_initializer_and_maxtasksperchild_restart_interpreters():
    with dotbridge.Pool(2, initializer=tasks.init, initargs=("ready",), maxtasksperchild=2,
                        workers="interpreters") as p:
        got = p.map(tasks.initialized, range(12), chunksize=1)
        interps = {i for _, _, i in p.map(tasks.where, range(12), chunksize=1)}
    assert got == ["ready"] * 12
    assert len(interps) >= 3  # each interpreter ran at most 2 chunks
    assert not _wait_no_interp_threads()


@needs_312
def test_each_worker_has_its_own_gil(tmp_path):
    """Worker A spins holding its interpreter's GIL (switch interval 100 s, no blocking call) until
    worker B writes to a shared mapping; under one shared GIL B could never run and A times out. The
    speed-up figure (2 vs 1 workers) is in the bench (scripts/bench_interp.py), not here."""
    import mmap
    path = tmp_path / "flags"
    path.write_bytes(b"\0\0")
    with dotbridge.Pool(2, workers="interpreters") as p:
        p.map(tasks.sqr, range(4), chunksize=1)
        holder = p.apply_async(tasks.gil_holder, (str(path), 10.0))
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), 2) as m:
            deadline = time.monotonic() + 30
            while m[1] == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert m[1] == 1, "worker A never started"
        assert p.apply(tasks.gil_poker, (str(path),)) == "poked"  # runs on the idle worker B
        assert holder.get(timeout=30) == "saw the other worker"


# -- shutdown --------------------------------------------------------------------------------------

@needs_312
def test_terminate_with_tasks_in_flight_is_bounded():
    p = dotbridge.Pool(2, workers="interpreters")
    r = p.map_async(tasks.sleep_then, range(8), chunksize=1)
    time.sleep(0.1)
    t0 = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - t0 < 5
    with pytest.raises(Exception):
        r.get(timeout=5)
    assert not _wait_no_interp_threads()


@needs_312
def test_terminate_interrupts_workers_busy_in_python_code():
    """A worker cannot be killed; terminate() raises SystemExit in one still running Python code."""
    p = dotbridge.Pool(2, workers="interpreters")
    p.map(tasks.sqr, range(4), chunksize=1)
    r = p.map_async(tasks.spin, [10 ** 10, 10 ** 10], chunksize=1)  # hours, if not interrupted
    time.sleep(0.3)
    t0 = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - t0 < 10
    with pytest.raises(Exception):
        r.get(timeout=5)
    assert not _wait_no_interp_threads()


@needs_312
def test_close_join_finishes_queued_work():
    p = dotbridge.Pool(2, workers="interpreters")
    r = p.map_async(tasks.sleep_then, [(i) for i in range(6)], chunksize=1)
    p.close()
    p.join()
    assert r.get(timeout=5) == list(range(6))
    assert not _wait_no_interp_threads()


@needs_312
def test_executor_submit_map_errors_and_shutdown():
    with InterpreterPoolExecutor(2) as ex:
        assert ex.submit(tasks.add, 1, 2).result(timeout=30) == 3
        assert list(ex.map(tasks.sqr, range(10), chunksize=3)) == [x * x for x in range(10)]
        fut = ex.submit(tasks.fail_on, 3)
        assert isinstance(fut.exception(timeout=30), ValueError)
        futs = [ex.submit(tasks.sleep_then, i, 0.05) for i in range(6)]
        done, _ = concurrent.futures.wait(futs, timeout=30)
        assert sorted(f.result() for f in done) == list(range(6))
    with ProcessPoolExecutor(2, workers="interpreters") as ex:
        assert ex.submit(tasks.sqr, 12).result(timeout=30) == 144
    assert not _wait_no_interp_threads()


@needs_312
@pytest.mark.parametrize("ending", ["idle pool left open", "task in flight", "closed and joined",
                                    "busy in a long call"])
def test_no_hang_or_abort_at_interpreter_exit(ending, tmp_path):
    """A script that leaves an interpreter pool behind exits normally (the exit hook terminates it and
    ends every sub-interpreter before finalization)."""
    body = {
        "idle pool left open": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)))",
        "task in flight": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)));"
                          " r = p.map_async(t.sleep_then, [1, 2, 3], chunksize=1); time.sleep(0.1)",
        "closed and joined": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)));"
                             " p.close(); p.join()",
        "busy in a long call": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)));"
                               " r = p.apply_async(t.spin, (10 ** 10,)); time.sleep(0.3)",
    }[ending]
    script = tmp_path / "exit_case.py"
    script.write_text(textwrap.dedent(f"""\
        import sys, time
        sys.path.insert(0, {HERE!r})
        import dotbridge
        import _interp_tasks as t
        if __name__ == "__main__":
            {body}
            print("end of script", flush=True)
        """))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["9", "end", "of", "script"], proc.stdout + proc.stderr
    assert "remaining subinterpreters" not in proc.stderr
    assert time.monotonic() - t0 < 30


@needs_312
def test_a_main_script_that_imports_a_refusing_module_breaks_the_pool_with_that_reason(tmp_path):
    """Workers import the caller's ``__main__`` as spawn does; if it imports a module without
    sub-interpreter support, the pool is broken at start (not respawned forever) with that reason."""
    try:
        import _testsinglephase  # noqa: F401
    except ImportError:
        pytest.skip("no _testsinglephase in this Python build")
    script = tmp_path / "main_refuses.py"
    script.write_text(textwrap.dedent("""\
        import _testsinglephase
        import dotbridge

        def sq(x):
            return x * x

        if __name__ == "__main__":
            with dotbridge.Pool(2, workers="interpreters") as p:
                try:
                    p.map(sq, range(3))
                except dotbridge.BrokenProcessPool as e:
                    print("BROKEN", e)
        """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("BROKEN"), proc.stdout + proc.stderr
    assert "_testsinglephase" in proc.stdout and "process workers" in proc.stdout


@needs_312
def test_one_pool_runs_interpreter_workers_and_dotnet_workers(pool):
    """Only the Python kind moves into interpreters: ``dotnet.method`` handles still go to .NET worker processes
    of the same C# pool."""
    from dotbridge._native import default_dotnet_worker
    if not os.path.exists(default_dotnet_worker()[0]):
        pytest.skip("the .NET worker is not published (scripts/setup)")
    count = dotbridge.dotnet.method("Bridge.Samples.Primes.Count")
    assert pool.starmap(count, [(0, 1000), (1000, 2000)]) == [168, 135]
    assert pool.map(tasks.sqr, range(5)) == [0, 1, 4, 9, 16]
    assert {w["pid"] for w in pool._native.workers("python")} == {os.getpid()}
    assert os.getpid() not in {w["pid"] for w in pool._native.workers("dotnet")}
