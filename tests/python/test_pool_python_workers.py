"""The shared pool/executor cases against the real C# pool (libdotbridge.so), Python workers."""

import pytest

from _pool_cases import ExecutorCases, PythonWorkerCases, make_fixtures
from conftest import real_native_available

_ok, _why = real_native_available()
pytestmark = pytest.mark.skipif(not _ok, reason=_why)

make_pool, make_executor = make_fixtures()


class TestPool(PythonWorkerCases):
    pass


class TestExecutor(ExecutorCases):
    pass
