"""A fake .NET worker for the C# fault tests: speaks frames (Bridge/PROTOCOL.md) on fds 3/4 and
misbehaves on demand. A C# ProcessPool runs it as its .NET worker command
(ProcessPoolOptions.DotNetWorker = [python3, this file]; the pool appends "worker", ignored).

The TASK target ("Fake.<Mode>") picks the behaviour:
  Echo        answers each call's first argument          Pid        answers its pid
  Garbage     a frame whose body is not MessagePack       Oversized  a length prefix of 4 GiB
  Truncated   a frame cut short, then exits 0             NotAnArray a frame whose body is an int
  WrongId     a RESULT for a task it never got            Exit       exits 3 mid-task
After a bad frame it sleeps: the pool must kill it. Used by tests/Bridge.Tests/FakeWorkerPoolTests.cs
and tests/FaultHost ("fake" mode, for scripts/faults.py). Needs msgpack.
"""
import os
import struct
import sys
import time

import msgpack


def send(obj):
    b = msgpack.packb(obj, use_bin_type=True)
    os.write(4, struct.pack(">I", len(b)) + b)


def frames():
    buf = b""
    while True:
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            body, buf = buf[4:4 + n], buf[4 + n:]
            yield msgpack.unpackb(body, raw=False)
        d = os.read(3, 1 << 16)
        if not d:
            return
        buf += d


def main():
    send([1, 1, "dotnet", os.getpid()])
    for f in frames():
        if f[0] == 6:
            sys.exit(0)
        if f[0] != 3:
            continue
        tid, target, payload = f[1], f[3], f[4]
        mode = target.split(".")[-1]
        if mode == "Echo":
            send([4, tid, 1, [call[0] for call in payload], 7])
        elif mode == "Pid":
            send([4, tid, 1, [os.getpid() for _ in payload], 7])
        elif mode == "Garbage":
            os.write(4, b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1")
            time.sleep(3600)
        elif mode == "Oversized":
            os.write(4, b"\xff\xff\xff\xff\x94\x04")
            time.sleep(3600)
        elif mode == "Truncated":
            os.write(4, struct.pack(">I", 100) + b"\x95\x04")
            os._exit(0)
        elif mode == "NotAnArray":
            os.write(4, b"\x00\x00\x00\x01\x05")
            time.sleep(3600)
        elif mode == "WrongId":
            send([4, tid + 1000000, 1, [1], 7])
            time.sleep(3600)
        elif mode == "Exit":
            os._exit(3)
        else:
            send([5, tid, {"type": "System.MissingMethodException", "message": f"no fake mode {mode!r}",
                           "traceback": "", "cause": None, "kind": "target", "index": 0}, None])


if __name__ == "__main__":
    main()
