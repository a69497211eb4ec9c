"""dotbridge.sharedctypes: Value/Array/RawValue/RawArray in named segments, pickled by name into workers."""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import pickle
import re

import pytest

from dotbridge import sharedctypes as sc
from dotbridge import synchronize as sy

import _tasks_shared as tasks


def seg_name(obj) -> str:
    m = re.search(r"segment=(db_[0-9a-f]{32})", sc.descriptor(obj))
    assert m
    return m.group(1)


def test_value_api_matches_the_stdlib():
    v = sc.Value("d", 1.5)
    assert v.value == 1.5
    v.value = 2.0
    assert v.get_obj().value == 2.0
    assert isinstance(v.get_obj(), ctypes.c_double)
    with v.get_lock():
        v.value += 1
    assert v.value == 3.0
    assert isinstance(v.get_lock(), sy.RLock)


def test_lock_false_gives_raw_object_and_custom_lock_is_used():
    raw = sc.Value("i", 7, lock=False)
    assert isinstance(raw, ctypes.c_int) and raw.value == 7
    lk = sy.Lock()
    v = sc.Value("i", lock=lk)
    assert v.get_lock() is lk
    with pytest.raises(AttributeError):
        sc.Value("i", lock=42)


def test_array_api_matches_the_stdlib():
    a = sc.Array("i", [1, 2, 3])
    assert a[:] == [1, 2, 3] and len(a) == 3
    a[1] = 5
    assert list(a) == [1, 5, 3]
    z = sc.Array("d", 4)
    assert z[:] == [0.0] * 4
    s = sc.Array("c", b"hi")
    assert s.value == b"hi"
    r = sc.RawArray("q", [4, 5])
    assert r[:] == [4, 5]


def test_pickle_goes_by_name_not_by_value():
    v = sc.Value("q", 1)
    w = pickle.loads(pickle.dumps(v))
    w.value = 99
    assert v.value == 99
    a = sc.RawArray("d", 3)
    b = pickle.loads(pickle.dumps(a))
    b[2] = 1.25
    assert a[2] == 1.25


def test_descriptor_round_trip_and_format():
    v = sc.Value("d", 0.5)
    text = sc.descriptor(v)
    assert re.fullmatch(r"dotbridge\.shm:v1;segment=db_[0-9a-f]{32};typecode=d;length=1;offset=0;lock=/db_[0-9a-f]{32}", text)
    assert v.descriptor == text
    again = sc.open(text)
    again.value = 4.0
    assert v.value == 4.0
    raw = sc.RawArray("h", 5)
    assert ";lock=" not in sc.descriptor(raw) and "typecode=h;length=5" in sc.descriptor(raw)
    with pytest.raises(ValueError):
        sc.open("nonsense")
    with pytest.raises(TypeError):
        sc.descriptor(ctypes.c_int(3))


def test_segment_is_unlinked_when_the_owner_drops_it():
    v = sc.RawValue("i", 1)
    name = seg_name(v)
    assert os.path.exists("/dev/shm/" + name)
    del v
    gc.collect()
    assert not os.path.exists("/dev/shm/" + name)


@pytest.mark.timeout(60)
def test_value_and_array_as_args_of_stdlib_spawn_pool():
    # the stdlib's own Value cannot be an apply() argument; ours pickles by name
    v = sc.Value("i", 0)
    a = sc.Array("d", 4)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(tasks.add_under_lock, [(v, 50)] * 4)
        pool.apply(tasks.fill, (a, 2.5))
    assert v.value == 200
    assert a[:] == [2.5] * 4


@pytest.mark.timeout(60)
def test_value_through_spawn_process():
    v = sc.Value("q", 0)
    p = multiprocessing.get_context("spawn").Process(target=tasks.add_under_lock, args=((v, 1000),))
    p.start()
    tasks.add_under_lock((v, 1000))
    p.join(30)
    assert p.exitcode == 0 and v.value == 2000
