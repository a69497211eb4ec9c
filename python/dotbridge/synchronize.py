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
  through ``Bridge.SharedEvent.Open(event.descriptor)``, a ``Condition``
  through ``Bridge.SharedCondition.Open(cond.descriptor)`` and a ``Barrier``
  through ``Bridge.SharedBarrier.Open(barrier.descriptor)``: the same
  algorithms over the same semaphores (and, for the barrier, the same two
  ints ``_state``/``_count`` in shared memory). A condition or barrier made
  by .NET opens here with :func:`open_condition` / :func:`open_barrier`.
- Descriptors (text, ``;``-separated ``key=value`` after a versioned prefix):
  ``dotbridge.condition:v1;lock=/…;lockkind=lock|rlock;sleeping=/…;woken=/…;wait=/…``,
  ``dotbridge.event:v1;<condition fields>;flag=/…``,
  ``dotbridge.barrier:v1;parties=N;timeout=<s>|none;segment=db_…;offset=0;<condition fields>``.
"""

from __future__ import annotations

import multiprocessing as _mp
import secrets
from multiprocessing import synchronize as _sync

import _multiprocessing

__all__ = [
    "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
    "open_lock", "open_rlock", "open_semaphore", "open_condition", "open_barrier",
    "SEMAPHORE", "RECURSIVE_MUTEX",
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


def _semlock_name(obj) -> str:
    name = getattr(getattr(obj, "_semlock", None), "name", None)
    if not name:
        raise ValueError(f"{obj!r} has no semaphore name (make it with dotbridge.synchronize or a spawn context)")
    return name


class Condition(_sync.Condition):
    """``multiprocessing.Condition`` over dotbridge primitives (pickles at any time).

    ``.NET`` shares it through ``Bridge.SharedCondition.Open(cond.descriptor)``.
    """

    def __init__(self, lock=None, *, ctx=None) -> None:
        _sync.Condition.__init__(self, lock if lock is not None else RLock(), ctx=_CTX)

    def __getstate__(self):
        return (self._lock, self._sleeping_count, self._woken_count, self._wait_semaphore)

    def _fields(self) -> str:
        kind = "rlock" if self._lock._semlock.kind == RECURSIVE_MUTEX else "lock"
        return (f"lock={_semlock_name(self._lock)};lockkind={kind};sleeping={self._sleeping_count.name};"
                f"woken={self._woken_count.name};wait={self._wait_semaphore.name}")

    @property
    def descriptor(self) -> str:
        """The text .NET's ``Bridge.SharedCondition.Open`` (and :func:`open_condition`) takes.

        ``dotbridge.condition:v1;lock=/…;lockkind=lock|rlock;sleeping=/…;woken=/…;wait=/…``

        Raises:
            ValueError: the condition's lock has no semaphore name (a fork-context lock).
        """
        return "dotbridge.condition:v1;" + self._fields()


class Event(_sync.Event):
    """``multiprocessing.Event`` over dotbridge primitives (pickles at any time)."""

    def __init__(self, *, ctx=None) -> None:
        _sync.Event.__init__(self, ctx=_CTX)

    @property
    def descriptor(self) -> str:
        """The text .NET's ``Bridge.SharedEvent.Open`` takes (the five semaphores' names)."""
        return f"dotbridge.event:v1;{self._cond._fields()};flag={self._flag.name}"


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

    @property
    def descriptor(self) -> str:
        """The text .NET's ``Bridge.SharedBarrier.Open`` (and :func:`open_barrier`) takes.

        ``dotbridge.barrier:v1;parties=N;timeout=<seconds>|none;segment=<shm name>;offset=0;``
        followed by the condition's fields (see :attr:`Condition.descriptor`). The
        ``action`` stays in this process: .NET parties never run it.
        """
        from .sharedctypes import descriptor as _shm_descriptor
        shm = dict(p.split("=", 1) for p in _shm_descriptor(self._wrapper._raw).split(";")[1:])
        timeout = "none" if self._timeout is None else repr(float(self._timeout))
        return (f"dotbridge.barrier:v1;parties={self._parties};timeout={timeout};"
                f"segment={shm['segment']};offset={shm['offset']};{self._cond._fields()}")


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


def _fields(text: str, prefix: str) -> dict:
    parts = text.split(";")
    if parts[0] != prefix:
        raise ValueError(f"not a {prefix.split(':')[0]} descriptor: {text!r}")
    return dict(p.split("=", 1) for p in parts[1:] if "=" in p)


def _open_condition_fields(fields: dict, text: str) -> Condition:
    try:
        lock, kind = fields["lock"], fields.get("lockkind", "rlock")
        parts = [fields["sleeping"], fields["woken"], fields["wait"]]
    except KeyError as e:
        raise ValueError(f"descriptor lacks {e.args[0]!r}: {text!r}") from None
    if kind not in ("lock", "rlock"):
        raise ValueError(f"lockkind must be lock or rlock: {text!r}")
    cond = Condition.__new__(Condition)
    cond.__setstate__((open_lock(lock) if kind == "lock" else open_rlock(lock),
                       *(open_semaphore(name) for name in parts)))
    return cond


def open_condition(descriptor: str) -> Condition:
    """Open a condition by its descriptor (``Bridge.SharedCondition.Create().Descriptor`` or ``cond.descriptor``).

    Returns:
        A :class:`Condition` over the same four semaphores (it pickles by name too).
    Raises:
        ValueError: not a condition descriptor, or a field is missing.
        FileNotFoundError: a semaphore no longer exists.
    """
    return _open_condition_fields(_fields(descriptor, "dotbridge.condition:v1"), descriptor)


def open_barrier(descriptor: str) -> Barrier:
    """Open a barrier by its descriptor (``Bridge.SharedBarrier.Create(n).Descriptor`` or ``barrier.descriptor``).

    The opened barrier has no ``action`` (an action never crosses processes by descriptor).

    Raises:
        ValueError: not a barrier descriptor, or a field is missing.
        FileNotFoundError: the segment or a semaphore no longer exists.
    """
    from .sharedctypes import open as _shm_open
    fields = _fields(descriptor, "dotbridge.barrier:v1")
    try:
        parties, segment = int(fields["parties"]), fields["segment"]
    except (KeyError, ValueError) as e:
        raise ValueError(f"bad barrier descriptor {descriptor!r}") from e
    timeout = fields.get("timeout", "none")
    timeout = None if timeout in ("", "none") else float(timeout)
    raw = _shm_open(f"dotbridge.shm:v1;segment={segment};typecode=i;length=2;offset={fields.get('offset', '0')}")
    cond = _open_condition_fields(fields, descriptor)
    barrier = Barrier.__new__(Barrier)
    barrier.__setstate__((parties, None, timeout, cond, _ArrayWrapper(raw)))
    return barrier
