"""Inline C# kernels: ``dotbridge.dotnet.compile(source, references=())``.

A Python user writes the hot loop in C# inside the script; no project file::

    kernels = dotbridge.dotnet.compile('''
        public static class Kernels {
            public static long CountPrimes(long lo, long hi) { ... }
        }''')
    with dotbridge.Pool(2) as pool:
        total = sum(pool.starmap(kernels.Kernels.CountPrimes, ranges))

Data flow::

    compile(source, references)
      key = sha256(key format, source, references (absolute path, size, mtime),
                   dotbridge version, target framework)
      <cache>/<key>.dll and <key>.json exist?  ── yes ──> read the .json (no subprocess)
        │ no
        ▼
      Bridge.Compiler (python/dotbridge/_bin/compiler, Roslyn, Release, unsafe allowed,
      implicit usings) --out <key>.dll --meta <key>.json, source on stdin
        exit 0 ─> the .json lists the public static methods
        exit 1 ─> CompileError(SyntaxError) with Roslyn's diagnostics
      ▼
    KernelModule(<key>.dll, types): kernels.Ns.Type.Method is a DotNetMethod handle
    ("Ns.Type.Method@<cache>/<key>.dll"), which every .NET worker loads on first use
    (so respawned and maxtasksperchild workers get it too).

The cache directory is ``$DOTBRIDGE_CACHE`` (used as is), else
``$XDG_CACHE_HOME/dotbridge/kernels``, else ``~/.cache/dotbridge/kernels``.
A kernel compiled with ``references`` lives in ``<cache>/<key>/`` beside copies of
those assemblies (the .NET worker probes a loaded assembly's folder for its
dependencies; the references' own dependencies are not copied).
The compiler writes the .json then the .dll, each atomically (temp file + rename),
and its output is deterministic, so processes compiling the same source at once
all succeed and the .dll's presence implies the .json's. ``$DOTBRIDGE_COMPILER``
overrides the compiler's location (an executable, or a ``.dll`` run with ``dotnet``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import warnings

__all__ = ["compile", "CompileError", "CompileWarning", "KernelModule", "cache_dir", "compiler_path"]

#: bump when the cache layout or the compiler's output changes meaning
_KEY_FORMAT = "dotbridge-inline-1"
#: the framework Bridge.Compiler and the .NET worker run on (Directory.Build.props)
_TARGET_FRAMEWORK = "net10.0"
_COMPILE_TIMEOUT = float(os.environ.get("DOTBRIDGE_COMPILE_TIMEOUT", "300"))
_SOURCE_NAME = "inline.cs"

_memo: dict[str, KernelModule] = {}
_memo_lock = threading.Lock()

#: figures of the last compile() call in this process: {"key", "cached", "seconds", "compiler_ms"}
last_compile: dict = {}


class CompileError(SyntaxError):
    """The C# source did not compile.

    Attributes:
        diagnostics: Roslyn's diagnostics, each a dict with ``id``, ``severity``
            (``"error"``/``"warning"``), ``message``, ``line``, ``column``,
            ``end_line``, ``end_column`` (1-based positions in the source string
            passed to :func:`compile`; 0 when a diagnostic has no position).
        lineno, offset, end_lineno, end_offset, text: the first error's
            position and source line (as for any SyntaxError).
    """

    def __init__(self, diagnostics: list, source: str, filename: str = "<inline C#>") -> None:
        diagnostics = list(diagnostics)
        errors = [d for d in diagnostics if d.get("severity") == "error"] or diagnostics
        lines = source.splitlines()
        listing = "\n".join("  " + _format_diagnostic(d) for d in errors)
        msg = f"C# compilation failed with {len(errors)} error(s):\n{listing}"
        first = errors[0] if errors else {}
        lineno = first.get("line") or None
        text = lines[lineno - 1] if lineno and lineno <= len(lines) else None
        super().__init__(msg, (filename, lineno, first.get("column") or None, text,
                               first.get("end_line") or None, first.get("end_column") or None))
        self.diagnostics = diagnostics
        self._source = source

    def __reduce__(self):
        return (CompileError, (self.diagnostics, self._source, self.filename))


class CompileWarning(UserWarning):
    """The C# source compiled with warnings (issued once, when it is actually compiled)."""


# the documented home of these names (dotnet.py re-exports them); tracebacks and pickles use it
CompileError.__module__ = CompileWarning.__module__ = "dotbridge.dotnet"


def _format_diagnostic(d: dict) -> str:
    where = f"line {d['line']}, column {d['column']}: " if d.get("line") else ""
    return f"{where}{d.get('severity', 'error')} {d.get('id', '?')}: {d.get('message', '')}"


def cache_dir() -> str:
    """The directory compiled kernels are cached in (see the module docstring)."""
    explicit = os.environ.get("DOTBRIDGE_CACHE")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "dotbridge", "kernels")


def compiler_path() -> list[str]:
    """The command (argv prefix) that runs Bridge.Compiler.

    Raises:
        FileNotFoundError: the compiler is not built (run ``scripts/setup``).
    """
    explicit = os.environ.get("DOTBRIDGE_COMPILER")
    if explicit:
        return _command_for(explicit)
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bin", "compiler")
    for candidate in (os.path.join(folder, "Bridge.Compiler"), os.path.join(folder, "Bridge.Compiler.dll")):
        if os.path.isfile(candidate):
            return _command_for(candidate)
    raise FileNotFoundError(
        f"the inline C# compiler is not built ({folder}/Bridge.Compiler is missing): run scripts/setup, or "
        "dotnet publish Bridge/Compiler/Bridge.Compiler.csproj -c Release -o python/dotbridge/_bin/compiler")


def _command_for(path: str) -> list[str]:
    if path.endswith(".dll"):
        dotnet = shutil.which("dotnet") or "dotnet"
        return [dotnet, path]
    return [path]


def _handle(name: str, assembly: str):
    # imported here: dotnet.py imports this module at its end (no import cycle at load time)
    from .dotnet import DotNetMethod
    return DotNetMethod(name, assembly)


def _version() -> str:
    from . import __version__
    return __version__


def _normalize_references(references) -> list[str]:
    if isinstance(references, (str, bytes, os.PathLike)):
        references = [references]
    out = []
    for ref in references:
        path = os.path.abspath(os.fsdecode(os.fspath(ref)))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"reference assembly not found: {path}")
        out.append(path)
    return sorted(set(out))


def _cache_key(source: str, references: list[str]) -> str:
    h = hashlib.sha256()

    def part(value: str) -> None:
        data = value.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    part(_KEY_FORMAT)
    part(_version())
    part(_TARGET_FRAMEWORK)
    part(source)
    for ref in references:
        st = os.stat(ref)
        part(f"{ref}\0{st.st_size}\0{st.st_mtime_ns}")
    return h.hexdigest()


def compile(source: str, references=()) -> KernelModule:  # noqa: A001 - the documented name
    """Compile C# source once and return a handle to its public static methods.

    Args:
        source: C# source: one or more public types with public static methods.
            ``System``, ``System.Linq``, ``System.Collections.Generic``,
            ``System.Numerics`` and ``System.Threading.Tasks`` are imported
            implicitly; ``unsafe`` code is allowed; nullable annotations are off.
        references: paths of extra assemblies the source uses.
    Returns:
        A picklable :class:`KernelModule`: ``module.Ns.Type.Method`` is a
        ``DotNetMethod`` usable with every Pool and executor method.
    Raises:
        CompileError: the source does not compile (a SyntaxError subclass
            carrying Roslyn's diagnostics).
        FileNotFoundError: a reference or the compiler is missing.
        RuntimeError: the compiler failed for another reason (I/O, timeout).
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__}")
    started = time.perf_counter()
    refs = _normalize_references(references)
    key = _cache_key(source, refs)
    with _memo_lock:
        module = _memo.get(key)
    if module is not None:
        _record(key, True, started, None)
        return module

    folder = cache_dir()
    if refs:
        # a folder of its own, with copies of the references: the .NET worker probes a kernel's
        # folder for its dependencies (Bridge/Workers/TargetResolver.cs)
        folder = os.path.join(folder, key)
    dll = os.path.join(folder, key + ".dll")
    meta_path = os.path.join(folder, key + ".json")
    meta = _read_meta(dll, meta_path)
    if meta is not None and not all(os.path.isfile(os.path.join(folder, os.path.basename(r))) for r in refs):
        meta = None
    compiler_ms = None
    if meta is None:
        if refs:
            _copy_references(refs, folder)
        try:
            meta = _run_compiler(source, refs, folder, dll, meta_path, key)
        except CompileError as e:
            raise e.with_traceback(None) from None  # the traceback ends here, then shows the C# line
        compiler_ms = meta.get("elapsed_ms")
        warns = [d for d in meta.get("diagnostics", ()) if d.get("severity") == "warning"]
        if warns:
            warnings.warn("C# compiled with warnings:\n" + "\n".join("  " + _format_diagnostic(d) for d in warns),
                          CompileWarning, stacklevel=2)
    module = KernelModule(dll, {t["name"]: tuple(t["methods"]) for t in meta.get("types", ())})
    with _memo_lock:
        _memo.setdefault(key, module)
    _record(key, compiler_ms is None, started, compiler_ms)
    return module


def _copy_references(refs: list[str], folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for ref in refs:
        dest = os.path.join(folder, os.path.basename(ref))
        if os.path.abspath(dest) == ref:
            continue
        tmp = f"{dest}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            shutil.copyfile(ref, tmp)
            os.replace(tmp, dest)  # atomic: a worker loading it sees the old copy or the new one
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _record(key: str, cached: bool, started: float, compiler_ms) -> None:
    last_compile.clear()
    last_compile.update(key=key, cached=cached, seconds=time.perf_counter() - started, compiler_ms=compiler_ms)


def _read_meta(dll: str, meta_path: str) -> dict | None:
    if not os.path.isfile(dll):
        return None
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("success") else None


def _run_compiler(source: str, refs: list[str], folder: str, dll: str, meta_path: str, key: str) -> dict:
    os.makedirs(folder, exist_ok=True)
    argv = [*compiler_path(), "--out", dll, "--meta", meta_path, "--name", "k" + key[:40],
            "--source-path", _SOURCE_NAME]
    for ref in refs:
        argv += ["--reference", ref]
    env = dict(os.environ, DOTNET_CLI_TELEMETRY_OPTOUT="1", DOTNET_NOLOGO="1")
    try:
        proc = subprocess.run(argv, input=source.encode("utf-8", "surrogatepass"), capture_output=True,
                              timeout=_COMPILE_TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the inline C# compiler did not finish within {_COMPILE_TIMEOUT:.0f} s "
                           "(DOTBRIDGE_COMPILE_TIMEOUT)") from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    try:
        result = json.loads(proc.stdout) if proc.returncode in (0, 1) else None
    except ValueError:
        result = None
    if result is None:
        raise RuntimeError(f"the inline C# compiler failed (exit code {proc.returncode}): "
                           f"{stderr or proc.stdout.decode('utf-8', 'replace').strip()}")
    if proc.returncode == 1 or not result.get("success"):
        raise CompileError(result.get("diagnostics", []), source)
    if not os.path.isfile(dll):
        raise RuntimeError(f"the inline C# compiler reported success but wrote no {dll}")
    return result


class KernelModule:
    """The compiled assembly of an inline C# source.

    Attribute access walks namespaces and types down to a method:
    ``module.MyNs.Kernels.CountPrimes`` (or ``module.Kernels.CountPrimes``
    without a namespace) is a :class:`~dotbridge.dotnet.DotNetMethod`.
    Nested types read the same way (``module.Outer.Inner.F``).

    Attributes:
        assembly: absolute path of the compiled .dll (in the cache).
        types: {reflection type name: tuple of public static method names}.
    Picklable (by path: the unpickling process must see the same cache).
    """

    __slots__ = ("assembly", "types", "_paths")

    def __init__(self, assembly: str, types: dict) -> None:
        self.assembly = os.path.abspath(assembly)
        self.types = {str(k): tuple(v) for k, v in types.items()}
        # attribute path (("MyNs", "Kernels"), ...) -> reflection type name ("MyNs.Kernels")
        self._paths = {tuple(name.replace("+", ".").split(".")): name for name in self.types}

    def __reduce__(self):
        return (KernelModule, (self.assembly, self.types))

    @property
    def methods(self) -> list[DotNetMethod]:
        """Every callable method of the assembly, as handles."""
        return [_handle(f"{t}.{m}", self.assembly) for t, ms in sorted(self.types.items()) for m in ms]

    def method(self, name: str) -> DotNetMethod:
        """The handle for ``"Ns.Type.Method"`` (dots for nested types too).

        Raises:
            AttributeError: no such public static method.
        """
        parts = tuple(name.split("."))
        found = self._lookup(parts)
        if found is None or isinstance(found, _KernelNamespace):
            raise AttributeError(f"the inline C# assembly has no public static method {name!r}")
        return found

    def _lookup(self, parts: tuple):
        type_name = self._paths.get(parts[:-1])
        if type_name is not None and parts[-1] in self.types[type_name]:
            return _handle(f"{type_name}.{parts[-1]}", self.assembly)
        if any(path[:len(parts)] == parts for path in self._paths):
            return _KernelNamespace(self, parts)
        return None

    def _children(self, parts: tuple) -> list[str]:
        names = {path[len(parts)] for path in self._paths if len(path) > len(parts) and path[:len(parts)] == parts}
        type_name = self._paths.get(parts)
        if type_name is not None:
            names.update(self.types[type_name])
        return sorted(names)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in KernelModule.__slots__:  # not set yet (copy, unpickling)
            raise AttributeError(name)
        found = self._lookup((name,))
        if found is None:
            raise AttributeError(f"the inline C# assembly has no public namespace or type {name!r} "
                                 f"(it has: {', '.join(self._children(())) or 'nothing callable'})")
        return found

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._children(())))

    def __eq__(self, other) -> bool:
        if not isinstance(other, KernelModule):
            return NotImplemented
        return self.assembly == other.assembly

    def __hash__(self) -> int:
        return hash((KernelModule, self.assembly))

    def __repr__(self) -> str:
        return f"<dotbridge inline C# module {os.path.basename(self.assembly)} types={sorted(self.types)}>"


class _KernelNamespace:
    """A namespace or type inside a :class:`KernelModule` (attribute access continues the walk)."""

    __slots__ = ("_module", "_parts")

    def __init__(self, module: KernelModule, parts: tuple) -> None:
        self._module = module
        self._parts = tuple(parts)

    def __reduce__(self):
        return (_KernelNamespace, (self._module, self._parts))

    def __getattr__(self, name: str):
        if name.startswith("__") or name in _KernelNamespace.__slots__:
            raise AttributeError(name)
        found = self._module._lookup(self._parts + (name,))
        if found is None:
            dotted = ".".join(self._parts)
            raise AttributeError(f"{dotted!r} in the inline C# assembly has no public static method, "
                                 f"type or namespace {name!r} (it has: "
                                 f"{', '.join(self._module._children(self._parts)) or 'nothing callable'})")
        return found

    def __dir__(self):
        return self._module._children(self._parts)

    def __eq__(self, other) -> bool:
        if not isinstance(other, _KernelNamespace):
            return NotImplemented
        return self._module == other._module and self._parts == other._parts

    def __hash__(self) -> int:
        return hash((_KernelNamespace, self._module, self._parts))

    def __repr__(self) -> str:
        return f"<dotbridge inline C# {'.'.join(self._parts)} in {os.path.basename(self._module.assembly)}>"
