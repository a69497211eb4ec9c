"""dotbridge.shared_memory: stdlib interop, naming/ownership rules, shm numpy arrays, ext 3 references."""

from __future__ import annotations

import gc
import os
import pickle
import re
import stat
import subprocess
import sys
import textwrap
from multiprocessing import shared_memory as std

import pytest

from dotbridge import shared_memory as sm

np = pytest.importorskip("numpy")


def exists(name: str) -> bool:
    return os.path.exists("/dev/shm/" + name)


@pytest.fixture
def seg():
    s = sm.SharedMemory(create=True, size=4096)
    yield s
    s.close()
    s.unlink()


def test_created_segment_has_unguessable_name_and_mode_0600(seg):
    assert re.fullmatch(r"db_[0-9a-f]{32}", seg.name)
    assert stat.S_IMODE(os.stat("/dev/shm/" + seg.name).st_mode) == 0o600
    assert seg.size == 4096


def test_stdlib_opens_ours_and_we_open_stdlibs(seg):
    other = std.SharedMemory(seg.name)
    other.buf[:3] = b"abc"
    assert bytes(seg.buf[:3]) == b"abc"
    other.close()
    theirs = std.SharedMemory(create=True, size=100)
    try:
        mine = sm.SharedMemory(theirs.name)
        mine.buf[10] = 42
        assert theirs.buf[10] == 42
        assert mine.size == 100
        mine.close()
    finally:
        theirs.close()
        theirs.unlink()


def test_unlink_removes_the_name_close_does_not():
    s = sm.SharedMemory(create=True, size=10)
    a = sm.SharedMemory(s.name)
    a.close()
    assert exists(s.name)
    s.close()
    s.unlink()
    assert not exists(s.name)


def test_pickle_reattaches_by_name(seg):
    seg.buf[0] = 9
    again = pickle.loads(pickle.dumps(seg))
    assert isinstance(again, sm.SharedMemory) and again.name == seg.name and again.buf[0] == 9
    again.close()


def test_bad_arguments_raise_like_the_stdlib():
    with pytest.raises(ValueError):
        sm.SharedMemory()
    with pytest.raises(ValueError):
        sm.SharedMemory(create=True, size=0)
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory("db_" + "0" * 32)


def test_explicit_name_collision_raises(seg):
    with pytest.raises(FileExistsError):
        sm.SharedMemory(seg.name, create=True, size=10)


ATTACH_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {src!r})
    from dotbridge import shared_memory as sm
    s = sm.SharedMemory({name!r})
    s.buf[0] = 77
    s.close()
""")


def test_attach_in_another_process_does_not_unlink_issue82300(seg):
    # A separate interpreter has its own resource tracker: had the attach registered the
    # segment there, that tracker would unlink it when the child exits (CPython issue 82300).
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python")
    r = subprocess.run([sys.executable, "-c", ATTACH_CHILD.format(src=src, name=seg.name)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "leaked" not in r.stderr
    assert seg.buf[0] == 77
    assert exists(seg.name)


def test_shareable_list_round_trip():
    lst = sm.ShareableList([1, 2.5, "x", b"y", None, True])
    try:
        assert re.fullmatch(r"db_[0-9a-f]{32}", lst.shm.name)
        other = pickle.loads(pickle.dumps(lst))
        other[0] = 5
        assert lst[0] == 5 and list(other) == [5, 2.5, "x", b"y", None, True]
        other.shm.close()
        std_view = std.ShareableList(name=lst.shm.name)
        assert std_view[2] == "x"
        std_view.shm.close()
    finally:
        lst.shm.close()
        lst.shm.unlink()


def test_ndarray_lives_in_shared_memory_and_is_unlinked_when_collected():
    a = sm.ndarray((3, 4), "int32")
    assert a.dtype == np.int32 and a.shape == (3, 4) and not a.any()
    name, offset = sm.segment_of(a)
    assert offset == 0 and exists(name)
    assert sm.segment_of(a[1]) == (name, 16)
    del a
    gc.collect()
    assert not exists(name)


def test_array_copies_into_shared_memory():
    src = np.arange(10.0)
    a = sm.array(src)
    assert sm.segment_of(a) is not None and np.array_equal(a, src)
    assert sm.segment_of(src) is None


def test_views_of_a_shared_memory_buf_are_found(seg):
    v = np.ndarray((512,), dtype=np.float64, buffer=seg.buf)
    assert sm.segment_of(v[10:]) == (seg.name, 80)
    del v


def test_ext3_round_trip_is_zero_copy():
    a = sm.ndarray(1000, "float64")
    body = sm.encode_shm_ref(a[100:200])
    assert body[0] == 11 and body[1] == 1 and body[2] == 1
    b = sm.decode_shm_ref(body)
    b[:] = 7.0
    assert a[100] == 7.0 and a[199] == 7.0 and a[200] == 0.0 and a[99] == 0.0


def test_ext3_layout_matches_protocol():
    a = sm.ndarray((2, 3), "int16")
    name = sm.segment_of(a)[0]
    body = sm.encode_shm_ref(a)
    expected = (bytes([4, 1, 2, 0]) + (0).to_bytes(8, "little") + (2).to_bytes(8, "little")
                + (3).to_bytes(8, "little") + name.encode())
    assert body == expected


def test_ext3_marks_read_only_arrays():
    a = sm.ndarray(10, "uint8")
    view = a[:]
    view.flags.writeable = False
    body = sm.encode_shm_ref(view)
    assert body[1] == 0
    assert not sm.decode_shm_ref(body).flags.writeable


def test_ext3_is_not_used_for_arrays_outside_shared_memory_or_non_contiguous():
    assert sm.encode_shm_ref(np.zeros(10)) is None
    a = sm.ndarray(10)
    assert sm.encode_shm_ref(a[::2]) is None


def test_ext3_decode_rejects_out_of_bounds_and_garbage():
    a = sm.ndarray(4, "float64")
    body = bytearray(sm.encode_shm_ref(a))
    body[12:20] = (5).to_bytes(8, "little")
    with pytest.raises(ValueError):
        sm.decode_shm_ref(bytes(body))
    with pytest.raises(ValueError):
        sm.decode_shm_ref(b"\x0b\x01")
    body = bytearray(sm.encode_shm_ref(a))
    body[0] = 99
    with pytest.raises(ValueError):
        sm.decode_shm_ref(bytes(body))


KILLED_OWNER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {src!r})
    from dotbridge import shared_memory as sm, synchronize as sy, sharedctypes as sc
    s = sm.SharedMemory(create=True, size=100)
    a = sm.ndarray(10)
    lk = sy.Lock()
    v = sc.Value('i', 1)
    print(s.name, sm.segment_of(a)[0], lk.name, v.descriptor, flush=True)
    time.sleep(60)
""")


@pytest.mark.timeout(60)
def test_segments_and_semaphores_of_a_killed_owner_are_unlinked_by_its_tracker():
    import signal
    import time
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python")
    p = subprocess.Popen([sys.executable, "-c", KILLED_OWNER.format(src=src)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        assert len(line) == 4, p.stderr.read()
        seg1, seg2, lock, desc = line
        seg3 = re.search(r"segment=(\w+)", desc).group(1)
        paths = ["/dev/shm/" + seg1, "/dev/shm/" + seg2, "/dev/shm/" + seg3, "/dev/shm/sem." + lock[1:]]
        assert all(os.path.exists(x) for x in paths)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        deadline = time.monotonic() + 20
        while any(os.path.exists(x) for x in paths) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [x for x in paths if os.path.exists(x)]
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
        p.stderr.close()
        p.wait(10)
