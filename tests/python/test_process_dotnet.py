"""dotbridge.Process (the stdlib's spawn Process) with a C# method handle as target.

A ``DotNetMethod`` is callable and picklable, so the spawn child runs it through
``dotbridge.dotnet``'s 1-worker pool: exitcode 0 on success, 1 on an exception with the
.NET error (type, message, stack) printed to stderr as the stdlib prints a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import dotbridge
from conftest import children, real_native_available

_ok, _why = real_native_available()
pytestmark = pytest.mark.skipif(not _ok, reason=_why)


@pytest.fixture(autouse=True, scope="module")
def _resource_tracker():
    # spawn children share the stdlib's resource tracker, a long-lived process that would
    # otherwise count as "left behind"; start it before no_leftover_children looks.
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()


def test_dotnet_target_exits_0_and_process_api_works(no_leftover_children):
    p = dotbridge.Process(target=dotbridge.dotnet.method("Bridge.Samples.Echo.Sleep"), args=(50,),
                          name="net-sleeper", daemon=True)
    assert p.name == "net-sleeper" and p.daemon and p.exitcode is None
    p.start()
    assert p.pid and p in dotbridge.active_children()
    p.join(60)
    assert not p.is_alive() and p.exitcode == 0
    p.close()


def test_dotnet_target_terminate_gives_minus_sigterm(no_leftover_children):
    import signal
    p = dotbridge.Process(target=dotbridge.dotnet.method("Bridge.Samples.Echo.Sleep"), args=(60_000,))
    p.start()
    deadline = time.monotonic() + 30
    while not children(p.pid) and time.monotonic() < deadline:  # its .NET worker
        time.sleep(0.05)
    grandchildren = children(p.pid)
    assert p.is_alive() and grandchildren
    p.terminate()
    p.join(30)
    assert p.exitcode == -signal.SIGTERM
    deadline = time.monotonic() + 10  # the .NET worker does not outlive its parent
    while any(os.path.exists(f"/proc/{g}") for g in grandchildren) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [g for g in grandchildren if os.path.exists(f"/proc/{g}")]


def test_dotnet_exception_gives_exitcode_1_and_the_net_error_on_stderr(tmp_path):
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        import dotbridge
        if __name__ == "__main__":
            m = dotbridge.dotnet.method("Bridge.Samples.Errors.Throw")
            p = dotbridge.Process(target=m, args=("System.InvalidOperationException", "boom from C#"))
            p.start()
            p.join(60)
            print("exitcode", p.exitcode)
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "exitcode 1" in r.stdout, r.stderr
    assert "System.InvalidOperationException: boom from C#" in r.stderr
    assert "Errors.Throw" in r.stderr  # the .NET stack trace
