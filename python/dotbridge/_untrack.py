"""``untrack_stdlib_attaches``: a module of its own, with no dotbridge imports, so the Python worker can
apply it from an import hook on ``multiprocessing.shared_memory`` (``dotbridge._worker``) even while
``dotbridge.shared_memory`` itself is being imported. Public as ``dotbridge.shared_memory.untrack_stdlib_attaches``."""

from __future__ import annotations


def untrack_stdlib_attaches() -> None:
    """Stop the stdlib's ``SharedMemory(name)`` (an attach) from registering with this process's tracker.

    For processes with a resource tracker of their own, such as dotbridge's Python
    workers (started by the pool, not by the stdlib): Python 3.11/3.12 register even an
    attach, and that tracker then unlinks the *caller's* segment when the worker
    exits (CPython issue 82300). Segments the process creates stay tracked. Idempotent.
    """
    from multiprocessing import resource_tracker  # imported here: importing this module imports nothing
    from multiprocessing import shared_memory as _std

    init = _std.SharedMemory.__init__
    if getattr(init, "_dotbridge_untracked", False):
        return

    def __init__(self, name=None, create=False, size=0, **kwargs):
        init(self, name, create, size, **kwargs)
        if not create and self._name:
            try:
                resource_tracker.unregister(self._name, "shared_memory")
            except Exception:  # no tracker to talk to: nothing was registered either
                pass

    __init__._dotbridge_untracked = True
    __init__.__doc__ = init.__doc__
    _std.SharedMemory.__init__ = __init__
