"""Shared state the way a user writes it (``import dotbridge as multiprocessing``).

Stdlib behaviour, edge cases, error types, no leaks.

Each test compares with what the stdlib does (or would do) for the same code.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import re
import subprocess
import sys
import textwrap

import multiprocessing as std
import multiprocessing.shared_memory  # noqa: F401 (std.shared_memory)
from multiprocessing import sharedctypes as std_sct

import pytest

import dotbridge as multiprocessing
from dotbridge import shared_memory as db_shm
from dotbridge import sharedctypes as db_sct

from conftest import real_native_available

_ok, _why = real_native_available()
needs_native = pytest.mark.skipif(not _ok, reason=_why)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _segment(obj) -> str:
    m = re.search(r"segment=(db_[0-9a-f]{32})", db_sct.descriptor(obj))
    assert m
    return m.group(1)


def _run(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a script in a fresh interpreter (this repo's python/ first on the path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "python"), HERE, env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=HERE)


class _Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


# --- sharedctypes: the stdlib's API ---------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda m: m.RawValue("i", 2),
    lambda m: m.RawValue("d", 1.5),
    lambda m: m.RawValue(ctypes.c_char, b"a"),
    lambda m: m.Value("i", 7),
    lambda m: m.Value("d", 0.25),
])
def test_repr_of_values_is_the_stdlibs(make):
    # the stdlib shows c_int(2) / <Synchronized wrapper for c_int(7)>, never "<c_int object at 0x...>"
    assert repr(make(multiprocessing)) == repr(make(std))


def test_synchronized_structure_like_the_stdlib():
    v = multiprocessing.Value(_Point, 1.0, 2.0)
    assert (v.x, v.y) == (1.0, 2.0)
    with v.get_lock():
        v.x += 1
    assert v.get_obj().x == 2.0
    assert isinstance(v, std_sct.SynchronizedBase)
    assert type(v).__name__ == type(std.Value(_Point, 1.0, 2.0)).__name__  # "Synchronized_Point"
    w = pickle.loads(pickle.dumps(v))  # by name, like every dotbridge shared object
    w.y = 5.0
    assert v.y == 5.0
    s = db_sct.synchronized(db_sct.RawValue(_Point, 3.0, 4.0))
    assert s.y == 4.0
    with pytest.raises(TypeError):
        db_sct.descriptor(v)  # no typecode for .NET


def test_copy_like_the_stdlib():
    assert "copy" in db_sct.__all__
    a = db_sct.RawArray("i", [1, 2, 3])
    b = db_sct.copy(a)
    assert b[:] == [1, 2, 3] and type(b) is type(a)
    b[0] = 9
    assert a[0] == 1  # a new segment, not the same memory
    assert _segment(a) != _segment(b)
    v = db_sct.copy(db_sct.RawValue("d", 2.5))
    assert v.value == 2.5
    assert pickle.loads(pickle.dumps(v)).value == 2.5


def test_shared_objects_hold_no_file_descriptor_each():
    # the stdlib's Values share one arena fd; one fd per object would hit `ulimit -n` (often 1024) after ~1000
    def fds():
        return len(os.listdir("/proc/self/fd"))
    before = fds()
    objs = [multiprocessing.Value("i", i) for i in range(100)] + [multiprocessing.RawArray("d", 3) for _ in range(100)]
    assert fds() - before < 20
    assert sum(v.value for v in objs[:100]) == sum(range(100))
    del objs
    gc.collect()


@pytest.mark.timeout(120)
def test_thousands_of_values_under_a_low_fd_limit():
    r = _run("""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        import dotbridge as multiprocessing
        vs = [multiprocessing.Value("i", i) for i in range(1500)]
        arr = [multiprocessing.RawArray("b", 4) for _ in range(500)]
        try:
            from dotbridge import shared_memory
            nds = [shared_memory.ndarray(4) for _ in range(1200)]
        except ImportError:  # no numpy here
            nds = [None] * 1200
        print(sum(v.value for v in vs), len(arr), len(nds))
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [str(sum(range(1500))), "500", "1200"]


@pytest.mark.parametrize("typecode", ["z", "ii", ""])
def test_open_descriptor_with_an_unknown_typecode_is_a_value_error(typecode):
    raw = db_sct.RawArray("i", 4)
    text = f"dotbridge.shm:v1;segment={_segment(raw)};typecode={typecode};length=2;offset=0"
    with pytest.raises(ValueError, match="typecode"):
        db_sct.open(text)


def test_copy_module_copies_raw_objects_by_value_like_the_stdlib():
    import copy
    for make in (lambda m: m.RawValue("i", 3), lambda m: m.RawArray("d", [1.0, 2.0])):
        ours, theirs = make(multiprocessing), make(std)
        for c in (copy.copy(ours), copy.deepcopy(ours)):
            assert type(c).__name__ == type(copy.copy(theirs)).__name__
            if isinstance(c, ctypes.Array):
                assert c[:] == ours[:]
                c[0] = 42.0
                assert ours[0] == 1.0  # a private copy, as the stdlib's
            else:
                assert c.value == 3
                c.value = 42
                assert ours.value == 3


@pytest.mark.timeout(60)
def test_a_del_in_a_collected_cycle_may_still_read_its_shared_objects():
    # gc runs weakref callbacks before the cycle's __del__ methods: the memory must outlive them
    r = _run("""
        import gc
        import dotbridge as multiprocessing
        class Holder:
            def __init__(self, i):
                self.v = multiprocessing.RawArray("d", 100000)
                self.w = multiprocessing.Value("i", i)
                self.v[99999] = i
                self.me = self
            def __del__(self):
                print(int(self.v[99999]) + self.w.value, end=" ", flush=True)
        for i in range(3):
            Holder(i)
            gc.collect()
        print("ok")
    """)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.split() == ["0", "2", "4", "ok"]


def test_open_descriptor_with_an_offset_as_dotnet_may_write_one():
    # C#'s SharedCTypeDescriptor may point into a segment (offset > 0); Python opens it where it points
    import struct
    seg = db_shm.SharedMemory(create=True, size=64)
    try:
        struct.pack_into("<3d", seg.buf, 16, 1.5, 2.5, 3.5)
        arr = db_sct.open(f"dotbridge.shm:v1;segment={seg.name};typecode=d;length=3;offset=16")
        assert arr[:] == [1.5, 2.5, 3.5]
        arr[0] = 9.0
        assert struct.unpack_from("<d", seg.buf, 16)[0] == 9.0
        assert "offset=16" in db_sct.descriptor(arr)
        again = pickle.loads(pickle.dumps(arr))
        assert again[:] == [9.0, 2.5, 3.5]
        val = db_sct.open(f"dotbridge.shm:v1;segment={seg.name};typecode=d;length=1;offset=24")
        assert val.value == 2.5
        with pytest.raises(ValueError):
            db_sct.open(f"dotbridge.shm:v1;segment={seg.name};typecode=d;length=3;offset=48")  # past the end
        with pytest.raises(ValueError):
            db_sct.open(f"dotbridge.shm:v1;segment={seg.name};typecode=d;length=1;offset=-8")
        del arr, again, val
    finally:
        seg.close()
        seg.unlink()


@pytest.mark.parametrize("make_lock", [lambda: __import__("threading").Lock(), lambda: std.get_context("fork").Lock()])
def test_descriptor_refuses_a_lock_dotnet_cannot_open(make_lock):
    # a descriptor without the lock would let .NET read and write unlocked while Python locks
    v = multiprocessing.Value("i", 1, lock=make_lock())
    with pytest.raises(ValueError, match="lock"):
        db_sct.descriptor(v)
    assert ";lock=/" in multiprocessing.Value("i", 1, lock=multiprocessing.Lock()).descriptor


def _drop_globals():
    global _inherited
    _inherited = None
    gc.collect()


_inherited = None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["Value", "RawArray", "ndarray"])
def test_fork_child_dropping_an_inherited_object_does_not_unlink_it(kind):
    # with the stdlib, a forked child may drop what it inherited; the parent's object keeps working
    global _inherited
    if kind == "Value":
        _inherited = multiprocessing.Value("i", 1)
        name = _segment(_inherited)
    elif kind == "RawArray":
        _inherited = multiprocessing.RawArray("d", 3)
        name = _segment(_inherited)
    else:
        pytest.importorskip("numpy")
        _inherited = db_shm.ndarray(4)
        name = db_shm.segment_of(_inherited)[0]
    try:
        p = multiprocessing.get_context("fork").Process(target=_drop_globals)
        p.start()
        p.join(30)
        assert p.exitcode == 0
        assert os.path.exists("/dev/shm/" + name)
    finally:
        _inherited = None
        gc.collect()
    assert not os.path.exists("/dev/shm/" + name)  # the creator still unlinks it


@pytest.mark.timeout(60)
def test_os_fork_child_exiting_normally_does_not_unlink_the_parents_objects():
    # a plain os.fork() child that exits normally runs atexit (weakref.finalize) handlers
    r = _run("""
        import os, sys
        import dotbridge as multiprocessing
        from dotbridge import shared_memory
        v = multiprocessing.Value("i", 1)
        a = multiprocessing.RawArray("d", 3)
        try:
            n = shared_memory.ndarray(4)
        except ImportError:  # no numpy here
            n = None
        if os.fork() == 0:
            sys.exit(0)
        os.wait()
        v.value += 1
        names = [multiprocessing.sharedctypes.descriptor(x).split(";")[1][8:] for x in (v, a)]
        if n is not None:
            names.append(shared_memory.segment_of(n)[0])
        print(all(os.path.exists("/dev/shm/" + x) for x in names), len(names) >= 2)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True True"
    assert "KeyError" not in r.stderr and "Traceback" not in r.stderr


# --- dotbridge.Pool tasks: what the stdlib's Pool workers can do -----------------------------------

def _attach_with_stdlib_shm(name):
    from multiprocessing import shared_memory
    s = shared_memory.SharedMemory(name)
    s.buf[0] += 1
    s.close()
    return os.getpid()


def _talk(conn):
    conn.send(("hello", os.getpid()))
    return conn.recv()


def _make_value(x):
    return multiprocessing.Value("i", x)


def _make_raw_array(x):
    return multiprocessing.RawArray("i", [x, x])


def _echo(obj):
    return obj


def _pickle_own_value(x):
    # a task may still pickle what it made for its own use (only the result path refuses)
    v = multiprocessing.Value("i", x)
    w = pickle.loads(pickle.dumps(v))
    w.value += 1
    return v.value


def _bump_value(v):
    v.value += 1
    return v.value


def _meet(barrier, _):
    try:
        return os.getpid(), barrier.wait(5)
    except Exception as e:  # BrokenBarrierError: the parties never all arrived
        return os.getpid(), type(e).__name__


def _parent_of_worker(_):
    pp = multiprocessing.parent_process()
    cp = multiprocessing.current_process()
    return None if pp is None else pp.pid, cp.daemon, len(cp._identity)


@needs_native
@pytest.mark.timeout(60)
def test_stdlib_shared_memory_attached_in_a_pool_worker_survives_the_pool():
    import time
    seg = db_shm.SharedMemory(create=True, size=16)
    try:
        with multiprocessing.Pool(1) as pool:
            pool.map(_attach_with_stdlib_shm, [seg.name] * 2)
        assert seg.buf[0] == 2
        time.sleep(0.5)  # the worker's tracker (if any) cleans up right after the worker exits
        assert os.path.exists("/dev/shm/" + seg.name)
    finally:
        seg.close()
        seg.unlink()


@needs_native
@pytest.mark.timeout(60)
def test_untrack_stdlib_attaches_keeps_the_callers_segment():
    # the fix for the test above, applied by hand (the worker should call it at start)
    import time
    seg = db_shm.SharedMemory(create=True, size=16)
    try:
        with multiprocessing.Pool(1, initializer=db_shm.untrack_stdlib_attaches) as pool:
            pool.map(_attach_with_stdlib_shm, [seg.name] * 2)
        assert seg.buf[0] == 2
        time.sleep(0.5)
        assert os.path.exists("/dev/shm/" + seg.name)
    finally:
        seg.close()
        seg.unlink()


@needs_native
@pytest.mark.timeout(60)
def test_pipe_end_as_a_pool_task_argument_like_the_stdlibs_pool():
    a, b = multiprocessing.Pipe()
    with multiprocessing.Pool(1) as pool:
        r = pool.apply_async(_talk, (b,))
        for _ in range(400):  # 20 s, but fail at once if the task already failed
            if a.poll(0.05):
                break
            if r.ready():
                r.get()
        assert a.poll(0)
        msg, pid = a.recv()
        a.send("back")
        assert msg == "hello" and pid != os.getpid()
        assert r.get(20) == "back"


@needs_native
@pytest.mark.timeout(60)
def test_parent_process_in_a_pool_worker_is_the_caller():
    with multiprocessing.Pool(1) as pool:
        assert pool.apply(_parent_of_worker, (0,)) == (os.getpid(), True, 1)


# --- shared_memory -------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1.5, 2.0])
def test_shared_memory_bad_size_type_raises_like_the_stdlib_and_leaves_no_segment(size):
    import secrets
    name = "db_qa4test_" + secrets.token_hex(8)
    with pytest.raises(TypeError):
        std.shared_memory.SharedMemory(name="psm" + name, create=True, size=size)
    try:  # (the stdlib leaves its half-made segment behind; clean up after it)
        os.unlink("/dev/shm/psm" + name)
    except FileNotFoundError:
        pass
    with pytest.raises(TypeError):
        db_shm.SharedMemory(name=name, create=True, size=size)
    assert not os.path.exists("/dev/shm/" + name)


@pytest.mark.parametrize("name", [5, b"x"])
def test_shared_memory_non_str_name_is_a_type_error_like_the_stdlib(name):
    with pytest.raises(TypeError):
        std.shared_memory.SharedMemory(name)
    with pytest.raises(TypeError):
        db_shm.SharedMemory(name)


@needs_native
@pytest.mark.timeout(120)
@pytest.mark.parametrize("pool_of", ["dotbridge", "stdlib"])
def test_a_shared_object_made_in_a_pool_task_cannot_be_returned_like_the_stdlib(pool_of):
    # the stdlib refuses (MaybeEncodingError in the caller); a by-name pickle would reach the caller after the
    # worker's object (and so its segment) is gone: FileNotFoundError, or a stdlib Pool hung forever
    from multiprocessing.pool import MaybeEncodingError
    pool = multiprocessing.Pool(1) if pool_of == "dotbridge" else std.get_context("spawn").Pool(1)
    with pool:
        for task in (_make_value, _make_raw_array):
            r = pool.apply_async(task, (5,))
            with pytest.raises(MaybeEncodingError, match="cannot be returned"):
                r.get(60)
        assert pool.apply_async(_pickle_own_value, (5,)).get(60) == 6
        # objects the caller made still go back and forth by name
        v = multiprocessing.Value("i", 3)
        back = pool.apply_async(_echo, (v,)).get(60)
        back.value = 4
        assert v.value == 4


@needs_native
@pytest.mark.timeout(60)
def test_value_made_inline_for_apply_async_reaches_the_worker():
    with multiprocessing.Pool(1) as pool:
        rs = [pool.apply_async(_bump_value, (multiprocessing.Value("i", i),)) for i in range(3)]
        gc.collect()
        assert [r.get(30) for r in rs] == [1, 2, 3]
        assert list(pool.imap(_bump_value, (multiprocessing.Value("i", i) for i in range(3)))) == [1, 2, 3]


# --- module names users reach through `import dotbridge as multiprocessing` -----------------------

@pytest.mark.parametrize("sub", ["connection", "queues", "synchronize", "sharedctypes", "shared_memory", "pool"])
def test_submodules_that_shadow_the_stdlibs_keep_its_public_names(sub):
    import importlib
    ours = importlib.import_module("dotbridge." + sub)
    stdlib = importlib.import_module("multiprocessing." + sub)
    names = getattr(stdlib, "__all__", None) or [n for n in vars(stdlib) if not n.startswith("_")]
    assert [n for n in names if not hasattr(ours, n)] == []


@pytest.mark.timeout(60)
def test_connection_wait_listener_client_through_dotbridge():
    a, b = multiprocessing.Pipe()
    b.send("x")
    assert multiprocessing.connection.wait([a], timeout=5) == [a]
    with multiprocessing.connection.Listener(("127.0.0.1", 0)) as listener:
        import threading
        t = threading.Thread(target=lambda: listener.accept().send("hi"))
        t.start()
        with multiprocessing.connection.Client(listener.address) as c:
            assert c.recv() == "hi"
        t.join(10)


@pytest.mark.timeout(60)
def test_track_false_leaves_the_segment_to_the_caller_as_python_313():
    # Python 3.13's SharedMemory(track=False): not registered, so it outlives the process until unlink()
    r = _run("""
        from dotbridge import shared_memory
        s = shared_memory.SharedMemory(create=True, size=8, track=False)
        print(s.name)
    """)
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip()
    import time
    time.sleep(0.5)  # a tracker (if it were tracked) would unlink right after the exit
    try:
        assert os.path.exists("/dev/shm/" + name)
        assert "leaked" not in r.stderr
    finally:
        seg = db_shm.SharedMemory(name)
        seg.close()
        seg.unlink()
    assert not os.path.exists("/dev/shm/" + name)


@needs_native
@pytest.mark.timeout(60)
def test_n_tasks_meeting_at_a_barrier_in_a_fresh_pool_of_n():
    n = 4
    barrier = multiprocessing.Barrier(n)
    with multiprocessing.Pool(n) as pool:  # no warm-up on purpose: the stdlib needs none
        res = pool.starmap(_meet, [(barrier, i) for i in range(n)])
    assert sorted(r for _, r in res) == list(range(n))
    assert len({pid for pid, _ in res}) == n
