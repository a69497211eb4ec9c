"""Inline C# kernels, the compile path alone: dotbridge.dotnet.compile, its disk cache, CompileError.

Runs without the pool: it needs only Bridge.Compiler (published to
python/dotbridge/_bin/compiler by scripts/setup; built here if missing).
test_inline_pool.py runs the compiled kernels through dotbridge.Pool.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import pytest

import dotbridge
from dotbridge import _compile
from dotbridge.dotnet import CompileError, DotNetMethod, KernelModule
from _inline_support import KERNELS, compiled_kernels, ensure_compiler  # noqa: F401 (a fixture)

T = 120  # seconds: bound of every subprocess here

pytestmark = pytest.mark.usefixtures("compiler")


@pytest.fixture(scope="session")
def compiler():
    ok, why = ensure_compiler()
    if not ok:
        pytest.skip(why)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A private, empty kernel cache for each test, and no in-process memo."""
    folder = tmp_path / "kernels"
    monkeypatch.setenv("DOTBRIDGE_CACHE", str(folder))
    monkeypatch.setattr(_compile, "_memo", {})
    return folder


def _run_python(code: str, env: dict, timeout: float = T) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)


def test_public_static_methods_become_dotnet_method_handles(compiled_kernels):
    k = compiled_kernels
    assert isinstance(k, KernelModule)
    dll = k.assembly
    assert dll.endswith(".dll") and os.path.isfile(dll)
    assert os.path.basename(dll)[:-4] == _compile._cache_key(KERNELS, [])
    assert k.Kernels.CountPrimes == DotNetMethod("Kernels.CountPrimes", dll)
    assert k.Kernels.CountPrimes.target == f"Kernels.CountPrimes@{dll}"
    assert k.Demo.Inline.Vec.Dot == DotNetMethod("Demo.Inline.Vec.Dot", dll)
    assert k.Demo.Inline.Vec.Nested.Twice.name == "Demo.Inline.Vec+Nested.Twice"
    assert k.method("Demo.Inline.Vec.Dot") == k.Demo.Inline.Vec.Dot
    assert set(dir(k)) >= {"Kernels", "Demo"}
    assert dir(k.Demo.Inline.Vec) == ["Dot", "Nested", "SumSquares"]
    assert {m.name for m in k.methods} >= {"Kernels.CountPrimes", "Kernels.Fail", "Demo.Inline.Vec.Dot"}


def test_non_public_or_instance_members_are_not_exposed(compiled_kernels):
    k = compiled_kernels
    with pytest.raises(AttributeError, match="Hidden"):
        k.Kernels.Hidden  # private static
    with pytest.raises(AttributeError, match="Instance"):
        k.Kernels.Instance  # public, not static
    with pytest.raises(AttributeError, match="Internal"):
        k.Internal  # internal type
    with pytest.raises(AttributeError):
        k.method("Kernels.Nope")


def test_module_namespace_and_handles_pickle(compiled_kernels):
    k = compiled_kernels
    for obj in (k, k.Demo.Inline, k.Kernels.CountPrimes):
        assert pickle.loads(pickle.dumps(obj)) == obj
    again = pickle.loads(pickle.dumps(k))
    assert again.Demo.Inline.Vec.Dot == k.Demo.Inline.Vec.Dot


def test_second_compile_reads_the_cache_without_running_the_compiler(cache, monkeypatch):
    first = dotbridge.dotnet.compile(KERNELS)
    assert os.path.dirname(first.assembly) == str(cache)
    assert _compile.last_compile["cached"] is False
    assert _compile.last_compile["compiler_ms"] > 0
    monkeypatch.setattr(_compile, "_memo", {})  # as in a new process
    monkeypatch.setenv("DOTBRIDGE_COMPILER", "/nonexistent/Bridge.Compiler")  # spawning it would fail
    second = dotbridge.dotnet.compile(KERNELS)
    assert second == first and second.types == first.types
    assert _compile.last_compile["cached"] is True
    assert dotbridge.dotnet.compile(KERNELS) is second  # then the in-process memo


def test_second_run_of_a_script_does_not_recompile(cache):
    code = textwrap.dedent("""
        import dotbridge
        from dotbridge import _compile
        k = dotbridge.dotnet.compile("public static class K { public static int One() => 1; }")
        print(k.K.One.assembly, _compile.last_compile["cached"])
    """)
    env = dict(os.environ, DOTBRIDGE_CACHE=str(cache))
    one = _run_python(code, env)
    assert one.returncode == 0, one.stderr
    env["DOTBRIDGE_COMPILER"] = "/nonexistent/Bridge.Compiler"
    two = _run_python(code, env)
    assert two.returncode == 0, two.stderr
    dll1, cached1 = one.stdout.split()
    dll2, cached2 = two.stdout.split()
    assert dll1 == dll2 and (cached1, cached2) == ("False", "True")


def test_cache_key_covers_source_and_references(tmp_path):
    a = dotbridge.dotnet.compile("public static class A { public static int Seven() => 7; }")
    b = dotbridge.dotnet.compile("public static class A { public static int Seven() => 8; }")
    assert a.assembly != b.assembly
    # the same source with a reference is another kernel; the reference is usable from it
    user = dotbridge.dotnet.compile("public static class B { public static int Fourteen() => A.Seven() * 2; }",
                                    references=[a.assembly])
    assert user.B.Fourteen.assembly not in (a.assembly, b.assembly)
    # it lives in a folder of its own beside a copy of the reference (the .NET worker probes there)
    folder = os.path.dirname(user.assembly)
    assert os.path.basename(folder) == os.path.basename(user.assembly)[:-4]
    assert open(os.path.join(folder, os.path.basename(a.assembly)), "rb").read() == open(a.assembly, "rb").read()


def test_missing_reference_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.dll"):
        dotbridge.dotnet.compile("public static class A { }", references=[str(tmp_path / "nope.dll")])


def test_compile_error_is_a_syntax_error_at_the_users_line_and_column(cache):
    source = "public static class Bad {\n  public static int F(int x) {\n    return x +;\n  }\n" \
             "  public static int G() => undefinedName;\n}\n"
    with pytest.raises(SyntaxError) as info:
        dotbridge.dotnet.compile(source)
    err = info.value
    assert isinstance(err, CompileError) and isinstance(err, dotbridge.dotnet.CompileError)
    assert (err.lineno, err.offset, err.text) == (3, 15, "    return x +;")
    assert err.filename == "<inline C#>"
    ids = [(d["id"], d["severity"], d["line"], d["column"]) for d in err.diagnostics]
    assert ids == [("CS1525", "error", 3, 15), ("CS0103", "error", 5, 28)]
    assert "CS1525" in err.msg and "CS0103" in err.msg and "undefinedName" in err.msg
    again = pickle.loads(pickle.dumps(err))
    assert (again.lineno, again.diagnostics) == (3, err.diagnostics)
    assert not cache.exists() or not any(p.suffix == ".dll" for p in cache.iterdir())  # failures are not cached


def test_positions_are_in_the_indented_source_string():
    # Python users indent the source inside a triple-quoted string: positions count from its first line.
    source = """
        public static class Kernels {
            public static long F(long x) { return y; }
        }"""
    with pytest.raises(CompileError) as info:
        dotbridge.dotnet.compile(source)
    assert (info.value.lineno, info.value.offset) == (3, 51)
    assert info.value.text.strip() == "public static long F(long x) { return y; }"


def test_implicit_usings_unsafe_and_a_users_own_using_compile():
    source = """
    using System;              // duplicates an implicit using: fine
    public static class U {
        public static long Linq(long n) => Enumerable.Range(1, (int)n).Select(i => (long)i).Sum();
        public static int List() { var l = new List<int> { 1, 2 }; return l.Count; }
        public static string Big() => BigInteger.Pow(2, 100).ToString();
        public static int Tasks() => Task.FromResult(3).Result;
        public static unsafe int Ptr() { int x = 5; int* p = &x; return *p; }
        public static int Nullable() { string s = null; return s == null ? 1 : 0; }
    }"""
    with _no_warnings():
        k = dotbridge.dotnet.compile(source)
    assert set(k.types["U"]) == {"Linq", "List", "Big", "Tasks", "Ptr", "Nullable"}


def test_warnings_compile_and_are_reported_once():
    source = "public static class W { public static int F() { int unused; return 1; } }"
    with pytest.warns(_compile.CompileWarning, match="CS0168"):
        dotbridge.dotnet.compile(source)
    with _no_warnings():
        dotbridge.dotnet.compile(source)  # memo hit: nothing compiled, nothing reported


def test_concurrent_compiles_of_the_same_source_all_succeed(cache):
    code = textwrap.dedent("""
        import dotbridge
        k = dotbridge.dotnet.compile("public static class Same { public static int F() => 42; }")
        print(k.Same.F.assembly)
    """)
    env = dict(os.environ, DOTBRIDGE_CACHE=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=T)
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert len(set(outs)) == 1 and os.path.isfile(outs[0])
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []  # no temp files left


def test_missing_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DOTBRIDGE_COMPILER", raising=False)
    monkeypatch.setattr(_compile.os.path, "isfile", lambda p: False)
    with pytest.raises(FileNotFoundError, match="scripts/setup"):
        _compile.compiler_path()


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DOTBRIDGE_CACHE", str(tmp_path / "a"))
    assert _compile.cache_dir() == str(tmp_path / "a")
    monkeypatch.delenv("DOTBRIDGE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _compile.cache_dir() == str(tmp_path / "xdg" / "dotbridge" / "kernels")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _compile.cache_dir() == str(tmp_path / "home" / ".cache" / "dotbridge" / "kernels")


def test_source_must_be_a_string():
    with pytest.raises(TypeError):
        dotbridge.dotnet.compile(b"public static class A {}")


class _no_warnings:
    def __enter__(self):
        import warnings
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
