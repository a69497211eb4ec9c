"""Functions defined in a user's ``__main__`` script run in the workers, as with the stdlib's spawn."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import HERE, PYTHON_SRC, real_native_available

SCRIPT = textwrap.dedent("""
    import sys
    if sys.argv[1] == "fake":
        import types
        from support.fake_native import FakeNativePool
        mod = types.ModuleType("dotbridge._native")
        mod.NativePool = FakeNativePool
        sys.modules["dotbridge._native"] = mod

    import dotbridge as multiprocessing

    def triple(x):
        return 3 * x

    class Boom(Exception):
        pass

    def boom(x):
        raise Boom(f"boom {x}")

    if __name__ == "__main__":
        multiprocessing.freeze_support()
        with multiprocessing.Pool(2) as pool:
            print(pool.map(triple, range(5)))
            print(pool.apply(lambda: 7))
            try:
                pool.apply(boom, (1,))
            except Boom as e:
                print("caught", type(e).__name__, e, "boom(x)" in str(e.__cause__) or "raise Boom" in str(e.__cause__))
""")


def _modes():
    ok, why = real_native_available()
    return ["fake", pytest.param("native", marks=pytest.mark.skipif(not ok, reason=why))]


@pytest.mark.parametrize("mode", _modes())
def test_functions_from_main_script_run_in_workers(tmp_path, mode):
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PYTHON_SRC, HERE]))
    out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=120,
                         env=env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[0, 3, 6, 9, 12]"
    if __import__("importlib").util.find_spec("cloudpickle"):
        assert lines[1] == "7"
    assert lines[2] == "caught Boom boom 1 True"


def test_functions_from_interactive_main_travel_by_value():
    pytest.importorskip("cloudpickle")
    code = textwrap.dedent("""
        import sys, types
        from support.fake_native import FakeNativePool
        mod = types.ModuleType("dotbridge._native"); mod.NativePool = FakeNativePool
        sys.modules["dotbridge._native"] = mod
        import dotbridge
        def inc(x):
            return x + 1
        p = dotbridge.Pool(1)
        try:
            print(p.map(inc, [1, 2]))
        finally:
            p.terminate(); p.join()
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PYTHON_SRC, HERE]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[2, 3]"
