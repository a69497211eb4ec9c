"""dotbridge.queues.ValueQueue: MessagePack values shared by Python processes, Pool workers and .NET."""

from __future__ import annotations

import pickle
import queue

import pytest

import dotbridge
from dotbridge.queues import ValueQueue
from conftest import real_native_available

_ok, _why = real_native_available()
needs_native = pytest.mark.skipif(not _ok, reason=_why)


@pytest.fixture(autouse=True, scope="module")
def _resource_tracker():
    # spawn children share the stdlib's long-lived resource tracker: start it before
    # no_leftover_children looks, or it counts as left behind.
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()


def _produce(q, start, n):
    for i in range(start, start + n):
        q.put(i)
    return n


def test_put_get_in_one_process_and_empty_timeouts():
    q = ValueQueue()
    assert q.empty()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put({"k": [1, 2.5, None]})
    q.put(b"\x00" * 10)
    assert not q.empty()
    assert q.get(timeout=5) == {"k": [1, 2.5, None]}
    assert q.get_nowait() == b"\x00" * 10
    with pytest.raises(TypeError):
        q.put(object())
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.put(1)


def test_pickles_by_path_into_a_reopened_queue():
    q = ValueQueue()
    q2 = pickle.loads(pickle.dumps(q))
    q2.put("from the copy")
    assert q.get(timeout=5) == "from the copy"
    assert q.spec.startswith("dotbridge.queue:v1;read=/proc/")
    q2.close()
    q.close()


@needs_native
def test_two_pool_workers_produce_the_parent_consumes(no_leftover_children):
    q = ValueQueue()
    with dotbridge.Pool(2) as pool:
        res = pool.starmap_async(_produce, [(q, 0, 50), (q, 1000, 50)])
        got = sorted(q.get(timeout=30) for _ in range(100))
        assert res.get(timeout=30) == [50, 50]
    assert got == list(range(50)) + list(range(1000, 1050))
    q.close()


def test_a_spawned_process_produces(no_leftover_children):
    q = ValueQueue()
    p = dotbridge.Process(target=_produce, args=(q, 7, 3))
    p.start()
    assert [q.get(timeout=30) for _ in range(3)] == [7, 8, 9]
    p.join(30)
    assert p.exitcode == 0
    q.close()


@needs_native
def test_dotnet_gets_and_puts():
    inq, outq = ValueQueue(), ValueQueue()
    for x in (1, 2, 3, 4):
        inq.put(x)
    with dotbridge.Pool(1) as pool:
        total = pool.apply(dotbridge.dotnet.method("Bridge.Connections.ConnectionMethods.DoubleFromQueue"),
                           (inq.spec, outq.spec, 4))
    assert total == 10
    assert [outq.get(timeout=10) for _ in range(4)] == [2, 4, 6, 8]
    inq.close()
    outq.close()
