"""``ValueQueue``: a multi-producer, multi-consumer queue of MessagePack values that
Python processes *and* .NET code (``Bridge.Connections.ValueQueue``) put to and get from.

``dotbridge.Queue``/``SimpleQueue``/``JoinableQueue`` stay the stdlib's (pickled values,
Python only). A ValueQueue is one pipe (``os.pipe``, owned by the creating process) plus
two cross-language locks (``dotbridge.Lock``: one for writers, one for readers); each
item is one stdlib Connection message holding one MessagePack value (PROTOCOL.md
"Values"). Other processes reach it by *path*: ``/proc/<owner pid>/fd/<n>`` of both pipe
ends and the locks' semaphore names, so it pickles into any process of the same user at
any time (dotbridge Pool workers included) while the owner is alive, and ``q.spec`` is the
string a C# method receives and opens with ``ValueQueue.Open(spec)``.

Scope (narrower than ``multiprocessing.Queue``): ``put`` writes synchronously (no feeder
thread), so it blocks while the pipe (64 KiB on Linux) is full until someone gets;
``qsize`` is not available; values only (no pickled objects); Linux only.
"""

from __future__ import annotations

import os
import queue as _queue
import time

from multiprocessing.connection import Connection

from .connection import recv_value, send_value

__all__ = ["ValueQueue"]


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
