"""The shared pool/executor cases against the Python test double of NativePool.

This tests the shim (pickling, chunk slicing, result objects, error
rebuilding, callbacks, feeder threads) in isolation from the C# pool, with
real ``python -m dotbridge._worker`` processes behind the double.
"""

from _pool_cases import ExecutorCases, PythonWorkerCases, make_fixtures
from conftest import use_fake_native

make_pool, make_executor = make_fixtures(use_fake_native)


class TestPoolOverFakeNative(PythonWorkerCases):
    pass


class TestExecutorOverFakeNative(ExecutorCases):
    pass
