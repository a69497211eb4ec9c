"""dotbridge.connection: stdlib Connection ends spoken from a .NET worker (Bridge.Connections.Connection)."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest

import dotbridge
from dotbridge.connection import fifo_pair, path_of, recv_value, send_value
from conftest import real_native_available

_ok, _why = real_native_available()
needs_native = pytest.mark.skipif(not _ok, reason=_why)
SEND_RANGE = dotbridge.dotnet.method("Bridge.Connections.ConnectionMethods.SendRange")
ECHO = dotbridge.dotnet.method("Bridge.Connections.ConnectionMethods.Echo")


@pytest.fixture(scope="module")
def pool():
    p = dotbridge.Pool(1)
    yield p
    p.terminate()


def test_value_round_trip_between_python_processes_ends():
    r, w = dotbridge.Pipe(duplex=False)
    send_value(w, {"a": [1, 2.5, "x", b"\x00"], "big": 2 ** 70})
    assert recv_value(r) == {"a": [1, 2.5, "x", b"\x00"], "big": 2 ** 70}
    w.close()
    with pytest.raises(EOFError):
        recv_value(r)
    r.close()


def test_path_of_refuses_a_socketpair():
    a, b = dotbridge.Pipe()
    with pytest.raises(ValueError, match="duplex"):
        path_of(a)
    a.close()
    b.close()


@needs_native
def test_dotnet_worker_sends_values_on_a_pipe_end(pool):
    r, w = dotbridge.Pipe(duplex=False)
    res = pool.apply_async(SEND_RANGE, (path_of(w), 5))
    assert [recv_value(r) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert res.get(timeout=30) == 5
    w.close()  # the worker closed its end too: end of file, nothing left behind
    assert r.poll(10)
    with pytest.raises(EOFError):
        r.recv_bytes()
    r.close()


@needs_native
def test_dotnet_worker_echoes_bytes_and_values_until_eof(pool):
    to_net_r, to_net_w = dotbridge.Pipe(duplex=False)
    from_net_r, from_net_w = dotbridge.Pipe(duplex=False)
    big = os.urandom(1 << 20)  # larger than a pipe buffer: needs the concurrent reader below
    res = pool.apply_async(ECHO, (path_of(to_net_r), path_of(from_net_w)))

    def feed():
        send_value(to_net_w, [1, "two", 3.0])
        to_net_w.send_bytes(b"")
        to_net_w.send_bytes(big)
        send_value(to_net_w, np.arange(4, dtype=np.int32))
        to_net_w.close()

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    assert from_net_r.poll(30)
    assert recv_value(from_net_r) == [1, "two", 3.0]
    assert from_net_r.recv_bytes() == b""
    assert from_net_r.recv_bytes() == big
    assert recv_value(from_net_r).tolist() == [0, 1, 2, 3]
    t.join(30)
    assert res.get(timeout=30) == 4
    for c in (to_net_r, from_net_r, from_net_w):
        c.close()


@needs_native
def test_dotnet_worker_writes_to_a_named_fifo(pool):
    d, path = fifo_pair()
    try:
        assert (os.stat(d).st_mode & 0o777) == 0o700
        res = pool.apply_async(SEND_RANGE, (path, 3))
        with open(path, "rb") as f:  # blocks until the worker opens the write end
            from multiprocessing.connection import Connection
            conn = Connection(os.dup(f.fileno()), writable=False)
            assert [recv_value(conn) for _ in range(3)] == [0, 1, 2]
            conn.close()
        assert res.get(timeout=30) == 3
    finally:
        shutil.rmtree(d)
