"""``dotbridge.futures.ProcessPoolExecutor``: ``concurrent.futures`` over the C# pool.

Each ``submit`` is one notify job of the C# pool; a daemon result-handler
thread (holding the executor by weakref) waits on
``NativePool.next_notification`` and completes the real
``concurrent.futures.Future`` objects, so ``as_completed``/``wait`` work.

Difference from the stdlib: a worker that dies fails only the futures it was
running, each with its own :class:`dotbridge.WorkerCrashedError`; the executor
is not broken afterwards (the C# pool replaced the worker) and keeps serving.

Interpreter workers (Python 3.12+, :mod:`dotbridge.interpreters`):
``ProcessPoolExecutor(..., workers="interpreters")``, or
:class:`InterpreterPoolExecutor` (the name Python 3.14's stdlib uses), which is
the same executor with ``workers="interpreters"``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from concurrent.futures import Executor, Future
from concurrent.futures._base import PENDING, RUNNING

from . import _frames
from .pool import _Codec

__all__ = ["ProcessPoolExecutor", "InterpreterPoolExecutor", "BrokenProcessPool", "WorkerCrashedError"]


def __getattr__(name):
    if name in ("BrokenProcessPool", "WorkerCrashedError"):
        from . import _errors
        return getattr(_errors, name)
    raise AttributeError(name)


class _Future(Future):
    """A Future whose ``cancel()`` also cancels the pool job if not yet dispatched."""

    def __init__(self, native, job: int | None = None) -> None:
        super().__init__()
        self._native = native
        self._job = job

    def cancel(self) -> bool:
        with self._condition:
            if self._state != PENDING:
                return super().cancel()
        try:
            cancelled = self._native.cancel(self._job)
        except Exception:  # the pool is gone: nothing left to cancel
            cancelled = False
        if cancelled:
            return super().cancel()
        with self._condition:
            if self._state == PENDING:
                self._state = RUNNING  # already dispatched: cannot be cancelled any more
        return False


def _complete(fut: _Future, codec: _Codec, native, job: int, single: bool) -> None:
    try:
        chunks = native.results(job)
    except Exception as e:  # the pool was terminated: fail the future
        chunks, err = None, e
    else:
        err = None
    value: list = []
    if chunks is not None:
        for status, payload in chunks:
            if status == 0:
                value.extend(codec.decode(payload))
            else:
                err = codec.error(status, payload) if status in (1, 2, 3, 4) else None
                if err is None:
                    from concurrent.futures import CancelledError
                    err = CancelledError("the executor was shut down before this task ran")
                break
        try:
            native.release(job)
        except Exception:  # already released by a terminated pool
            pass
    from concurrent.futures import CancelledError
    with fut._condition:
        state = fut._state
    if state == "CANCELLED":  # cancelled by the user: tell the waiters (as the stdlib's executor does)
        fut.set_running_or_notify_cancel()
        return
    if state != PENDING and state != RUNNING:
        return
    if isinstance(err, CancelledError):  # cancelled by shutdown(cancel_futures=True) or terminate
        with fut._condition:
            if fut._state == RUNNING:
                fut._state = PENDING
        if Future.cancel(fut):
            fut.set_running_or_notify_cancel()
        return
    if err is not None:
        fut.set_exception(err)
    else:
        fut.set_result(value[0] if single else value)


def _handler(exe_ref, native, pending: dict, lock: threading.Lock) -> None:
    while True:
        try:
            job = native.next_notification(0.1)
        except Exception:  # the native pool is gone: fail what still waits
            job = None
            with lock:
                left = list(pending.items())
                pending.clear()
            for jid, (fut, codec, single) in left:
                _complete(fut, codec, native, jid, single)
            return
        if job is not None:
            with lock:
                entry = pending.pop(job, None)
            if entry is not None:
                _complete(entry[0], entry[1], native, job, entry[2])
                del entry
            continue
        exe = exe_ref()
        shut = exe is None or exe._shutdown
        del exe
        with lock:
            empty = not pending
        if shut and empty:
            return


class ProcessPoolExecutor(Executor):
    """A ``concurrent.futures`` executor whose workers the C# pool runs.

    Args:
        max_workers: number of worker processes (default ``os.cpu_count()``).
        mp_context: accepted for compatibility; dotbridge always spawns.
        initializer: called as ``initializer(*initargs)`` in each worker.
        initargs: its arguments.
        max_tasks_per_child: retire a worker after this many tasks.
        workers: ``"processes"`` (the default) or ``"interpreters"`` (sub-interpreters with their
            own GIL in this process, Python 3.12+; see :mod:`dotbridge.interpreters`).
    Raises:
        ValueError: max_workers <= 0 or max_tasks_per_child < 1, unknown ``workers``.
        TypeError: initializer not callable, max_tasks_per_child not an int.
        dotbridge.interpreters.InterpreterWorkersUnavailable: ``workers="interpreters"`` below 3.12.
    """

    def __init__(self, max_workers: int | None = None, mp_context=None, initializer=None,
                 initargs=(), *, max_tasks_per_child: int | None = None,
                 workers: str = "processes") -> None:
        self._shutdown = True
        self._native = None
        self._pending: dict = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            elif max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        if workers != "processes":
            from .interpreters import check_workers
            check_workers(workers)
        self._max_workers = max_workers
        self._mp_context = mp_context
        from ._native import NativePool
        from multiprocessing import spawn
        from .pool import _PKG_PARENT
        env = {"PYTHONPATH": os.pathsep.join(
            [_PKG_PARENT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        options = {
            "processes": max_workers,
            "python": spawn.get_executable(),
            "python_init": _frames.make_python_init(initializer, initargs),
            "maxtasksperchild": max_tasks_per_child,
            "prestart": [],
            "env": env,
        }
        if workers == "interpreters":
            from . import interpreters
            options["interpreter_start"] = interpreters.start_function()
        self._native = NativePool(options)
        if workers == "interpreters":
            interpreters.register_pool(self._native)
        self._finalizer = weakref.finalize(self, _terminate_native, self._native)
        self._shutdown = False

    def _ensure_thread(self) -> None:
        if self._thread is None:
            t = threading.Thread(target=_handler, name="dotbridge-executor-results",
                                 args=(weakref.ref(self), self._native, self._pending, self._lock),
                                 daemon=True)
            t.start()
            self._thread = t

    def _submit(self, fn, calls: list, star: bool, kwargs, single: bool) -> Future:
        codec = _Codec(fn, star, kwargs)
        payload = codec.encode(calls)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            job = self._native.submit(codec.kind, codec.encoding, codec.target,  # type: ignore[union-attr]
                                      [payload], failfast=True, notify=True)
            fut = _Future(self._native, job)
            self._pending[job] = (fut, codec, single)
            self._ensure_thread()
        return fut

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` in a worker; returns a ``concurrent.futures.Future``."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        return self._submit(fn, [args], True, kwargs, True)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like ``map(fn, *iterables)``; chunks of ``chunksize`` calls go to a worker at once.

        Raises:
            TimeoutError: a result is not ready ``timeout`` seconds after the call.
        """
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end = time.monotonic() + timeout if timeout is not None else None
        it = zip(*iterables)
        futs = []
        while True:
            chunk = list(itertools.islice(it, chunksize))
            if not chunk:
                break
            futs.append(self._submit(fn, chunk, True, None, False))

        def result_iterator():
            try:
                futs.reverse()
                while futs:
                    f = futs.pop()
                    if end is None:
                        yield from f.result()
                    else:
                        yield from f.result(end - time.monotonic())
                    del f
            finally:
                for f in futs:
                    f.cancel()
        return result_iterator()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; optionally cancel pending futures and wait for the rest."""
        with self._lock:
            self._shutdown = True
            pending = list(self._pending.values()) if cancel_futures else []
        for fut, _codec, _single in pending:
            fut.cancel()
        if self._native is None:
            return
        self._native.close()
        if wait:
            while not self._native.join(0.5):
                pass
            t = self._thread
            if t is not None:
                t.join()


class InterpreterPoolExecutor(ProcessPoolExecutor):
    """:class:`ProcessPoolExecutor` with interpreter workers (``workers="interpreters"``, Python 3.12+).

    The signature is Python 3.14's ``concurrent.futures.InterpreterPoolExecutor``'s (without ``shared``).

    Args:
        max_workers: number of interpreter workers (default ``os.cpu_count()``).
        thread_name_prefix: accepted for compatibility (worker threads are ``dotbridge-interpreter-N``).
        initializer: called as ``initializer(*initargs)`` in each worker.
        initargs: its arguments.
        max_tasks_per_child: replace a worker's interpreter after this many tasks.
    Raises:
        dotbridge.interpreters.InterpreterWorkersUnavailable: below Python 3.12.
    """

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "", initializer=None,
                 initargs=(), *, max_tasks_per_child: int | None = None) -> None:
        super().__init__(max_workers, None, initializer, initargs,
                         max_tasks_per_child=max_tasks_per_child, workers="interpreters")


def _terminate_native(native) -> None:
    try:
        native.terminate()
    except Exception:  # at interpreter exit the library may be half torn down
        pass
