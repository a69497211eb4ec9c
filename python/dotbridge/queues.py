"""Queues Python processes *and* .NET code share.

``Queue``, ``SimpleQueue``, ``JoinableQueue`` (``dotbridge.Queue`` etc.) are the stdlib's
``multiprocessing.queues`` classes -- subclasses that run the stdlib's own code (feeder
thread, pickled items, ``qsize`` through ``sem_getvalue``) -- with two changes:

* their locks, semaphore and condition are dotbridge's named ones
  (:mod:`dotbridge.synchronize`), which .NET opens by name;
* they pickle at any time, not only while spawning a child, so they go into dotbridge (or
  stdlib) ``Pool`` tasks and ``Process`` args. Outside spawning, a pipe end travels by
  *path*: ``/proc/<pid>/fd/<n>`` of the pickling process plus the pipe's inode (checked
  after opening). While spawning, the stdlib's way (file descriptors passed to the child)
  is kept.

Lifetime: the process that pickles a queue (or reads its :attr:`Queue.spec`) must be
alive, and must not have closed the queue, until the receiver has opened it (the
receiver's error otherwise names the path). Once opened, the receiver holds its own pipe
ends, so the pipe lives while any process holds it. The named semaphores are those of
dotbridge's locks: unlinked when the creating process's objects are collected or it exits,
and still usable by every process that opened them before. So keep the creating process's
queue object alive while others may still open it (``dotbridge.Queue().spec`` of a
temporary is useless). Same user only (``/proc`` access rules), Linux only.

.NET: ``q.spec`` (``dotbridge.mpqueue:v1;kind=queue|joinable|simple;read=…;write=…;pipe=…;``
``rlock=…;wlock=…[;sem=…;maxsize=N][;unfinished=…;<condition fields>]``) is the string a
C# method gets and opens with ``Bridge.Connections.SharedQueue.Open(spec)`` (``Put``,
``Get<T>``, ``TryGet``, ``Empty``, ``QSize``, ``TaskDone``, ``Join``); Python opens a spec
with :func:`open_queue` (e.g. one a C# caller passed as a string). Items are pickles:
C# reads and writes the pickles of plain values only (``None``, ``bool``, ``int``,
``float``, ``str``, ``bytes``, ``list``, ``tuple``, ``dict``: ``Bridge.Connections.PickleValues``)
and refuses any other pickle with an exception naming its type (it never runs anything).

``ValueQueue`` is the older, narrower queue of MessagePack values (one pipe, two locks, a
synchronous ``put``, no ``qsize``/``join``); C# ``Bridge.Connections.ValueQueue``.
"""

from __future__ import annotations

import errno
import os
import queue as _queue
import stat
import time
from multiprocessing import context as _context
from multiprocessing import queues as _q
from multiprocessing.connection import Connection

from .connection import recv_value, send_value

__all__ = ["Queue", "SimpleQueue", "JoinableQueue", "ValueQueue", "open_queue", "SPEC_PREFIX"]

#: The first field of :attr:`Queue.spec` (C#: ``Bridge.Connections.SharedQueue.Open``).
SPEC_PREFIX = "dotbridge.mpqueue:v1"


def _ctx():
    from .synchronize import _CTX
    return _CTX


class _PipeEnd:
    """One pipe end handed over by path: ``/proc/<pid>/fd/<n>`` of the process that pickled
    it, and the pipe's inode (checked after opening, so a reused fd number is never taken
    for the queue's pipe)."""

    __slots__ = ("path", "inode", "readable")

    def __init__(self, path: str, inode: int, readable: bool) -> None:
        self.path, self.inode, self.readable = path, inode, readable

    def __reduce__(self):
        return (_PipeEnd, (self.path, self.inode, self.readable))

    @classmethod
    def of(cls, conn, readable: bool) -> "_PipeEnd":
        fd = conn.fileno()  # OSError if this process closed it
        return cls(f"/proc/{os.getpid()}/fd/{fd}", os.fstat(fd).st_ino, readable)

    def open(self) -> Connection:
        """Open the end in this process.

        Raises:
            OSError: the path is gone (its process exited or closed the queue) or names
                another file now.
        """
        flags = (os.O_RDONLY if self.readable else os.O_WRONLY) | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags)
        except OSError as e:
            raise type(e)(e.errno, f"cannot reopen the queue's pipe {self.path}: {e.strerror} (the process "
                          "that pickled the queue, or gave its spec, must be alive and keep the queue open "
                          "until it is opened)") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISFIFO(st.st_mode) or st.st_ino != self.inode:
                raise OSError(errno.ESTALE, f"{self.path} is no longer the queue's pipe (pipe:[{self.inode}]): "
                              "the process that pickled the queue closed it")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return Connection(fd, readable=self.readable, writable=not self.readable)


def _ends_for_pickle(reader, writer):
    """The pipe ends to put in a pickle: the Connections themselves while spawning a child
    (the stdlib passes the file descriptors), else :class:`_PipeEnd` paths."""
    if _context.get_spawning_popen() is not None:
        return reader, writer
    return _PipeEnd.of(reader, True), _PipeEnd.of(writer, False)


def _ends_from_pickle(reader, writer):
    if isinstance(reader, _PipeEnd):
        reader = reader.open()
        try:
            writer = writer.open()
        except BaseException:
            reader.close()
            raise
    return reader, writer


def _pipe_fields(reader, writer) -> str:
    r, w = _PipeEnd.of(reader, True), _PipeEnd.of(writer, False)
    return f"read={r.path};write={w.path};pipe={r.inode}"


class Queue(_q.Queue):
    """``multiprocessing.Queue`` (the stdlib's class and algorithm, feeder thread and all)
    over dotbridge's named locks and semaphore: it pickles at any time, and ``.NET`` opens
    it from :attr:`spec` (``Bridge.Connections.SharedQueue.Open``).

    Args:
        maxsize: as the stdlib's (0 or less: the semaphore's maximum).
        ctx: ignored (dotbridge's primitives are always used).
    """

    def __init__(self, maxsize: int = 0, *, ctx=None) -> None:
        _q.Queue.__init__(self, maxsize, ctx=_ctx())

    def __getstate__(self):
        reader, writer = _ends_for_pickle(self._reader, self._writer)
        return (self._ignore_epipe, self._maxsize, reader, writer,
                self._rlock, self._wlock, self._sem, self._opid)

    def __setstate__(self, state):
        reader, writer = _ends_from_pickle(state[2], state[3])
        _q.Queue.__setstate__(self, state[:2] + (reader, writer) + state[4:])

    def _spec_fields(self) -> str:
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        return (f"{_pipe_fields(self._reader, self._writer)};rlock={self._rlock.name};"
                f"wlock={self._wlock.name};sem={self._sem.name};maxsize={self._maxsize}")

    @property
    def spec(self) -> str:
        """What C# ``Bridge.Connections.SharedQueue.Open`` takes:
        ``dotbridge.mpqueue:v1;kind=queue;read=/proc/<pid>/fd/<r>;write=/proc/<pid>/fd/<w>;pipe=<inode>;rlock=/…;wlock=/…;sem=/…;maxsize=N``.

        The paths are this process's: it must stay alive, with the queue open, until the
        receiver has opened it.

        Raises:
            ValueError: the queue is closed.
        """
        return f"{SPEC_PREFIX};kind=queue;{self._spec_fields()}"


class JoinableQueue(_q.JoinableQueue):
    """``multiprocessing.JoinableQueue`` (the stdlib's) over dotbridge's primitives; pickles
    at any time; ``.NET`` opens :attr:`spec` and may ``TaskDone``/``Join`` too.

    Args:
        maxsize: as the stdlib's.
        ctx: ignored.
    """

    def __init__(self, maxsize: int = 0, *, ctx=None) -> None:
        _q.JoinableQueue.__init__(self, maxsize, ctx=_ctx())

    def __getstate__(self):
        return Queue.__getstate__(self) + (self._cond, self._unfinished_tasks)

    def __setstate__(self, state):
        Queue.__setstate__(self, state[:-2])
        self._cond, self._unfinished_tasks = state[-2:]

    @property
    def spec(self) -> str:
        """As :attr:`Queue.spec` with ``kind=joinable``, plus ``unfinished=/…`` (the unfinished
        tasks' semaphore) and the condition's fields (``lock=…;lockkind=…;sleeping=…;woken=…;wait=…``)."""
        return (f"{SPEC_PREFIX};kind=joinable;{Queue._spec_fields(self)};"
                f"unfinished={self._unfinished_tasks.name};{self._cond._fields()}")


class SimpleQueue(_q.SimpleQueue):
    """``multiprocessing.SimpleQueue`` (the stdlib's) over dotbridge's locks; pickles at any
    time; ``.NET`` opens :attr:`spec`.

    Args:
        ctx: ignored.
    """

    def __init__(self, *, ctx=None) -> None:
        _q.SimpleQueue.__init__(self, ctx=_ctx())

    def __getstate__(self):
        reader, writer = _ends_for_pickle(self._reader, self._writer)
        return (reader, writer, self._rlock, self._wlock)

    def __setstate__(self, state):
        reader, writer = _ends_from_pickle(state[0], state[1])
        _q.SimpleQueue.__setstate__(self, (reader, writer) + tuple(state[2:]))

    @property
    def spec(self) -> str:
        """``dotbridge.mpqueue:v1;kind=simple;read=…;write=…;pipe=<inode>;rlock=/…;wlock=/…``
        (no size semaphore: a SimpleQueue has none)."""
        return (f"{SPEC_PREFIX};kind=simple;{_pipe_fields(self._reader, self._writer)};"
                f"rlock={self._rlock.name};wlock={self._wlock.name}")


def open_queue(spec: str):
    """Open a queue from its :attr:`Queue.spec` text (e.g. a spec a C# caller passed as a string
    argument to a Python callable): a :class:`Queue`, :class:`JoinableQueue` or
    :class:`SimpleQueue` over the same pipe and semaphores.

    Raises:
        ValueError: not a queue spec, or a field is missing or bad.
        OSError: the pipe cannot be reopened (its process exited or closed the queue).
        FileNotFoundError: a semaphore no longer exists.
    """
    from . import synchronize as sy
    parts = spec.split(";")
    if parts[0] != SPEC_PREFIX:
        raise ValueError(f"not a {SPEC_PREFIX} spec: {spec!r}")
    f = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    try:
        kind = f["kind"]
        inode = int(f["pipe"])
        ends = (_PipeEnd(f["read"], inode, True), _PipeEnd(f["write"], inode, False))
        rlock, wlock = sy.open_lock(f["rlock"]), sy.open_lock(f["wlock"])
        if kind == "simple":
            q = SimpleQueue.__new__(SimpleQueue)
            q.__setstate__(ends + (rlock, wlock))
            return q
        if kind not in ("queue", "joinable"):
            raise ValueError(f"queue spec has kind {kind!r} (queue, joinable or simple): {spec!r}")
        maxsize = int(f["maxsize"])
        state = (False, maxsize) + ends + (rlock, wlock, sy.open_semaphore(f["sem"], maxsize), os.getpid())
        if kind == "queue":
            q = Queue.__new__(Queue)
            q.__setstate__(state)
            return q
        cond = sy.open_condition("dotbridge.condition:v1;" + ";".join(
            f"{k}={f[k]}" for k in ("lock", "lockkind", "sleeping", "woken", "wait")))
        q = JoinableQueue.__new__(JoinableQueue)
        q.__setstate__(state + (cond, sy.open_semaphore(f["unfinished"])))
        return q
    except KeyError as e:
        raise ValueError(f"queue spec lacks {e.args[0]!r}: {spec!r}") from None


class ValueQueue:
    """A queue of MessagePack values shared by Python processes and .NET code.

    Args:
        _state: internal (unpickling).
    """

    def __init__(self, *, _state=None) -> None:
        from .synchronize import Lock
        self._closed = True
        if _state is None:
            r, w = os.pipe()
            self._owner = os.getpid()
            self._rfd, self._wfd = r, w
            self._paths = (f"/proc/{self._owner}/fd/{r}", f"/proc/{self._owner}/fd/{w}")
            self._rlock, self._wlock = Lock(), Lock()
        else:
            self._paths, self._rlock, self._wlock = _state
            self._owner = None
            self._rfd = os.open(self._paths[0], os.O_RDONLY | os.O_CLOEXEC)
            self._wfd = os.open(self._paths[1], os.O_WRONLY | os.O_CLOEXEC)
        self._reader = Connection(self._rfd, writable=False)
        self._writer = Connection(self._wfd, readable=False)
        self._closed = False

    @property
    def spec(self) -> str:
        """What C# ``Bridge.Connections.ValueQueue.Open`` takes."""
        return (f"dotbridge.queue:v1;read={self._paths[0]};write={self._paths[1]};"
                f"rlock={self._rlock.name};wlock={self._wlock.name}")

    def __reduce__(self):
        return (_rebuild, (self._paths, self._rlock, self._wlock))

    def put(self, obj, block: bool = True, timeout: float | None = None) -> None:
        """Put one value (blocks while the pipe is full).

        Raises:
            queue.Full: the writers' lock was not acquired in time.
            TypeError: the value has no MessagePack form.
        """
        self._check()
        if not self._wlock.acquire(block, timeout):
            raise _queue.Full
        try:
            send_value(self._writer, obj)
        finally:
            self._wlock.release()

    def put_nowait(self, obj) -> None:
        self.put(obj, False)

    def get(self, block: bool = True, timeout: float | None = None):
        """Remove and return one value.

        Raises:
            queue.Empty: nothing arrived in time (or at once, if not ``block``).
        """
        self._check()
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._rlock.acquire(block, timeout):
            raise _queue.Empty
        try:
            left = 0.0 if not block else (None if deadline is None else max(0.0, deadline - time.monotonic()))
            if not self._reader.poll(left):
                raise _queue.Empty
            return recv_value(self._reader)
        finally:
            self._rlock.release()

    def get_nowait(self):
        return self.get(False)

    def empty(self) -> bool:
        self._check()
        return not self._reader.poll()

    def _check(self) -> None:
        if self._closed:
            raise ValueError("ValueQueue is closed")

    def close(self) -> None:
        """Close this process's ends (the owner closing makes the queue unreachable for newcomers)."""
        if not self._closed:
            self._closed = True
            self._reader.close()
            self._writer.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

    def __repr__(self) -> str:
        return f"<dotbridge.queues.ValueQueue {self._paths[0]}{' closed' if self._closed else ''}>"


def _rebuild(paths, rlock, wlock) -> ValueQueue:
    return ValueQueue(_state=(paths, rlock, wlock))
