"""Interpreter workers from Python: ``Pool(..., workers="interpreters")`` (Python 3.12+).

An interpreter worker is a CPython sub-interpreter with its own GIL (PEP 684) on its own thread *inside
this process*, running dotbridge's ordinary Python worker loop (:func:`dotbridge._worker.serve`) over two
pipes instead of a spawned process's fds 3 and 4. The C# pool (the same ``PoolCore`` that runs process
workers, in ``libdotbridge.so``) schedules, supervises, orders results and maps errors exactly as for
process workers and speaks the same wire protocol; only starting a worker differs: the pool calls
:func:`_start` (a ctypes callback passed as the ``interpreter_start`` option, Bridge/ABI.md "Interpreter
workers") with the worker's two pipe ends, and this module starts the thread and the sub-interpreter.
When the loop ends (EOF, STOP, an error) the thread reports the exit code (``db_worker_exited``), closes
the pipes and destroys the interpreter; the pool sees the pipe end as it sees a process exit.

Use::

    with dotbridge.Pool(2, workers="interpreters") as pool:      # same API as process workers
        pool.map(f, items)
    with dotbridge.futures.InterpreterPoolExecutor(2) as ex:     # or ProcessPoolExecutor(workers="interpreters")
        ex.submit(f, x).result()

Limits (enforced or documented):

* Python 3.12+ only; on 3.11 ``workers="interpreters"`` raises :class:`InterpreterWorkersUnavailable`
  with the reason (sub-interpreters there share one GIL).
* A C extension without sub-interpreter support (single-phase init: numpy today, ``_ctypes``,
  ``msgpack``'s C part, which falls back to pure Python: the worker loop reads and writes the frames of
  ordinary tasks with its own codec, ``_frames.decode_pickle_task``/``encode_pickle_result``, so the
  fallback only handles INIT/HELLO/ERROR frames) cannot be imported in a worker: the call fails
  with ``ImportError`` naming the module and suggesting process workers. This includes the caller's
  ``__main__`` module, which workers import as the stdlib's spawn does: a main script that imports numpy
  at top level cannot use interpreter workers (the pool is broken at start, with that ImportError).
* No crash isolation: a segfault or ``os._exit()`` in a worker ends this whole process. ``sys.exit()``
  in a task ends only that worker (its tasks fail with ``WorkerCrashedError``; the pool replaces it).
* A worker cannot be killed, only interrupted: ``terminate()`` fails unfinished results at once and
  closes the workers' task pipes (an idle worker ends at once), waits about a second for busy ones, then
  raises ``SystemExit`` in those still running Python code (:func:`interrupt`, through the C API:
  ``db_interrupt_interpreter``); they end at their next bytecode (a blocking C call such as
  ``time.sleep`` first returns). At interpreter exit dotbridge terminates such pools the same way and
  waits up to ``EXIT_GRACE`` seconds; a call that still runs (it caught ``SystemExit``) is reported on
  stderr, and on 3.12 CPython then aborts ("remaining subinterpreters"; 3.13 abandons it).
* Workers share the process: ``os.chdir``, ``os.environ`` writes and signal handlers are process-wide;
  sub-interpreters are isolated (no ``fork``/``exec``, no daemon threads).
* Values cross as pickle through the pipes, as for process workers (copied, never shared objects).
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import threading
import weakref

__all__ = ["InterpreterWorkersUnavailable", "WORKER_KINDS", "check_workers", "supported_here",
           "start_function", "register_pool", "EXIT_GRACE"]

#: The values ``Pool(workers=...)`` accepts.
WORKER_KINDS = ("processes", "interpreters")

#: Seconds the exit hook waits for busy interpreter workers before the interpreter finalizes.
EXIT_GRACE = 5.0


class InterpreterWorkersUnavailable(NotImplementedError):
    """Interpreter workers were asked for where dotbridge cannot run them (see :func:`supported_here`)."""


def _module():
    """The private sub-interpreter module: ``_interpreters`` (3.13+) or ``_xxsubinterpreters`` (3.12)."""
    try:
        import _interpreters as m
    except ImportError:
        import _xxsubinterpreters as m
    return m


def supported_here() -> tuple[bool, str]:
    """Whether this Python process can run interpreter workers, and why not.

    Returns:
        ``(True, "")``, or ``(False, reason)``: Python older than 3.12, no sub-interpreter module in
        this build, or a ``libdotbridge.so`` too old to start them.
    """
    if sys.version_info < (3, 12):
        return False, (
            f"interpreter workers need Python 3.12 or later (a GIL per sub-interpreter, PEP 684); "
            f"this is Python {sys.version_info.major}.{sys.version_info.minor}. "
            f"Use process workers (the default: Pool(processes))."
        )
    try:
        _module()
    except ImportError as e:
        return False, f"this Python has no sub-interpreter module ({e}); use process workers (the default)"
    try:
        from ._native import load_library
        lib = load_library()
    except ImportError as e:
        return False, str(e)
    if getattr(lib, "db_worker_exited", None) is None:
        return False, ("the C# pool library predates interpreter workers; rebuild it with "
                       "`bash scripts/setup`, or use process workers (the default)")
    return True, ""


def check_workers(workers: str) -> None:
    """Validate ``Pool(workers=...)``; called by :class:`dotbridge.pool.Pool` before anything starts.

    Args:
        workers: ``"processes"`` (the default) or ``"interpreters"``.

    Raises:
        ValueError: ``workers`` is not one of :data:`WORKER_KINDS`.
        InterpreterWorkersUnavailable: ``workers == "interpreters"`` where :func:`supported_here` says no.
    """
    if workers not in WORKER_KINDS:
        raise ValueError(f"workers must be one of {WORKER_KINDS!r}, not {workers!r}")
    if workers == "interpreters":
        ok, reason = supported_here()
        if not ok:
            raise InterpreterWorkersUnavailable(reason)


# -- the host side: start a worker when the C# pool asks ------------------------------------------

_lock = threading.Lock()
_handles = itertools.count(1)
_threads: dict[int, threading.Thread] = {}
_running: dict[int, tuple[int, int]] = {}  # handle -> (interpreter id, thread ident) while its loop runs
_pools: "weakref.WeakSet" = weakref.WeakSet()
_exit_hook = False

# The code each sub-interpreter runs: dotbridge's worker loop on the two fds. It raises SystemExit(code)
# for a non-zero exit code (the host reads it back from the error run_string reports).
_BOOT = """\
import sys
sys.path[:] = {path!r}
from dotbridge import _worker
try:
    _code = _worker.serve_interpreter({rfd}, {wfd}, {worker_id})
except SystemExit as e:  # sys.exit() in a task, or interrupt() (terminate, exit)
    _code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
if _code:
    raise SystemExit(_code)
"""

_EXIT_RE = re.compile(r"SystemExit'?>?: (-?\d+)\s*$")


def _create_interpreter(m):
    if hasattr(m, "new_config"):  # 3.13+: the "isolated" config has its own GIL
        return m.create(m.new_config("isolated"))
    return m.create(isolated=True)  # 3.12: isolated=True is PEP 684's own-GIL config


def _failure(m, raised, ran) -> tuple[int, str | None]:
    """(exit code, error text or None) from what ``run_string`` raised (3.12) or returned (3.13)."""
    if raised is not None:
        text = str(raised)
    elif ran is not None:
        text = getattr(ran, "formatted", None) or str(ran)
    else:
        return 0, None
    match = _EXIT_RE.search(text)
    if match:
        return int(match.group(1)), None
    detail = getattr(ran, "errdisplay", None) if ran is not None else None
    return 1, detail or text


def _fatal(wfd: int, text: str) -> None:
    """A FATAL frame for a worker that failed outside its loop (the pool breaks the kind if it never started)."""
    from . import _frames
    from ._worker import _pack
    try:
        os.write(wfd, _pack([_frames.FATAL, _frames.error_map(RuntimeError(text), "raised", tb_text=text)]))
    except OSError:  # the pool already closed the result pipe
        pass


def _run(handle: int, worker_id: int, rfd: int, wfd: int, path: list) -> None:
    """Worker thread: one sub-interpreter running the worker loop, then reporting and cleaning up."""
    code, iid = 1, None
    try:
        m = _module()
        iid = _create_interpreter(m)
        raised = ran = None
        with _lock:
            _running[handle] = (int(iid), threading.get_ident())
        try:
            ran = m.run_string(iid, _BOOT.format(path=path, rfd=rfd, wfd=wfd, worker_id=worker_id))
        except Exception as e:  # 3.12: RunFailedError carries the sub-interpreter's exception as text
            raised = e
        finally:
            with _lock:
                _running.pop(handle, None)
        code, error = _failure(m, raised, ran)
        if error is not None:
            print(f"dotbridge interpreter worker {worker_id} failed:\n{error}", file=sys.stderr)
            _fatal(wfd, f"interpreter worker {worker_id} failed: {error}")
    except BaseException as e:  # could not even create the interpreter: tell the pool, then end
        _fatal(wfd, f"cannot start interpreter worker {worker_id}: {type(e).__name__}: {e}")
        code = 1
    finally:
        if iid is not None:
            for attempt in range(50):
                try:
                    _module().destroy(iid)
                    break
                except Exception as e:  # still in use by another thread for a moment: retry, then report
                    if attempt == 49:
                        print(f"dotbridge: cannot destroy interpreter {iid}: {e}", file=sys.stderr)
                    else:
                        import time
                        time.sleep(0.02)
        try:
            from ._native import load_library
            load_library().db_worker_exited(handle, code)
        finally:
            for fd in (rfd, wfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            with _lock:
                _threads.pop(handle, None)


def _start(worker_id: int, rfd: int, wfd: int) -> int:
    """``interpreter_start`` (called by the C# pool, any thread): start a worker thread; its handle, 0 on failure."""
    try:
        handle = next(_handles)
        t = threading.Thread(target=_run, args=(handle, worker_id, rfd, wfd, list(sys.path)),
                             name=f"dotbridge-interpreter-{worker_id}", daemon=True)
        with _lock:
            _threads[handle] = t
        t.start()
        return handle
    except BaseException:  # nothing may cross into C#: report, and the pool breaks the kind
        import traceback
        traceback.print_exc()
        return 0


_start_fn = None  # created once, never freed: the C# pool may call it until the process ends


def start_function() -> int:
    """The address of :func:`_start` as a C function pointer (the ``interpreter_start`` option)."""
    # ctypes is imported here, not at module level: this module must stay importable inside a
    # sub-interpreter, where 3.12's _ctypes refuses to load
    import ctypes
    global _start_fn
    with _lock:
        if _start_fn is None:
            _start_fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_int)(_start)
    return ctypes.cast(_start_fn, ctypes.c_void_p).value or 0


def interrupt(handles=None) -> int:
    """Raise ``SystemExit`` in interpreter workers busy in Python code (all, or those with these host
    handles), so they end now instead of after their call: ``terminate()`` and the exit hook use it.
    Returns how many were interrupted (0 with a library too old to do it). Code that catches
    ``SystemExit`` (or ``BaseException``) can still ignore it."""
    from ._native import load_library
    fn = getattr(load_library(), "db_interrupt_interpreter", None)
    if fn is None:
        return 0
    done = 0
    # _lock held throughout: a worker whose call returns meanwhile waits for it before its interpreter
    # is destroyed, so the interpreter cannot go away under the attach (the worker never needs _lock
    # while it holds its own GIL, and the C# pool's lock is not involved)
    with _lock:
        for h, (iid, ident) in list(_running.items()):
            if handles is None or h in handles:
                done += fn(iid, ident) == 1  # ctypes releases our GIL; the call takes the worker's
    return done


def interrupt_pool(native) -> None:
    """After ``terminate()`` of an interpreter pool: interrupt its workers still busy in a call."""
    try:
        handles = set(native.hosted_workers())
    except Exception:  # the pool is already destroyed
        return
    if handles:
        interrupt(handles)


def _at_exit() -> None:
    """Before the interpreter joins its threads: terminate interpreter pools, give busy workers a grace."""
    for native in list(_pools):
        try:
            native.terminate()
        except Exception:  # already destroyed
            pass
    interrupt()
    import time
    deadline = time.monotonic() + EXIT_GRACE
    while True:
        with _lock:
            left = list(_threads.values())
        if not left or time.monotonic() >= deadline:
            break
        left[0].join(max(0.0, deadline - time.monotonic()))
    if left:
        what = ("CPython 3.12 will abort with 'remaining subinterpreters'" if sys.version_info < (3, 13)
                else "they are abandoned")
        print(f"dotbridge: {len(left)} interpreter worker(s) still running a call {EXIT_GRACE:g} s after "
              f"the pool was terminated at exit; Python code cannot be interrupted, so {what}. "
              f"Close and join interpreter pools before exiting.", file=sys.stderr, flush=True)


def register_pool(native) -> None:
    """Remember a native pool with interpreter workers so the exit hook terminates it before finalization."""
    global _exit_hook
    with _lock:
        _pools.add(native)
        if not _exit_hook:
            # threading's exit hooks run before the interpreter joins threads and before atexit:
            # every sub-interpreter must be gone before Py_Finalize.
            threading._register_atexit(_at_exit)
            _exit_hook = True
