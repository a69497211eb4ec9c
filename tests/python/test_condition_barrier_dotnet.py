"""dotbridge.Condition / Barrier shared by Python and .NET (Bridge.SharedCondition, Bridge.SharedBarrier).

The .NET side runs in a dotbridge Pool's .NET worker: the C# methods in
tests/Bridge.Tests/SharedSyncFixtures.cs open the Python object by its
``descriptor``. They need a built Bridge.Tests.dll (``DOTBRIDGE_TEST_ASSEMBLY``
or the newest one found that holds those fixtures). Every wait is bounded.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import pickle
import threading
import time

import pytest

from conftest import REPO, real_native_available
from dotbridge import sharedctypes
from dotbridge import synchronize as sy

FIXTURES = "Bridge.Tests.SharedSyncFixtures"


def _fixtures_assembly() -> str | None:
    env = os.environ.get("DOTBRIDGE_TEST_ASSEMBLY")
    if env and os.path.exists(env):
        return env
    found = sorted(glob.glob(os.path.join(REPO, "**", "bin", "**", "Bridge.Tests.dll"), recursive=True)
                   + glob.glob("/tmp/art-*/bin/Bridge.Tests/*/Bridge.Tests.dll"), key=os.path.getmtime)
    for path in reversed(found):  # the newest build that already has these fixtures
        try:
            with open(path, "rb") as f:
                if FIXTURES.rsplit(".", 1)[1].encode() in f.read():
                    return path
        except OSError:
            continue
    return None


def _wait_until(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


# --- Python only: the descriptors ----------------------------------------------------------

def test_condition_descriptor_opens_the_same_condition_in_another_process():
    cond = sy.Condition()
    assert cond.descriptor.startswith("dotbridge.condition:v1;lock=/db_")
    assert ";lockkind=rlock;" in cond.descriptor
    assert ";lockkind=lock;" in sy.Condition(sy.Lock()).descriptor
    same = sy.open_condition(cond.descriptor)
    assert same.descriptor == cond.descriptor
    with cond:
        assert not same.acquire(timeout=0.05)
    ctx = multiprocessing.get_context("spawn")
    with cond:
        p = ctx.Process(target=_notify_from_descriptor, args=(cond.descriptor,))
        p.start()
        assert cond.wait(30) is True
    p.join(30)
    assert p.exitcode == 0
    with pytest.raises(ValueError):
        sy.open_condition("dotbridge.event:v1;lock=/x")
    with pytest.raises(ValueError):
        sy.open_condition("dotbridge.condition:v1;lock=/x;lockkind=mutex;sleeping=/a;woken=/b;wait=/c")
    with pytest.raises(FileNotFoundError):
        sy.open_condition("dotbridge.condition:v1;lock=/db_" + "0" * 32 + ";sleeping=/a;woken=/b;wait=/c")


def _notify_from_descriptor(descriptor):
    c = sy.open_condition(descriptor)
    assert c.acquire(timeout=20)  # free once the parent sleeps in wait()
    c.notify()
    c.release()


def test_barrier_descriptor_opens_the_same_barrier():
    b = sy.Barrier(2, timeout=7.5)
    assert b.descriptor.startswith("dotbridge.barrier:v1;parties=2;timeout=7.5;segment=db_")
    same = sy.open_barrier(b.descriptor)
    assert (same.parties, same._timeout) == (2, 7.5)
    again = pickle.loads(pickle.dumps(same))  # an opened barrier pickles by name too
    t = threading.Thread(target=lambda: got.append(again.wait(20)))
    got = []
    t.start()
    got.append(b.wait(20))
    t.join(20)
    assert sorted(got) == [0, 1]
    same.abort()
    assert b.broken
    with pytest.raises(ValueError):
        sy.open_barrier("dotbridge.barrier:v1;parties=x")


# --- Python and a .NET worker ----------------------------------------------------------------

_ok, _why = real_native_available()
needs_dotnet = pytest.mark.skipif(not _ok, reason=_why)


@pytest.fixture(scope="module")
def net():
    asm = _fixtures_assembly()
    if asm is None:
        pytest.skip("Bridge.Tests.dll with SharedSyncFixtures not built (dotnet build tests/Bridge.Tests)")
    import dotbridge
    pool = dotbridge.Pool(1)
    methods = {name: dotbridge.dotnet.method(f"{FIXTURES}.{name}", assembly=asm)
               for name in ("ConditionNotify", "ConditionWait", "ConditionWaitFor", "ConditionPingPong",
                            "BarrierWait", "BarrierAbortWhenWaiting")}
    yield pool, methods
    pool.terminate()


@needs_dotnet
@pytest.mark.timeout(120)
def test_dotnet_notify_wakes_a_python_waiter(net):
    pool, m = net
    cond = sy.Condition()
    with cond:
        r = pool.apply_async(m["ConditionNotify"], (cond.descriptor, 20_000))
        assert cond.wait(30) is True  # .NET takes the lock once we sleep, then notifies
    assert r.get(30) is True


@needs_dotnet
@pytest.mark.timeout(120)
def test_python_notify_wakes_a_dotnet_waiter_and_its_timeout_returns_false(net):
    pool, m = net
    cond = sy.Condition(sy.Lock())
    r = pool.apply_async(m["ConditionWait"], (cond.descriptor, 20_000))

    def notify_once_asleep():
        with cond:
            if cond._sleeping_count.get_value() - cond._woken_count.get_value() > 0:
                cond.notify()
                return True
        return False

    assert _wait_until(notify_once_asleep)
    assert r.get(30) is True
    t0 = time.monotonic()
    assert pool.apply(m["ConditionWait"], (cond.descriptor, 200)) is False
    assert time.monotonic() - t0 >= 0.15


@needs_dotnet
@pytest.mark.timeout(120)
def test_dotnet_wait_for_sees_a_value_python_sets(net):
    pool, m = net
    cond = sy.Condition()
    flag = sharedctypes.RawValue("i", 0)
    r = pool.apply_async(m["ConditionWaitFor"], (cond.descriptor, sharedctypes.descriptor(flag), 20_000))
    assert _wait_until(lambda: cond._sleeping_count.get_value() > 0)
    with cond:
        flag.value = 42
        cond.notify_all()
    assert r.get(30) == 42


@needs_dotnet
@pytest.mark.timeout(120)
@pytest.mark.parametrize("recursive", [True, False])
def test_python_and_dotnet_take_turns_on_one_condition(net, recursive):
    pool, m = net
    cond = sy.Condition() if recursive else sy.Condition(sy.Lock())
    counter = sharedctypes.RawValue("i", 0)
    rounds = 300
    r = pool.apply_async(m["ConditionPingPong"], (cond.descriptor, sharedctypes.descriptor(counter), rounds, 20_000))
    for _ in range(rounds):
        with cond:
            assert cond.wait_for(lambda: counter.value % 2 == 0, 20)
            counter.value += 1
            cond.notify_all()
    assert r.get(30) == 2 * rounds
    with cond:
        assert counter.value == 2 * rounds


@needs_dotnet
@pytest.mark.timeout(120)
def test_python_parties_and_a_dotnet_party_pass_one_barrier(net):
    pool, m = net
    b = sy.Barrier(3)
    r = pool.apply_async(m["BarrierWait"], (b.descriptor, 20_000))
    p = multiprocessing.get_context("spawn").Process(target=b.wait, args=(20,))
    p.start()
    mine = b.wait(30)
    dotnet = r.get(30)
    p.join(30)
    assert p.exitcode == 0
    assert mine in (0, 1, 2) and dotnet in (0, 1, 2) and mine != dotnet
    assert not b.broken and b.n_waiting == 0
    # and again: the barrier is reusable across languages
    r = pool.apply_async(m["BarrierWait"], (b.descriptor, 20_000))
    t = threading.Thread(target=b.wait, args=(20,))
    t.start()
    assert b.wait(30) in (0, 1, 2)
    assert r.get(30) in (0, 1, 2)
    t.join(30)


@needs_dotnet
@pytest.mark.timeout(120)
def test_dotnet_abort_breaks_a_python_wait(net):
    pool, m = net
    b = sy.Barrier(2)
    r = pool.apply_async(m["BarrierAbortWhenWaiting"], (b.descriptor, 1, 20_000))
    with pytest.raises(threading.BrokenBarrierError):
        b.wait(30)
    assert r.get(30) is True
    assert b.broken


@needs_dotnet
@pytest.mark.timeout(120)
def test_python_abort_breaks_a_dotnet_wait_and_a_python_timeout_breaks_it_too(net):
    pool, m = net
    b = sy.Barrier(2)
    r = pool.apply_async(m["BarrierWait"], (b.descriptor, 20_000))
    assert _wait_until(lambda: b.n_waiting == 1)
    b.abort()
    assert r.get(30) == -1  # BrokenBarrierException in .NET
    b.reset()
    assert not b.broken
    r = pool.apply_async(m["BarrierWait"], (b.descriptor, 200))  # .NET times out: broken for Python too
    assert r.get(30) == -1
    assert b.broken
    with pytest.raises(threading.BrokenBarrierError):
        b.wait(5)
