"""Error mapping: .NET error maps to Python exception types, pickling, crash messages."""

from __future__ import annotations

import pickle
import signal

import pytest

import dotbridge
from dotbridge._errors import WorkerCrashedError, crash_message, error_from_map, error_from_status

NET = [
    ("System.ArgumentException", ValueError),
    ("System.ArgumentOutOfRangeException", ValueError),
    ("System.FormatException", ValueError),
    ("System.InvalidCastException", TypeError),
    ("System.DivideByZeroException", ZeroDivisionError),
    ("System.OverflowException", OverflowError),
    ("System.IndexOutOfRangeException", IndexError),
    ("System.Collections.Generic.KeyNotFoundException", KeyError),
    ("System.NotImplementedException", NotImplementedError),
    ("System.NotSupportedException", NotImplementedError),
    ("System.InvalidOperationException", RuntimeError),
    ("System.OutOfMemoryException", MemoryError),
    ("System.IO.FileNotFoundException", FileNotFoundError),
    ("System.IO.IOException", OSError),
    ("System.TimeoutException", TimeoutError),
]


@pytest.mark.parametrize("net_type,builtin", NET)
def test_dotnet_errors_inherit_the_natural_builtin(net_type, builtin):
    m = {"type": net_type, "message": "it broke", "traceback": "   at Bridge.Samples.X.Y() in X.cs:line 7",
         "kind": "raised"}
    exc = error_from_map(m, dotnet=True)
    assert isinstance(exc, dotbridge.DotNetError) and isinstance(exc, builtin)
    assert type(exc).__name__ == net_type.rsplit(".", 1)[1]
    assert exc.dotnet_type == net_type and exc.message == "it broke"
    assert "X.cs:line 7" in exc.stack_trace and "X.cs:line 7" in str(exc.__cause__)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is type(exc) and again.message == "it broke" and again.dotnet_type == net_type
    assert "X.cs:line 7" in str(again.__cause__)


def test_unknown_dotnet_type_is_plain_dotnet_error():
    exc = error_from_map({"type": "My.App.OddException", "message": "odd"}, dotnet=True)
    assert isinstance(exc, dotbridge.DotNetError) and type(exc).__name__ == "OddException"
    assert not isinstance(exc, (ValueError, TypeError))


def test_args_and_target_kinds():
    a = error_from_map({"type": "System.ArgumentException", "message": "parameter 'n' of Count", "kind": "args"},
                       dotnet=True)
    assert isinstance(a, TypeError) and isinstance(a, dotbridge.DotNetError)
    t = error_from_map({"type": "System.MissingMethodException", "message": "no X.Y", "kind": "target"},
                       dotnet=True)
    assert isinstance(t, AttributeError) and isinstance(t, dotbridge.DotNetError)


def test_python_map_without_pickle():
    exc = error_from_map({"type": "builtins.KeyError", "message": "'k'", "traceback": "tb here"})
    assert type(exc) is KeyError and "tb here" in str(exc.__cause__)
    exc = error_from_map({"type": "mymod.MyError", "message": "m", "traceback": "tb"})
    assert isinstance(exc, dotbridge.RemoteError) and exc.remote_type == "mymod.MyError"
    assert pickle.loads(pickle.dumps(exc)).remote_type == "mymod.MyError"


def test_crash_error_names_the_signal_and_each_call_gets_its_own():
    a = error_from_status(2, {"exitcode": -signal.SIGKILL, "pid": 123})
    b = error_from_status(2, {"exitcode": -signal.SIGKILL, "pid": 123})
    assert a is not b
    assert isinstance(a, WorkerCrashedError) and isinstance(a, dotbridge.BrokenProcessPool)
    assert "SIGKILL" in str(a) and a.exitcode == -9 and a.pid == 123
    assert "SIGKILL" in crash_message(1, -9) and "exit code 3" in crash_message(1, 3)
    again = pickle.loads(pickle.dumps(a))
    assert again.exitcode == -9 and again.pid == 123


def test_stdlib_base_classes():
    from concurrent.futures.process import BrokenProcessPool
    import multiprocessing
    assert issubclass(dotbridge.WorkerCrashedError, BrokenProcessPool)
    assert dotbridge.TimeoutError is multiprocessing.TimeoutError
