"""Locks a Python process and a .NET process can share (Bridge/SHARED.md).

Design notes:
- Each primitive is the stdlib's own ``multiprocessing.synchronize`` class
  (a real ``multiprocessing.Lock`` etc., same C ``SemLock``), made with the
  spawn rules so its POSIX named semaphore keeps its name, and with a name
  that is not guessable (``/db_`` + 32 hex digits, mode 0600). .NET opens it
  with ``Bridge.SharedLock.Open(lock.name)`` (``SharedRLock``,
  ``SharedSemaphore`` likewise); a semaphore made by .NET opens here with
  :func:`open_lock` / :func:`open_semaphore`.
- Unlike the stdlib's, these pickle at any time (not only while spawning a
  child): the state is the name, and the receiver re-opens the semaphore by
  name (``_multiprocessing.SemLock._rebuild``). So they can be passed to
  ``Pool.apply`` of dotbridge's pool or the stdlib's. The creator must keep
  its object alive while others still have to open it: the name is unlinked
  when the creator's object is collected or the creator exits (by the
  resource tracker if it was killed).
- ``Condition``, ``Event`` and ``Barrier`` are the stdlib's algorithms built
  from these primitives (Barrier's counters live in a dotbridge
  ``RawArray``), so they pickle the same way. .NET shares an ``Event``
  through ``Bridge.SharedEvent.Open(event.descriptor)`` (the same algorithm
  over the same five semaphores); Condition and Barrier are Python-only.
"""

from __future__ import annotations

import multiprocessing as _mp
import secrets
from multiprocessing import synchronize as _sync

import _multiprocessing

__all__ = [
    "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
    "open_lock", "open_rlock", "open_semaphore", "SEMAPHORE", "RECURSIVE_MUTEX",
]

SEMAPHORE = _sync.SEMAPHORE
RECURSIVE_MUTEX = _sync.RECURSIVE_MUTEX
SEM_VALUE_MAX = _sync.SEM_VALUE_MAX

_spawn = _mp.get_context("spawn")


class _Named:
    """Mixin: unguessable names, a ``name`` property, pickling by name at any time."""

    @staticmethod
    def _make_name() -> str:
        return "/db_" + secrets.token_hex(16)

    @property
    def name(self) -> str:
        """The POSIX semaphore name (with its leading slash) .NET opens."""
        return self._semlock.name

    def __getstate__(self):
        sl = self._semlock
        return (sl.handle, sl.kind, sl.maxvalue, sl.name)


class Lock(_Named, _sync.Lock):
    """``multiprocessing.Lock`` that .NET can share (``Bridge.SharedLock.Open(lock.name)``)."""

    def __init__(self, *, ctx=None) -> None:
        _sync.Lock.__init__(self, ctx=_spawn)


class RLock(_Named, _sync.RLock):
    """``multiprocessing.RLock`` that .NET can share (``Bridge.SharedRLock.Open(rlock.name)``)."""

    def __init__(self, *, ctx=None) -> None:
        _sync.RLock.__init__(self, ctx=_spawn)


class Semaphore(_Named, _sync.Semaphore):
    """``multiprocessing.Semaphore`` that .NET can share (``Bridge.SharedSemaphore.Open(sem.name)``)."""

    def __init__(self, value: int = 1, *, ctx=None) -> None:
        _sync.Semaphore.__init__(self, value, ctx=_spawn)


class BoundedSemaphore(_Named, _sync.BoundedSemaphore):
    """``multiprocessing.BoundedSemaphore`` that .NET can share (``SharedSemaphore.Open(sem.name, value)``)."""

    def __init__(self, value: int = 1, *, ctx=None) -> None:
        _sync.BoundedSemaphore.__init__(self, value, ctx=_spawn)


class _Context:
    """What the stdlib's Condition/Event/Barrier ask their ``ctx`` for."""

    Lock = staticmethod(lambda: Lock())
    RLock = staticmethod(lambda: RLock())
    Semaphore = staticmethod(lambda value=1: Semaphore(value))
    BoundedSemaphore = staticmethod(lambda value=1: BoundedSemaphore(value))

    @staticmethod
    def Condition(lock=None):  # noqa: N802
        return Condition(lock)

    @staticmethod
    def get_start_method(allow_none=False):
        return "spawn"


_CTX = _Context()


class Condition(_sync.Condition):
    """``multiprocessing.Condition`` over dotbridge primitives (pickles at any time)."""

    def __init__(self, lock=None, *, ctx=None) -> None:
        _sync.Condition.__init__(self, lock if lock is not None else RLock(), ctx=_CTX)

    def __getstate__(self):
        return (self._lock, self._sleeping_count, self._woken_count, self._wait_semaphore)


class Event(_sync.Event):
    """``multiprocessing.Event`` over dotbridge primitives (pickles at any time)."""

    def __init__(self, *, ctx=None) -> None:
        _sync.Event.__init__(self, ctx=_CTX)

    @property
    def descriptor(self) -> str:
        """The text .NET's ``Bridge.SharedEvent.Open`` takes (the five semaphores' names)."""
        c = self._cond
        return (f"dotbridge.event:v1;lock={c._lock.name};sleeping={c._sleeping_count.name};"
                f"woken={c._woken_count.name};wait={c._wait_semaphore.name};flag={self._flag.name}")


class _ArrayWrapper:
    """Stands in for ``multiprocessing.heap.BufferWrapper``: memory from a dotbridge RawArray."""

    def __init__(self, raw) -> None:
        self._raw = raw

    def create_memoryview(self):
        return memoryview(self._raw).cast("B")


class Barrier(_sync.Barrier):
    """``multiprocessing.Barrier`` whose state lives in a dotbridge RawArray (pickles at any time)."""

    def __init__(self, parties: int, action=None, timeout=None, *, ctx=None) -> None:
        from .sharedctypes import RawArray
        cond = Condition()
        self.__setstate__((parties, action, timeout, cond, _ArrayWrapper(RawArray("i", 2))))
        self._state = 0
        self._count = 0


def _rebuild(cls, kind: int, maxvalue: int, name: str):
    obj = cls.__new__(cls)
    obj.__setstate__((0, kind, maxvalue, name if name.startswith("/") else "/" + name))
    return obj


def open_lock(name: str) -> Lock:
    """Open a lock made elsewhere (``Bridge.SharedLock.Create().Name``) by name.

    Raises:
        FileNotFoundError: no semaphore has that name.
    """
    return _rebuild(Lock, SEMAPHORE, 1, name)


def open_rlock(name: str) -> RLock:
    """Open a recursive lock made elsewhere (``Bridge.SharedRLock``) by name."""
    return _rebuild(RLock, RECURSIVE_MUTEX, 1, name)


def open_semaphore(name: str, maxvalue: int | None = None):
    """Open a semaphore made elsewhere by name: a :class:`BoundedSemaphore` if ``maxvalue`` is given, else a :class:`Semaphore`."""
    if maxvalue is None:
        return _rebuild(Semaphore, SEMAPHORE, SEM_VALUE_MAX, name)
    return _rebuild(BoundedSemaphore, SEMAPHORE, maxvalue, name)
