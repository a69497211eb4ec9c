"""``dotbridge.Pool``: the stdlib's ``multiprocessing.pool.Pool`` API over the C# pool.

Data flow::

    Pool.map(func, items)                      (caller's thread)
      │ slice items into chunks, pickle (func, chunk, star, kwargs) per chunk
      ▼
    NativePool.submit("python", 0, None, [(payload, count), ...])   (C#, in-process)
      │ C# queues, dispatches, orders, supervises, respawns
      ▼ TASK frames ─► python -m dotbridge._worker ─► RESULT/ERROR frames
    NativePool.results(job) / next(job) / next_notification()
      │ unpickle results, rebuild exceptions (own type + RemoteTraceback)
      ▼
    MapResult.get() / IMapIterator.next() / callbacks (result-handler thread)

No scheduling happens in Python: no task queues, no worker management, no
result ordering. A ``dotbridge.dotnet.method(...)`` handle as ``func`` sends
the calls to .NET workers with the MessagePack value codec instead of pickle.

Differences from the stdlib (documented behaviour):
- a worker that dies fails the calls it was running with
  :class:`dotbridge.WorkerCrashedError` instead of hanging;
- ``terminate()`` fails unfinished results (``concurrent.futures.CancelledError``)
  instead of leaving them waiting forever;
- ``__exit__`` calls ``terminate()``, as the stdlib's does.
"""

from __future__ import annotations

import builtins
import itertools
import types
import os
import sys
import threading
import warnings
import weakref
from collections import deque
from multiprocessing import TimeoutError
from multiprocessing.pool import CLOSE, INIT, RUN, TERMINATE

from . import _frames
from ._errors import error_from_map, error_from_status
from .dotnet import ArgStage, DotNetMethod

__all__ = ["Pool", "ThreadPool", "AsyncResult", "ApplyResult", "MapResult", "IMapIterator",
           "IMapUnorderedIterator", "RUN", "CLOSE", "TERMINATE", "INIT"]

_OK, _ERROR, _CRASHED, _CANCELLED, _BROKEN = 0, 1, 2, 3, 4

_EMPTY_KWDS = types.MappingProxyType({})

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ThreadPool(*args, **kwargs):  # noqa: N802 - stdlib name
    """The stdlib's thread pool (threads need no bridge)."""
    from multiprocessing.pool import ThreadPool as _TP
    return _TP(*args, **kwargs)


# -- payload codecs ----------------------------------------------------------------

class _Codec:
    """How one job's chunks are encoded and decoded (pickle for Python, msgpack for .NET)."""

    __slots__ = ("kind", "encoding", "target", "func", "kwargs", "star", "by_value", "func_bytes", "stage",
                 "held", "count")

    def __init__(self, func, star: bool, kwargs) -> None:
        self.star = star
        # Each chunk's arguments stay referenced until its result (or error) is taken, as the
        # stdlib's task tuples are: an argument that pickles by name (a Value, a Queue, an
        # ndarray segment) must outlive the worker's unpickling. Chunk index -> its calls.
        self.held: dict = {}
        self.count = 0
        if isinstance(func, DotNetMethod):
            if kwargs:
                raise TypeError(f"keyword arguments are not supported for .NET methods ({func.name})")
            self.kind, self.encoding, self.target = "dotnet", 1, func.target
            self.func, self.kwargs, self.by_value = None, None, False
            self.stage = ArgStage()  # big plain numpy args travel in shared memory (shmbench)
        else:
            self.kind, self.encoding, self.target, self.stage = "python", 0, None, None
            self.func, self.kwargs = func, (kwargs or None)
            self.func_bytes = None  # the callable pickled once per job, not once per chunk
            # A function of an interactive __main__ (REPL, python -c) cannot be found by
            # reference in a worker: send it by value with cloudpickle when available.
            main = sys.modules.get("__main__")
            self.by_value = (getattr(func, "__module__", None) == "__main__"
                             and getattr(main, "__file__", None) is None)

    def encode(self, calls: list) -> tuple[bytes, int]:
        self.held[self.count] = calls
        self.count += 1
        if self.encoding == 0:
            task = (self.func, calls, self.star, self.kwargs)
            if self.by_value:
                try:
                    import cloudpickle
                except ImportError:
                    pass
                else:
                    return cloudpickle.dumps(task, 5), len(calls)
            fb = self.func_bytes
            if fb is None:
                fb = self.func_bytes = _frames.dumps(self.func)
            return _frames.dumps((fb, calls, self.star, self.kwargs)), len(calls)
        if self.star:
            rows = [list(a) for a in calls]
        else:
            rows = [[a] for a in calls]
        return self.stage.pack(rows), len(calls)

    def decode(self, payload, index: int = 0) -> list:
        self.held.pop(index, None)
        if self.encoding == 0:
            import pickle
            return pickle.loads(payload)
        value = _frames.unpackb_values(payload)
        if self.stage.chunks:  # copy staged arrays back into the caller's (shmbench)
            self.stage.done(index, True)
        return value

    def error(self, status: int, payload, index: int = 0) -> BaseException:
        self.held.pop(index, None)
        if self.stage is not None and self.stage.chunks:  # the method ran (status 1): its writes show
            self.stage.done(index, status == _ERROR)
        try:
            value = _frames.unpackb_values(payload) if payload else None
        except _frames.ProtocolError as e:
            return e
        if status == _ERROR:
            if isinstance(value, list) and value:
                emap = value[0]
                pickled = value[1] if len(value) > 1 and self.encoding == 0 else None
            else:
                emap, pickled = value, None
            return error_from_map(emap if isinstance(emap, dict) else {}, pickled,
                                  dotnet=self.kind == "dotnet")
        return error_from_status(status, value, dotnet=self.kind == "dotnet")


def _chunks(iterable, size: int):
    if type(iterable) in (list, tuple, range):  # slicing is a copy in C, much faster than islice
        for i in range(0, len(iterable), size):
            yield iterable[i:i + size]
        return
    it = iter(iterable)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


# -- result objects ------------------------------------------------------------------

class ApplyResult:
    """The result of ``apply_async``/``map_async`` (stdlib ``AsyncResult``)."""

    def __init__(self, pool: "Pool", job: int, codec: _Codec, callback, error_callback, *,
                 single: bool) -> None:
        self._pool = pool
        self._native = pool._native
        self._job = job
        self._codec = codec
        self._callback = callback
        self._error_callback = error_callback
        self._single = single
        self._lock = threading.Lock()
        self._taken = False
        self._success = False
        self._value = None
        self._notify = callback is not None or error_callback is not None
        self._event = threading.Event() if self._notify else None
        if self._notify:
            pool._register_notify(job, self)

    # the handler thread calls this for notify jobs
    def _on_ready(self) -> None:
        self._take()
        try:
            if self._success and self._callback is not None:
                self._callback(self._value)
            elif not self._success and self._error_callback is not None:
                self._error_callback(self._value)
        finally:
            self._event.set()  # type: ignore[union-attr]
            self._pool = None

    def _take(self) -> None:
        with self._lock:
            if self._taken:
                return
            try:
                chunks = self._native.results(self._job)
            except Exception as e:  # the pool is gone (terminated): fail this result
                self._success, self._value = False, e
                self._taken = True
                if self._codec.stage is not None:
                    self._codec.stage.release()
                return
            value: list = []
            err = None
            pending = False
            for index, (status, payload) in enumerate(chunks):
                if status == _OK:
                    value.extend(self._codec.decode(payload, index))
                elif status in (_ERROR, _CRASHED, _CANCELLED, _BROKEN):
                    err = self._codec.error(status, payload, index)
                    break
                else:  # no status yet: fine for a failfast job that another chunk failed
                    pending = True
            if err is None and pending:  # handed over unfinished: the pool was terminated
                from concurrent.futures import CancelledError
                err = CancelledError("the pool was terminated before this task finished")
            if err is not None:
                self._success, self._value = False, err
            else:
                self._success = True
                self._value = value[0] if self._single else value
            self._taken = True
            del chunks
            self._codec.held.clear()
            if self._codec.stage is not None:  # chunks not taken (failfast, terminate): release
                self._codec.stage.release()
            try:
                self._native.release(self._job)
            except Exception:  # releasing a job of a terminated pool: nothing left to free
                pass
            if not self._notify:
                self._pool = None

    def ready(self) -> bool:
        if self._taken and (self._event is None or self._event.is_set()):
            return True
        if self._event is not None:
            return self._event.is_set()
        try:
            return self._native.ready(self._job)
        except Exception:  # terminated pool: the job is over
            return True

    def successful(self) -> bool:
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        self._take()
        return self._success

    def wait(self, timeout: float | None = None) -> None:
        if self._event is not None:
            self._event.wait(timeout)
            return
        if not self._taken:
            try:
                self._native.wait(self._job, timeout)
            except Exception:  # terminated pool: get() reports it
                pass

    def get(self, timeout: float | None = None):
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        self._take()
        if self._success:
            return self._value
        raise self._value

    def __del__(self) -> None:
        if not getattr(self, "_taken", True) and not getattr(self, "_notify", True):
            pool = self._pool
            if self._codec.held and pool is not None and pool._state in (RUN, CLOSE):
                pool._orphans.append((self._job, self._codec))  # released once done (args kept till then)
                return
            try:
                self._native.release(self._job)
            except Exception:  # the pool may already be gone at interpreter exit
                pass

    __class_getitem__ = classmethod(lambda cls, item: cls)


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """The result of ``map_async``/``starmap_async``."""

    def __init__(self, pool, job, codec, callback, error_callback) -> None:
        super().__init__(pool, job, codec, callback, error_callback, single=False)


class IMapIterator:
    """The iterator of ``imap`` (ordered) and ``imap_unordered``."""

    def __init__(self, pool: "Pool", job: int, codec: _Codec) -> None:
        self._pool = pool
        self._native = pool._native
        self._job = job
        self._codec = codec
        self._items: deque = deque()
        self._pending: deque = deque()  # (status, payload) of chunks taken but not yet decoded
        self._done = False
        self._lock = threading.Lock()
        self._feeder_error: BaseException | None = None
        self._feeder: threading.Thread | None = None

    def __iter__(self):
        return self

    def next(self, timeout: float | None = None):
        with self._lock:
            while not self._items:
                if self._done:
                    raise StopIteration
                if self._pending:  # results taken in a burst, decoded one chunk at a time
                    index, status, payload = self._pending.popleft()
                    if status == _OK:
                        self._items.extend(self._codec.decode(payload, index))
                    else:
                        raise self._codec.error(status, payload, index)
                    continue
                try:
                    batch = self._native.next_batch(self._job, timeout)
                except (TimeoutError, builtins.TimeoutError):
                    raise TimeoutError from None
                if batch is None:
                    self._finish()
                    if self._feeder is not None:
                        self._feeder.join(5)
                    err, self._feeder_error = self._feeder_error, None
                    if err is not None:
                        raise err
                    raise StopIteration
                self._pending.extend(batch)
                del batch
            return self._items.popleft()

    __next__ = next

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            try:
                self._native.release(self._job)
            except Exception:  # the pool may already be gone at interpreter exit
                pass

    def _finish(self) -> None:
        self._done = True
        self._pool = None
        if self._codec.stage is not None:
            self._codec.stage.release()
        try:
            self._native.release(self._job)
        except Exception:  # the pool is already gone
            pass

    def _feed(self, iterable, chunksize: int) -> None:
        """Feeder thread: slice a lazy iterable into chunks and add them to the open job."""
        native, job, codec = self._native, self._job, self._codec
        try:
            it = iter(iterable)
            while True:
                chunk = list(itertools.islice(it, chunksize))
                if not chunk:
                    break
                payload, count = codec.encode(chunk)
                del chunk
                native.add_chunk(job, payload, count)
        except Exception as e:  # the iterable (or pickling) raised: re-raised by the iterator at this position
            e.__cause__ = None
            e.__context__ = None
            self._feeder_error = e
        finally:
            try:
                native.seal(job)
            except Exception:  # the pool was terminated meanwhile
                pass


class IMapUnorderedIterator(IMapIterator):
    pass


# -- the pool ---------------------------------------------------------------------

class _WorkerInfo:
    """What CPython's tests look at on ``pool._pool`` entries."""

    def __init__(self, d: dict) -> None:
        self.pid = d.get("pid")
        self._alive = bool(d.get("alive", True))
        self.exitcode = None if self._alive else d.get("exitcode")
        self.name = f"SpawnPoolWorker-{self.pid}"

    def is_alive(self) -> bool:
        if not self._alive or self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __repr__(self) -> str:
        return f"<_WorkerInfo pid={self.pid} alive={self._alive}>"


def _terminate_native(native) -> None:
    try:
        native.terminate()
    except Exception:  # at interpreter exit the library may be half torn down
        pass


def _result_handler(pool_ref, native, notify: dict, lock: threading.Lock) -> None:
    """Daemon thread: run callbacks of notify jobs as they become ready."""
    while True:
        try:
            job = native.next_notification(0.1)
        except Exception:  # the native pool is gone: fail whatever still waits
            job = None
            with lock:
                pending = list(notify.values())
                notify.clear()
            for r in pending:
                try:
                    r._on_ready()
                except Exception:
                    import traceback
                    traceback.print_exc()
            return
        if job is not None:
            with lock:
                r = notify.pop(job, None)
            if r is not None:
                try:
                    r._on_ready()
                except Exception:  # a user callback raised: report it, keep serving
                    import traceback
                    traceback.print_exc()
                del r
            continue
        pool = pool_ref()
        state = pool._state if pool is not None else TERMINATE
        del pool
        with lock:
            empty = not notify
        if state != RUN and empty:
            return
        if state == TERMINATE:
            # terminated and nothing more reported: fail whatever still waits
            with lock:
                pending = list(notify.values())
                notify.clear()
            for r in pending:
                try:
                    r._on_ready()
                except Exception:  # a user callback raised: report it
                    import traceback
                    traceback.print_exc()
            return


class Pool:
    """A process pool with the stdlib's API, run by the C# pool.

    Args:
        processes: number of workers (default ``os.cpu_count()``).
        initializer: called as ``initializer(*initargs)`` in each Python worker.
        initargs: its arguments.
        maxtasksperchild: retire a worker after this many tasks (chunks).
        context: accepted for compatibility; dotbridge always spawns.
        workers: ``"processes"`` (the default: Python worker processes) or ``"interpreters"``
            (sub-interpreters with their own GIL in this process, Python 3.12+; see
            :mod:`dotbridge.interpreters`). Same API and error mapping either way.
    Raises:
        ValueError: processes < 1, maxtasksperchild not a positive int, unknown ``workers``.
        TypeError: initializer not callable.
        dotbridge.interpreters.InterpreterWorkersUnavailable: ``workers="interpreters"`` below 3.12.
    """

    _wrap_exception = True
    _prestart: tuple = ("python",)

    def __init__(self, processes: int | None = None, initializer=None, initargs=(),
                 maxtasksperchild: int | None = None, context=None, *,
                 workers: str = "processes") -> None:
        # everything __del__ and close() touch, before anything can raise
        self._state = INIT
        self._native = None
        self._finalizer = None
        self._handler: threading.Thread | None = None
        self._notify: dict = {}
        self._notify_lock = threading.RLock()
        self._orphans: list = []  # (job, codec) of results dropped untaken: kept till the job is done
        self._processes = 0
        self._ctx = context
        if workers != "processes":
            # workers="interpreters": Python workers are sub-interpreters of this process, started by
            # dotbridge.interpreters when the C# pool asks (Python 3.12+; it explains the limits).
            from .interpreters import check_workers
            check_workers(workers)
        self._workers = workers
        if processes is None:
            processes = os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None:
            if not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0:
                raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._processes = processes
        self._initializer = initializer
        self._initargs = initargs
        self._maxtasksperchild = maxtasksperchild
        from ._native import NativePool
        from multiprocessing import spawn
        env = {"PYTHONPATH": os.pathsep.join(
            [_PKG_PARENT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        options = {
            "processes": processes,
            "python": spawn.get_executable(),
            "python_init": _frames.make_python_init(initializer, initargs),
            "maxtasksperchild": maxtasksperchild,
            "prestart": list(self._prestart),
            "env": env,
        }
        if workers == "interpreters":
            from . import interpreters
            options["interpreter_start"] = interpreters.start_function()
        self._native = NativePool(options)
        if workers == "interpreters":
            interpreters.register_pool(self._native)
        self._finalizer = weakref.finalize(self, _terminate_native, self._native)
        self._state = RUN

    # -- stdlib internals CPython's tests use -------------------------------------
    @property
    def _pool(self) -> list:
        if self._native is None:
            return []
        try:
            return [_WorkerInfo(d) for d in self._native.workers("python")]
        except Exception:  # a terminated native pool has no workers
            return []

    def _repopulate_pool(self) -> None:
        """No-op: the C# pool replaces workers itself (kept for CPython's tests)."""

    @property
    def _cache(self) -> dict:
        return self._notify

    def _check_running(self) -> None:
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _register_notify(self, job: int, result) -> None:
        with self._notify_lock:
            self._notify[job] = result
        if self._handler is None:
            with self._notify_lock:
                if self._handler is None:
                    t = threading.Thread(target=_result_handler, name="dotbridge-result-handler",
                                         args=(weakref.ref(self), self._native, self._notify,
                                               self._notify_lock), daemon=True)
                    t.start()
                    self._handler = t

    def _release_orphans(self) -> None:
        """Release the finished jobs of ``apply_async``/``map_async`` results dropped untaken."""
        native, keep = self._native, []
        for job, codec in self._orphans:
            try:
                done = native.ready(job)
            except Exception:  # the pool is gone: nothing left to keep
                done = True
            if not done:
                keep.append((job, codec))
                continue
            try:
                native.release(job)
            except Exception:
                pass
        self._orphans = keep

    def _submit(self, codec: _Codec, chunks: list, *, failfast: bool, notify: bool) -> int:
        if self._orphans:
            self._release_orphans()
        payloads = [codec.encode(c) for c in chunks]
        return self._native.submit(codec.kind, codec.encoding, codec.target, payloads,  # type: ignore[union-attr]
                                   failfast=failfast, notify=notify)

    # -- the API ----------------------------------------------------------------
    def apply(self, func, args=(), kwds=_EMPTY_KWDS):
        """Call ``func(*args, **kwds)`` in a worker and return its result."""
        self._check_running()
        codec = _Codec(func, True, kwds)
        payload, count = codec.encode([tuple(args)])
        # one native call: submit, wait, take the result, release (no result object, no thread hop)
        status, data = self._native.call1(codec.kind, codec.encoding, codec.target, payload, count)  # type: ignore[union-attr]
        del payload
        if status == _OK:
            return codec.decode(data)[0]
        raise codec.error(status, data)

    def apply_async(self, func, args=(), kwds=_EMPTY_KWDS, callback=None, error_callback=None) -> ApplyResult:
        """Asynchronous ``apply``; callbacks run in the pool's result-handler thread."""
        self._check_running()
        codec = _Codec(func, True, kwds)
        notify = callback is not None or error_callback is not None
        if notify:
            with self._notify_lock:  # register before the handler can see the job
                job = self._submit(codec, [[tuple(args)]], failfast=True, notify=True)
                return ApplyResult(self, job, codec, callback, error_callback, single=True)
        job = self._submit(codec, [[tuple(args)]], failfast=True, notify=False)
        return ApplyResult(self, job, codec, None, None, single=True)

    def _map_async(self, func, iterable, star: bool, chunksize, callback, error_callback) -> MapResult:
        self._check_running()
        if not hasattr(iterable, "__len__"):
            iterable = list(iterable)
        if chunksize is None:
            chunksize = max(1, self._native.chunksize(len(iterable)))  # type: ignore[union-attr]
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        codec = _Codec(func, star, None)
        notify = callback is not None or error_callback is not None
        if notify:
            with self._notify_lock:
                job = self._submit_streamed(codec, _chunks(iterable, chunksize), notify=True)
                return MapResult(self, job, codec, callback, error_callback)
        job = self._submit_streamed(codec, _chunks(iterable, chunksize), notify=False)
        return MapResult(self, job, codec, None, None)

    def _submit_streamed(self, codec: _Codec, chunks, *, notify: bool) -> int:
        """Hands each chunk to the pool as soon as it is pickled, so the workers start on the
        first while the next is being cut (as the stdlib's task handler does). If a chunk does
        not pickle, the job's undispatched chunks are cancelled and the error is raised here."""
        if self._orphans:
            self._release_orphans()
        native = self._native
        job = native.open_job(codec.kind, codec.encoding, codec.target, notify=notify,  # type: ignore[union-attr]
                              failfast=True)
        try:
            for chunk in chunks:
                native.add_chunk(job, *codec.encode(chunk))  # type: ignore[union-attr]
        except BaseException:
            native.cancel(job)  # type: ignore[union-attr]
            native.seal(job)  # type: ignore[union-attr]
            native.release(job)  # type: ignore[union-attr]
            raise
        native.seal(job)  # type: ignore[union-attr]
        return job

    def map(self, func, iterable, chunksize=None):
        """``list(map(func, iterable))`` in the workers; chunks as the stdlib."""
        return self._map_async(func, iterable, False, chunksize, None, None).get()

    def starmap(self, func, iterable, chunksize=None):
        """Like ``map`` with ``func(*args)`` for each args tuple."""
        return self._map_async(func, iterable, True, chunksize, None, None).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None) -> MapResult:
        return self._map_async(func, iterable, False, chunksize, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None) -> MapResult:
        return self._map_async(func, iterable, True, chunksize, callback, error_callback)

    def _imap(self, cls, func, iterable, chunksize: int, ordered: bool) -> IMapIterator:
        self._check_running()
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        codec = _Codec(func, False, None)
        native = self._native
        if isinstance(iterable, (list, tuple, range)):
            # sized: one submit call (a feeder thread would fight the consumer for the
            # GIL: each return from a native wait could stall for the 5 ms switch interval)
            job = native.submit(codec.kind, codec.encoding, codec.target,  # type: ignore[union-attr]
                                [codec.encode(c) for c in _chunks(iterable, chunksize)],
                                failfast=False, notify=False, ordered=ordered)
            return cls(self, job, codec)
        job = native.open_job(codec.kind, codec.encoding, codec.target,  # type: ignore[union-attr]
                              ordered=ordered, notify=False)
        result = cls(self, job, codec)
        t = threading.Thread(target=result._feed, args=(iterable, chunksize),
                             name="dotbridge-imap-feeder", daemon=True)
        result._feeder = t
        t.start()
        return result

    def imap(self, func, iterable, chunksize=1) -> IMapIterator:
        """Lazy ordered ``map``; ``.next(timeout)`` raises ``multiprocessing.TimeoutError``."""
        return self._imap(IMapIterator, func, iterable, chunksize, True)

    def imap_unordered(self, func, iterable, chunksize=1) -> IMapIterator:
        """Like ``imap``, results in completion order."""
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize, False)

    def close(self) -> None:
        """No more work; workers exit when the queued work is done."""
        if self._state == RUN:
            self._state = CLOSE
            if self._native is not None:
                self._native.close()

    def terminate(self) -> None:
        """Stop the workers now; unfinished results fail instead of hanging."""
        self._state = TERMINATE
        if self._native is not None:
            self._native.terminate()
            if getattr(self, "_workers", None) == "interpreters":  # busy ones cannot be killed: interrupt them
                from .interpreters import interrupt_pool
                interrupt_pool(self._native)
        if self._finalizer is not None:
            self._finalizer.detach()

    def join(self) -> None:
        """Wait for the workers to exit (after close() or terminate())."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        elif self._state not in (CLOSE, TERMINATE):
            raise ValueError("In unknown state")
        if self._native is not None:
            while not self._native.join(0.5):
                pass
        h = self._handler
        if h is not None and h is not threading.current_thread():
            h.join()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.terminate()

    def __reduce__(self):
        raise NotImplementedError(
            "pool objects cannot be passed between processes or pickled")

    def __repr__(self) -> str:
        cls = self.__class__
        return (f"<{cls.__module__}.{cls.__qualname__} "
                f"state={self._state} pool_size={self._processes}>")

    def __del__(self, _warn=warnings.warn, RUN=RUN) -> None:
        if self._state == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning, source=self)


def _pool_module_exit() -> None:  # pragma: no cover - atexit safety net; finalizers do the work
    sys.stdout.flush()
