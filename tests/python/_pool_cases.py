"""Pool/executor test cases shared by the bindings (not collected: no ``test_`` prefix).

A binding module subclasses these classes and provides two fixtures:
``make_pool(processes=2, **kw)`` and ``make_executor(max_workers=2, **kw)``
(factories whose objects are torn down, time-bounded, with a check that no
child process remains). ``DotNetCases`` also needs ``dotnet_method(name)``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import signal
import sys
import threading
import time
import warnings

import pytest

import dotbridge
import _tasks

T = 30  # seconds: the bound of every blocking wait in these cases


def wait_until_dead(pids, workers, timeout=T):
    """Wait until none of ``pids`` is reported alive by ``workers()`` (the pool noticed the kills)."""
    end = time.monotonic() + timeout
    while any(w.pid in pids and w.is_alive() for w in workers()):
        assert time.monotonic() < end, "the pool never noticed its killed workers"
        time.sleep(0.02)


class _W:
    def __init__(self, d):
        self.pid, self._alive = d["pid"], d.get("alive", True)

    def is_alive(self):
        return self._alive


def make_fixtures(before_create=None):
    """Build the ``make_pool``/``make_executor`` fixtures for a binding module."""
    from conftest import children, wait_no_children

    @pytest.fixture
    def make_pool(monkeypatch):
        if before_create is not None:
            before_create(monkeypatch)
        before = set(children())
        pools = []

        def factory(processes=2, **kw):
            p = dotbridge.Pool(processes, **kw)
            pools.append(p)
            return p
        yield factory
        for p in pools:
            p.terminate()
            if p._native is not None:
                assert p._native.join(T), "pool did not shut down in time"
        left = wait_no_children(before)
        assert not left, f"child processes left behind: {left}"

    @pytest.fixture
    def make_executor(monkeypatch):
        if before_create is not None:
            before_create(monkeypatch)
        from dotbridge.futures import ProcessPoolExecutor
        before = set(children())
        exes = []

        def factory(max_workers=2, **kw):
            e = ProcessPoolExecutor(max_workers, **kw)
            exes.append(e)
            return e
        yield factory
        for e in exes:
            e._shutdown = True
            e._native.terminate()
            assert e._native.join(T), "executor did not shut down in time"
        left = wait_no_children(before)
        assert not left, f"child processes left behind: {left}"

    return make_pool, make_executor


class PythonWorkerCases:
    # -- basics ----------------------------------------------------------------
    def test_map_returns_results_in_order(self, make_pool):
        pool = make_pool()
        assert pool.map(_tasks.sqr, range(100)) == [x * x for x in range(100)]
        assert pool.map(_tasks.sqr, range(10), chunksize=3) == [x * x for x in range(10)]
        assert pool.map(_tasks.sqr, []) == []

    def test_starmap_and_apply_pass_arguments(self, make_pool):
        pool = make_pool()
        assert pool.starmap(_tasks.add, [(1, 2), (3, 4)]) == [3, 7]
        assert pool.apply(_tasks.add, (1, 2), {"c": 10}) == 13
        assert pool.apply_async(_tasks.add, (5,)).get(T) == 5
        assert pool.starmap_async(_tasks.add, [(1, 1)]).get(T) == [2]

    def test_work_runs_in_other_processes_named_like_pool_workers(self, make_pool):
        pool = make_pool()
        pids = set(pool.map(_tasks.pid, range(20), chunksize=1))
        assert os.getpid() not in pids
        assert pids <= {w.pid for w in pool._pool}
        assert all(w.is_alive() for w in pool._pool)
        assert pool.apply(_tasks.process_name).startswith("SpawnPoolWorker-")
        assert pool.apply(_tasks.stdin_is_devnull)

    def test_imap_and_imap_unordered(self, make_pool):
        pool = make_pool()
        assert list(pool.imap(_tasks.sqr, range(50))) == [x * x for x in range(50)]
        assert list(pool.imap(_tasks.sqr, iter(range(50)), chunksize=7)) == [x * x for x in range(50)]
        assert sorted(pool.imap_unordered(_tasks.sqr, range(50), chunksize=3)) == sorted(x * x for x in range(50))

    def test_imap_over_generator_is_consumed_lazily(self, make_pool):
        pool = make_pool()
        it = pool.imap(_tasks.sqr, (x for x in range(1000)), chunksize=10)
        assert [it.next(T) for _ in range(5)] == [0, 1, 4, 9, 16]
        assert sum(1 for _ in it) == 995

    def test_imap_reraises_iterable_exception_at_its_position(self, make_pool):
        pool = make_pool()
        for chunksize, expect in ((1, 7), (2, 6), (3, 6)):
            it = pool.imap(_tasks.sqr, _tasks.exception_throwing_generator(20, 7), chunksize)
            assert [next(it) for _ in range(expect)] == [i * i for i in range(expect)]
            with pytest.raises(_tasks.SayWhenError) as info:
                it.next(T)
            assert info.value.__cause__ is None
            with pytest.raises(StopIteration):
                it.next(T)

    def test_imap_next_timeout_raises_multiprocessing_timeout(self, make_pool):
        pool = make_pool()
        it = pool.imap(_tasks.sleep_then, [1], chunksize=1)
        with pytest.raises(dotbridge.TimeoutError):
            it.next(0.05)
        assert it.next(T) == 1

    def test_get_timeout_raises_multiprocessing_timeout(self, make_pool):
        pool = make_pool()
        r = pool.apply_async(_tasks.sleep_then, (7,))
        with pytest.raises(dotbridge.TimeoutError):
            r.get(0.05)
        assert not r.ready()
        with pytest.raises(ValueError):
            r.successful()
        assert r.get(T) == 7
        assert r.ready() and r.successful()

    # -- callbacks ----------------------------------------------------------------
    def test_callbacks_run_before_wait_returns(self, make_pool):
        pool = make_pool()
        got, errs = [], []
        r = pool.map_async(_tasks.sqr, range(5), callback=got.append, error_callback=errs.append)
        r.wait(T)
        assert got == [[0, 1, 4, 9, 16]] and errs == []
        r2 = pool.apply_async(_tasks.fail_on, (3,), callback=got.append, error_callback=errs.append)
        r2.wait(T)
        assert len(errs) == 1 and isinstance(errs[0], ValueError)
        assert not r2.successful()
        names = []
        pool.apply_async(_tasks.sqr, (2,), callback=lambda v: names.append(threading.current_thread().name)).wait(T)
        assert names and names[0] != threading.current_thread().name

    # -- errors ----------------------------------------------------------------
    def test_exception_keeps_type_and_remote_source_line(self, make_pool):
        pool = make_pool()
        with pytest.raises(ValueError, match="bad value 3") as info:
            pool.map(_tasks.fail_on, range(10), chunksize=2)
        cause = info.value.__cause__
        assert cause is not None and type(cause).__name__ == "RemoteTraceback"
        assert "REMOTE-SOURCE-LINE" in str(cause)
        with pytest.raises(_tasks.CustomError) as info2:
            pool.apply(_tasks.raise_custom)
        assert info2.value.code == 42

    def test_exception_that_cannot_be_rebuilt_becomes_remote_error(self, make_pool):
        pool = make_pool()
        with pytest.raises(dotbridge.RemoteError) as info:
            pool.apply(_tasks.raise_unpicklable)
        assert "Unpicklable" in info.value.remote_type
        assert "1-2" in str(info.value)

    def test_unpicklable_result_is_maybe_encoding_error(self, make_pool):
        pool = make_pool()
        from multiprocessing.pool import MaybeEncodingError
        with pytest.raises(MaybeEncodingError):
            pool.apply(_tasks.return_unpicklable)
        assert pool.apply(_tasks.sqr, (3,)) == 9

    @pytest.mark.broken_pool
    def test_killed_worker_fails_the_call_and_the_pool_goes_on(self, make_pool):
        pool = make_pool()
        r = pool.apply_async(_tasks.sleep_return_pid, (60,))
        time.sleep(0.5)
        victims = [w.pid for w in pool._pool]
        assert victims
        for p in victims:
            os.kill(p, signal.SIGKILL)
        with pytest.raises(dotbridge.WorkerCrashedError) as info:
            r.get(T)
        assert isinstance(info.value, cf.process.BrokenProcessPool)
        assert info.value.exitcode == -signal.SIGKILL
        wait_until_dead(set(victims), lambda: pool._pool)
        assert pool.apply_async(_tasks.sqr, (4,)).get(T) == 16

    @pytest.mark.broken_pool
    def test_worker_killing_itself_does_not_hang_map(self, make_pool):
        pool = make_pool()
        with pytest.raises(dotbridge.WorkerCrashedError):
            pool.map_async(_tasks.kill_self, range(2), chunksize=1).get(T)
        assert pool.map_async(_tasks.sqr, range(3)).get(T) == [0, 1, 4]

    # -- pickling ----------------------------------------------------------------
    def test_lambdas_and_closures_travel_with_cloudpickle(self, make_pool):
        pytest.importorskip("cloudpickle")
        pool = make_pool()
        k = 3
        assert pool.map(lambda x: x * k, range(4)) == [0, 3, 6, 9]

        def nested(x):
            return x + k
        assert pool.apply(nested, (1,)) == 4

    def test_unpicklable_argument_raises_in_the_caller(self, make_pool):
        pool = make_pool()
        with pytest.raises((pickle.PicklingError, TypeError)):
            pool.apply(_tasks.sqr, (threading.Lock(),))
        assert pool.apply(_tasks.sqr, (2,)) == 4

    # -- life cycle ----------------------------------------------------------------
    def test_initializer_runs_in_each_worker(self, make_pool):
        pool = make_pool(2, initializer=_tasks.init_store, initargs=("ready",))
        assert set(pool.map(_tasks.get_initialized, range(8), chunksize=1)) == {"ready"}

    def test_validation_matches_stdlib(self, make_pool):
        with pytest.raises(ValueError, match="at least 1"):
            dotbridge.Pool(0)
        with pytest.raises(ValueError):
            dotbridge.Pool(1, maxtasksperchild=0)
        with pytest.raises(TypeError):
            dotbridge.Pool(1, initializer=3)

    def test_state_repr_reduce_and_context_manager(self, make_pool):
        from multiprocessing.pool import CLOSE, RUN
        pool = make_pool(1)
        assert pool._state == RUN
        assert "state=RUN" in repr(pool) and "pool_size=1" in repr(pool)
        with pytest.raises(NotImplementedError):
            pickle.dumps(pool)
        with pool as p:
            assert p is pool
        with pytest.raises(ValueError, match="Pool not running"):
            pool.apply(_tasks.sqr, (1,))
        with pytest.raises(ValueError, match="Pool not running"):
            with pool:
                pass
        pool2 = make_pool(1)
        with pytest.raises(ValueError):
            pool2.join()
        pool2.close()
        assert pool2._state == CLOSE
        pool2.join()

    def test_close_finishes_queued_work(self, make_pool):
        pool = make_pool(2)
        r = pool.map_async(_tasks.sleep_then, [1, 2, 3], chunksize=1)
        pool.close()
        assert r.get(T) == [1, 2, 3]
        pool.join()

    def test_terminate_fails_unfinished_results(self, make_pool):
        pool = make_pool(1)
        r = pool.map_async(_tasks.sleep_then, [1, 2, 3, 4], chunksize=1)
        time.sleep(0.2)
        pool.terminate()
        with pytest.raises(Exception):
            r.get(T)

    def test_unclosed_pool_warns(self, make_pool):
        from multiprocessing.pool import RUN
        pool = make_pool(1)
        pool.terminate()
        pool._state = RUN
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            pool.__del__()
        assert any(issubclass(x.category, ResourceWarning) and "unclosed running multiprocessing pool"
                   in str(x.message) for x in w)
        pool._state = "TERMINATE"

    def test_maxtasksperchild_replaces_workers(self, make_pool):
        pool = make_pool(1, maxtasksperchild=1)
        pids = {pool.apply(_tasks.pid) for _ in range(3)}
        assert len(pids) == 3


class ExecutorCases:
    def test_submit_and_as_completed(self, make_executor):
        exe = make_executor()
        futs = [exe.submit(_tasks.add, i, c=1) for i in range(10)]
        assert all(isinstance(f, cf.Future) for f in futs)
        assert sorted(f.result() for f in cf.as_completed(futs, timeout=T)) == list(range(1, 11))
        done, not_done = cf.wait(futs, timeout=T)
        assert len(done) == 10 and not not_done

    def test_map_with_chunks_and_timeout(self, make_executor):
        exe = make_executor()
        assert list(exe.map(_tasks.add, range(10), range(10), chunksize=3, timeout=T)) == [2 * i for i in range(10)]
        with pytest.raises(cf.TimeoutError):
            list(exe.map(_tasks.sleep_then, [1, 2], timeout=0.05))

    def test_exception_in_future(self, make_executor):
        exe = make_executor()
        f = exe.submit(_tasks.fail_on, 3)
        with pytest.raises(ValueError) as info:
            f.result(T)
        assert "REMOTE-SOURCE-LINE" in str(info.value.__cause__)

    @pytest.mark.broken_pool
    def test_each_future_gets_its_own_crash_exception_and_the_executor_goes_on(self, make_executor):
        exe = make_executor(2)
        futs = [exe.submit(_tasks.sleep_return_pid, 60) for _ in range(2)]
        deadline = time.monotonic() + T
        while len(exe._native.workers("python")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        victims = {w["pid"] for w in exe._native.workers("python")}
        for p in victims:
            os.kill(p, signal.SIGKILL)
        excs = [f.exception(T) for f in futs]
        assert all(isinstance(e, dotbridge.WorkerCrashedError) for e in excs)
        assert excs[0] is not excs[1]
        wait_until_dead(victims, lambda: [_W(d) for d in exe._native.workers("python")])
        assert exe.submit(_tasks.sqr, 5).result(T) == 25

    def test_shutdown_then_submit_raises(self, make_executor):
        exe = make_executor()
        assert exe.submit(_tasks.sqr, 2).result(T) == 4
        exe.shutdown(wait=True)
        with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
            exe.submit(_tasks.sqr, 2)

    def test_cancel_pending_future(self, make_executor):
        exe = make_executor(1)
        first = exe.submit(_tasks.sleep_then, 1, 1.0)
        later = [exe.submit(_tasks.sqr, i) for i in range(5)]
        cancelled = [f.cancel() for f in later]
        assert first.result(T) == 1
        for f, c in zip(later, cancelled):
            if c:
                assert f.cancelled()
            else:
                assert f.result(T) is not None
        assert any(cancelled)

    def test_validation_matches_stdlib(self, make_executor):
        from dotbridge.futures import ProcessPoolExecutor
        with pytest.raises(ValueError):
            ProcessPoolExecutor(0)
        with pytest.raises(TypeError):
            ProcessPoolExecutor(1, initializer=3)
        with pytest.raises(ValueError):
            ProcessPoolExecutor(1, max_tasks_per_child=0)


class DotNetCases:
    """Cases for .NET workers (methods of Bridge.Samples, helper "dotnetworker")."""

    def test_map_starmap_imap_over_dotnet_methods(self, make_pool, dotnet_method):
        pool = make_pool()
        count = dotnet_method("Bridge.Samples.Primes.Count")
        assert pool.starmap(count, [(0, 10), (0, 100)]) == [4, 25]
        assert pool.apply(count, (0, 100)) == 25
        ident = dotnet_method("Bridge.Samples.Echo.Identity")
        assert pool.map(ident, range(100)) == list(range(100))
        assert list(pool.imap(ident, range(20))) == list(range(20))
        assert sorted(pool.imap_unordered(ident, iter(range(20)), chunksize=3)) == list(range(20))
        got = []
        pool.map_async(ident, [1, 2], callback=got.append).wait(T)
        assert got == [[1, 2]]

    def test_values_cross_the_codec(self, make_pool, dotnet_method):
        pool = make_pool()
        fact = dotnet_method("Bridge.Samples.Conversions.Factorial")
        assert pool.apply(fact, (30,)) == 265252859812191058636308480000000
        assert pool.apply(dotnet_method("Bridge.Samples.Conversions.Increment"), (2 ** 70,)) == 2 ** 70 + 1
        counts = pool.apply(dotnet_method("Bridge.Samples.Conversions.WordCounts"), (["a", "b", "a"],))
        assert counts == {"a": 2, "b": 1}
        assert pool.apply(dotnet_method("Bridge.Samples.Echo.Text"), ("héllo",)) == "héllo"
        assert pool.apply(dotnet_method("Bridge.Samples.Echo.Bytes"), (b"\x00\x01",)) == b"\x00\x01"
        np = pytest.importorskip("numpy")
        scaled = pool.apply(dotnet_method("Bridge.Samples.Conversions.Scale"), (np.arange(4.0), 2.0))
        assert isinstance(scaled, np.ndarray) and scaled.tolist() == [0.0, 2.0, 4.0, 6.0]

    def test_dotnet_exceptions_map_to_python_types(self, make_pool, dotnet_method):
        pool = make_pool()
        with pytest.raises(ZeroDivisionError) as info:
            pool.apply(dotnet_method("Bridge.Samples.Errors.Divide"), (1, 0))
        assert isinstance(info.value, dotbridge.DotNetError)
        assert info.value.dotnet_type == "System.DivideByZeroException"
        assert "Divide" in str(info.value.__cause__)
        with pytest.raises(ValueError, match="nope"):
            pool.apply(dotnet_method("Bridge.Samples.Errors.Throw"), ("System.ArgumentException", "nope"))
        with pytest.raises(dotbridge.DotNetError):
            pool.apply(dotnet_method("Bridge.Samples.Errors.Unencodable"))
        assert pool.apply(dotnet_method("Bridge.Samples.Echo.Add"), (2, 3)) == 5

    def test_unknown_method_is_attribute_error(self, make_pool, dotnet_method):
        pool = make_pool()
        with pytest.raises(AttributeError) as info:
            pool.apply(dotnet_method("Bridge.Samples.Primes.NoSuchMethod"), (1,))
        assert isinstance(info.value, dotbridge.DotNetError)

    def test_bad_arguments_are_type_error(self, make_pool, dotnet_method):
        pool = make_pool()
        with pytest.raises(TypeError) as info:
            pool.apply(dotnet_method("Bridge.Samples.Primes.Count"), ("not a number", 3))
        assert isinstance(info.value, dotbridge.DotNetError)

    def test_keyword_arguments_are_refused(self, make_pool, dotnet_method):
        pool = make_pool()
        with pytest.raises(TypeError, match="keyword"):
            pool.apply(dotnet_method("Bridge.Samples.Primes.Count"), (1, 2), {"x": 1})

    def test_executor_submits_dotnet_methods(self, make_executor, dotnet_method):
        exe = make_executor()
        add = dotnet_method("Bridge.Samples.Echo.Add")
        futs = [exe.submit(add, i, 1) for i in range(5)]
        assert [f.result(T) for f in futs] == [1, 2, 3, 4, 5]
        assert list(exe.map(add, range(3), range(3), chunksize=2)) == [0, 2, 4]

    def test_calling_a_handle_directly_uses_a_module_pool(self, dotnet_method):
        add = dotnet_method("Bridge.Samples.Echo.Add")
        assert add(2, 3) == 5
