"""Exceptions of dotbridge and the conversion of protocol error maps into them.

Three kinds of failure (see STYLE.md, "Errors across the language boundary"):

1. The task raised. A Python task's exception comes back as its own type
   (unpickled) with ``__cause__ = multiprocessing.pool.RemoteTraceback(text)``;
   if it cannot be unpickled, as :class:`RemoteError`. A .NET exception comes
   back as a subclass of :class:`DotNetError` named after the .NET type that
   also inherits the natural Python builtin (``System.ArgumentException`` is a
   ``ValueError``), with the .NET stack trace in ``__cause__``.
2. A worker died: :class:`WorkerCrashedError` (a ``BrokenProcessPool``), one
   new instance per affected call; the pool itself replaced the worker.
3. Misuse: plain ``ValueError``/``TypeError``/``RuntimeError``.
"""

from __future__ import annotations

import builtins
import pickle
import signal
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool as _StdBrokenProcessPool
from multiprocessing import TimeoutError
from multiprocessing.pool import MaybeEncodingError, RemoteTraceback

from ._frames import ProtocolError

__all__ = [
    "RemoteError",
    "DotNetError",
    "WorkerCrashedError",
    "BrokenProcessPool",
    "TimeoutError",
    "ProtocolError",
    "MaybeEncodingError",
    "error_from_map",
    "error_from_status",
]


class BrokenProcessPool(_StdBrokenProcessPool):
    """A worker kind of the pool cannot work (it cannot start, its initializer raised)."""


class WorkerCrashedError(BrokenProcessPool):
    """The worker running this call died (killed, crashed, or broke the protocol).

    Unlike the stdlib's ``ProcessPoolExecutor``, the pool is not broken
    afterwards: the C# pool replaced the worker and later calls succeed.

    Attributes:
        exitcode: the worker's exit code; negative = killed by that signal
            (as ``multiprocessing.Process.exitcode``), ``None`` if unknown.
        pid: the worker's process id, ``None`` if unknown.
    """

    def __init__(self, message: str = "a worker process died", exitcode: int | None = None,
                 pid: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode
        self.pid = pid

    def __reduce__(self):
        return (WorkerCrashedError, (str(self), self.exitcode, self.pid))


def crash_message(pid: int | None, exitcode: int | None) -> str:
    """The message of a WorkerCrashedError: names the signal for a negative exit code."""
    who = f"worker process {pid}" if pid is not None else "a worker process"
    if exitcode is None:
        how = "died"
    elif exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"was terminated by {name} (exit code {exitcode})"
    else:
        how = f"exited unexpectedly with exit code {exitcode}"
    return f"{who} {how} while running this task"


class RemoteError(Exception):
    """A remote exception that could not be rebuilt as its own type.

    Attributes:
        remote_type: the remote exception's qualified type name.
        message: its message.
        remote_traceback: the formatted remote traceback.
    """

    def __init__(self, remote_type: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"{remote_type}: {message}")
        self.remote_type = remote_type
        self.message = message
        self.remote_traceback = remote_traceback

    def __reduce__(self):
        return (RemoteError, (self.remote_type, self.message, self.remote_traceback))


class DotNetError(Exception):
    """An exception raised by a .NET method.

    A concrete error is an instance of a subclass named after the .NET type
    (``ArgumentException``) that also inherits the natural Python builtin
    where one exists, so ``except ValueError`` catches it.

    Attributes:
        dotnet_type: the .NET exception's full type name.
        message: ``Exception.Message``.
        remote_traceback: the .NET stack trace (also ``stack_trace``).
        kind: the protocol error kind (``raised``, ``args``, ``target``, ``result``).
    """

    def __init__(self, message: str = "", dotnet_type: str = "System.Exception",
                 remote_traceback: str = "", kind: str = "raised") -> None:
        super().__init__(message)
        self.dotnet_type = dotnet_type
        self.message = message
        self.remote_traceback = remote_traceback
        self.kind = kind

    @property
    def stack_trace(self) -> str:
        return self.remote_traceback

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return f"{self.dotnet_type}: {self.message}"

    def __reduce__(self):
        return (_rebuild_dotnet_error, (self.dotnet_type, self.message, self.remote_traceback, self.kind))


# .NET type -> the natural Python builtin it also inherits.
_DOTNET_BUILTINS: dict[str, type[BaseException]] = {
    "System.ArgumentException": ValueError,
    "System.ArgumentOutOfRangeException": ValueError,
    "System.ArgumentNullException": ValueError,
    "System.FormatException": ValueError,
    "System.InvalidCastException": TypeError,
    "System.DivideByZeroException": ZeroDivisionError,
    "System.OverflowException": OverflowError,
    "System.IndexOutOfRangeException": IndexError,
    "System.Collections.Generic.KeyNotFoundException": KeyError,
    "System.NotImplementedException": NotImplementedError,
    "System.NotSupportedException": NotImplementedError,
    "System.InvalidOperationException": RuntimeError,
    "System.OutOfMemoryException": MemoryError,
    "System.IO.FileNotFoundException": FileNotFoundError,
    "System.IO.DirectoryNotFoundException": FileNotFoundError,
    "System.IO.IOException": OSError,
    "System.TimeoutException": builtins.TimeoutError,
    "System.MissingMethodException": AttributeError,
    "System.TypeLoadException": AttributeError,
}

_KIND_BUILTINS: dict[str, type[BaseException]] = {"args": TypeError, "target": AttributeError}

_classes: dict[tuple[str, str], type[DotNetError]] = {}


def dotnet_error_class(dotnet_type: str, kind: str = "raised") -> type[DotNetError]:
    """The DotNetError subclass for a .NET type (and error kind); cached."""
    key = (dotnet_type, kind if kind in _KIND_BUILTINS else "raised")
    cls = _classes.get(key)
    if cls is not None:
        return cls
    bases: list[type] = [DotNetError]
    builtin = _DOTNET_BUILTINS.get(dotnet_type)
    if builtin is not None:
        bases.append(builtin)
    extra = _KIND_BUILTINS.get(key[1])
    if extra is not None and extra not in bases:
        bases.append(extra)
    name = dotnet_type.rsplit(".", 1)[-1].split("`", 1)[0] or "DotNetError"
    if not name.isidentifier():
        name = "DotNetError"
    try:
        cls = type(name, tuple(bases), {"__module__": "dotbridge", "__reduce__": DotNetError.__reduce__,
                                         "__str__": DotNetError.__str__})
    except TypeError:  # incompatible builtin layouts: keep the first builtin only
        cls = type(name, tuple(bases[:2]), {"__module__": "dotbridge", "__reduce__": DotNetError.__reduce__,
                                             "__str__": DotNetError.__str__})
    _classes[key] = cls
    return cls


def _rebuild_dotnet_error(dotnet_type: str, message: str, remote_traceback: str, kind: str = "raised"):
    cls = dotnet_error_class(dotnet_type, kind)
    exc = cls(message)
    DotNetError.__init__(exc, message, dotnet_type, remote_traceback, kind)
    if remote_traceback:
        exc.__cause__ = RemoteTraceback(remote_traceback)
    return exc


def _remote_tb(text: str) -> RemoteTraceback:
    return RemoteTraceback('\n"""\n%s"""' % text if text else "")


def _python_error_from_map(m: dict):
    typ = str(m.get("type") or "builtins.Exception")
    msg = str(m.get("message") or "")
    tb = str(m.get("traceback") or "")
    kind = m.get("kind")
    if kind == "result":
        exc: BaseException = MaybeEncodingError(msg, "<result>")
    else:
        exc = None  # type: ignore[assignment]
        if typ.startswith("builtins."):
            builtin = getattr(builtins, typ[9:], None)
            if isinstance(builtin, type) and issubclass(builtin, Exception):
                try:
                    exc = builtin(msg)
                except Exception:  # an odd constructor: fall back to RemoteError below
                    exc = None  # type: ignore[assignment]
        if exc is None:
            exc = RemoteError(typ, msg, tb)
    exc.__cause__ = _remote_tb(tb)
    return exc


def error_from_map(m: dict, pickled: bytes | None = None, *, dotnet: bool = False) -> BaseException:
    """Build the exception a caller raises from an ERROR frame's map (and pickle).

    Args:
        m: the protocol's error map.
        pickled: the pickled exception of a PICKLE task, or None.
        dotnet: whether the error came from a .NET worker.
    Returns:
        A new exception instance with ``__cause__`` set to the remote traceback.
    """
    if pickled is not None:
        try:
            exc = pickle.loads(pickled)
        except Exception:  # cannot rebuild the original type here: use the map
            exc = None
        if isinstance(exc, BaseException):
            return exc
    if not isinstance(m, dict):
        m = {"type": "builtins.Exception", "message": repr(m)}
    typ = str(m.get("type") or "")
    if dotnet or (typ.startswith("System.") or typ.startswith("Microsoft.")):
        return _rebuild_dotnet_error(typ or "System.Exception", str(m.get("message") or ""),
                                     str(m.get("traceback") or ""), str(m.get("kind") or "raised"))
    return _python_error_from_map(m)


def error_from_status(status: int, m, *, dotnet: bool = False) -> BaseException:
    """The exception for a non-OK chunk status (2 CRASHED, 3 CANCELLED, 4 BROKEN)."""
    if not isinstance(m, dict):
        m = {}
    msg = str(m.get("message") or "")
    if status == 2:
        exitcode = m.get("exitcode")
        pid = m.get("pid")
        return WorkerCrashedError(msg or crash_message(pid, exitcode), exitcode, pid)
    if status == 3:
        return CancelledError(msg or "the task was cancelled (or the pool terminated)")
    if status == 4:
        return BrokenProcessPool(msg or "the pool's workers cannot start")
    if status == 1:
        return error_from_map(m, None, dotnet=dotnet)
    return ProtocolError(f"unknown chunk status {status}: {msg}")
