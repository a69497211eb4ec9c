"""NativePool (the ctypes wrapper of libdotbridge.so) driven directly with real Python workers."""

from __future__ import annotations

import os
import pickle
import signal
import sys
import time

import msgpack
import pytest

from conftest import PYTHON_SRC, children, wait_no_children

_WORKER = os.path.join(PYTHON_SRC, "dotbridge", "_worker.py")
T = 30

try:
    from dotbridge import _native
    _native.load_library()
    _REASON = "" if os.path.exists(_WORKER) else "python/dotbridge/_worker.py is not there yet"
except ImportError as e:  # the library is not built
    _native = None
    _REASON = str(e)

pytestmark = pytest.mark.skipif(bool(_REASON), reason=_REASON or "n/a")

OK, ERROR, CRASHED, CANCELLED, BROKEN = 0, 1, 2, 3, 4


def _options(**kw):
    opts = {"processes": 2, "python": sys.executable, "prestart": ["python"],
            "env": {"PYTHONPATH": PYTHON_SRC}}
    opts.update(kw)
    return opts


@pytest.fixture
def make():
    before = set(children())
    pools = []

    def factory(**kw):
        p = _native.NativePool(_options(**kw))
        pools.append(p)
        return p
    yield factory
    for p in pools:
        p.terminate()
        assert p.join(T)
        p.destroy()
    left = wait_no_children(before)
    assert not left, f"child processes left behind: {left}"


def _chunk(func, calls, star=True):
    return pickle.dumps((func, calls, star, None)), len(calls)


def _wait_live(pool, n, timeout=T):
    end = time.monotonic() + timeout
    while True:
        ws = [w for w in pool.workers() if w["alive"] and w["ready"]]
        if len(ws) >= n:
            return ws
        assert time.monotonic() < end, "workers did not start"
        time.sleep(0.01)


def test_pickle_chunk_round_trip(make):
    p = make()
    job = p.submit("python", 0, None, [_chunk(pow, [(2, 5)])])
    assert p.wait(job, T)
    assert p.ready(job)
    [(status, payload)] = p.results(job)
    assert status == OK
    assert pickle.loads(payload) == [32]
    p.release(job)


def test_many_chunks_come_back_in_chunk_order(make):
    p = make()
    chunks = [_chunk(pow, [(2, i), (3, i)]) for i in range(50)]
    job = p.submit("python", 0, None, chunks, failfast=True)
    assert p.wait(job, T)
    res = p.results(job)
    assert [s for s, _ in res] == [OK] * 50
    assert [pickle.loads(b) for _, b in res] == [[2 ** i, 3 ** i] for i in range(50)]


def test_msgpack_chunk_with_a_builtin_target(make):
    p = make()
    job = p.submit("python", 1, "builtins:pow", [(msgpack.packb([[2, 10], [3, 3]]), 2)])
    assert p.wait(job, T)
    [(status, payload)] = p.results(job)
    assert status == OK
    assert msgpack.unpackb(payload) == [1024, 27]


def test_error_status_carries_the_error_map(make):
    p = make()
    job = p.submit("python", 0, None, [_chunk(int, ["x"], star=False)])
    assert p.wait(job, T)
    [(status, payload)] = p.results(job)
    assert status == ERROR
    err, pickled = msgpack.unpackb(payload, raw=False)
    assert err["type"] == "builtins.ValueError"
    assert pickled is not None


def test_open_job_next_in_order_then_end(make):
    p = make()
    job = p.open_job("python", 0, None)
    for i in range(5):
        p.add_chunk(job, *_chunk(pow, [(2, i)]))
    p.seal(job)
    got = []
    while (item := p.next(job, T)) is not None:
        got.append((item[0], item[1], pickle.loads(item[2])))
    assert got == [(i, OK, [2 ** i]) for i in range(5)]


def test_unordered_next_hands_out_every_chunk_once(make):
    p = make()
    _wait_live(p, 2)
    job = p.submit("python", 0, None, [_chunk(time.sleep, [(0.2,)]), _chunk(pow, [(2, 1)])], ordered=False)
    first = p.next(job, T)
    second = p.next(job, T)
    assert first[0] == 1  # the quick chunk finishes first
    assert {first[0], second[0]} == {0, 1}
    assert p.next(job, T) is None


def test_timeouts(make):
    p = make()
    job = p.submit("python", 0, None, [_chunk(time.sleep, [(1.0,)])])
    t0 = time.monotonic()
    assert p.wait(job, 0.05) is False
    with pytest.raises(TimeoutError):
        p.next(job, 0.05)
    assert time.monotonic() - t0 < 0.9
    assert p.wait(job, T)


def test_killed_worker_fails_its_chunk_with_the_signal_and_the_pool_goes_on(make):
    p = make()
    _wait_live(p, 2)
    job = p.submit("python", 0, None, [_chunk(os.getpid, [()])])
    assert p.wait(job, T)
    job = p.submit("python", 0, None, [_chunk(time.sleep, [(60,)])])
    time.sleep(0.3)
    victims = [w["pid"] for w in p.workers()]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    assert p.wait(job, T)
    [(status, payload)] = p.results(job)
    assert status == CRASHED
    err = msgpack.unpackb(payload, raw=False)
    assert err["exitcode"] == -signal.SIGKILL
    assert err["pid"] in victims
    job = p.submit("python", 0, None, [_chunk(pow, [(2, 3)])])
    assert p.wait(job, T)
    assert p.results(job)[0][0] == OK
    assert not set(victims) & {w["pid"] for w in p.workers()}


def test_cancel_cancels_only_undispatched_chunks(make):
    p = make(processes=1)
    _wait_live(p, 1)
    busy = p.submit("python", 0, None, [_chunk(time.sleep, [(0.5,)])] * 3)
    time.sleep(0.1)
    job = p.submit("python", 0, None, [_chunk(pow, [(2, 2)])])
    assert p.cancel(job) is True
    assert p.wait(job, 1)
    assert p.results(job)[0][0] == CANCELLED
    assert p.wait(busy, T)


def test_maxtasksperchild_replaces_workers(make):
    p = make(processes=1, maxtasksperchild=2)
    pids = set()
    for _ in range(6):
        job = p.submit("python", 0, None, [_chunk(os.getpid, [()])])
        assert p.wait(job, T)
        pids.add(pickle.loads(p.results(job)[0][1])[0])
        p.release(job)
    assert len(pids) == 3


def test_missing_executable_breaks_the_kind(make):
    p = make(python="/nonexistent/python", prestart=[])
    job = p.submit("python", 0, None, [_chunk(pow, [(2, 2)])])
    assert p.wait(job, T)
    [(status, payload)] = p.results(job)
    assert status == BROKEN
    assert "/nonexistent/python" in msgpack.unpackb(payload, raw=False)["message"]


def test_failing_initializer_is_broken_with_the_fatal_error(make):
    from dotbridge import _frames
    p = make(python_init=_frames.make_python_init(int, ("not a number",)), prestart=[])
    job = p.submit("python", 0, None, [_chunk(pow, [(2, 2)])])
    assert p.wait(job, T)
    [(status, payload)] = p.results(job)
    assert status == BROKEN
    assert msgpack.unpackb(payload, raw=False)["type"] == "builtins.ValueError"


def test_notifications_and_close_join(make):
    p = make()
    job = p.submit("python", 0, None, [_chunk(pow, [(2, 2)])], notify=True)
    assert p.next_notification(T) == job
    assert p.next_notification(0.01) is None
    p.close()
    with pytest.raises(RuntimeError):
        p.submit("python", 0, None, [_chunk(pow, [(2, 2)])])
    assert p.join(T)
    assert p.info()["live_workers"] == 0


def test_terminate_cancels_unfinished_chunks(make):
    p = make()
    job = p.submit("python", 0, None, [_chunk(time.sleep, [(60,)])])
    time.sleep(0.2)
    t0 = time.monotonic()
    p.terminate()
    assert time.monotonic() - t0 < 5
    assert p.wait(job, 1)
    assert p.results(job)[0][0] == CANCELLED


def test_chunksize_is_the_stdlib_rule(make):
    p = make(processes=3, prestart=[])
    assert p.chunksize(0) == 0
    assert p.chunksize(1) == 1
    assert p.chunksize(12) == 1
    assert p.chunksize(13) == 2
    assert p.chunksize(100) == 9  # divmod(100, 12) == (8, 4)


def test_bad_arguments_raise_value_error(make):
    p = make(prestart=[])
    with pytest.raises(ValueError):
        p.wait(12345, 0)
    with pytest.raises(ValueError):
        _native.NativePool(_options(processes=0))


def test_call1_runs_one_chunk_start_to_finish(make):
    p = make()
    status, payload = p.call1("python", 0, None, *_chunk(pow, [(2, 10)]), timeout=T)
    assert status == OK and pickle.loads(payload) == [1024]
    status, payload = p.call1("python", 0, None, *_chunk(int, [("x",)]), timeout=T)
    assert status == ERROR
    assert msgpack.unpackb(payload, raw=False)[0]["type"] == "builtins.ValueError"
    assert p.info()["jobs"] == 0  # nothing left behind


def test_call1_timeout_raises_and_forgets_the_job(make):
    p = make()
    with pytest.raises(TimeoutError):
        p.call1("python", 0, None, *_chunk(time.sleep, [(2,)]), timeout=0.2)
    assert p.info()["jobs"] == 0
    status, payload = p.call1("python", 0, None, *_chunk(pow, [(3, 2)]), timeout=T)
    assert status == OK and pickle.loads(payload) == [9]


def test_next_batch_hands_over_every_available_result_in_order(make):
    p = make()
    job = p.submit("python", 0, None, [_chunk(pow, [(2, i)]) for i in range(50)])
    assert p.wait(job, T)
    got = []
    while (batch := p.next_batch(job, T)) is not None:
        assert batch  # never an empty list
        got.extend(batch)
    assert [i for i, _, _ in got] == list(range(50))
    assert [pickle.loads(b)[0] for _, s, b in got] == [2 ** i for i in range(50)]
    assert len(got) > 0 and all(s == OK for _, s, _ in got)
    p.release(job)
