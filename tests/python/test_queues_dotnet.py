"""dotbridge.Queue / JoinableQueue / SimpleQueue: the stdlib's queues over dotbridge's named primitives,
shared by Python processes (Process args, Pool tasks: they pickle at any time) and by C# methods in
.NET workers (``Bridge.Connections.SharedQueue`` opened from ``q.spec``; the samples are
Bridge/Connections/QueueMethods.cs). Items are pickles; .NET reads/writes plain values (PickleValues)."""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.queues
import pickle
import queue
import random
import threading
import time

import pytest

import dotbridge
from conftest import real_native_available

_ok, _why = real_native_available()
needs_native = pytest.mark.skipif(not _ok, reason=_why)
TIMEOUT_MS = 20_000


def _m(name):
    return dotbridge.dotnet.method(f"Bridge.Connections.QueueMethods.{name}")


@pytest.fixture(autouse=True, scope="module")
def _resource_tracker():
    # spawn children share the stdlib's long-lived resource tracker: start it first so
    # no_leftover_children does not count it as left behind.
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()


@pytest.fixture(scope="module")
def pool():
    if not _ok:
        pytest.skip(_why)
    p = dotbridge.Pool(2)
    yield p
    p.terminate()


def _produce(q, start, n):
    for i in range(start, start + n):
        q.put(i)
    return n


def _consume(q, n):
    return sorted(q.get(timeout=30) for _ in range(n))


def _close(*queues):
    for q in queues:
        q.close()
        if hasattr(q, "join_thread"):
            q.join_thread()


# --- Python only -------------------------------------------------------------------------------

def test_they_are_the_stdlibs_classes_with_named_primitives():
    q, j, s = dotbridge.Queue(), dotbridge.JoinableQueue(), dotbridge.SimpleQueue()
    assert isinstance(q, multiprocessing.queues.Queue)
    assert isinstance(j, multiprocessing.queues.JoinableQueue)
    assert isinstance(s, multiprocessing.queues.SimpleQueue)
    assert dotbridge.get_context().Queue is dotbridge.Queue
    for lock in (q._rlock, q._wlock, q._sem, j._unfinished_tasks, s._rlock):
        assert lock.name.startswith("/db_")
    assert q.spec.startswith("dotbridge.mpqueue:v1;kind=queue;read=/proc/")
    assert "kind=joinable" in j.spec and "unfinished=/db_" in j.spec and "lockkind=rlock" in j.spec
    assert s.spec.startswith("dotbridge.mpqueue:v1;kind=simple;")
    _close(q, j, s)


def test_pickles_at_any_time_and_the_copy_shares_the_pipe():
    with pytest.raises(RuntimeError):
        pickle.dumps(multiprocessing.get_context("spawn").Queue())  # the stdlib's: only while spawning
    q = dotbridge.Queue(2)
    copy = pickle.loads(pickle.dumps(q))
    copy.put("from the copy")
    assert q.get(timeout=10) == "from the copy"
    q.put(1)
    assert copy.qsize() == 1  # one semaphore
    assert copy.get(timeout=10) == 1
    s = dotbridge.SimpleQueue()
    scopy = pickle.loads(pickle.dumps(s))
    s.put((1, "x"))
    assert scopy.get() == (1, "x")
    _close(q, copy, s, scopy)


def test_unpickling_after_the_pickler_closed_the_queue_names_the_path():
    s = dotbridge.SimpleQueue()
    data = pickle.dumps(s)
    s.close()
    with pytest.raises(OSError, match="/proc/"):
        pickle.loads(data)


def test_qsize_empty_full_and_timeouts_as_the_stdlib():
    q = dotbridge.Queue(2)
    assert q.empty() and q.qsize() == 0 and not q.full()
    q.put(1)
    q.put(2)
    assert q.qsize() == 2 and q.full()
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.2)
    assert time.monotonic() - t0 >= 0.15
    assert [q.get(timeout=10), q.get(timeout=10)] == [1, 2]
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert time.monotonic() - t0 >= 0.15
    _close(q)


def test_a_spawned_process_produces(no_leftover_children):
    q = dotbridge.Queue()
    p = dotbridge.Process(target=_produce, args=(q, 7, 3))
    p.start()
    assert [q.get(timeout=30) for _ in range(3)] == [7, 8, 9]
    p.join(30)
    assert p.exitcode == 0
    _close(q)


@needs_native
def test_pool_workers_produce_and_consume_through_pickled_queues(pool):
    q = dotbridge.Queue()
    res = pool.starmap_async(_produce, [(q, 0, 50), (q, 1000, 50)])
    got = sorted(q.get(timeout=30) for _ in range(100))
    assert res.get(timeout=30) == [50, 50]
    assert got == list(range(50)) + list(range(1000, 1050))
    for i in range(20):
        q.put(i)
    assert pool.apply(_consume, (q, 20)) == list(range(20))
    _close(q)


def _open_and_produce(spec, start, n):
    from dotbridge.queues import open_queue
    q = open_queue(spec)  # what a Python callable called from C# does with a spec string
    _produce(q, start, n)
    _close(q)
    return type(q).__name__


@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue", "SimpleQueue"])
def test_open_queue_reopens_a_spec_in_this_and_another_process(kind, no_leftover_children):
    from dotbridge.queues import open_queue
    q = getattr(dotbridge, kind)()
    same = open_queue(q.spec)
    assert type(same) is type(q)
    same.put(("x", 1))
    assert q.get() == ("x", 1)
    p = dotbridge.Process(target=_open_and_produce, args=(q.spec, 5, 3))
    p.start()
    assert [q.get() for _ in range(3)] == [5, 6, 7]
    p.join(30)
    assert p.exitcode == 0
    if kind == "JoinableQueue":
        for _ in range(4):
            q.task_done()
        same.join()  # the reopened queue shares the unfinished-tasks semaphore and condition
    with pytest.raises(ValueError):
        open_queue("dotbridge.mpqueue:v1;kind=queue")
    _close(same, q)


def _work_tasks(q, n):
    total = 0
    for _ in range(n):
        total += q.get(timeout=30)
        q.task_done()
    return total


@needs_native
@pytest.mark.timeout(120)
def test_a_joinable_queue_pickled_into_pool_tasks_is_joined_by_the_parent(pool):
    q = dotbridge.JoinableQueue()
    res = pool.starmap_async(_work_tasks, [(q, 10), (q, 10)])
    for i in range(20):
        q.put(i)
    joined = threading.Event()
    threading.Thread(target=lambda: (q.join(), joined.set()), daemon=True).start()
    assert joined.wait(30), "join did not return after the pool workers' task_done calls"
    assert sum(res.get(timeout=30)) == sum(range(20))
    _close(q)


# --- Python and a .NET worker ------------------------------------------------------------------

@needs_native
def test_dotnet_gets_python_items_and_puts_replies(pool):
    inq, outq = dotbridge.Queue(), dotbridge.Queue()
    for x in range(1, 101):
        inq.put(x)
    total = pool.apply(_m("Double"), (inq.spec, outq.spec, 100, TIMEOUT_MS))
    assert total == 5050
    assert [outq.get(timeout=10) for _ in range(100)] == [2 * x for x in range(1, 101)]
    assert outq.empty() and inq.qsize() == 0
    _close(inq, outq)


@needs_native
def test_a_dotnet_producer_feeds_a_python_pool_consumer(pool):
    q = dotbridge.Queue()
    r = pool.apply_async(_m("PutRange"), (q.spec, 10, 30, TIMEOUT_MS))
    assert pool.apply(_consume, (q, 30), ) == list(range(10, 40))
    assert r.get(timeout=30) == 30
    _close(q)


def _random_value(rng: random.Random, depth: int = 0):
    kinds = ["none", "bool", "int", "big", "float", "str", "bytes"]
    if depth < 3:
        kinds += ["list", "tuple", "dict"] * 2
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, 1, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31,
                           2 ** 63 - 1, -(2 ** 63), rng.randint(-2 ** 40, 2 ** 40)])
    if kind == "big":
        return rng.choice([1, -1]) * rng.randint(2 ** 63, 2 ** rng.randint(64, 3000))
    if kind == "float":
        return rng.choice([0.0, -0.0, math.inf, -math.inf, 1e-310, rng.uniform(-1e300, 1e300), rng.random()])
    if kind == "str":
        alphabet = "abc xyz\u00e9\u4e2d\U0001F600\udc80\n\x00"  # a lone low surrogate (never a pair)
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 300])))
    if kind == "bytes":
        return bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 7, 300])))
    n = rng.randint(0, 5)
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(n)]
    if kind == "tuple":
        return tuple(_random_value(rng, depth + 1) for _ in range(n))
    keys = [rng.choice([rng.randint(-5, 5), "k" + str(rng.randint(0, 9)), (rng.randint(0, 3), "t"), 2.5, b"b"])
            for _ in range(n)]
    return {k: _random_value(rng, depth + 1) for k in keys}


@needs_native
@pytest.mark.timeout(120)
def test_random_values_round_trip_python_dotnet_python(pool):
    """Property test of the C# pickle codec: Python pickles -> C# reads and re-pickles -> Python reads."""
    seed = random.randrange(2 ** 32)
    rng = random.Random(seed)
    values = [_random_value(rng) for _ in range(400)] + [math.nan, 2 ** 5000, "x" * 70000, [list(range(2500))]]
    inq, outq = dotbridge.Queue(), dotbridge.Queue()
    r = pool.apply_async(_m("Echo"), (inq.spec, outq.spec, len(values), TIMEOUT_MS))
    for v in values:
        inq.put(v)
    back = [outq.get(timeout=30) for _ in values]
    assert r.get(timeout=30) == len(values)
    assert math.isnan(back[400])
    for i, (a, b) in enumerate(zip(values, back)):
        if i != 400:
            assert type(a) is type(b) and a == b, f"seed {seed}, value {i}: {a!r} came back as {b!r}"
    _close(inq, outq)


@needs_native
def test_dotnet_sees_qsize_empty_full_and_times_out(pool):
    q = dotbridge.Queue(2)
    assert pool.apply(_m("Probe"), (q.spec,)) == [0, True, False]
    assert pool.apply(_m("TryGet"), (q.spec, 200)) == [False, None]
    q.put("a")
    q.put("b")
    deadline = time.monotonic() + 10
    while q.empty() and time.monotonic() < deadline:  # the feeder thread writes soon
        time.sleep(0.01)
    assert pool.apply(_m("Probe"), (q.spec,)) == [2, False, True]
    t0 = time.monotonic()
    assert pool.apply(_m("TryPut"), (q.spec, "c", 300)) is False  # full: times out in .NET
    assert time.monotonic() - t0 >= 0.25
    assert pool.apply(_m("TryGet"), (q.spec, 5000)) == [True, "a"]
    assert pool.apply(_m("TryPut"), (q.spec, ("c", 3), 300)) is True
    # the argument crossed as MessagePack (a tuple arrives in .NET as an array), so the item is a list
    assert [q.get(timeout=10), q.get(timeout=10)] == ["b", ["c", 3]]
    _close(q)


@needs_native
def test_an_object_pickle_is_refused_by_dotnet_with_its_type_named(pool):
    q = dotbridge.SimpleQueue()
    q.put(complex(1, 2))
    q.put({1})
    message, pytype = pool.apply(_m("GetRefused"), (q.spec, TIMEOUT_MS))
    assert pytype == "builtins.complex" and "builtins.complex" in message
    assert pool.apply(_m("GetRefused"), (q.spec, TIMEOUT_MS))[1] == "builtins.set"
    q.put("plain")
    assert pool.apply(_m("GetRefused"), (q.spec, TIMEOUT_MS)) == ["", ""]
    q.close()


@needs_native
@pytest.mark.timeout(120)
def test_joinable_queue_join_returns_when_a_dotnet_consumer_calls_task_done(pool):
    q = dotbridge.JoinableQueue()
    consumer = pool.apply_async(_m("ConsumeTasks"), (q.spec, TIMEOUT_MS))
    for i in range(20):
        q.put(i)
    joined = threading.Event()
    threading.Thread(target=lambda: (q.join(), joined.set()), daemon=True).start()
    assert joined.wait(30), "join did not return after .NET marked every task done"
    q.put(None)  # stop the consumer (it calls task_done for it too)
    assert consumer.get(timeout=30) == sum(range(20))
    q.join()  # returns at once: nothing unfinished
    assert pool.apply(_m("TaskDone"), (q.spec,)) == "task_done() called too many times"
    _close(q)


@needs_native
@pytest.mark.timeout(120)
def test_a_dotnet_join_waits_for_python_task_done(pool):
    q = dotbridge.JoinableQueue()
    q.put("job")
    assert pool.apply(_m("Join"), (q.spec, 200)) is False  # one task unfinished: times out
    waiting = pool.apply_async(_m("Join"), (q.spec, TIMEOUT_MS))
    time.sleep(0.3)
    assert not waiting.ready()
    assert q.get(timeout=10) == "job"
    q.task_done()
    assert waiting.get(timeout=30) is True
    _close(q)
