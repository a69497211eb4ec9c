"""Calling C# static methods from Python: ``dotbridge.dotnet.method(name, assembly=None)``.

A :class:`DotNetMethod` is a picklable handle. Pass it as ``func`` to any
``Pool`` method (``apply``, ``map``, ``imap``, ``starmap``, ...) and the calls
run in .NET worker processes (no GIL), arguments and results travelling with
the MessagePack value codec (Bridge/PROTOCOL.md "Values"): numbers, strings,
bytes, lists/tuples, dicts, big ints and 1-D numpy arrays.

Calling a handle directly (``handle(3, 4)``) runs it on a lazily created
module-level pool with one .NET worker (created on first use, terminated at
interpreter exit). Keyword arguments are not supported (TypeError).
"""

from __future__ import annotations

import os
import threading

__all__ = ["DotNetMethod", "method", "compile", "CompileError", "CompileWarning", "KernelModule"]


class DotNetMethod:
    """A handle to a public static .NET method ``Namespace.Type.Method``.

    Equality, hash and repr are by name and (absolute) assembly path.
    """

    __slots__ = ("name", "assembly")

    def __init__(self, name: str, assembly: str | None = None) -> None:
        if not isinstance(name, str) or "." not in name or "@" in name:
            raise ValueError(f"expected a .NET method name 'Namespace.Type.Method', got {name!r}")
        if assembly is not None:
            assembly = os.path.abspath(os.fspath(assembly))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "assembly", assembly)

    def __setattr__(self, key, value):
        raise AttributeError("DotNetMethod is immutable")

    @property
    def target(self) -> str:
        """The TASK target: ``Type.Method`` or ``Type.Method@/abs/path.dll``."""
        return self.name if self.assembly is None else f"{self.name}@{self.assembly}"

    def __eq__(self, other) -> bool:
        if not isinstance(other, DotNetMethod):
            return NotImplemented
        return self.name == other.name and self.assembly == other.assembly

    def __hash__(self) -> int:
        return hash((DotNetMethod, self.name, self.assembly))

    def __repr__(self) -> str:
        if self.assembly is None:
            return f"dotbridge.dotnet.method({self.name!r})"
        return f"dotbridge.dotnet.method({self.name!r}, assembly={self.assembly!r})"

    def __reduce__(self):
        return (DotNetMethod, (self.name, self.assembly))

    def __call__(self, *args, **kwargs):
        """Run the method once on the module-level 1-worker pool and return its result."""
        if kwargs:
            raise TypeError(f"keyword arguments are not supported for .NET methods ({self.name})")
        return _default_pool().apply(self, args)


def method(name: str, assembly: str | None = None) -> DotNetMethod:
    """A handle to the static .NET method ``name`` (``Namespace.Type.Method``).

    Args:
        name: the method's full name.
        assembly: path of the assembly defining it (made absolute); None to
            look in the .NET worker's own assemblies (see PROTOCOL.md).
    Returns:
        A picklable :class:`DotNetMethod`.
    """
    return DotNetMethod(name, assembly)


_pool = None
_pool_lock = threading.Lock()


def _default_pool():
    global _pool
    with _pool_lock:
        if _pool is None or _pool._state != "RUN":
            from .pool import Pool

            class _DotNetOnlyPool(Pool):
                _prestart = ()

                def __del__(self):  # owned by this module, terminated by its finalizer
                    pass

            _pool = _DotNetOnlyPool(1)
        return _pool


try:  # inline C# (helper "inline"): optional
    from ._compile import CompileError, CompileWarning, KernelModule, compile  # noqa: F401,A001
except ImportError:  # pragma: no cover - depends on the _compile module being present
    def compile(*args, **kwargs):  # noqa: A001
        """Inline C# compilation is not available in this build."""
        raise NotImplementedError("dotbridge.dotnet.compile is not available (dotbridge._compile missing)")

    class CompileError(SyntaxError):  # type: ignore[no-redef]
        """Inline C# compilation is not available in this build."""

    class CompileWarning(UserWarning):  # type: ignore[no-redef]
        """Inline C# compilation is not available in this build."""

    KernelModule = None  # type: ignore[assignment,misc]
