"""Manager proxies (the stdlib's, spawn context) used from dotbridge.Pool workers and Processes."""

from __future__ import annotations

import pytest

import dotbridge
from conftest import real_native_available

_ok, _why = real_native_available()
needs_native = pytest.mark.skipif(not _ok, reason=_why)


@pytest.fixture(autouse=True, scope="module")
def _resource_tracker():
    # spawn children share the stdlib's resource tracker, a long-lived process that would
    # otherwise count as "left behind"; start it before no_leftover_children looks.
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()


def _bump(args):
    d, lock, key = args
    with lock:
        d[key] = d.get(key, 0) + 1
    return key


def _append(lst, x):
    lst.append(x)


@needs_native
def test_manager_dict_updated_from_pool_tasks(no_leftover_children):
    with dotbridge.Manager() as m:
        d, lock = m.dict(), m.Lock()
        with dotbridge.Pool(2) as pool:
            keys = pool.map(_bump, [(d, lock, i % 3) for i in range(30)], chunksize=4)
        assert sorted(set(keys)) == [0, 1, 2]
        assert dict(d) == {0: 10, 1: 10, 2: 10}


def test_manager_types_exist_and_work_across_a_process(no_leftover_children):
    with dotbridge.Manager() as m:
        lst, ns, v, arr, q = m.list(), m.Namespace(), m.Value("i", 5), m.Array("d", [1.0, 2.0]), m.Queue()
        ns.x = 7
        p = dotbridge.Process(target=_append, args=(lst, "hi"))
        p.start()
        p.join(30)
        assert p.exitcode == 0
        q.put(ns.x + v.value)
        assert list(lst) == ["hi"] and q.get(timeout=5) == 12 and list(arr) == [1.0, 2.0]
