"""dotbridge: a multiprocessing-compatible pool run by C#.

``import dotbridge as multiprocessing`` and use ``Pool`` as always: the pool
itself lives in a C# library loaded into this process; Python callables run in
Python worker processes, ``dotbridge.dotnet.method(...)`` handles in .NET
worker processes.

``Lock``/``RLock``/``Semaphore``/``BoundedSemaphore``/``Condition``/``Event``/
``Barrier``, ``Value``/``Array``/``RawValue``/``RawArray`` and ``Queue``/
``SimpleQueue``/``JoinableQueue`` are dotbridge's own (``dotbridge.synchronize``,
``dotbridge.sharedctypes``, ``dotbridge.queues``: named, so .NET can open them
and they pickle into any worker at any time). Names dotbridge does not
implement itself (``Process``, ``Manager``, ``Pipe``, ...) are
the stdlib's spawn-context objects, so scripts keep working. Importing dotbridge is cheap: the native library loads when the
first ``Pool`` is created.
"""

from __future__ import annotations

import multiprocessing as _mp
from multiprocessing import TimeoutError

from ._frames import ProtocolError

__version__ = "0.1.0"


class DotbridgeContext:
    """A multiprocessing context whose ``Pool`` is dotbridge's.

    Every other attribute (``Process``, ``Queue``, ``Lock``, ...) is the
    wrapped stdlib context's (spawn by default).
    """

    def __init__(self, base) -> None:
        self._base = base

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):  # noqa: N802
        """A :class:`dotbridge.pool.Pool` bound to this context."""
        from .pool import Pool
        return Pool(processes, initializer, initargs, maxtasksperchild, context=self)

    def Manager(self):  # noqa: N802
        """A started ``SyncManager`` of this context whose server exits when this process dies."""
        from ._manager import Manager
        return Manager(ctx=self._base)

    def get_context(self, method=None):
        return get_context(method)

    def get_start_method(self, allow_none: bool = False):
        return self._base.get_start_method(allow_none)

    def __getattr__(self, name):
        impl = _IMPL.get(name)
        if impl is not None:
            return _load_impl(name)
        return getattr(self._base, name)

    def __repr__(self) -> str:
        return f"<dotbridge context over {self._base!r}>"


# Names dotbridge implements itself (module, attribute), loaded on first use.
_IMPL = {
    "Lock": ".synchronize", "RLock": ".synchronize", "Semaphore": ".synchronize",
    "BoundedSemaphore": ".synchronize", "Condition": ".synchronize", "Event": ".synchronize",
    "Barrier": ".synchronize",
    "Value": ".sharedctypes", "Array": ".sharedctypes", "RawValue": ".sharedctypes",
    "RawArray": ".sharedctypes",
    "Manager": "._manager",
    "Queue": ".queues", "SimpleQueue": ".queues", "JoinableQueue": ".queues",
}


def _load_impl(name: str):
    import importlib
    return getattr(importlib.import_module(_IMPL[name], __name__), name)


_default_context = DotbridgeContext(_mp.get_context("spawn"))
_start_method_set = False


def get_context(method: str | None = None) -> DotbridgeContext:
    """A context whose ``Pool`` is dotbridge's; ``method`` picks the stdlib context behind the rest."""
    if method is None:
        return _default_context
    return DotbridgeContext(_mp.get_context(method))


def get_start_method(allow_none: bool = False):
    """The start method of the default context (``"spawn"`` unless set)."""
    if allow_none and not _start_method_set:
        return None
    return _default_context._base.get_start_method()


def set_start_method(method, force: bool = False) -> None:
    """Set the stdlib start method behind ``Process`` etc. (dotbridge's Pool always spawns)."""
    global _default_context, _start_method_set
    if _start_method_set and not force:
        raise RuntimeError("context has already been set")
    if method is None and force:
        _start_method_set = False
        _default_context = DotbridgeContext(_mp.get_context("spawn"))
        return
    _default_context = DotbridgeContext(_mp.get_context(method))
    _start_method_set = True


def get_all_start_methods():
    return _mp.get_all_start_methods()


_LAZY = {
    "Pool": ".pool",
    "RemoteError": "._errors", "DotNetError": "._errors", "WorkerCrashedError": "._errors",
    "BrokenProcessPool": "._errors", "MaybeEncodingError": "._errors",
    "futures": None, "dotnet": None, "pool": None, "shared_memory": None,
    "sharedctypes": None, "synchronize": None,
    "connection": None,  # helper shared2: send_value/recv_value/path_of for .NET Connection ends
    "ValueQueue": ".queues",  # helper shared2: a queue of MessagePack values .NET shares
}

# the stdlib's names that come from the default context
_CONTEXT_NAMES = [n for n in _mp.__all__ if n not in (
    "Pool", "TimeoutError", "get_context", "get_start_method", "set_start_method",
    "get_all_start_methods")]

__all__ = sorted(set(_CONTEXT_NAMES) | {
    "Pool", "TimeoutError", "get_context", "get_start_method", "set_start_method",
    "get_all_start_methods", "ProtocolError", "DotbridgeContext",
} | set(_LAZY))


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        mod = _LAZY[name]
        if mod is None:
            value = importlib.import_module("." + name, __name__)
        else:
            value = getattr(importlib.import_module(mod, __name__), name)
        globals()[name] = value
        return value
    if name in _IMPL:
        value = _load_impl(name)
        globals()[name] = value
        return value
    if name in _CONTEXT_NAMES:
        return getattr(_default_context._base, name)
    if name in _STDLIB_MODULES:  # multiprocessing.process, .util, ...: the stdlib's own submodules
        import importlib
        value = importlib.import_module("multiprocessing." + name)
        globals()[name] = value
        return value
    if not name.startswith("__") and hasattr(_mp, name):  # SUBDEBUG, SUBWARNING, ...
        return getattr(_mp, name)
    raise AttributeError(f"module 'dotbridge' has no attribute {name!r}")


# The stdlib's submodules that dotbridge does not replace, so that
# ``import dotbridge as multiprocessing; multiprocessing.util.Finalize`` keeps working.
_STDLIB_MODULES = frozenset({
    "context", "process", "reduction", "util", "managers", "heap", "spawn", "resource_tracker",
    "resource_sharer", "popen_spawn_posix", "popen_fork", "popen_forkserver", "forkserver",
})


def __dir__():
    return sorted(set(globals()) | set(__all__))
