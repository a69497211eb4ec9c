"""Writes tests/vectors/frames.json, the golden vectors of Bridge/PROTOCOL.md (run once; commit the output).

Each vector is {"name", "hex" (the whole frame, length prefix included), "value" (the frame's array)}.
In "value": bins are {"$bin": hex}, exts {"$ext": [type, hex]}, integers beyond 64 bits
{"$int": "decimal"}, floats JSON numbers with a '.' or an exponent, maps JSON objects with string keys.
Both test suites check that decoding "hex" gives "value" and encoding "value" gives "hex":
C# tests/Bridge.Tests/VectorsTests.cs, Python tests/python/test_frames.py.

Usage: .venv/bin/python tests/vectors/make_frames.py
"""

import json
import os
import struct
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))


def _bigint_bytes(v: int) -> bytes:
    n = (v + (v < 0)).bit_length() // 8 + 1
    return v.to_bytes(n, "big", signed=True)


def _default(obj):
    if isinstance(obj, int):
        return msgpack.ExtType(1, _bigint_bytes(obj))
    raise TypeError(type(obj))


class Ext:
    """An ext value in a vector (kept raw in JSON)."""

    def __init__(self, code: int, data: bytes) -> None:
        self.code, self.data = code, data


def ext2(code: int, fmt: str, items) -> Ext:
    return Ext(2, bytes([code]) + struct.pack("<%d%s" % (len(items), fmt), *items))


def to_wire(v):
    if isinstance(v, Ext):
        return msgpack.ExtType(v.code, v.data)
    if isinstance(v, list):
        return [to_wire(x) for x in v]
    if isinstance(v, dict):
        return {k: to_wire(x) for k, x in v.items()}
    return v


def to_json(v):
    if isinstance(v, Ext):
        return {"$ext": [v.code, v.data.hex()]}
    if isinstance(v, (bytes, bytearray)):
        return {"$bin": bytes(v).hex()}
    if isinstance(v, bool) or v is None or isinstance(v, (str, float)):
        return v
    if isinstance(v, int):
        return v if -(1 << 63) <= v < (1 << 64) else {"$int": str(v)}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        assert all(isinstance(k, str) for k in v)
        return {k: to_json(x) for k, x in v.items()}
    raise TypeError(type(v))


def frame_hex(array) -> str:
    body = msgpack.packb(to_wire(array), default=_default, use_bin_type=True)
    return (struct.pack(">I", len(body)) + body).hex()


def err(type_, message, traceback, cause=None, kind="raised", index=None):
    return {"type": type_, "message": message, "traceback": traceback, "cause": cause, "kind": kind, "index": index}


def vectors():
    v = []

    def add(name, array):
        v.append({"name": name, "hex": frame_hex(array), "value": to_json(array)})

    # -- every frame kind ---------------------------------------------------------------------
    add("hello_dotnet", [1, 1, "dotnet", 12345])
    add("hello_python", [1, 1, "python", 4242])
    add("init_dotnet", [2, 1, {"assemblies": ["/opt/app/Fixtures.DotNet.dll"],
                               "initializer": "Fixtures.DotNet.Methods.Init@/opt/app/Fixtures.DotNet.dll",
                               "initargs": ["ready"], "max_depth": 64}])
    add("init_python", [2, 1, {"python_init": bytes.fromhex("80049505000000000000007d942e"), "sys_path": ["/home/u/proj"],
                               "initializer": None, "initargs": []}])
    add("task_pickle", [3, 7, 0, None, bytes.fromhex("8004950f000000000000008c086275696c74696e73948c03616273949385942e")])
    add("task_msgpack", [3, 8, 1, "Bridge.Samples.Primes.Count", [[0, 100], [100, 200]]])
    add("task_msgpack_by_path", [3, 9, 1, "Fixtures.DotNet.Methods.Add@/opt/app/Fixtures.DotNet.dll", [[1, 2]]])
    add("task_python_target", [3, 10, 1, "builtins:pow", [[2, 10], [3, 3]]])
    add("result_msgpack", [4, 8, 1, [25, 21], 153])
    add("result_pickle", [4, 7, 0, bytes.fromhex("80049505000000000000005d942e"), 12])
    add("error_with_cause", [5, 11, err(
        "System.InvalidOperationException", "outer",
        "System.InvalidOperationException: outer\n   at Bridge.Samples.Errors.ThrowWithInner(String message, String innerMessage)\n",
        err("System.ArgumentException", "inner",
            "System.ArgumentException: inner\n   at Bridge.Samples.Errors.ThrowWithInner(String message, String innerMessage)\n"),
        index=0), None])
    add("error_pickled", [5, 12, err("builtins.ValueError", "bad value",
                                     "Traceback (most recent call last):\n  File \"m.py\", line 3, in f\nValueError: bad value\n",
                                     index=3), bytes.fromhex("80049504000000000000004e2e")])
    add("error_args", [5, 13, err("Bridge.ValueConversionException",
                                  "Bridge.Samples.Primes.Count(long lo, long hi): argument 2 'hi': cannot convert str to Int64",
                                  "", kind="args", index=0), None])
    add("stop", [6])
    add("fatal", [7, err("builtins.RuntimeError", "initializer failed",
                         "Traceback (most recent call last):\nRuntimeError: initializer failed\n")])

    # -- every value kind (as the calls of MSGPACK tasks and results) ------------------------
    def values(name, items):
        add("values_" + name, [3, 100 + len(v), 1, "Bridge.Samples.Echo.Value", [[x] for x in items]])

    values("nil_bool", [None, True, False])
    values("int_positive", [0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296,
                            9223372036854775807, 9223372036854775808, 18446744073709551615])
    values("int_negative", [-1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649,
                            -9223372036854775808])
    values("bigint_ext1", [1 << 64, -(1 << 64) - 1, 1 << 100, -(1 << 70), 265252859812191058636308480000000])
    values("float64", [0.0, 1.5, -2.25, 0.1, 3.141592653589793, 1e300, -1e-300, 5e-324])
    values("str", ["", "a", "héllo wörld ✓ 日本語 🎉", "x" * 31, "y" * 32, "z" * 300])
    values("bin", [b"", b"\x00\x01\xff", bytes(range(256)) + b"\x00" * 44])
    values("nested", [[1, [2, [3, []]]], {"a": {"b": [1, {"c": None}]}, "d": []}, {}, []])
    values("array16_map16", [list(range(20)), {f"k{i:02d}": i for i in range(17)}])
    values("ext2_arrays", [ext2(6, "i", [1, -2, 3, 2147483647]), ext2(11, "d", [0.5, -1.0, 1e10]),
                           ext2(11, "d", []), ext2(8, "q", [-(1 << 63), 0, (1 << 63) - 1]),
                           ext2(1, "?", [True, False, True]), ext2(4, "h", [-1, 2])])
    # No uint8 ext 2 among the values: .NET reads it as byte[], which it sends back as bin.
    add("result_values", [4, 200, 1, [ext2(6, "i", [0, 1, 2]), {"the answer": 42}, [1.5, "x", None], 1 << 80], 7])
    return v


def main() -> int:
    out = os.path.join(HERE, "frames.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors(), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
