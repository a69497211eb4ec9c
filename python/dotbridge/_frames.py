"""The wire protocol of Bridge/PROTOCOL.md, Python side.

Design notes:
- A frame is a 4-byte big-endian length N, then N bytes holding exactly one
  MessagePack array. N == 0, N > max_frame_bytes, a body that is not one
  array, or trailing bytes are a :class:`ProtocolError`.
- Values (MSGPACK encoding, kind 1 tasks) go through :func:`packb_values` /
  :func:`unpackb_values`: ext 1 = big ints (two's complement, big-endian),
  ext 2 = 1-D numeric arrays (dtype code byte + little-endian elements),
  ext 3 = a numpy array in a dotbridge shared-memory segment, by reference
  (``dotbridge.shared_memory.encode_shm_ref``/``decode_shm_ref``; the pool's
  codec for .NET calls also copies big plain arrays into a fresh segment and
  sends them as ext 3: ``dotbridge.dotnet.ArgStage``, on top of :func:`default`),
  tuples are sent as arrays. numpy is imported only when an ext 2 value
  appears or a numpy object is encoded.
- This module is imported by the worker: keep its imports minimal.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import struct
import sys

import msgpack

__all__ = [
    "HELLO", "INIT", "TASK", "RESULT", "ERROR", "STOP", "FATAL",
    "PROTOCOL_VERSION", "MAX_FRAME_BYTES", "MAX_DEPTH",
    "ProtocolError",
    "encode_frame", "decode_body", "FrameReader",
    "packb_values", "unpackb_values", "ext_hook", "default",
    "error_map", "make_python_init",
    "DTYPE_CODES", "decode_pickle_task", "encode_pickle_result",
]

HELLO, INIT, TASK, RESULT, ERROR, STOP, FATAL = 1, 2, 3, 4, 5, 6, 7
PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 1 << 30
MAX_DEPTH = 64

ENCODING_PICKLE = 0
ENCODING_MSGPACK = 1

_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame broke the wire protocol (bad length, not one MessagePack array, ...).

    Defined here (not in ``_errors``) so the worker needs no heavy imports;
    ``dotbridge.ProtocolError`` is this class.
    """


# ext 2 dtype codes <-> numpy dtype strings (little-endian).
DTYPE_CODES = {1: "|b1", 2: "|i1", 3: "|u1", 4: "<i2", 5: "<u2", 6: "<i4", 7: "<u4",
               8: "<i8", 9: "<u8", 10: "<f4", 11: "<f8"}
_DTYPE_BY_KIND = {("b", 1): 1, ("i", 1): 2, ("u", 1): 3, ("i", 2): 4, ("u", 2): 5, ("i", 4): 6,
                  ("u", 4): 7, ("i", 8): 8, ("u", 8): 9, ("f", 4): 10, ("f", 8): 11}
# struct formats for decoding ext 2 without numpy
_STRUCT_CODES = {1: "?", 2: "b", 3: "B", 4: "h", 5: "H", 6: "i", 7: "I", 8: "q", 9: "Q", 10: "f", 11: "d"}


def _bigint_bytes(v: int) -> bytes:
    n = (v + (v < 0)).bit_length() // 8 + 1
    return v.to_bytes(n, "big", signed=True)


def default(obj):
    """msgpack ``default`` hook: big ints -> ext 1, numpy arrays -> ext 2, numpy scalars."""
    if isinstance(obj, int):
        return msgpack.ExtType(1, _bigint_bytes(obj))
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            shm = sys.modules.get(__package__ + ".shared_memory") if __package__ else None
            if shm is not None:  # an array can only live in a dotbridge segment once that module is loaded
                ref = shm.encode_shm_ref(obj)
                if ref is not None:
                    return msgpack.ExtType(3, ref)
            if obj.ndim != 1:
                raise TypeError(f"cannot encode a {obj.ndim}-D numpy array (only 1-D arrays travel as ext 2)")
            code = _DTYPE_BY_KIND.get((obj.dtype.kind, obj.dtype.itemsize))
            if code is None:
                raise TypeError(f"cannot encode a numpy array of dtype {obj.dtype}")
            data = obj.astype(DTYPE_CODES[code], copy=False)
            return msgpack.ExtType(2, bytes((code,)) + data.tobytes())
        if isinstance(obj, np.generic):
            return obj.item()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot encode an object of type {type(obj).__module__}.{type(obj).__qualname__}")


def ext_hook(code: int, data: bytes):
    """msgpack ``ext_hook``: ext 1 -> int, ext 2 -> numpy array (or list), others kept."""
    if code == 1:
        if not data:
            raise ProtocolError("empty ext 1 (big integer)")
        return int.from_bytes(data, "big", signed=True)
    if code == 2:
        if not data:
            raise ProtocolError("empty ext 2 (array)")
        dt = DTYPE_CODES.get(data[0])
        if dt is None:
            raise ProtocolError(f"unknown ext 2 dtype code {data[0]}")
        body = memoryview(data)[1:]
        try:
            import numpy as np
        except ImportError:
            fmt = _STRUCT_CODES[data[0]]
            size = struct.calcsize(fmt)
            if len(body) % size:
                raise ProtocolError("ext 2 length is not a multiple of the element size") from None
            return list(struct.unpack("<%d%s" % (len(body) // size, fmt), body))
        dtype = np.dtype(dt)
        if len(body) % dtype.itemsize:
            raise ProtocolError("ext 2 length is not a multiple of the element size")
        return np.frombuffer(body, dtype=dtype).copy()
    if code == 3:
        from . import shared_memory
        try:
            return shared_memory.decode_shm_ref(data)
        except (ValueError, OSError) as e:
            raise ProtocolError(f"bad ext 3 (shared-memory array reference): {e}") from e
    return msgpack.ExtType(code, data)


def _raw_ext_hook(code: int, data: bytes):
    return msgpack.ExtType(code, data)


def _unpack_kwargs(limit: int) -> dict:
    return dict(raw=False, strict_map_key=False, use_list=True,
                max_str_len=limit, max_bin_len=limit, max_array_len=limit, max_map_len=limit,
                max_ext_len=limit)


def packb_values(value) -> bytes:
    """Pack a value (or array of values) with the MSGPACK value codec.

    Raises:
        TypeError: a value of an unsupported type; the message names the type.
    """
    return msgpack.packb(value, default=default, use_bin_type=True)


def unpackb_values(data, *, raw_ext: bool = False, limit: int = MAX_FRAME_BYTES):
    """Unpack a MessagePack document with the value codec (ext 1/2 decoded)."""
    try:
        return msgpack.unpackb(data, ext_hook=_raw_ext_hook if raw_ext else ext_hook,
                               **_unpack_kwargs(limit))
    except ProtocolError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, struct.error) as e:
        raise ProtocolError(f"bad MessagePack data: {e}") from e


def encode_frame(array, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """Encode one frame: length prefix + the packed array (values via the codec)."""
    if not isinstance(array, (list, tuple)):
        raise TypeError("a frame is a MessagePack array")
    body = msgpack.packb(array, default=default, use_bin_type=True)
    if len(body) > max_frame_bytes:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds max_frame_bytes={max_frame_bytes}")
    return _HEADER.pack(len(body)) + body


def decode_body(body, *, raw_ext: bool = False, limit: int = MAX_FRAME_BYTES) -> list:
    """Decode a frame body (without its length prefix) into its array."""
    if len(body) == 0:
        raise ProtocolError("empty frame")
    value = unpackb_values(body, raw_ext=raw_ext, limit=limit)
    if not isinstance(value, list) or not value:
        raise ProtocolError("a frame must be one non-empty MessagePack array")
    if not isinstance(value[0], int) or isinstance(value[0], bool):
        raise ProtocolError("a frame's first element must be its integer kind")
    return value


# -- the hot path's own codec: PICKLE TASK in, PICKLE RESULT out -------------------------------------
# Where msgpack's C extension is missing (inside a sub-interpreter it cannot load: single-phase init;
# or a Python without a wheel), msgpack's pure-Python fallback costs ~4-7 us a frame; these two cost
# ~0.5 us, a little less than msgpack's C extension too (no options to parse), so the worker always
# reads and writes the two fixed frame shapes of every PICKLE task with them, byte for byte what
# msgpack produces (tests/python/test_interpreter_workers.py checks both against msgpack), and hands
# anything else to msgpack.

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_I8 = struct.Struct(">b").unpack_from
_I16 = struct.Struct(">h").unpack_from
_I32 = struct.Struct(">i").unpack_from
_I64 = struct.Struct(">q").unpack_from
_INT_FIX = [bytes((i,)) for i in range(0x80)]  # positive fixints; negative ones are 0xe0 + (v + 32)
_P_BB = struct.Struct(">BB").pack
_P_BH = struct.Struct(">BH").pack
_P_BI = struct.Struct(">BI").pack
_P_BQ = struct.Struct(">BQ").pack
_P_Bb = struct.Struct(">Bb").pack
_P_Bh = struct.Struct(">Bh").pack
_P_Bi = struct.Struct(">Bi").pack
_P_Bq = struct.Struct(">Bq").pack


def _msgpack_int(v: int):
    """msgpack's encoding of the int ``v`` (the smallest width, as msgpack's packer picks), or None
    outside msgpack's int range (the caller then uses msgpack, whose ``default`` makes an ext 1)."""
    if 0 <= v < 0x80:
        return _INT_FIX[v]
    if v > 0:
        if v <= 0xFF:
            return _P_BB(0xCC, v)
        if v <= 0xFFFF:
            return _P_BH(0xCD, v)
        if v <= 0xFFFFFFFF:
            return _P_BI(0xCE, v)
        if v <= 0xFFFFFFFFFFFFFFFF:
            return _P_BQ(0xCF, v)
        return None
    if v >= -0x20:
        return bytes((v + 0x100,))
    if v >= -0x80:
        return _P_Bb(0xD0, v)
    if v >= -0x8000:
        return _P_Bh(0xD1, v)
    if v >= -0x80000000:
        return _P_Bi(0xD2, v)
    if v >= -0x8000000000000000:
        return _P_Bq(0xD3, v)
    return None


def encode_pickle_result(task_id: int, data: bytes, elapsed_us: int):
    """The whole RESULT frame ``[4, task_id, 0, data, elapsed_us]`` (length prefix included) for a
    PICKLE task, as :func:`encode_frame` would make it; None where msgpack must do it (an int outside
    msgpack's range, a bin of 4 GiB or more)."""
    tid = _msgpack_int(task_id)
    el = _msgpack_int(elapsed_us)
    n = len(data)
    if tid is None or el is None or n > 0xFFFFFFFF:
        return None
    if n <= 0xFF:
        head = _P_BB(0xC4, n)
    elif n <= 0xFFFF:
        head = _P_BH(0xC5, n)
    else:
        head = _P_BI(0xC6, n)
    return b"".join((_HEADER.pack(3 + len(tid) + len(head) + n + len(el)), b"\x95\x04", tid, b"\x00",
                     head, data, el))


def decode_pickle_task(buf, start: int, end: int):
    """The PICKLE TASK frame ``[3, task_id, 0, target (nil or str), payload (bin)]`` whose body is
    exactly ``buf[start:end]``, as ``msgpack.unpackb`` returns it (a list; payload as bytes); None for
    any other body (another kind or encoding, other types, trailing or missing bytes, bad UTF-8): the
    caller then decodes it with msgpack, which also raises the errors."""
    try:
        if buf[start] != 0x95 or buf[start + 1] != 3:
            return None
        i = start + 2
        b = buf[i]
        if b < 0x80:
            task_id = b
            i += 1
        elif b == 0xCC:
            task_id = buf[i + 1]
            i += 2
        elif b == 0xCD:
            task_id = _U16(buf, i + 1)[0]
            i += 3
        elif b == 0xCE:
            task_id = _U32(buf, i + 1)[0]
            i += 5
        elif b == 0xCF:
            task_id = _U64(buf, i + 1)[0]
            i += 9
        elif b >= 0xE0:
            task_id = b - 0x100
            i += 1
        elif b == 0xD0:
            task_id = _I8(buf, i + 1)[0]
            i += 2
        elif b == 0xD1:
            task_id = _I16(buf, i + 1)[0]
            i += 3
        elif b == 0xD2:
            task_id = _I32(buf, i + 1)[0]
            i += 5
        elif b == 0xD3:
            task_id = _I64(buf, i + 1)[0]
            i += 9
        else:
            return None
        if buf[i] != 0:  # encoding PICKLE only (MSGPACK payloads are values: msgpack's job)
            return None
        b = buf[i + 1]
        i += 2
        if b == 0xC0:
            target = None
        else:
            if 0xA0 <= b <= 0xBF:
                n = b & 0x1F
            elif b == 0xD9:
                n = buf[i]
                i += 1
            elif b == 0xDA:
                n = _U16(buf, i)[0]
                i += 2
            elif b == 0xDB:
                n = _U32(buf, i)[0]
                i += 4
            else:
                return None
            if i + n > end:
                return None
            target = str(buf[i:i + n], "utf-8")
            i += n
        b = buf[i]
        if b == 0xC4:
            n = buf[i + 1]
            i += 2
        elif b == 0xC5:
            n = _U16(buf, i + 1)[0]
            i += 3
        elif b == 0xC6:
            n = _U32(buf, i + 1)[0]
            i += 5
        else:
            return None
        if i + n != end:
            return None
        # one copy through a view for a big payload (slicing a bytearray copies it twice)
        return [3, task_id, 0, target, bytes(buf[i:end]) if n < 2048 else bytes(memoryview(buf)[i:end])]
    except (IndexError, struct.error, UnicodeDecodeError):
        return None


def check_depth(value, limit: int = MAX_DEPTH) -> None:
    """Raise ProtocolError if ``value`` nests deeper than ``limit``."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            raise ProtocolError(f"value nests deeper than {limit}")
        if isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
        elif isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())


class FrameReader:
    """Accumulates bytes and yields complete frames (arrays).

    Not thread-safe. ``feed`` data, then iterate ``frames()``.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES, *, raw_ext: bool = False) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes
        self._raw_ext = raw_ext

    def feed(self, data) -> None:
        self._buf += data

    def pending(self) -> int:
        """Bytes buffered but not yet returned as frames."""
        return len(self._buf)

    def needed(self) -> int:
        """Bytes still missing for the next frame (at least 1)."""
        buf = self._buf
        if len(buf) < 4:
            return 4 - len(buf)
        n = _HEADER.unpack_from(buf, 0)[0]
        return max(1, 4 + n - len(buf))

    def frames(self):
        buf = self._buf
        pos = 0
        try:
            while len(buf) - pos >= 4:
                n = _HEADER.unpack_from(buf, pos)[0]
                if n == 0 or n > self._max:
                    raise ProtocolError(f"bad frame length {n} (max_frame_bytes={self._max})")
                if len(buf) - pos - 4 < n:
                    break
                body = bytes(buf[pos + 4:pos + 4 + n])
                pos += 4 + n
                yield decode_body(body, raw_ext=self._raw_ext, limit=self._max)
        finally:
            del buf[:pos]


def _type_name(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def error_map(exc: BaseException, kind: str = "raised", index: int | None = None,
              tb_text: str | None = None, _depth: int = 0) -> dict:
    """The protocol's error map for a Python exception (with its cause chain)."""
    if tb_text is None:
        import traceback
        tb_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    cause = exc.__cause__
    if cause is None and not exc.__suppress_context__:
        cause = exc.__context__
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not stop the error report
        message = f"<unprintable {type(exc).__name__}>"
    return {
        "type": _type_name(type(exc)),
        "message": message,
        "traceback": tb_text,
        "cause": error_map(cause, kind, None, None, _depth + 1) if cause is not None and _depth < 8 else None,
        "kind": kind,
        "index": index,
    }


class _TaskPickler(pickle.Pickler):
    """The C pickler with the stdlib's ``ForkingPickler`` reducers, as the stdlib's Pool pickles tasks:
    a ``Connection`` (a ``Pipe()`` end), a socket, ... travels as the stdlib sends it to its own
    workers (``resource_sharer``: the worker receives a duplicate of the fd), not as a bare fd number.
    The table is rebuilt when ``ForkingPickler.register`` or ``copyreg`` add a reducer."""

    _sizes = None
    _table: dict = {}

    @property
    def dispatch_table(self):
        from multiprocessing.reduction import ForkingPickler
        cls = _TaskPickler
        sizes = (len(copyreg.dispatch_table), len(ForkingPickler._extra_reducers))
        if sizes != cls._sizes:
            table = dict(copyreg.dispatch_table)
            table.update(ForkingPickler._extra_reducers)
            cls._table, cls._sizes = table, sizes
        return cls._table


def dumps(obj) -> bytes:
    """Pickle a task (``_TaskPickler``), falling back to cloudpickle for lambdas, closures and nested functions.

    Raises:
        pickle.PicklingError (or the original error): the object cannot be pickled
            (and cloudpickle is not installed or failed too).
    """
    try:
        buf = io.BytesIO()
        _TaskPickler(buf, pickle.HIGHEST_PROTOCOL).dump(obj)
        return buf.getvalue()
    except (pickle.PicklingError, AttributeError, TypeError) as e:
        try:
            import cloudpickle
        except ImportError:
            raise pickle.PicklingError(
                f"cannot pickle the task for a worker process ({e}); define the function at module "
                "level or install cloudpickle to send lambdas, closures and nested functions") from e
        try:
            return cloudpickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
        except Exception as e2:  # report the original failure, keep cloudpickle's as context
            raise e from e2


def make_python_init(initializer=None, initargs=(), sys_path=None, *, name: str = "SpawnPoolWorker") -> bytes:
    """The opaque ``python_init`` blob of INIT for Python workers.

    It holds the stdlib's spawn preparation data (sys.path, the main module's
    path, cwd, authkey, start method) and, pickled separately so it can be
    loaded after the main module is prepared, ``(initializer, initargs)``.
    """
    from multiprocessing import spawn
    data = spawn.get_preparation_data(name)
    if "authkey" in data:  # AuthenticationString refuses plain pickling; prepare() re-wraps it
        data["authkey"] = bytes(data["authkey"])
    if sys_path:
        data["sys_path"] = list(sys_path) + [p for p in data.get("sys_path", []) if p not in sys_path]
    init = dumps((initializer, tuple(initargs))) if initializer is not None else None
    return pickle.dumps({"prep": data, "init": init}, pickle.HIGHEST_PROTOCOL)
