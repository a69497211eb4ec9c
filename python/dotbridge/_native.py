"""ctypes wrapper of the C# pool (``libdotbridge.so``, Bridge/ABI.md "C ABI").

Design notes:
- The pool (scheduling, ordering, supervision) lives in C#, loaded into this
  process as a Native AOT shared library. This module only translates:
  ``NativePool`` mirrors ``Bridge/Native/Exports.cs`` one call each.
- Waiting calls (wait, next, next_notification, join) run with the GIL
  released (ctypes releases it around every foreign call) and spin briefly
  in C# before blocking.
- Buffers the library hands out are copied with ``ctypes.string_at`` and
  freed with ``db_free`` at once.
- Interpreter workers: the option ``interpreter_start`` (a C function pointer,
  ``dotbridge.interpreters.start_function()``) makes the pool start its Python
  workers in this process; ``db_worker_exited`` is the host's report.
- Library: env ``DOTBRIDGE_LIB``, else ``<package>/_bin/libdotbridge.so``.
  .NET worker: env ``DOTBRIDGE_WORKER`` (argv prefix, shlex-split), else
  ``<package>/_bin/worker/Bridge worker``.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import threading

import msgpack

__all__ = ["NativePool", "load_library", "OK", "ERROR", "CRASHED", "CANCELLED", "BROKEN", "PENDING"]

PENDING, OK, ERROR, CRASHED, CANCELLED, BROKEN = -1, 0, 1, 2, 3, 4

_KINDS = {"python": 0, "dotnet": 1}
_FAILFAST, _NOTIFY, _UNORDERED = 1, 2, 4
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))

_lib = None
_lib_lock = threading.Lock()

_c_int64_p = ctypes.POINTER(ctypes.c_int64)
_c_buf_p = ctypes.POINTER(ctypes.c_void_p)


def _library_path() -> str:
    return os.environ.get("DOTBRIDGE_LIB") or os.path.join(_PKG_DIR, "_bin", "libdotbridge.so")


def call1_in_steps(pool, kind: str, encoding: int, target, payload: bytes, count: int, timeout=None):
    """``call1`` through the general job calls (an older library without ``db_call1``, or a
    test double): submit, wait, take the one result, release."""
    job = pool.submit(kind, encoding, target, [(payload, count)], failfast=True)
    try:
        if not pool.wait(job, timeout):
            pool.cancel(job)
            raise TimeoutError
        return pool.results(job)[0]
    finally:
        pool.release(job)


def default_dotnet_worker() -> list:
    """The .NET worker's argv prefix: env DOTBRIDGE_WORKER, else the published apphost."""
    env = os.environ.get("DOTBRIDGE_WORKER")
    if env:
        return shlex.split(env)
    return [os.path.join(_PKG_DIR, "_bin", "worker", "Bridge"), "worker"]


def load_library():
    """Load ``libdotbridge.so`` once and declare its functions.

    Raises:
        ImportError: the library is missing or does not load (run ``scripts/setup``).
    """
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        path = _library_path()
        if not os.path.exists(path):
            raise ImportError(f"dotbridge: the C# pool library {path} is missing; build it with "
                              f"`bash scripts/setup` (or set DOTBRIDGE_LIB)")
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise ImportError(f"dotbridge: cannot load the C# pool library {path}: {e}; "
                              f"rebuild it with `bash scripts/setup`") from e
        i, i64, d, p = ctypes.c_int, ctypes.c_int64, ctypes.c_double, ctypes.c_char_p
        vp = ctypes.c_void_p
        sigs = {
            "db_pool_create": (i, [vp, i64, _c_int64_p]),
            "db_pool_destroy": (i, [i64]),
            "db_submit": (i, [i64, i, i, p, i, ctypes.POINTER(ctypes.c_char_p), _c_int64_p,
                              ctypes.POINTER(ctypes.c_int), i, _c_int64_p]),
            "db_submit1": (i, [i64, i, i, p, p, i64, i, i, _c_int64_p]),
            "db_call1": (i, [i64, i, i, p, p, i64, i, d, ctypes.POINTER(ctypes.c_int), _c_buf_p, _c_int64_p]),
            "db_open_job": (i, [i64, i, i, p, i, _c_int64_p]),
            "db_add_chunk": (i, [i64, i64, p, i64, i]),
            "db_seal": (i, [i64, i64]),
            "db_wait": (i, [i64, i64, d]),
            "db_ready": (i, [i64, i64]),
            "db_results": (i, [i64, i64, _c_buf_p, _c_int64_p]),
            "db_next": (i, [i64, i64, d, _c_int64_p, ctypes.POINTER(ctypes.c_int), _c_buf_p, _c_int64_p]),
            "db_next_batch": (i, [i64, i64, d, i, _c_buf_p, _c_int64_p]),
            "db_cancel": (i, [i64, i64]),
            "db_release": (i, [i64, i64]),
            "db_next_notification": (i, [i64, d, _c_int64_p]),
            "db_chunksize": (i, [i64, i64, _c_int64_p]),
            "db_workers": (i, [i64, i, _c_buf_p, _c_int64_p]),
            "db_close": (i, [i64]),
            "db_terminate": (i, [i64]),
            "db_join": (i, [i64, d]),
            "db_info": (i, [i64, _c_buf_p, _c_int64_p]),
            "db_worker_exited": (i, [i64, i]),
            "db_hosted_workers": (i, [i64, _c_buf_p, _c_int64_p]),
            "db_interrupt_interpreter": (i, [i64, ctypes.c_uint64]),
            "db_last_error": (vp, []),
            "db_free": (None, [vp]),
        }
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name, None)
            if fn is None and name in ("db_call1", "db_next_batch", "db_worker_exited", "db_hosted_workers",
                                       "db_interrupt_interpreter"):
                continue  # an older library: apply takes the general path; no interpreter workers
            fn.restype = res
            fn.argtypes = args
        _lib = lib
        return lib


def _timeout(timeout) -> float:
    if timeout is None:
        return -1.0
    return max(0.0, float(timeout))


class NativePool:
    """One C# pool (Bridge/ABI.md "Python wrapper"); the shim's only door to it.

    Thread-safe: every method may be called from any thread (the C# side locks).
    """

    def __init__(self, options: dict) -> None:
        self._handle = 0
        lib = load_library()
        self._lib = lib
        opts = dict(options)
        for key in ("python",):  # multiprocessing.spawn.get_executable() may be bytes
            if isinstance(opts.get(key), (bytes, bytearray)):
                opts[key] = os.fsdecode(opts[key])
        for key in ("python_args", "sys_path", "dotnet_worker", "assemblies"):
            if opts.get(key):
                opts[key] = [os.fsdecode(x) if isinstance(x, (bytes, bytearray)) else x for x in opts[key]]
        if not opts.get("dotnet_worker"):
            opts["dotnet_worker"] = default_dotnet_worker()
        data = msgpack.packb(opts, use_bin_type=True)
        h = ctypes.c_int64()
        self._check(lib.db_pool_create(data, len(data), ctypes.byref(h)))
        self._handle = h.value
        # cached function pointers and scratch cells for the hot path
        self._submit1 = lib.db_submit1
        self._wait = lib.db_wait
        self._results = lib.db_results
        self._release = lib.db_release
        self._free = lib.db_free
        self._next = lib.db_next
        self._call1 = getattr(lib, "db_call1", None)
        self._next_batch = getattr(lib, "db_next_batch", None)
        self._local = threading.local()

    # -- errors ---------------------------------------------------------------
    def _error_text(self) -> str:
        p = self._lib.db_last_error()
        if not p:
            return "unknown error in libdotbridge"
        try:
            return ctypes.string_at(p).decode("utf-8", "replace")
        finally:
            self._lib.db_free(p)

    def _check(self, rc: int) -> int:
        if rc >= 0:
            return rc
        msg = self._error_text()
        if rc == -2:
            raise ValueError(msg)
        raise RuntimeError(msg)

    def _cells(self):
        loc = self._local
        try:
            return loc.cells
        except AttributeError:
            loc.cells = (ctypes.c_int64(), ctypes.c_void_p(), ctypes.c_int64(), ctypes.c_int())
            return loc.cells

    def _take(self, buf: ctypes.c_void_p, n: int) -> bytes:
        try:
            return ctypes.string_at(buf.value, n) if n else b""
        finally:
            self._free(buf)

    # -- jobs -----------------------------------------------------------------
    def submit(self, kind: str, encoding: int, target, chunks, *, failfast=False, notify=False,
               ordered=True) -> int:
        flags = (_FAILFAST if failfast else 0) | (_NOTIFY if notify else 0) | (0 if ordered else _UNORDERED)
        t = target.encode() if target is not None else None
        cells = self._cells()
        job = cells[0]
        if len(chunks) == 1:
            payload, count = chunks[0]
            payload = bytes(payload)
            self._check(self._submit1(self._handle, _KINDS[kind], encoding, t, payload, len(payload), count,
                                      flags, ctypes.byref(job)))
            return job.value
        n = len(chunks)
        payloads = [bytes(c[0]) for c in chunks]
        parr = (ctypes.c_char_p * n)(*payloads)
        larr = (ctypes.c_int64 * n)(*[len(x) for x in payloads])
        carr = (ctypes.c_int * n)(*[c[1] for c in chunks])
        self._check(self._lib.db_submit(self._handle, _KINDS[kind], encoding, t, n, parr, larr, carr, flags,
                                        ctypes.byref(job)))
        return job.value

    def call1(self, kind: str, encoding: int, target, payload: bytes, count: int, timeout=None):
        """One chunk, start to finish, in one call (the ``apply`` fast path): submit, wait, take
        its result, release. Returns ``(status, payload)``; raises TimeoutError on timeout."""
        if self._call1 is None:
            return call1_in_steps(self, kind, encoding, target, payload, count, timeout)
        t = target.encode() if target is not None else None
        _, buf, n, status = self._cells()
        payload = bytes(payload)
        rc = self._check(self._call1(self._handle, _KINDS[kind], encoding, t, payload, len(payload), count,
                                     _timeout(timeout), ctypes.byref(status), ctypes.byref(buf), ctypes.byref(n)))
        if rc == 1:
            raise TimeoutError
        return status.value, self._take(buf, n.value)

    def open_job(self, kind, encoding, target, *, ordered=True, notify=False, failfast=False) -> int:
        flags = (_FAILFAST if failfast else 0) | (_NOTIFY if notify else 0) | (0 if ordered else _UNORDERED)
        job = ctypes.c_int64()
        self._check(self._lib.db_open_job(self._handle, _KINDS[kind], encoding,
                                          target.encode() if target is not None else None, flags,
                                          ctypes.byref(job)))
        return job.value

    def add_chunk(self, job: int, payload: bytes, count: int) -> None:
        payload = bytes(payload)
        self._check(self._lib.db_add_chunk(self._handle, job, payload, len(payload), count))

    def seal(self, job: int) -> None:
        self._check(self._lib.db_seal(self._handle, job))

    def wait(self, job: int, timeout) -> bool:
        return self._check(self._wait(self._handle, job, _timeout(timeout))) == 0

    def ready(self, job: int) -> bool:
        return self._check(self._lib.db_ready(self._handle, job)) == 1

    def results(self, job: int) -> list:
        _, buf, n, _ = self._cells()
        self._check(self._results(self._handle, job, ctypes.byref(buf), ctypes.byref(n)))
        flat = msgpack.unpackb(self._take(buf, n.value), raw=False)
        it = iter(flat)
        return list(zip(it, it))

    def next_batch(self, job: int, timeout, max_items: int = 256):
        """Like :meth:`next`, plus up to ``max_items - 1`` more results that are already there:
        a list of ``(index, status, payload)``; None when the sealed job has no more."""
        if self._next_batch is None:
            item = self.next(job, timeout)
            return None if item is None else [item]
        _, buf, n, _ = self._cells()
        rc = self._check(self._next_batch(self._handle, job, _timeout(timeout), max_items,
                                          ctypes.byref(buf), ctypes.byref(n)))
        if rc == 1:
            raise TimeoutError
        if rc == 2:
            return None
        flat = msgpack.unpackb(self._take(buf, n.value), raw=False)
        it = iter(flat)
        return list(zip(it, it, it))

    def next(self, job: int, timeout):
        index, buf, n, status = self._cells()
        rc = self._check(self._next(self._handle, job, _timeout(timeout), ctypes.byref(index),
                                    ctypes.byref(status), ctypes.byref(buf), ctypes.byref(n)))
        if rc == 1:
            raise TimeoutError
        if rc == 2:
            return None
        return (index.value, status.value, self._take(buf, n.value))

    def cancel(self, job: int) -> bool:
        return self._check(self._lib.db_cancel(self._handle, job)) == 1

    def release(self, job: int) -> None:
        if self._handle:
            self._check(self._release(self._handle, job))

    def next_notification(self, timeout):
        job = ctypes.c_int64()
        rc = self._check(self._lib.db_next_notification(self._handle, _timeout(timeout), ctypes.byref(job)))
        if rc == 1:
            return None
        if rc == 2:
            raise RuntimeError("the pool was terminated")
        return job.value

    # -- pool -----------------------------------------------------------------
    def chunksize(self, n_items: int) -> int:
        out = ctypes.c_int64()
        self._check(self._lib.db_chunksize(self._handle, n_items, ctypes.byref(out)))
        return out.value

    def workers(self, kind="python") -> list:
        buf, n = ctypes.c_void_p(), ctypes.c_int64()
        self._check(self._lib.db_workers(self._handle, _KINDS[kind], ctypes.byref(buf), ctypes.byref(n)))
        return msgpack.unpackb(self._take(buf, n.value), raw=False)

    def hosted_workers(self) -> list:
        """Host handles of the live interpreter workers (empty for process workers or an older library)."""
        if getattr(self._lib, "db_hosted_workers", None) is None or not self._handle:
            return []
        buf, n = ctypes.c_void_p(), ctypes.c_int64()
        self._check(self._lib.db_hosted_workers(self._handle, ctypes.byref(buf), ctypes.byref(n)))
        return msgpack.unpackb(self._take(buf, n.value), raw=False)

    def close(self) -> None:
        self._check(self._lib.db_close(self._handle))

    def terminate(self) -> None:
        self._check(self._lib.db_terminate(self._handle))

    def join(self, timeout) -> bool:
        return self._check(self._lib.db_join(self._handle, _timeout(timeout))) == 0

    def info(self) -> dict:
        buf, n = ctypes.c_void_p(), ctypes.c_int64()
        self._check(self._lib.db_info(self._handle, ctypes.byref(buf), ctypes.byref(n)))
        return msgpack.unpackb(self._take(buf, n.value), raw=False)

    def destroy(self) -> None:
        """Terminate the pool and free its handle (idempotent)."""
        h, self._handle = self._handle, 0
        if h:
            self._lib.db_pool_destroy(h)

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:  # interpreter teardown: the library may be half gone
            pass
