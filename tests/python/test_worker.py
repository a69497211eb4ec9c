"""The Python worker spoken to directly over its pipes (no native library needed)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import _tasks
from conftest import PYTHON_SRC
from dotbridge import _frames
from dotbridge._errors import error_from_map

T = 30


class WorkerProc:
    def __init__(self, init_config=None, send_init=True):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        env = dict(os.environ, DOTBRIDGE_FDS=f"{r1},{w2}",
                   PYTHONPATH=os.pathsep.join([PYTHON_SRC, os.path.dirname(os.path.abspath(__file__))]))
        self.proc = subprocess.Popen([sys.executable, "-m", "dotbridge._worker"], pass_fds=(r1, w2), env=env)
        os.close(r1)
        os.close(w2)
        self.w, self.r = w1, r2
        self.reader = _frames.FrameReader()
        if send_init:
            config = {"python_init": _frames.make_python_init()} if init_config is None else init_config
            self.send([_frames.INIT, 1, config])

    def send(self, frame):
        os.write(self.w, _frames.encode_frame(frame))

    def recv(self, timeout=T):
        import select
        end = time.monotonic() + timeout
        while True:
            for f in self.reader.frames():
                return f
            left = end - time.monotonic()
            assert left > 0, "no frame from the worker in time"
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                data = os.read(self.r, 1 << 20)
                if not data:
                    return None
                self.reader.feed(data)

    def close(self):
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            return self.proc.wait(T)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(T)
            raise


@pytest.fixture
def worker():
    w = WorkerProc()
    hello = w.recv()
    assert hello[:3] == [_frames.HELLO, 1, "python"] and hello[3] == w.proc.pid
    yield w
    w.close()


def pickled_task(task_id, func, calls, star=False, kwargs=None):
    return [_frames.TASK, task_id, 0, None, pickle.dumps((func, calls, star, kwargs))]


def test_pickle_task_returns_pickled_results(worker):
    worker.send(pickled_task(1, _tasks.sqr, [1, 2, 3]))
    f = worker.recv()
    assert f[:3] == [_frames.RESULT, 1, 0] and pickle.loads(f[3]) == [1, 4, 9] and f[4] >= 0
    worker.send(pickled_task(2, _tasks.add, [(1, 2), (3, 4)], True, {"c": 1}))
    assert pickle.loads(worker.recv()[3]) == [4, 8]


def test_many_tasks_in_one_write_all_answered_in_order(worker):
    data = b"".join(_frames.encode_frame(pickled_task(i, _tasks.sqr, [i])) for i in range(1, 2001))
    os.write(worker.w, data)
    got = [worker.recv() for _ in range(2000)]
    assert [f[1] for f in got] == list(range(1, 2001))
    assert all(pickle.loads(f[3]) == [f[1] * f[1]] for f in got)


def test_raised_exception_comes_back_with_type_and_remote_line(worker):
    worker.send(pickled_task(5, _tasks.fail_on, [1, 2, 3, 4]))
    f = worker.recv()
    assert f[0] == _frames.ERROR and f[1] == 5
    m = f[2]
    assert m["type"] == "builtins.ValueError" and m["kind"] == "raised" and m["index"] == 2
    assert "REMOTE-SOURCE-LINE" in m["traceback"]
    exc = error_from_map(m, f[3])
    assert type(exc) is ValueError and "REMOTE-SOURCE-LINE" in str(exc.__cause__)
    exc2 = error_from_map(m, None)  # the map alone rebuilds a builtin too
    assert type(exc2) is ValueError and "REMOTE-SOURCE-LINE" in str(exc2.__cause__)


def test_unpicklable_result_is_a_result_error(worker):
    worker.send(pickled_task(6, _tasks.return_unpicklable, [None]))
    f = worker.recv()
    assert f[0] == _frames.ERROR and f[2]["kind"] == "result"
    from multiprocessing.pool import MaybeEncodingError
    assert isinstance(pickle.loads(f[3]), MaybeEncodingError)


def test_task_that_does_not_unpickle_is_an_args_error(worker):
    worker.send([_frames.TASK, 7, 0, None, b"not a pickle"])
    f = worker.recv()
    assert f[0] == _frames.ERROR and f[2]["kind"] == "args"
    worker.send(pickled_task(8, _tasks.sqr, [2]))
    assert pickle.loads(worker.recv()[3]) == [4]


def test_msgpack_task_runs_module_target(worker):
    worker.send([_frames.TASK, 9, 1, "builtins:pow", [[2, 100], [3, 2]]])
    f = worker.recv()
    assert f[:4] == [_frames.RESULT, 9, 1, [2 ** 100, 9]]
    worker.send([_frames.TASK, 10, 1, "_tasks:add", [[1, 2]]])
    assert worker.recv()[3] == [3]


def test_msgpack_task_errors(worker):
    worker.send([_frames.TASK, 11, 1, "_tasks:nope", [[1]]])
    f = worker.recv()
    assert f[0] == _frames.ERROR and f[2]["kind"] == "target" and f[3] is None
    worker.send([_frames.TASK, 12, 1, "_tasks:return_unpicklable", [[None]]])
    f = worker.recv()
    assert f[0] == _frames.ERROR and f[2]["kind"] == "result" and "lock" in f[2]["message"]
    worker.send([_frames.TASK, 13, 1, "_tasks:fail_on", [[3]]])
    f = worker.recv()
    assert f[2]["kind"] == "raised" and f[2]["type"] == "builtins.ValueError"


def test_worker_looks_like_a_pool_worker(worker):
    worker.send(pickled_task(14, _tasks.process_name, [None]))
    assert pickle.loads(worker.recv()[3])[0].startswith("SpawnPoolWorker-")
    worker.send(pickled_task(15, _tasks.stdin_is_devnull, [None]))
    assert pickle.loads(worker.recv()[3]) == [True]


def test_stop_exits_zero_after_answering():
    w = WorkerProc()
    assert w.recv()[0] == _frames.HELLO
    os.write(w.w, _frames.encode_frame(pickled_task(1, _tasks.sqr, [3])) + _frames.encode_frame([_frames.STOP]))
    assert pickle.loads(w.recv()[3]) == [9]
    assert w.proc.wait(T) == 0
    w.close()


def test_eof_on_task_pipe_exits():
    w = WorkerProc()
    assert w.recv()[0] == _frames.HELLO
    os.close(w.w)
    assert w.proc.wait(T) == 0
    w.close()


def test_initializer_failure_is_fatal():
    blob = _frames.make_python_init(_tasks.fail_on, (3,))
    w = WorkerProc({"python_init": blob})
    f = w.recv()
    assert f[0] == _frames.FATAL and f[1]["type"] == "builtins.ValueError"
    assert w.proc.wait(T) != 0
    w.close()


def test_initializer_runs_before_hello():
    w = WorkerProc({"python_init": _frames.make_python_init(_tasks.init_store, ("yes",))})
    assert w.recv()[0] == _frames.HELLO
    w.send(pickled_task(1, _tasks.get_initialized, [None]))
    assert pickle.loads(w.recv()[3]) == ["yes"]
    w.close()


def test_bad_frame_is_fatal_protocol_error():
    w = WorkerProc()
    assert w.recv()[0] == _frames.HELLO
    os.write(w.w, b"\x00\x00\x00\x02\x06\x06")
    f = w.recv()
    assert f[0] == _frames.FATAL
    assert w.proc.wait(T) == 2
    w.close()


def test_worker_exits_when_its_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, subprocess, sys, time
        r1, w1 = os.pipe(); r2, w2 = os.pipe()
        env = dict(os.environ, DOTBRIDGE_FDS=f"{{r1}},{{w2}}", PYTHONPATH={PYTHON_SRC!r})
        p = subprocess.Popen([sys.executable, "-m", "dotbridge._worker"], pass_fds=(r1, w2), env=env)
        print(p.pid, flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        time.sleep(0.3)
        parent.kill()
        parent.wait(T)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the worker outlived its parent")
    finally:
        parent.kill()
        parent.wait(T)
        parent.stdout.close()
