"""``dotbridge.Manager()``: the stdlib's ``SyncManager`` whose server process exits when its creator dies.

The stdlib's manager process outlives a creator killed with SIGKILL (it only notices when a
proxy call fails, and nothing makes one). dotbridge's is the same ``SyncManager``, started with
an initializer that runs a watchdog thread in the server: it polls ``os.getppid()`` every
0.25 s and ends the process once the creator is gone, as dotbridge's workers do. Everything
else (``dict``, ``list``, ``Namespace``, ``Value``, ``Array``, ``Lock``, ``Queue``, ..., proxies
that pickle into workers) is the stdlib's.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["Manager"]


def _exit_with_parent(parent: int) -> None:
    """Initializer of the manager's server process: a daemon thread that exits it when ``parent`` dies."""

    def watch() -> None:
        while True:
            time.sleep(0.25)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="dotbridge-manager-watchdog", daemon=True).start()


def Manager(*, ctx=None):  # noqa: N802 - the stdlib's name
    """A started ``multiprocessing.managers.SyncManager`` (spawn context by default) whose
    server process exits within about 0.25 s of its creator's death, even by SIGKILL."""
    import multiprocessing
    from multiprocessing.managers import SyncManager
    m = SyncManager(ctx=ctx or multiprocessing.get_context("spawn"))
    m.start(_exit_with_parent, (os.getpid(),))
    return m
