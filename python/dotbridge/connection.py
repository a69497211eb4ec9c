"""Connections .NET can speak: MessagePack values over the stdlib's Connection framing.

Python↔Python uses the stdlib's ``Pipe``/``Connection`` unchanged (``dotbridge.Pipe`` is
the stdlib's). For a .NET worker, ``Bridge.Connections.Connection`` (C#) speaks the same
wire format (a 4-byte big-endian signed length, then the bytes; the ``-1`` + 8-byte length
escape for messages over 0x7fffffff bytes is read, never written), so

* byte mode: Python ``conn.send_bytes``/``conn.recv_bytes`` ↔ C# ``SendBytes``/``RecvBytes``;
* value mode: Python :func:`send_value`/:func:`recv_value` ↔ C# ``Send``/``Recv<T>``, each
  message one MessagePack value (Bridge/PROTOCOL.md "Values"; never pickle).

Handing an end to a .NET worker: pass :func:`path_of` (``/proc/<pid>/fd/<n>``) as a
string argument through the pool; the C# method calls ``Connection.Open(path, readable)``.
That works for the pipe ends of ``Pipe(duplex=False)`` (Linux ``/proc`` opens the same
pipe); a duplex ``Pipe()`` is a socketpair, which ``/proc`` cannot open — use two simplex
pipes or :func:`fifo_pair` (named FIFOs in a private 0700 directory).

Example::

    r, w = dotbridge.Pipe(duplex=False)          # .NET writes, Python reads
    res = pool.apply_async(dotbridge.dotnet.method("Bridge.Connections.ConnectionMethods.SendRange"),
                           (dotbridge.connection.path_of(w), 3))
    [recv_value(r) for _ in range(3)]            # [0, 1, 2]
"""

from __future__ import annotations

import os
import tempfile

# the stdlib's own names: `import dotbridge as multiprocessing` reaches this module as `multiprocessing.connection`
from multiprocessing.connection import Client, Connection, Listener, Pipe, wait  # noqa: F401

from ._frames import packb_values, unpackb_values

__all__ = ["send_value", "recv_value", "path_of", "fifo_pair", "Client", "Listener", "Pipe", "wait"]


def send_value(conn, value) -> None:
    """Send ``value`` as one MessagePack message (C#: ``Connection.Recv``).

    Raises:
        TypeError: the value has no MessagePack form (see PROTOCOL.md "Values").
    """
    conn.send_bytes(packb_values(value))


def recv_value(conn, maxlength: int | None = None):
    """Receive one MessagePack message sent by :func:`send_value` or C# ``Connection.Send``.

    Raises:
        EOFError: the other end closed.
    """
    return unpackb_values(conn.recv_bytes(maxlength))


def path_of(conn) -> str:
    """``/proc/<pid>/fd/<n>``: a path another process of this user opens to get the same pipe.

    Raises:
        ValueError: ``conn`` is a socket (a duplex ``Pipe()``), which ``/proc`` cannot open.
    """
    import stat
    fd = conn.fileno()
    if stat.S_ISSOCK(os.fstat(fd).st_mode):
        raise ValueError("a duplex Pipe() is a socketpair, /proc cannot reopen it: "
                         "use Pipe(duplex=False) or fifo_pair()")
    return f"/proc/{os.getpid()}/fd/{fd}"


def fifo_pair(name: str = "fifo") -> tuple[str, str]:
    """Create a named FIFO in a new private (0700) directory; returns (directory, fifo path).

    Both ends open the path (``open(path, 'rb'/'wb')`` in Python, ``Connection.Open`` in
    C#); remove the directory with ``shutil.rmtree`` when done.
    """
    d = tempfile.mkdtemp(prefix="dotbridge-conn-")
    os.chmod(d, 0o700)
    path = os.path.join(d, name)
    os.mkfifo(path, 0o600)
    return d, path
