"""dotbridge.synchronize: named, unguessable, picklable-anytime stdlib locks."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import re
import time

import pytest

import _multiprocessing
from dotbridge import synchronize as sy

import _tasks_shared as tasks

NAME = re.compile(r"/db_[0-9a-f]{32}")


@pytest.mark.parametrize("factory", [sy.Lock, sy.RLock, sy.Semaphore, sy.BoundedSemaphore])
def test_primitives_are_stdlib_types_with_unguessable_names(factory):
    obj = factory()
    base = getattr(multiprocessing.synchronize, factory.__name__)
    assert isinstance(obj, base)
    assert NAME.fullmatch(obj.name)
    assert os.path.exists("/dev/shm/sem." + obj.name[1:])
    assert os.stat("/dev/shm/sem." + obj.name[1:]).st_mode & 0o077 == 0


def test_pickled_lock_is_the_same_semaphore():
    lk = sy.Lock()
    other = pickle.loads(pickle.dumps(lk))
    assert lk.acquire(timeout=1)
    t0 = time.monotonic()
    assert not other.acquire(timeout=0.2)
    assert time.monotonic() - t0 >= 0.15
    lk.release()
    assert other.acquire(timeout=1)
    other.release()


def test_rlock_recursion_and_ownership():
    r = sy.RLock()
    r.acquire()
    r.acquire()
    r.release()
    r.release()
    with pytest.raises(AssertionError):
        r.release()


def test_bounded_semaphore_refuses_extra_release_but_semaphore_allows_it():
    b = sy.BoundedSemaphore(2)
    assert b.acquire(timeout=1)
    b.release()
    with pytest.raises(ValueError):
        b.release()
    s = sy.Semaphore(0)
    s.release()
    assert s.get_value() == 1


def test_open_by_name_as_other_languages_do():
    lk = sy.Lock()
    same = sy.open_lock(lk.name)
    with lk:
        assert not same.acquire(False)
    assert same.acquire(False)
    same.release()
    sem = sy.Semaphore(3)
    assert sy.open_semaphore(sem.name).get_value() == 3
    with pytest.raises(FileNotFoundError):
        sy.open_lock("/db_" + "0" * 32)


def test_a_raw_semlock_made_elsewhere_opens_as_lock():
    name = "/db_" + os.urandom(16).hex()
    raw = _multiprocessing.SemLock(sy.SEMAPHORE, 1, 1, name, False)
    try:
        lk = sy.open_lock(name)
        assert raw.acquire(False)
        assert not lk.acquire(False)
        raw.release()
        assert lk.acquire(False)
    finally:
        _multiprocessing.sem_unlink(name)


def test_event_and_condition_pickle():
    ev = sy.Event()
    other = pickle.loads(pickle.dumps(ev))
    assert not other.is_set()
    ev.set()
    assert other.wait(1)
    cond = sy.Condition()
    c2 = pickle.loads(pickle.dumps(cond))
    with c2:
        assert not c2.wait(0.05)


@pytest.mark.timeout(60)
def test_lock_held_here_blocks_a_stdlib_pool_worker():
    lk = sy.Lock()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        with lk:
            assert pool.apply(tasks.try_acquire, (lk, 0.2)) is False
        assert pool.apply(tasks.try_acquire, (lk, 5)) is True


@pytest.mark.timeout(60)
def test_event_and_barrier_across_processes():
    ev = sy.Event()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        r = pool.apply_async(tasks.wait_event, (ev, 20))
        time.sleep(0.2)
        ev.set()
        assert r.get(30) is True
    b = sy.Barrier(2)
    p = multiprocessing.get_context("spawn").Process(target=b.wait, args=(20,))
    p.start()
    assert b.wait(20) in (0, 1)
    p.join(20)
    assert p.exitcode == 0
