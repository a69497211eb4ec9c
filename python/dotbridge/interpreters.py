"""Interpreter workers: what they are, where they run today, and the Python-side switch.

Interpreter workers are CPython sub-interpreters with their own GIL (PEP 684, Python 3.12+), each on
its own thread *inside one process*. dotbridge implements them in C#: ``Bridge.InterpreterPool``
(same task API as ``Bridge.ProcessPool``: ``ApplyAsync``, ``MapAsync``, ``StarmapAsync``,
``ImapAsync``, ``ImapUnorderedAsync``; the same error mapping), for C# programs that embed Python.

Decision (documented here and in the README): **from Python, interpreter workers are not offered
yet.** ``Pool(..., workers="interpreters")`` is the documented switch and raises
:class:`InterpreterWorkersUnavailable` with the reason, so code written for it fails loudly rather
than silently falling back. Why:

* Inside a Python process the sub-interpreters would live in *that* process, created by the Native AOT
  library the shim loads. That library is AOT-compiled from the pool's core only; the CPython layer
  (``Bridge.Interop``) uses reflection-based conversions that Native AOT cannot compile yet.
* Interpreters must all be ended before the host's ``Py_Finalize`` (CPython aborts with
  "remaining subinterpreters" otherwise), which ties the pool's shutdown to the host's atexit order
  in ways the process-worker pool never needed.
* The Python users who would gain most run 3.11 (Debian's), where sub-interpreters share one GIL.

Process workers stay the default and the recommendation: they isolate crashes, and every C extension
(numpy included) works in them.

Limits of interpreter workers (C#), enforced:

* Python 3.12+ only (``PlatformNotSupportedException`` naming the loaded version otherwise).
* A C extension without sub-interpreter support (single-phase init; numpy among them today) cannot be
  imported: the call fails with ``ImportError`` whose message names the module and suggests process
  workers.
* A crash in one interpreter worker (a segfault in an extension, ``os._exit``) ends the whole process:
  it cannot be isolated.
* Values cross interpreters as MessagePack values (copied, never shared objects, never pickle);
  ``_dotbridge_channels.send(name, value)`` / ``recv(name, timeout=None)`` inside an interpreter worker
  is a PEP 554-style channel to the other workers and to .NET (``InterpreterPool.Channel(name)``);
  big bytes/buffers go through shared memory: ``_dotbridge_channels.attach(segment_name)`` maps a
  .NET ``SharedMemorySegment`` (or a stdlib ``SharedMemory``) in the worker without a copy.
"""

from __future__ import annotations

import sys

__all__ = ["InterpreterWorkersUnavailable", "WORKER_KINDS", "check_workers", "supported_here"]

#: The values ``Pool(workers=...)`` accepts.
WORKER_KINDS = ("processes", "interpreters")


class InterpreterWorkersUnavailable(NotImplementedError):
    """Interpreter workers were asked for where dotbridge does not offer them (see the module docstring)."""


def supported_here() -> tuple[bool, str]:
    """Whether this Python process could run interpreter workers, and why not.

    Returns:
        ``(False, reason)`` today in every Python process (interpreter workers are C#-only); the
        reason says whether the version (< 3.12) or the missing in-process support is what stops them.
    """
    if sys.version_info < (3, 12):
        return False, (
            f"interpreter workers need Python 3.12 or later (a GIL per sub-interpreter, PEP 684); "
            f"this is Python {sys.version_info.major}.{sys.version_info.minor}. "
            f"Use process workers (the default: Pool(processes))."
        )
    return False, (
        "interpreter workers run from C# only for now (Bridge.InterpreterPool); inside a Python "
        "process dotbridge does not start sub-interpreters yet. Use process workers (the default: "
        "Pool(processes)), or the stdlib's concurrent.futures.InterpreterPoolExecutor where your "
        "Python has it."
    )


def check_workers(workers: str) -> None:
    """Validate ``Pool(workers=...)``; called by :class:`dotbridge.pool.Pool` before anything starts.

    Args:
        workers: ``"processes"`` (the default) or ``"interpreters"``.

    Raises:
        ValueError: ``workers`` is not one of :data:`WORKER_KINDS`.
        InterpreterWorkersUnavailable: ``workers == "interpreters"`` (see :func:`supported_here`).
    """
    if workers not in WORKER_KINDS:
        raise ValueError(f"workers must be one of {WORKER_KINDS!r}, not {workers!r}")
    if workers == "interpreters":
        ok, reason = supported_here()
        if not ok:
            raise InterpreterWorkersUnavailable(reason)
