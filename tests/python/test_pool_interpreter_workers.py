"""The shared pool/executor cases (``_pool_cases``) against interpreter workers: ``Pool(workers="interpreters")``
and ``ProcessPoolExecutor(workers="interpreters")`` (CPython 3.12+; ``scripts/test`` runs this under
``.venv-3.13``). The same API and error mapping as process workers; the few cases that are about
*processes* (other pids, SIGKILLed workers, stdin) are replaced by interpreter-worker versions in
``test_interpreter_workers.py`` and skipped here with the reason.
"""

import functools
import os
import threading

import pytest

import dotbridge
import _tasks
from _pool_cases import ExecutorCases, PythonWorkerCases, make_fixtures
from dotbridge.interpreters import supported_here

_ok, _why = supported_here()
pytestmark = pytest.mark.skipif(not _ok, reason=f"interpreter workers unavailable here: {_why}")


def _interpreters(monkeypatch):
    import dotbridge.futures
    monkeypatch.setattr(dotbridge, "Pool", functools.partial(dotbridge.pool.Pool, workers="interpreters"))
    monkeypatch.setattr(dotbridge.futures, "ProcessPoolExecutor",
                        functools.partial(dotbridge.futures.ProcessPoolExecutor, workers="interpreters"))


make_pool, make_executor = make_fixtures(_interpreters)

_SAME_PROCESS = "interpreter workers live in this process (one pid); see test_interpreter_workers.py"
_NO_KILL = "an interpreter worker has no process to SIGKILL (killing its pid kills the caller)"


class TestPool(PythonWorkerCases):
    def test_work_runs_in_other_processes_named_like_pool_workers(self, make_pool):
        pool = make_pool()
        seen = set(pool.map(_tasks.pid, range(20), chunksize=1))
        assert seen == {os.getpid()}
        assert pool.apply(_tasks.process_name).startswith("SpawnPoolWorker-")
        threads = set(pool.map(_thread_id, range(20), chunksize=1))
        assert threading.get_ident() not in threads

    @pytest.mark.skip(reason=_NO_KILL)
    def test_killed_worker_fails_the_call_and_the_pool_goes_on(self, make_pool):
        pass

    @pytest.mark.skip(reason=_NO_KILL + "; sys.exit in a task is tested in test_interpreter_workers.py")
    def test_worker_killing_itself_does_not_hang_map(self, make_pool):
        pass

    @pytest.mark.skip(reason=_SAME_PROCESS + " (maxtasksperchild: test_initializer_and_maxtasksperchild_restart_interpreters)")
    def test_maxtasksperchild_replaces_workers(self, make_pool):
        pass


class TestExecutor(ExecutorCases):
    @pytest.mark.skip(reason=_NO_KILL)
    def test_each_future_gets_its_own_crash_exception_and_the_executor_goes_on(self, make_executor):
        pass


def _thread_id(_=None):
    return threading.get_ident()
