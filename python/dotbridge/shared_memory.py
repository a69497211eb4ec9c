"""Shared memory that Python and .NET both map (Bridge/SHARED.md).

Design notes:
- A segment is a POSIX shared memory object, the file ``/dev/shm/<name>``:
  exactly the stdlib's ``multiprocessing.shared_memory.SharedMemory``, which
  opens ours and whose segments we open; .NET maps the same file
  (``Bridge.SharedMemorySegment``). Writes are visible both ways, no copy.
- Names made here are ``db_`` + 32 hex digits (128 random bits: not
  guessable); segments are created ``O_EXCL`` with mode 0600.
- Ownership: the creator owns the name (``unlink``); everyone else only
  closes. A created segment is registered with the stdlib's resource tracker,
  which unlinks it if its creator dies (kill -9); ``unlink()`` unregisters it.
  An *attach* never registers (Python 3.11/3.12 register even on attach, and a
  worker's tracker then unlinks the parent's segment: CPython issue 82300).
- Arrays in shared memory: :func:`ndarray` / :func:`array` make numpy arrays
  whose memory is a segment from the start; such an array (or any numpy view
  of a :class:`SharedMemory`'s ``buf`` made here) travels to a .NET method as
  an ext 3 reference (:func:`encode_shm_ref`, PROTOCOL.md "Values"): the
  worker maps the segment and passes a ``Span<T>``/``Memory<T>`` over it, so
  its writes land in the caller's array. Other arrays travel by value (ext 2).
- The mmap of a segment is a :class:`_ShmMap` (an ``mmap.mmap`` that knows its
  segment name); numpy views keep it alive, and :func:`segment_of` finds it
  from any view by walking ``.base``. A segment made by :func:`ndarray` is
  unlinked when its last view is garbage-collected (or at exit).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import secrets
import struct
import sys
import types
import weakref
from multiprocessing import resource_tracker
from multiprocessing import shared_memory as _std

import _posixshmem

from ._untrack import untrack_stdlib_attaches  # noqa: F401 (public here; own module for the worker)

__all__ = [
    "SharedMemory", "ShareableList", "ndarray", "array", "segment_of",
    "encode_shm_ref", "decode_shm_ref", "SHM_EXT_TYPE", "SHM_THRESHOLD", "new_name",
    "untrack_stdlib_attaches",
]

SHM_EXT_TYPE = 3
#: numpy arrays at least this big that do not live in shared memory could be moved
#: there by the caller (see :func:`array`); arrays already in shared memory always go by reference.
SHM_THRESHOLD = 64 * 1024

_O_CREX = os.O_CREAT | os.O_EXCL
_WORKER_FILE = os.path.join("dotbridge", "_worker.py")


def _encoding_a_worker_result() -> bool:
    """True when called (through the codec) from dotbridge's Python worker loop."""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename.endswith(_WORKER_FILE):
            return True
        f = f.f_back
    return False
_MODE = 0o600
_HEADER = struct.Struct("<BBBBQ")  # dtype, flags, ndim, reserved, offset


def new_name() -> str:
    """A new unguessable segment name: ``db_`` + 32 hex digits."""
    return "db_" + secrets.token_hex(16)


class _ShmMap(mmap.mmap):
    """The mapping of one segment; knows its name and base address."""

    name: str
    address: int
    owned: bool = False


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_MAP_FIXED = getattr(mmap, "MAP_FIXED", 0x10)  # (mmap.MAP_FIXED is missing before Python 3.13; 0x10 on Linux)


def _map_fd(fd: int, size: int, name: str, owned: bool = False) -> _ShmMap:
    """Map ``size`` bytes of segment ``fd`` as an ``mmap.mmap`` that keeps no file descriptor.

    ``mmap.mmap(fd, ...)`` keeps a dup of ``fd`` for its whole life (one fd per
    ``ndarray()``/Value would hit ``ulimit -n`` after about a thousand). So: an
    anonymous ``mmap.mmap`` (no fd) whose pages are replaced in place
    (``MAP_FIXED``) by the segment's. It keeps mmap's lifetime rules: it cannot
    close while a buffer over it is exported, and its C dealloc unmaps the range.
    """
    if size <= 0:
        raise ValueError(f"cannot map an empty shared memory segment ({name!r})")
    mm = _ShmMap(-1, size)
    probe = ctypes.c_char.from_buffer(mm)
    address = ctypes.addressof(probe)
    del probe
    got = _libc.mmap(address, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED | _MAP_FIXED, fd, 0)
    if got != address:
        err = ctypes.get_errno()
        mm.close()
        raise OSError(err, os.strerror(err), name)
    mm.name = name
    mm.owned = owned
    mm.address = address
    return mm


def _create(name: str | None, size: int) -> tuple[str, int]:
    """shm_open(O_CREAT|O_EXCL, 0600) + ftruncate; returns (name without slash, fd)."""
    while True:
        n = new_name() if name is None else name
        try:
            fd = _posixshmem.shm_open("/" + n, _O_CREX | os.O_RDWR, mode=_MODE)
        except FileExistsError:
            if name is not None:
                raise
            continue
        try:
            os.ftruncate(fd, size)
        except BaseException:  # OSError, or TypeError for a non-int size: never leave the new name behind
            os.close(fd)
            _posixshmem.shm_unlink("/" + n)
            raise
        return n, fd


def _unlink_owned(slash_name: str, creator_pid: int | None = None) -> None:
    """Unlink and untrack a segment this process created; a no-op in a forked child (``creator_pid`` differs)."""
    if creator_pid is not None and os.getpid() != creator_pid:
        return  # a fork child dropping (or exiting with) an inherited object: the parent still owns it
    try:
        _posixshmem.shm_unlink(slash_name)
    except FileNotFoundError:
        pass
    try:
        resource_tracker.unregister(slash_name, "shared_memory")
    except Exception:  # the tracker may already be gone at interpreter exit
        pass


class SharedMemory(_std.SharedMemory):
    """The stdlib's ``SharedMemory`` with dotbridge's naming and ownership rules.

    Same constructor and members (``name``, ``size``, ``buf``, ``close()``,
    ``unlink()``); interoperable with the stdlib's class and with
    ``Bridge.SharedMemorySegment`` in .NET. Differences: new names are
    unguessable (``db_<128-bit hex>``); attaching never registers the
    segment with the resource tracker (so no other process's tracker can
    unlink it); pickling re-attaches by name.

    Args:
        name: the segment name (no leading slash); None to make a new name (create=True).
        create: create a new segment (O_EXCL) instead of attaching.
        size: bytes to create (ignored when attaching: the segment's own size is used).
        track: as Python 3.13's: False leaves a created segment unregistered (it
            outlives this process until someone calls ``unlink()``).
    Raises:
        FileExistsError: create=True and the name exists.
        FileNotFoundError: attaching to a name that does not exist.
        ValueError: bad size, or name None without create.
    """

    _fd = -1
    _name = None
    _mmap = None
    _buf = None
    _flags = os.O_RDWR
    _mode = _MODE
    _prepend_leading_slash = True
    _owner = False
    _track = False

    def __init__(self, name: str | None = None, create: bool = False, size: int = 0, *, track: bool = True) -> None:
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create and size == 0:
            raise ValueError("'size' must be a positive number different from zero")
        if name is None and not create:
            raise ValueError("'name' can only be None if create=True")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"can only concatenate str (not \"{type(name).__name__}\") to str")  # the stdlib's error
        if name is not None and name.startswith("/"):
            name = name[1:]
        if create:
            self._flags = _O_CREX | os.O_RDWR
            name, self._fd = _create(name, size)
        else:
            self._fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=_MODE)
        self._name = "/" + name
        try:
            size = os.fstat(self._fd).st_size
            self._mmap = _map_fd(self._fd, size, name)
        except (OSError, ValueError):
            if create:
                _posixshmem.shm_unlink(self._name)
            os.close(self._fd)
            self._fd = -1
            raise
        self._size = size
        self._buf = memoryview(self._mmap)
        if create:
            self._owner = True
            if track:
                self._track = True
                resource_tracker.register(self._name, "shared_memory")

    def unlink(self) -> None:
        """Remove the segment's name (the creator's job); mappings stay valid. Idempotent for the creator."""
        if not self._name:
            return
        if self._track:
            self._track = False
            _unlink_owned(self._name)
        else:
            _posixshmem.shm_unlink(self._name)

    def __reduce__(self):
        return (SharedMemory, (self.name, False, self.size))


def _clone_with_globals(func, **overrides):
    g = dict(func.__globals__)
    g.update(overrides)
    return types.FunctionType(func.__code__, g, func.__name__, func.__defaults__, func.__closure__)


class ShareableList(_std.ShareableList):
    """The stdlib's ``ShareableList`` over a dotbridge :class:`SharedMemory` (same layout, same API)."""

    __init__ = _clone_with_globals(_std.ShareableList.__init__, SharedMemory=SharedMemory)
    __init__.__kwdefaults__ = _std.ShareableList.__init__.__kwdefaults__

    def __reduce__(self):
        # (the stdlib's own __reduce__ passes the name positionally, which its __init__ does not take)
        return _attach_list, (self.shm.name,)


def _attach_list(name: str) -> ShareableList:
    return ShareableList(name=name)


# --- numpy arrays that live in shared memory ---------------------------------------------

def ndarray(shape, dtype="float64", *, name: str | None = None):
    """A new zero-filled numpy array whose memory is a new shared memory segment.

    Passed to a .NET method it travels by reference (no copy; the method's
    writes show up here). The segment is unlinked when the array and all its
    views are garbage-collected, or at exit.

    Args:
        shape: int or tuple, as numpy.
        dtype: a numpy dtype.
        name: the segment name (default: a new unguessable one).
    Returns:
        A C-contiguous ``numpy.ndarray``.
    """
    import numpy as np
    dt = np.dtype(dtype)
    count = 1
    for d in (shape if isinstance(shape, tuple) else (shape,)):
        count *= int(d)
    nbytes = max(1, count * dt.itemsize)
    n, fd = _create(name, nbytes)
    try:
        mm = _map_fd(fd, nbytes, n, owned=True)
    except (OSError, ValueError):
        _posixshmem.shm_unlink("/" + n)
        raise
    finally:
        os.close(fd)
    resource_tracker.register("/" + n, "shared_memory")
    weakref.finalize(mm, _unlink_owned, "/" + n, os.getpid())
    return np.ndarray(shape, dtype=dt, buffer=mm)


def array(obj, dtype=None):
    """A copy of ``obj`` (anything ``numpy.asarray`` takes) in a new shared memory segment (see :func:`ndarray`)."""
    import numpy as np
    src = np.asarray(obj, dtype=dtype)
    out = ndarray(src.shape, src.dtype)
    out[...] = src
    return out


def segment_of(arr):
    """``(segment_name, byte_offset)`` if numpy array ``arr`` lies in a dotbridge segment, else None."""
    where = _find_map(arr)
    return None if where is None else (where[0].name, where[1])


def _find_map(arr):
    base = arr
    while base is not None:
        if isinstance(base, _ShmMap):
            break
        if isinstance(base, memoryview):
            base = base.obj
            continue
        base = getattr(base, "base", None)
    else:
        return None
    if base.closed:
        return None
    address = arr.__array_interface__["data"][0]
    offset = address - base.address
    if offset < 0 or offset + arr.nbytes > len(base):
        return None
    return base, offset


def encode_shm_ref(arr) -> bytes | None:
    """The ext 3 body for numpy array ``arr`` if it lies C-contiguous in a dotbridge segment, else None.

    Layout (PROTOCOL.md "Values", ext 3): dtype code u8, flags u8 (bit 0
    writable), ndim u8, 0 u8, byte offset u64 LE, shape ndim x u64 LE, then
    the segment name in UTF-8.
    """
    from ._frames import _DTYPE_BY_KIND
    code = _DTYPE_BY_KIND.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None or not arr.flags.c_contiguous or arr.ndim > 32:
        return None
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder != "little"):
        return None
    where = _find_map(arr)
    if where is None:
        return None
    mm, offset = where
    if mm.owned and _encoding_a_worker_result():
        # A dotbridge worker's own ndarray() segment dies with the array, possibly before the
        # caller maps the reference: results made in a worker travel by value.
        return None
    name = mm.name
    flags = 1 if arr.flags.writeable else 0
    return (_HEADER.pack(code, flags, arr.ndim, 0, offset)
            + struct.pack("<%dQ" % arr.ndim, *arr.shape) + name.encode())


def decode_shm_ref(data):
    """A numpy array over the segment an ext 3 body refers to (attached, never tracked; no copy).

    Raises:
        ValueError: a malformed body, or the array does not fit the segment.
        FileNotFoundError: the segment no longer exists.
    """
    import numpy as np
    from ._frames import DTYPE_CODES
    data = bytes(data)
    if len(data) < _HEADER.size + 1:
        raise ValueError("ext 3 body too short")
    code, flags, ndim, reserved, offset = _HEADER.unpack_from(data)
    if code not in DTYPE_CODES or flags & ~1 or reserved or ndim > 32 or len(data) < _HEADER.size + 8 * ndim + 1:
        raise ValueError("malformed ext 3 (shared-memory array reference)")
    shape = struct.unpack_from("<%dQ" % ndim, data, _HEADER.size)
    name = data[_HEADER.size + 8 * ndim:].decode()
    if "/" in name:
        raise ValueError(f"bad segment name {name!r} in ext 3")
    dt = np.dtype(DTYPE_CODES[code])
    count = 1
    for d in shape:
        count *= d
    fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=_MODE)
    try:
        size = os.fstat(fd).st_size
        if offset + count * dt.itemsize > size:
            raise ValueError(f"ext 3 array of {count} x {dt.itemsize} bytes at {offset} exceeds segment {name!r} of {size} bytes")
        mm = _map_fd(fd, size, name)
    finally:
        os.close(fd)
    arr = np.ndarray(shape, dtype=dt, buffer=mm, offset=offset)
    if not flags & 1:
        arr.flags.writeable = False
    return arr
