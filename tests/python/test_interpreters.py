"""Interpreter workers: the Python-side switch, and the C# InterpreterPool run on 3.12 and 3.13.

From Python, ``Pool(workers="interpreters")`` runs on 3.12+ (tests/python/test_interpreter_workers.py)
and must refuse clearly below. The C# pool itself is exercised here on each
pyenv CPython 3.12/3.13 shared library that exists (skipped with a message otherwise) by running
its NUnit tests with ``DOTBRIDGE_INTERP_LIBPYTHON`` pointing at that library (CPython can be loaded
once per process, so each version needs its own test process).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

import dotbridge
from dotbridge.interpreters import InterpreterWorkersUnavailable, check_workers, supported_here

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ runs interpreter workers (test_interpreter_workers.py)")
def test_interpreters_switch_refuses_with_the_reason_and_the_alternative():
    with pytest.raises(InterpreterWorkersUnavailable) as info:
        dotbridge.Pool(2, workers="interpreters")
    message = str(info.value)
    assert "process workers" in message
    assert "3.12" in message and f"{sys.version_info.major}.{sys.version_info.minor}" in message
    assert isinstance(info.value, NotImplementedError)
    assert supported_here()[0] is False


def test_unknown_worker_kind_is_a_value_error():
    with pytest.raises(ValueError, match="workers must be one of"):
        dotbridge.Pool(1, workers="threads")
    check_workers("processes")  # the default passes


def _libpython(version: str) -> str | None:
    root = os.environ.get("PYENV_ROOT") or "/root/.pyenv"
    found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "lib", f"libpython{version}.so")))
    return found[-1] if found else None


_built = False


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run builds Bridge.Tests
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_csharp_interpreter_pool_passes_on(version):
    global _built
    lib = _libpython(version)
    if lib is None:
        pytest.skip(f"no CPython {version} shared library under pyenv: interpreter workers need 3.12+")
    dotnet = shutil.which("dotnet")
    if dotnet is None:
        pytest.skip("no dotnet SDK on PATH")
    artifacts = os.environ.get("DOTBRIDGE_TEST_ARTIFACTS", "/tmp/dotbridge-art-interp-pytest")
    cmd = [dotnet, "test", os.path.join(REPO, "tests", "Bridge.Tests"), "--artifacts-path", artifacts,
           "--filter", "FullyQualifiedName~InterpreterPoolTests", "--logger", "console;verbosity=normal"]
    if _built:
        cmd.append("--no-build")
    env = dict(os.environ, DOTBRIDGE_INTERP_LIBPYTHON=lib)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=850)
    _built = _built or proc.returncode == 0
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    passed = re.search(r"^\s*Passed:\s+(\d+)", out, re.M)
    failed = re.search(r"^\s*Failed:\s+(\d+)", out, re.M)
    skipped = re.search(r"^\s*Skipped:\s+(\d+)", out, re.M)
    assert passed and int(passed[1]) >= 10, out[-4000:]
    assert not failed or int(failed[1]) == 0, out[-4000:]
    assert not skipped or int(skipped[1]) == 0, f"tests skipped on {version}:\n{out[-4000:]}"
