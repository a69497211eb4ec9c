"""Shared by test_inline.py and test_inline_pool.py (not collected): the kernels and the compiler check."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Kernels for the tests: a namespace-less type, a namespace, a nested type, members that must stay hidden.
KERNELS = """
    public class Kernels {  // not static: it also has an instance member, which must stay hidden
        // the algorithm of Bridge.Samples.Primes.Count (odd trial divisors up to the square root)
        public static long CountPrimes(long lo, long hi) {
            long count = 0;
            for (long n = Math.Max(lo, 0); n < hi; n++) if (IsPrime(n)) count++;
            return count;
        }
        public static bool IsPrime(long n) {
            if (n < 2) return false;
            if (n % 2 == 0) return n == 2;
            for (long d = 3; d * d <= n; d += 2) if (n % d == 0) return false;
            return true;
        }
        public static int Fail(int x) => throw new InvalidOperationException($"kernel failed on {x}");
        public static int Pid() => Environment.ProcessId;
        static int Hidden() => 0;
        public int Instance() => 0;
    }
    namespace Demo.Inline {
        public static class Vec {
            public static double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }
            public static long SumSquares(List<long> xs) => xs.Sum(x => x * x);
            public static class Nested { public static int Twice(int x) => 2 * x; }
        }
    }
    internal static class Internal { public static int F() => 0; }
"""


def python_count_primes(lo: int, hi: int) -> int:
    def is_prime(n):
        if n < 2:
            return False
        if n % 2 == 0:
            return n == 2
        d = 3
        while d * d <= n:
            if n % d == 0:
                return False
            d += 2
        return True
    return sum(1 for n in range(max(lo, 0), hi) if is_prime(n))


def ensure_compiler(timeout: float = 600) -> tuple[bool, str]:
    """Make sure Bridge.Compiler is published (scripts/setup does it; build it here if it did not)."""
    from dotbridge import _compile
    try:
        _compile.compiler_path()
        return True, ""
    except FileNotFoundError as e:
        missing = str(e)
    dotnet = shutil.which("dotnet")
    if dotnet is None:
        return False, missing + " (and no dotnet on PATH to build it)"
    out = os.path.join(REPO, "python", "dotbridge", "_bin", "compiler")
    art = os.environ.get("DOTBRIDGE_ARTIFACTS", os.path.join(REPO, "artifacts", "dotnet"))
    try:
        proc = subprocess.run(
            [dotnet, "publish", os.path.join(REPO, "Bridge", "Compiler", "Bridge.Compiler.csproj"), "-c", "Release",
             "-o", out, "--artifacts-path", art, "-nologo", "-v", "q"],
            capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"building Bridge.Compiler took over {timeout:.0f} s"
    if proc.returncode != 0:
        return False, f"building Bridge.Compiler failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return True, ""


@pytest.fixture(scope="session")
def compiled_kernels(tmp_path_factory):
    """KERNELS compiled once per test session, in a cache of its own (import this fixture to use it)."""
    ok, why = ensure_compiler()
    if not ok:
        pytest.skip(why)
    from dotbridge import _compile
    import dotbridge
    old = os.environ.get("DOTBRIDGE_CACHE")
    os.environ["DOTBRIDGE_CACHE"] = str(tmp_path_factory.mktemp("session-kernels"))
    try:
        module = dotbridge.dotnet.compile(KERNELS)
    finally:
        _compile._memo.clear()
        if old is None:
            os.environ.pop("DOTBRIDGE_CACHE", None)
        else:
            os.environ["DOTBRIDGE_CACHE"] = old
    return module
