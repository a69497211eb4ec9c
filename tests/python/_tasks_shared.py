"""Module-level task functions for the shared-memory/synchronization tests (importable by spawned children)."""


def add_under_lock(args):
    v, n = args
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    return v.value


def fill(a, x):
    for i in range(len(a)):
        a[i] = x


def try_acquire(lock, timeout):
    ok = lock.acquire(timeout=timeout)
    if ok:
        lock.release()
    return ok


def wait_event(ev, timeout):
    return ev.wait(timeout)


def scale_in_place(arr, factor):
    """For C# callers: ``arr`` arrives as a numpy view over the caller's segment (ext 3); scale it there, return the old sum."""
    s = float(arr.sum())
    arr *= factor
    return s
