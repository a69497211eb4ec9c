"""The shared cases for .NET workers: dotbridge.dotnet.method handles run by the C# pool."""

import os

import pytest

import dotbridge
from _pool_cases import DotNetCases, make_fixtures
from conftest import real_native_available

_BIN = os.path.join(os.path.dirname(os.path.abspath(dotbridge.__file__)), "_bin")
_WORKER = os.path.join(_BIN, "worker")

_ok, _why = real_native_available()
if _ok and not os.path.exists(_WORKER):
    _ok, _why = False, f"the .NET worker is not built ({_WORKER} is missing)"
pytestmark = pytest.mark.skipif(not _ok, reason=_why)

make_pool, make_executor = make_fixtures()


@pytest.fixture
def dotnet_method():
    return dotbridge.dotnet.method


class TestDotNetWorkers(DotNetCases):
    pass
