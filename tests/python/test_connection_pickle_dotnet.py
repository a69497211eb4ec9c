"""Python's own Connection.send/recv/poll (pickles) with a .NET worker on the other end
(``Bridge.Connections.Connection.SendPickled``/``RecvPickled``/``Poll``; plain values only)."""

from __future__ import annotations

import threading

import pytest

import dotbridge
from dotbridge.connection import path_of
from conftest import real_native_available

_ok, _why = real_native_available()
needs_native = pytest.mark.skipif(not _ok, reason=_why)


@pytest.fixture(scope="module")
def pool():
    if not _ok:
        pytest.skip(_why)
    p = dotbridge.Pool(1)
    yield p
    p.terminate()


@needs_native
def test_send_and_recv_pickles_through_a_dotnet_echo(pool):
    to_net_r, to_net_w = dotbridge.Pipe(duplex=False)
    back_r, back_w = dotbridge.Pipe(duplex=False)
    values = [None, True, -7, 2 ** 100, 1.5, "é\U0001F600", b"\x00\xff", [1, (2, "x")], {"k": {(1, 2): b""}}, ()]
    res = pool.apply_async(dotbridge.dotnet.method("Bridge.Connections.ConnectionMethods.EchoPickled"),
                           (path_of(to_net_r), path_of(back_w)))
    got = []
    reader = threading.Thread(target=lambda: got.extend(back_r.recv() for _ in values))
    reader.start()
    for v in values:
        to_net_w.send(v)
    reader.join(30)
    assert got == values and [type(v) for v in got] == [type(v) for v in values]
    to_net_w.close()  # end of file: the echo returns its count
    assert res.get(timeout=30) == len(values)
    for c in (to_net_r, back_r, back_w):
        c.close()


@needs_native
def test_dotnet_poll_times_out_then_sees_a_message(pool):
    r, w = dotbridge.Pipe(duplex=False)
    poll_then_recv = dotbridge.dotnet.method("Bridge.Connections.ConnectionMethods.PollThenRecv")
    assert pool.apply(poll_then_recv, (path_of(r), 200)) == [False, None]
    w.send(("hello", 1))
    assert pool.apply(poll_then_recv, (path_of(r), 20_000)) == [True, ["hello", 1]]  # a tuple result crosses as a list
    r.close()
    w.close()
