"""The wire protocol on the Python side: framing, the value codec, golden vectors."""

from __future__ import annotations

import json
import os
import struct

import msgpack
import pytest

from dotbridge import _frames
from dotbridge._frames import ProtocolError

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "frames.json")


def test_frame_is_big_endian_length_then_one_array():
    data = _frames.encode_frame([6])
    assert data == b"\x00\x00\x00\x02\x91\x06"
    r = _frames.FrameReader()
    r.feed(data)
    assert list(r.frames()) == [[6]]


def test_reader_handles_split_and_batched_frames():
    frames = [[3, i, 0, None, b"x" * i] for i in range(1, 50)]
    data = b"".join(_frames.encode_frame(f) for f in frames)
    r = _frames.FrameReader()
    got = []
    for i in range(0, len(data), 7):
        r.feed(data[i:i + 7])
        got.extend(r.frames())
    assert got == frames
    assert r.pending() == 0


@pytest.mark.parametrize("body", [
    b"",                       # empty frame
    b"\x06",                   # not an array
    b"\x91\x06\x06",           # trailing bytes
    b"\x92\x06",               # truncated array
    b"\x90",                   # empty array: no kind
    b"\x91\xa1x",              # kind is not an int
])
def test_bad_bodies_are_protocol_errors(body):
    r = _frames.FrameReader()
    r.feed(struct.pack(">I", len(body)) + body)
    with pytest.raises(ProtocolError):
        list(r.frames())


def test_oversized_length_is_rejected_before_buffering():
    r = _frames.FrameReader(max_frame_bytes=100)
    r.feed(struct.pack(">I", 101))
    with pytest.raises(ProtocolError, match="bad frame length"):
        list(r.frames())


def test_big_ints_travel_as_ext1():
    for v in (2 ** 64, -(2 ** 63) - 1, 2 ** 200, -(2 ** 200), 12345678901234567890123):
        packed = _frames.packb_values([v])
        assert msgpack.unpackb(packed, ext_hook=lambda c, d: c)[0] == 1
        assert _frames.unpackb_values(packed) == [v]
    assert _frames.packb_values(2 ** 64 - 1) == msgpack.packb(2 ** 64 - 1)  # still a plain uint64


def test_tuples_become_arrays_and_bins_stay_bins():
    assert _frames.unpackb_values(_frames.packb_values((1, (2, 3)))) == [1, [2, 3]]
    assert _frames.unpackb_values(_frames.packb_values([b"ab", bytearray(b"cd"), memoryview(b"ef")])) == [
        b"ab", b"cd", b"ef"]
    assert _frames.unpackb_values(_frames.packb_values({1: "a", "b": None})) == {1: "a", "b": None}


def test_unencodable_value_names_its_type():
    class Thing:
        pass
    with pytest.raises(TypeError, match="Thing"):
        _frames.packb_values([Thing()])


def test_numpy_arrays_travel_as_ext2():
    np = pytest.importorskip("numpy")
    for dtype, code in (("bool", 1), ("int8", 2), ("uint8", 3), ("int16", 4), ("uint16", 5), ("int32", 6),
                        ("uint32", 7), ("int64", 8), ("uint64", 9), ("float32", 10), ("float64", 11)):
        a = np.arange(5).astype(dtype)
        packed = _frames.packb_values(a)
        ext = msgpack.unpackb(packed, ext_hook=msgpack.ExtType)
        assert ext.code == 2 and ext.data[0] == code
        assert ext.data[1:] == a.astype(a.dtype.newbyteorder("<")).tobytes()
        back = _frames.unpackb_values(packed)
        assert back.dtype == a.dtype and (back == a).all()
    be = np.arange(3, dtype=">i4")
    assert (_frames.unpackb_values(_frames.packb_values(be)) == be).all()
    assert _frames.unpackb_values(_frames.packb_values(np.int64(7))) == 7
    with pytest.raises(TypeError):
        _frames.packb_values(np.zeros((2, 2)))


def test_ext2_without_numpy_decodes_to_list(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_numpy(name, *a, **k):
        if name == "numpy":
            raise ImportError("no numpy")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_numpy)
    data = msgpack.packb(msgpack.ExtType(2, bytes([6]) + struct.pack("<3i", 1, -2, 3)))
    assert _frames.unpackb_values(data) == [1, -2, 3]


def test_bad_ext_payloads_are_protocol_errors():
    with pytest.raises(ProtocolError):
        _frames.unpackb_values(msgpack.packb(msgpack.ExtType(2, bytes([99, 0]))))
    with pytest.raises(ProtocolError):
        _frames.unpackb_values(msgpack.packb(msgpack.ExtType(2, bytes([6, 0, 0]))))


def test_error_map_carries_type_message_traceback_and_cause():
    try:
        try:
            raise KeyError("inner")
        except KeyError as e:
            raise ValueError("outer") from e
    except ValueError as e:
        m = _frames.error_map(e, "raised", 2)
    assert m["type"] == "builtins.ValueError" and m["message"] == "outer" and m["index"] == 2
    assert "raise ValueError" in m["traceback"]
    assert m["cause"]["type"] == "builtins.KeyError"
    msgpack.packb(m)  # encodable


def _from_json(v):
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return bytes.fromhex(v["$bin"])
        if set(v) == {"$ext"}:
            return msgpack.ExtType(v["$ext"][0], bytes.fromhex(v["$ext"][1]))
        if set(v) == {"$int"}:  # beyond 64 bits: ext 1 (decoded raw here, like the other exts)
            return msgpack.ExtType(1, _frames._bigint_bytes(int(v["$int"])))
        return {k: _from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_from_json(x) for x in v]
    return v


def _vectors():
    if not os.path.exists(VECTORS):
        return []
    with open(VECTORS) as f:
        return json.load(f)


@pytest.mark.skipif(not os.path.exists(VECTORS), reason="tests/vectors/frames.json not written yet (helper dotnetworker)")
@pytest.mark.parametrize("vec", _vectors(), ids=lambda v: v.get("name", "?") if isinstance(v, dict) else "none")
def test_golden_vectors(vec):
    data = bytes.fromhex(vec["hex"])
    expected = _from_json(vec["value"])
    r = _frames.FrameReader(raw_ext=True)
    r.feed(data)
    frames = list(r.frames())
    assert frames == [expected]
    assert _frames.encode_frame(expected) == data


def test_arrays_in_dotbridge_segments_travel_as_ext3_references():
    pytest.importorskip("numpy")
    from dotbridge import shared_memory
    arr = shared_memory.ndarray(8, "float64")
    arr[:] = 1.5
    packed = _frames.packb_values([arr])
    assert msgpack.unpackb(packed, ext_hook=msgpack.ExtType)[0].code == 3
    view = _frames.unpackb_values(packed)[0]
    view[0] = 9.0  # the decoded array maps the same memory: no copy
    assert arr[0] == 9.0 and view.shape == arr.shape
    del view
