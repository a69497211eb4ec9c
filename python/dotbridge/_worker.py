"""The Python worker process: ``python -m dotbridge._worker``.

Design notes:
- Frames (Bridge/PROTOCOL.md) come in on fd 3 and go out on fd 4 (env
  ``DOTBRIDGE_FDS="in,out"`` overrides). stdin becomes /dev/null; stdout and
  stderr stay the user's.
- The first frame is INIT: its ``python_init`` blob is the stdlib's spawn
  preparation data (``multiprocessing.spawn.prepare`` makes the caller's
  ``__main__`` functions importable, exactly as the stdlib's spawn does) plus
  ``(initializer, initargs)``. Then HELLO, then a TASK loop.
- Throughput: one ``os.read`` (of at most the pipe's capacity: asking for more
  costs a fresh large allocation per read, ~14 us, and a pipe never returns
  more) may hold many TASK frames; every complete frame is run and its RESULT
  buffered, and all buffered replies go out with one ``os.write`` before the
  worker blocks on a read again (or earlier, once the buffered work took more
  than ``_FLUSH_NS``).
- PICKLE TASK and RESULT frames go through ``_frames.decode_pickle_task`` /
  ``encode_pickle_result`` (byte-identical to msgpack; ~10x cheaper than
  msgpack's pure-Python fallback, which is all an interpreter worker has,
  and a little cheaper than its C extension); every other frame through msgpack.
- A watchdog daemon thread polls ``os.getppid()`` every 250 ms and exits the
  process with code 70 when the parent changed (the pool's process died).
- No scheduling here: the C# pool decides what runs where.

Environment: ``DOTBRIDGE_FDS`` (default ``3,4``), ``DOTBRIDGE_WORKER_ID``
(the N in the process name ``SpawnPoolWorker-N``; default the pid).

Interpreter workers (``dotbridge.interpreters``) run the same loop in a sub-interpreter of the
caller's process: :func:`serve_interpreter` on the two pipe fds the pool handed the host; no
watchdog, stdin untouched, and an ImportError of a module that refuses sub-interpreters says so.
"""

from __future__ import annotations

import os
import pickle
from types import BuiltinFunctionType as _BuiltinType, FunctionType as _FunctionType
import struct
import sys
import time

import msgpack

from . import _frames
from ._frames import ERROR, FATAL, HELLO, INIT, RESULT, STOP, TASK, ProtocolError

__all__ = ["main", "serve", "serve_interpreter"]

_HEADER = struct.Struct(">I")
_READ_SIZE = 1 << 16  # a default pipe's capacity; larger reads only when a big frame is partly read and rfd
_MAX_READ = 1 << 20   # is no pipe or a larger one (F_GETPIPE_SZ)
_FLUSH_NS = 2_000_000  # flush buffered results once they took this long to compute
_perf_ns = time.perf_counter_ns
_loads, _dumps, _HIGHEST = pickle.loads, pickle.dumps, pickle.HIGHEST_PROTOCOL


def _watchdog(parent: int) -> None:
    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            os._exit(70)


def _start_watchdog() -> None:
    import threading
    t = threading.Thread(target=_watchdog, args=(os.getppid(),), name="dotbridge-watchdog", daemon=True)
    t.start()


def _write_all(fd: int, data) -> None:
    n = os.write(fd, data)
    if n == len(data):
        return
    view = memoryview(data)[n:]
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _pack(array) -> bytes:
    body = msgpack.packb(array, default=_frames.default, use_bin_type=True)
    return _HEADER.pack(len(body)) + body


_encode_pickle_result = _frames.encode_pickle_result
_decode_pickle_task = _frames.decode_pickle_task  # tried before msgpack on every frame body


def _pack_pickle_result(task_id: int, data: bytes, elapsed_us: int) -> bytes:
    """The RESULT frame of a PICKLE task (the frames' own codec; msgpack for out-of-range values)."""
    return _encode_pickle_result(task_id, data, elapsed_us) or _pack([RESULT, task_id, 0, data, elapsed_us])


_worker_id: int | None = None  # set in interpreter workers (no DOTBRIDGE_WORKER_ID of their own)
_in_interpreter = False


def _explain(exc: BaseException) -> BaseException:
    """In an interpreter worker: an ImportError of a module that refuses sub-interpreters (single-phase
    init C extensions such as numpy's) gets a message naming the module and the way out. In place."""
    if not _in_interpreter or not isinstance(exc, ImportError):
        return exc
    e, seen = exc, 0
    while e is not None and seen < 16:
        if isinstance(e, ImportError) and "subinterpreters" in str(e):
            name = e.name
            if not name:
                words = str(e).split()
                name = words[1] if len(words) > 1 else "?"
            msg = (f"module {name!r} does not support sub-interpreters, so it cannot be imported in an "
                   f"interpreter worker; run this callable in process workers (Pool(workers=\"processes\"), "
                   f"the default) instead ({e})")
            exc.msg = msg
            exc.args = (msg,)
            return exc
        e, seen = e.__cause__ or e.__context__, seen + 1
    return exc


def _error_frame(task_id: int, exc: BaseException, kind: str, index, pickled_ok: bool) -> bytes:
    """An ERROR frame: the error map, plus the pickled exception (PICKLE tasks)."""
    _explain(exc)
    emap = _frames.error_map(exc, kind, index)
    pickled = None
    if pickled_ok:
        from multiprocessing.pool import ExceptionWithTraceback
        try:
            pickled = pickle.dumps(ExceptionWithTraceback(exc, exc.__traceback__), pickle.HIGHEST_PROTOCOL)
        except Exception:  # an unpicklable exception: the caller rebuilds a RemoteError from the map
            pickled = None
    try:
        return _pack([ERROR, task_id, emap, pickled])
    except Exception:  # the map itself would not encode (odd message types): send the bare minimum
        return _pack([ERROR, task_id, {"type": emap["type"], "message": repr(emap["message"]),
                                       "traceback": str(emap["traceback"]), "kind": kind, "index": index,
                                       "cause": None}, pickled])


class _Worker:
    def __init__(self) -> None:
        self._targets: dict[str, object] = {}
        self._funcs: dict[bytes, object] = {}

    # -- INIT ---------------------------------------------------------------
    def init(self, frame: list) -> None:
        if len(frame) < 3 or not isinstance(frame[2], dict):
            raise ProtocolError("INIT frame must be [2, version, config]")
        config = frame[2]
        blob = config.get("python_init")
        init = None
        if blob is not None:
            data = pickle.loads(blob)
            prep = data.get("prep")
            if prep:
                from multiprocessing import spawn
                spawn.prepare(prep)
            init = data.get("init")
        extra = config.get("sys_path") or []
        for p in reversed(extra):
            if p not in sys.path:
                sys.path.insert(0, p)
        self._name_process()
        if init is not None:
            initializer, initargs = pickle.loads(init)
            if initializer is not None:
                initializer(*initargs)
        target = config.get("initializer")
        if target:
            self._resolve(target)(*(config.get("initargs") or []))

    @staticmethod
    def _name_process() -> None:
        """Look like one of the stdlib's pool workers: name ``SpawnPoolWorker-N``, ``_identity``
        ``(N,)``, daemonic, and (process workers) ``parent_process()`` is the caller."""
        import multiprocessing.process as mpp
        proc = mpp.current_process()
        n = str(_worker_id) if _worker_id is not None else os.environ.get("DOTBRIDGE_WORKER_ID") or str(os.getpid())
        try:
            proc.name = f"SpawnPoolWorker-{n}"
            if _worker_id is not None or os.environ.get("DOTBRIDGE_WORKER_ID"):
                proc._identity = (int(n),)
            proc.daemon = True
        except (TypeError, ValueError, AttributeError, AssertionError):  # pragma: no cover
            pass
        if not _in_interpreter and mpp._parent_process is None:
            try:  # the sentinel becomes readable when the parent exits, as the stdlib's pipe does
                ppid = os.getppid()
                mpp._parent_process = mpp._ParentProcess("MainProcess", ppid, os.pidfd_open(ppid))
            except (AttributeError, OSError):  # no pidfd (Linux < 5.3): parent_process() stays None
                pass

    # -- tasks --------------------------------------------------------------
    def _resolve(self, target: str):
        fn = self._targets.get(target)
        if fn is None:
            module, sep, qualname = target.partition(":")
            if not sep or not module or not qualname:
                raise AttributeError(f"bad target {target!r}: expected 'package.module:qualname'")
            import importlib
            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            if not callable(obj):
                raise TypeError(f"target {target!r} is not callable")
            fn = self._targets[target] = obj
        return fn

    def task(self, frame: list) -> bytes:
        if len(frame) < 5:
            raise ProtocolError("TASK frame must be [3, task_id, encoding, target, payload]")
        task_id, encoding, target, payload = frame[1], frame[2], frame[3], frame[4]
        if encoding == 0:
            return self._task_pickle(task_id, payload)
        if encoding == 1:
            return self._task_msgpack(task_id, target, payload)
        raise ProtocolError(f"unknown TASK encoding {encoding!r}")

    def _load_func(self, data: bytes):
        """Unpickles a job's callable; module-level functions and builtins (found by reference,
        so one shared object anyway) are remembered, anything that might carry state is not."""
        cache = self._funcs
        func = cache.get(data)
        if func is not None:
            return func
        func = pickle.loads(data)
        if type(func) in (_FunctionType, _BuiltinType) and "<" not in getattr(func, "__qualname__", "<"):
            mod = sys.modules.get(getattr(func, "__module__", None) or "")
            if mod is not None and getattr(mod, func.__qualname__, None) is func:
                if len(cache) >= 256:
                    cache.clear()
                cache[data] = func
        return func

    def _task_pickle(self, task_id: int, payload: bytes) -> bytes:
        t0 = _perf_ns()
        try:
            func, calls, star, kwargs = _loads(payload)
            if type(func) is bytes:  # the callable, pickled once per job by the caller
                func = self._load_func(func)
        except Exception as e:  # the task did not unpickle here: report it as an args error
            return _error_frame(task_id, e, "args", None, True)
        del payload
        results: list = []
        append = results.append  # on an exception, len(results) is the failing call's index
        try:
            if kwargs:
                if star:
                    for args in calls:
                        append(func(*args, **kwargs))
                else:
                    for arg in calls:
                        append(func(arg, **kwargs))
            elif star:
                for args in calls:
                    append(func(*args))
            else:
                for arg in calls:
                    append(func(arg))
        except Exception as e:  # the task raised: becomes an ERROR frame
            return _error_frame(task_id, e, "raised", len(results), True)
        del func, calls, kwargs
        try:
            data = _dumps(results, _HIGHEST)
        except Exception as e:  # the result would not pickle: MaybeEncodingError, as the stdlib
            from multiprocessing.pool import MaybeEncodingError
            wrapped = MaybeEncodingError(e, results)
            return _error_frame(task_id, wrapped, "result", None, True)
        return _pack_pickle_result(task_id, data, (_perf_ns() - t0) // 1000)

    def _task_msgpack(self, task_id: int, target, payload) -> bytes:
        t0 = _perf_ns()
        try:
            fn = self._resolve(target if isinstance(target, str) else "")
        except Exception as e:  # unknown target: kind "target"
            return _error_frame(task_id, e, "target", None, False)
        if not isinstance(payload, list) or not all(isinstance(c, list) for c in payload):
            return _error_frame(task_id, TypeError("MSGPACK payload must be an array of argument arrays"),
                                "args", None, False)
        results = []
        i = 0
        try:
            for args in payload:
                results.append(fn(*args))
                i += 1
        except Exception as e:  # the target raised: becomes an ERROR frame
            return _error_frame(task_id, e, "raised", i, False)
        try:
            return _pack([RESULT, task_id, 1, results, (_perf_ns() - t0) // 1000])
        except (TypeError, ValueError, OverflowError) as e:
            return _error_frame(task_id, TypeError(f"cannot encode the result of {target}: {e}"),
                                "result", None, False)


def serve(rfd: int, wfd: int) -> int:
    """Run the worker protocol on the two fds; return the exit code."""
    worker = _Worker()
    buf = bytearray()
    maxb = _frames.MAX_FRAME_BYTES
    unpack_kw = dict(raw=False, strict_map_key=False, ext_hook=_frames.ext_hook,
                     max_str_len=maxb, max_bin_len=maxb,
                     max_array_len=maxb, max_map_len=maxb, max_ext_len=maxb)
    unpackb = msgpack.unpackb
    own = _decode_pickle_task
    hdr = _HEADER.unpack_from
    initialized = False
    out: list[bytes] = []
    want = _READ_SIZE
    try:  # a pipe never returns more than it holds: ask for no more, even for a big frame
        import fcntl
        most = max(_READ_SIZE, min(_MAX_READ, fcntl.fcntl(rfd, 1032)))  # F_GETPIPE_SZ (Linux)
    except (ImportError, OSError, ValueError):
        most = _MAX_READ
    while True:
        try:
            data = os.read(rfd, want)
        except InterruptedError:  # pragma: no cover - PEP 475 retries already
            continue
        if not data:
            return 0  # EOF: the pool is gone
        buf += data
        pos = 0
        size = len(buf)
        busy_since = _perf_ns()
        want = _READ_SIZE
        try:
            while size - pos >= 4:
                n = hdr(buf, pos)[0]
                if n == 0 or n > maxb:
                    raise ProtocolError(f"bad frame length {n}")
                if size - pos - 4 < n:
                    want = max(_READ_SIZE, min(most, 4 + n - (size - pos)))
                    break
                frame = own(buf, pos + 4, pos + 4 + n)
                if frame is None:
                    try:
                        frame = unpackb(memoryview(buf)[pos + 4:pos + 4 + n], **unpack_kw)
                    except ProtocolError:
                        raise
                    except Exception as e:  # undecodable body: a protocol error (FATAL)
                        raise ProtocolError(f"bad frame body: {e}") from e
                pos += 4 + n
                if not isinstance(frame, list) or not frame:
                    raise ProtocolError("a frame must be one non-empty MessagePack array")
                kind = frame[0]
                if kind == TASK and initialized:
                    out.append(worker.task(frame))
                    del frame
                    if _perf_ns() - busy_since > _FLUSH_NS:
                        _write_all(wfd, b"".join(out))
                        out.clear()
                        busy_since = _perf_ns()
                elif kind == INIT and not initialized:
                    try:
                        worker.init(frame)
                    except Exception as e:  # initializer failed: FATAL, then exit
                        _write_all(wfd, _pack([FATAL, _frames.error_map(_explain(e), "raised")]))
                        return 1
                    initialized = True
                    out.append(_pack([HELLO, _frames.PROTOCOL_VERSION, "python", os.getpid()]))
                elif kind == STOP:
                    if out:
                        _write_all(wfd, b"".join(out))
                    return 0
                else:
                    raise ProtocolError(f"unexpected frame kind {kind!r}"
                                        + ("" if initialized else " before INIT"))
        except ProtocolError as e:
            if out:
                _write_all(wfd, b"".join(out))
            try:
                _write_all(wfd, _pack([FATAL, _frames.error_map(e, "args")]))
            except OSError:
                pass
            return 2
        del buf[:pos]
        if out:
            _write_all(wfd, b"".join(out) if len(out) > 1 else out[0])
            out.clear()


def serve_interpreter(rfd: int, wfd: int, worker_id: int) -> int:
    """The worker loop of an interpreter worker (run in a sub-interpreter by ``dotbridge.interpreters``):
    :func:`serve` on the given fds; the exit code (0 also when the pool closed the result pipe)."""
    global _worker_id, _in_interpreter
    _worker_id, _in_interpreter = worker_id, True
    return _serve_and_flush(rfd, wfd)


def _serve_and_flush(rfd: int, wfd: int) -> int:
    """:func:`serve`, then flush stdout/stderr; 0 also when the pool closed the result pipe (it is gone)."""
    try:
        return serve(rfd, wfd)
    except BrokenPipeError:
        return 0
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def _stdin_to_devnull() -> None:
    try:
        sys.stdin.close()
    except (OSError, ValueError, AttributeError):
        pass
    try:
        sys.stdin = open(os.devnull)
    except OSError:  # pragma: no cover
        pass


class _UntrackAttaches:
    """Meta path finder: when task code first imports ``multiprocessing.shared_memory``, make its
    attaches (``SharedMemory(name)``) unregister from this worker's own resource tracker
    (:func:`dotbridge.shared_memory.untrack_stdlib_attaches`). Otherwise, on 3.11/3.12, the
    worker's tracker would unlink the caller's segment when the worker exits (CPython issue 82300).
    Done lazily: importing it at start would cost every worker about 10 ms."""

    def find_spec(self, name, path=None, target=None):
        if name != "multiprocessing.shared_memory":
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchAfterExec(spec.loader)
        return spec


class _PatchAfterExec:
    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        from ._untrack import untrack_stdlib_attaches
        untrack_stdlib_attaches()


def _untrack_stdlib_attaches_on_import() -> None:
    if "multiprocessing.shared_memory" in sys.modules:
        from ._untrack import untrack_stdlib_attaches
        untrack_stdlib_attaches()
    else:
        sys.meta_path.insert(0, _UntrackAttaches())


def main() -> int:
    spec = os.environ.get("DOTBRIDGE_FDS", "3,4")
    try:
        rfd, wfd = (int(x) for x in spec.split(","))
    except ValueError:
        print(f"dotbridge worker: bad DOTBRIDGE_FDS={spec!r}", file=sys.stderr)
        return 2
    _stdin_to_devnull()
    _start_watchdog()
    _untrack_stdlib_attaches_on_import()
    return _serve_and_flush(rfd, wfd)


if __name__ == "__main__":
    sys.exit(main())
