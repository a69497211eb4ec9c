"""The README's quick starts are what users paste: run the Python one as is, and check the
C# one is exactly tests/CSharpQuickstart/Program.cs (which an NUnit test builds and runs)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(section: str, lang: str) -> str:
    start = README.index(section)
    m = re.compile(r"```" + lang + r"\n(.*?)```", re.S).search(README, start)
    assert m, f"no {lang} block after {section!r}"
    return m.group(1)


def _have_native():
    return (ROOT / "python/dotbridge/_bin/libdotbridge.so").exists() and (ROOT / "python/dotbridge/_bin/worker").exists()


@pytest.mark.skipif(not _have_native(), reason="the native pool and .NET worker are not built (run scripts/setup)")
def test_python_quick_start_runs_as_pasted(tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(_block("## Python quick start", "python"), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == str([x * x for x in range(10)])
    assert lines[1] == "78498"
    assert lines[2] == str(2 ** 100)
    assert lines[3].startswith("ValueError: invalid literal for int()") and lines[3].endswith("True")


def test_csharp_quick_start_is_the_tested_program():
    program = (ROOT / "tests/CSharpQuickstart/Program.cs").read_text(encoding="utf-8")
    assert _block("## C# quick start", "csharp").strip() == program.strip()
