"""Module-level callables the tests run in worker processes (importable by the workers)."""

import os
import time


def sqr(x):
    return x * x


def add(a, b=0, *, c=0):
    return a + b + c


def pid(_=None):
    return os.getpid()


def sleep_then(x, delay=0.5):
    time.sleep(delay)
    return x


def sleep_return_pid(delay):
    time.sleep(delay)
    return os.getpid()


def fail_on(x, bad=3):
    if x == bad:
        raise ValueError(f"bad value {x}")  # REMOTE-SOURCE-LINE
    return x


def raise_custom(_=None):
    raise CustomError("custom", 42)


class CustomError(Exception):
    def __init__(self, text, code):
        super().__init__(text, code)
        self.code = code


class Unpicklable(Exception):
    """Pickles, but cannot be rebuilt: its __init__ needs two arguments."""

    def __init__(self, a, b):
        super().__init__(f"{a}-{b}")


def raise_unpicklable(_=None):
    raise Unpicklable(1, 2)


def return_unpicklable(_=None):
    import threading
    return threading.Lock()


def process_name(_=None):
    import multiprocessing
    return multiprocessing.current_process().name


_initialized = None


def init_store(value):
    global _initialized
    _initialized = value


def get_initialized(_=None):
    return _initialized


def exception_throwing_generator(total, when):
    for i in range(total):
        if i == when:
            raise SayWhenError("Somebody said when")
        yield i


class SayWhenError(ValueError):
    pass


def kill_self(_=None):
    import signal
    os.kill(os.getpid(), signal.SIGKILL)


def stdin_is_devnull(_=None):
    import sys
    return os.path.samefile(os.readlink(f"/proc/self/fd/{sys.stdin.fileno()}"), os.devnull)
