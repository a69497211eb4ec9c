"""Calling C# static methods from Python: ``dotbridge.dotnet.method(name, assembly=None)``.

A :class:`DotNetMethod` is a picklable handle. Pass it as ``func`` to any
``Pool`` method (``apply``, ``map``, ``imap``, ``starmap``, ...) and the calls
run in .NET worker processes (no GIL), arguments and results travelling with
the MessagePack value codec (Bridge/PROTOCOL.md "Values"): numbers, strings,
bytes, lists/tuples, dicts, big ints and 1-D numpy arrays.

Calling a handle directly (``handle(3, 4)``) runs it on a lazily created
module-level pool with one .NET worker (created on first use, terminated at
interpreter exit). Keyword arguments are not supported (TypeError).

numpy arguments (Bridge/SHARED.md "Numpy arrays to C# methods"): an array that
lives in a dotbridge segment travels by reference (ext 3). A plain array of at
least ``shared_memory.SHM_THRESHOLD`` bytes (or of more than one dimension,
which ext 2 cannot carry) is *staged* by :class:`ArgStage`: copied once into a
fresh segment that travels as ext 3; when that chunk's result is taken the
segment is copied back into the caller's array (if writable: the C# method's
in-place writes show) and unlinked. A chunk that fails without running
(crash, cancel, terminate) only releases its segments; whatever is left when
the job's codec is dropped is unlinked then (and by the resource tracker if
the caller dies).
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import weakref

__all__ = ["DotNetMethod", "method", "compile", "CompileError", "CompileWarning", "KernelModule", "ArgStage"]


class DotNetMethod:
    """A handle to a public static .NET method ``Namespace.Type.Method``.

    Equality, hash and repr are by name and (absolute) assembly path.
    """

    __slots__ = ("name", "assembly")

    def __init__(self, name: str, assembly: str | None = None) -> None:
        if not isinstance(name, str) or "." not in name or "@" in name:
            raise ValueError(f"expected a .NET method name 'Namespace.Type.Method', got {name!r}")
        if assembly is not None:
            assembly = os.path.abspath(os.fspath(assembly))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "assembly", assembly)

    def __setattr__(self, key, value):
        raise AttributeError("DotNetMethod is immutable")

    @property
    def target(self) -> str:
        """The TASK target: ``Type.Method`` or ``Type.Method@/abs/path.dll``."""
        return self.name if self.assembly is None else f"{self.name}@{self.assembly}"

    def __eq__(self, other) -> bool:
        if not isinstance(other, DotNetMethod):
            return NotImplemented
        return self.name == other.name and self.assembly == other.assembly

    def __hash__(self) -> int:
        return hash((DotNetMethod, self.name, self.assembly))

    def __repr__(self) -> str:
        if self.assembly is None:
            return f"dotbridge.dotnet.method({self.name!r})"
        return f"dotbridge.dotnet.method({self.name!r}, assembly={self.assembly!r})"

    def __reduce__(self):
        return (DotNetMethod, (self.name, self.assembly))

    def __call__(self, *args, **kwargs):
        """Run the method once on the module-level 1-worker pool and return its result."""
        if kwargs:
            raise TypeError(f"keyword arguments are not supported for .NET methods ({self.name})")
        return _default_pool().apply(self, args)


def method(name: str, assembly: str | None = None) -> DotNetMethod:
    """A handle to the static .NET method ``name`` (``Namespace.Type.Method``).

    Args:
        name: the method's full name.
        assembly: path of the assembly defining it (made absolute); None to
            look in the .NET worker's own assemblies (see PROTOCOL.md).
    Returns:
        A picklable :class:`DotNetMethod`.
    """
    return DotNetMethod(name, assembly)


# -- plain numpy arguments staged in shared memory (ext 3) ---------------------------------

_IO_CHUNK = 1 << 30  # one read/write moves at most this much (Linux caps a call near 2 GiB)


def _io_all(op, fd: int, view: memoryview) -> None:
    """``os.pwrite``/``os.preadv`` the whole of ``view`` at offset 0, in pieces if need be."""
    done, total = 0, len(view)
    while done < total:
        piece = view[done:done + _IO_CHUNK]
        n = op(fd, piece, done) if op is os.pwrite else op(fd, [piece], done)
        if n <= 0:
            raise OSError(f"short {'write to' if op is os.pwrite else 'read from'} a staging segment")
        done += n


def _bytes_of(arr) -> memoryview:
    return memoryview(arr.reshape(-1)).cast("B")  # arr is C-contiguous: a view, no copy


class _Staged:
    """One staged array: the caller's array and the segment (by name) holding its copy.

    No fd or mapping is held between staging and :meth:`finish` (a map over thousands of
    arrays stages them all before the first result): the copy is written and read back with
    ``pwrite``/``preadv`` on the segment's file, which is also cheaper than faulting in a fresh
    mapping page by page. The segment is unlinked by :meth:`finish`, else when the record is
    garbage-collected, else at exit, else by the resource tracker.
    """

    __slots__ = ("orig", "name", "unlink", "__weakref__")

    def __init__(self, orig, name: str) -> None:
        from . import shared_memory
        self.orig, self.name = orig, name
        self.unlink = weakref.finalize(self, shared_memory._unlink_owned, "/" + name)

    def finish(self, copy_back: bool) -> None:
        try:
            orig = self.orig
            if copy_back and orig is not None and orig.flags.writeable and orig.nbytes:
                import _posixshmem
                import numpy as np
                fd = _posixshmem.shm_open("/" + self.name, os.O_RDONLY, mode=0o600)
                try:
                    dst = orig if orig.flags.c_contiguous else np.empty(orig.shape, orig.dtype)
                    _io_all(os.preadv, fd, _bytes_of(dst))
                finally:
                    os.close(fd)
                if dst is not orig:
                    np.copyto(orig, dst)  # back through the caller's own (non-contiguous) view
        finally:
            self.orig = None
            self.unlink()  # weakref.finalize: runs once (unlink + unregister from the tracker)


def _stage_array(arr) -> tuple[bytes, _Staged] | None:
    """Copy ``arr`` into a new segment; returns (ext 3 body, record), or None if ext 3 cannot carry it."""
    from . import _frames, shared_memory
    dt = arr.dtype
    code = _frames._DTYPE_BY_KIND.get((dt.kind, dt.itemsize))
    if code is None or arr.ndim > 32 or dt.byteorder == ">" or (dt.byteorder == "=" and sys.byteorder != "little"):
        return None
    import numpy as np
    from multiprocessing import resource_tracker
    src = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    name, fd = shared_memory._create(None, max(1, arr.nbytes))
    try:
        resource_tracker.register("/" + name, "shared_memory")  # the caller killed: its tracker unlinks it
        rec = _Staged(arr, name)
    except BaseException:
        os.close(fd)
        shared_memory._posixshmem.shm_unlink("/" + name)
        raise
    try:
        if arr.nbytes:
            _io_all(os.pwrite, fd, _bytes_of(src))
    except BaseException:
        rec.finish(False)
        raise
    finally:
        os.close(fd)
    flags = 1 if arr.flags.writeable else 0
    body = (struct.pack("<BBBBQ", code, flags, arr.ndim, 0, 0)
            + struct.pack("<%dQ" % arr.ndim, *arr.shape) + name.encode())
    return body, rec


class ArgStage:
    """The staged numpy arguments of one job's .NET calls, by chunk index (see the module docstring).

    The pool's codec calls :meth:`pack` once per chunk, in chunk order (so the n-th
    ``pack`` is chunk n), :meth:`done` when a chunk's result or error is taken, and
    :meth:`release` when the job is over. Thread-safe (an imap feeder packs while the
    consumer takes results).
    """

    __slots__ = ("chunks", "_next", "_lock", "__weakref__")

    def __init__(self) -> None:
        self.chunks: dict = {}  # chunk index -> [_Staged]; empty unless a chunk staged an array
        self._next = 0
        self._lock = threading.Lock()

    def pack(self, rows) -> bytes:
        """Pack one chunk's calls with the value codec, staging big plain numpy arrays.

        Raises:
            TypeError: a value of an unsupported type (nothing stays staged).
        """
        import msgpack
        from . import _frames
        with self._lock:
            index = self._next
            self._next += 1
        staged: dict = {}  # id(array) -> (ext body, _Staged): an array passed twice is staged once

        def hook(obj):
            np = sys.modules.get("numpy")
            if np is not None and isinstance(obj, np.ndarray):
                from . import shared_memory
                if (obj.nbytes >= shared_memory.SHM_THRESHOLD or obj.ndim != 1) \
                        and shared_memory.encode_shm_ref(obj) is None:
                    hit = staged.get(id(obj))
                    if hit is None:
                        made = _stage_array(obj)
                        if made is not None:
                            hit = staged[id(obj)] = made
                    if hit is not None:
                        return msgpack.ExtType(3, hit[0])
            return _frames.default(obj)

        try:
            data = msgpack.packb(rows, default=hook, use_bin_type=True)
        except BaseException:
            for _body, rec in staged.values():
                rec.finish(False)
            raise
        if staged:
            with self._lock:
                self.chunks[index] = [rec for _body, rec in staged.values()]
        return data

    def done(self, index: int, copy_back: bool) -> None:
        """Chunk ``index`` is over: copy its arrays back (``copy_back``) and release them."""
        with self._lock:
            recs = self.chunks.pop(index, None)
        if recs:
            _finish_all(recs, copy_back)

    def release(self) -> None:
        """Release every chunk's segments without copying back (the job is over or abandoned)."""
        with self._lock:
            left, self.chunks = self.chunks, {}
        for recs in left.values():
            _finish_all(recs, False)


def _finish_all(recs, copy_back: bool) -> None:
    err = None
    for rec in recs:
        try:
            rec.finish(copy_back)
        except Exception as e:  # release the others; report the first failure
            err = err or e
    if err is not None:
        raise err


_pool = None
_pool_lock = threading.Lock()


def _default_pool():
    global _pool
    with _pool_lock:
        if _pool is None or _pool._state != "RUN":
            from .pool import Pool

            class _DotNetOnlyPool(Pool):
                _prestart = ()

                def __del__(self):  # owned by this module, terminated by its finalizer
                    pass

            _pool = _DotNetOnlyPool(1)
        return _pool


try:  # inline C# (helper "inline"): optional
    from ._compile import CompileError, CompileWarning, KernelModule, compile  # noqa: F401,A001
except ImportError:  # pragma: no cover - depends on the _compile module being present
    def compile(*args, **kwargs):  # noqa: A001
        """Inline C# compilation is not available in this build."""
        raise NotImplementedError("dotbridge.dotnet.compile is not available (dotbridge._compile missing)")

    class CompileError(SyntaxError):  # type: ignore[no-redef]
        """Inline C# compilation is not available in this build."""

    class CompileWarning(UserWarning):  # type: ignore[no-redef]
        """Inline C# compilation is not available in this build."""

    KernelModule = None  # type: ignore[assignment,misc]
