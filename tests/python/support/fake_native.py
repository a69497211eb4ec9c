"""A test double of ``dotbridge._native.NativePool`` (Bridge/ABI.md) written in Python.

It lets the shim's tests run without the C# library: it starts real
``python -m dotbridge._worker`` processes and speaks real frames to them, one
chunk in flight per worker (no prefetch), and implements the job model of
ABI.md (statuses, ordered/unordered ``next``, failfast, notify, cancel,
release, crash reporting and respawn). It is deliberately simple; the real
pool is C#. Only Python workers: dotnet chunks fail with status 4 (BROKEN).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

import msgpack

from dotbridge import _frames
from dotbridge._native import call1_in_steps

OK, ERROR, CRASHED, CANCELLED, BROKEN = 0, 1, 2, 3, 4


class _Job:
    def __init__(self, kind, encoding, target, ordered, notify, failfast):
        self.kind, self.encoding, self.target = kind, encoding, target
        self.ordered, self.notify, self.failfast = ordered, notify, failfast
        self.chunks: list = []  # [status|None, payload]
        self.sealed = False
        self.next_index = 0
        self.returned: set = set()
        self.dispatched = False
        self.notified = False


class _Worker:
    def __init__(self, pool: "FakeNativePool") -> None:
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        env = dict(os.environ)
        env.update(pool.options.get("env") or {})
        env["DOTBRIDGE_FDS"] = f"{r1},{w2}"
        self.proc = subprocess.Popen([pool.options.get("python") or sys.executable, "-m", "dotbridge._worker"],
                                     pass_fds=(r1, w2), env=env, stdin=subprocess.DEVNULL)
        os.close(r1)
        os.close(w2)
        self.wfd, self.rfd = w1, r2
        self.reader = _frames.FrameReader(raw_ext=True)
        self.tasks = 0
        os.write(self.wfd, _frames.encode_frame(
            [_frames.INIT, 1, {"python_init": pool.options.get("python_init"),
                               "sys_path": pool.options.get("sys_path") or []}]))

    def read_frame(self):
        while True:
            for f in self.reader.frames():
                return f
            try:
                data = os.read(self.rfd, 1 << 20)
            except OSError:
                data = b""
            if not data:
                return None
            self.reader.feed(data)

    def close_fds(self) -> None:
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass


class FakeNativePool:
    def __init__(self, options: dict) -> None:
        self.options = options
        self.processes = int(options.get("processes") or os.cpu_count() or 1)
        self.maxtasks = options.get("maxtasksperchild")
        self._cond = threading.Condition()
        self._jobs: dict[int, _Job] = {}
        self._ids = iter(range(1, 1 << 62))
        self._queue: queue.Queue = queue.Queue()
        self._notes: queue.Queue = queue.Queue()
        self._workers: list[_Worker | None] = [None] * self.processes
        self._state = "running"
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(self.processes)]
        if "python" in (options.get("prestart") or []):
            for i in range(self.processes):
                self._workers[i] = _Worker(self)
        for t in self._threads:
            t.start()

    # -- worker threads -----------------------------------------------------------
    def _run(self, i: int) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            job_id, index = item
            with self._cond:
                job = self._jobs.get(job_id)
                if job is None or job.chunks[index][0] is not None:
                    continue
                job.dispatched = True
                payload = job.chunks[index][1]
            if job.kind != "python":
                self._set(job_id, index, BROKEN, msgpack.packb({"type": "dotbridge.BrokenProcessPool",
                                                                "message": "fake pool: no .NET workers"}))
                continue
            w = self._workers[i]
            if w is None or w.proc.poll() is not None:
                w = self._workers[i] = _Worker(self)
            try:
                os.write(w.wfd, _frames.encode_frame([_frames.TASK, job_id * 100000 + index, job.encoding,
                                                      job.target, payload]))
            except OSError:
                pass
            frame = w.read_frame()
            while frame is not None and frame[0] == _frames.HELLO:
                frame = w.read_frame()
            if frame is None or frame[0] == _frames.FATAL:
                try:
                    code = w.proc.wait(5)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    code = w.proc.wait(5)
                w.close_fds()
                self._workers[i] = None
                if self._state == "terminated":
                    self._set(job_id, index, CANCELLED, msgpack.packb({"message": "terminated"}))
                    break
                self._set(job_id, index, CRASHED, msgpack.packb({
                    "type": "dotbridge.WorkerCrashedError", "exitcode": code, "pid": w.proc.pid,
                    "message": f"worker process {w.proc.pid} died with exit code {code}"}))
                continue
            if frame[0] == _frames.RESULT:
                p = frame[3]
                self._set(job_id, index, OK, p if job.encoding == 0 else msgpack.packb(
                    p, default=_frames.default, use_bin_type=True))
            elif frame[0] == _frames.ERROR:
                self._set(job_id, index, ERROR, msgpack.packb([frame[2], frame[3]], use_bin_type=True))
            w.tasks += 1
            if self.maxtasks and w.tasks >= self.maxtasks:
                try:
                    os.write(w.wfd, _frames.encode_frame([_frames.STOP]))
                except OSError:  # the worker is already gone
                    pass
                w.proc.wait(10)
                w.close_fds()
                self._workers[i] = None
        w = self._workers[i]
        if w is not None:
            try:
                os.write(w.wfd, _frames.encode_frame([_frames.STOP]))
            except OSError:  # the worker is already gone
                pass
            try:
                w.proc.wait(10)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(5)
            w.close_fds()
            self._workers[i] = None

    def _set(self, job_id: int, index: int, status: int, payload) -> None:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.chunks[index][0] is not None:
                return
            job.chunks[index] = [status, payload]
            self._cond.notify_all()
            if job.notify and not job.notified and self._ready(job):
                job.notified = True
                self._notes.put(job_id)

    def _ready(self, job: _Job) -> bool:
        if job.failfast and any(c[0] not in (None, OK) for c in job.chunks):
            return True
        return job.sealed and all(c[0] is not None for c in job.chunks)

    # -- jobs ---------------------------------------------------------------------
    def submit(self, kind, encoding, target, chunks, *, failfast=False, notify=False, ordered=True) -> int:
        job_id = self.open_job(kind, encoding, target, ordered=ordered, notify=notify)
        self._jobs[job_id].failfast = failfast
        for payload, count in chunks:
            self.add_chunk(job_id, payload, count)
        self.seal(job_id)
        return job_id

    def call1(self, kind, encoding, target, payload, count, timeout=None):
        return call1_in_steps(self, kind, encoding, target, payload, count, timeout)

    def open_job(self, kind, encoding, target, *, ordered=True, notify=False, failfast=False) -> int:
        if self._state != "running":
            raise RuntimeError("pool not running")
        with self._cond:
            job_id = next(self._ids)
            self._jobs[job_id] = _Job(kind, encoding, target, ordered, notify, failfast)
        return job_id

    def add_chunk(self, job: int, payload: bytes, count: int) -> None:
        with self._cond:
            j = self._jobs[job]
            j.chunks.append([None, bytes(payload)])
            index = len(j.chunks) - 1
        self._queue.put((job, index))

    def seal(self, job: int) -> None:
        with self._cond:
            j = self._jobs[job]
            j.sealed = True
            self._cond.notify_all()
            if j.notify and not j.notified and self._ready(j):
                j.notified = True
                self._notes.put(job)

    def wait(self, job: int, timeout) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._ready(self._jobs[job]):
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def ready(self, job: int) -> bool:
        with self._cond:
            return self._ready(self._jobs[job])

    def results(self, job: int) -> list:
        with self._cond:
            return [(c[0] if c[0] is not None else -1, c[1] if c[0] is not None else b"")
                    for c in self._jobs[job].chunks]

    def next_batch(self, job: int, timeout, max_items: int = 256):
        item = self.next(job, timeout)
        return None if item is None else [item]

    def next(self, job: int, timeout):
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            j = self._jobs[job]
            while True:
                if j.ordered:
                    if j.next_index < len(j.chunks) and j.chunks[j.next_index][0] is not None:
                        i = j.next_index
                        j.next_index += 1
                        return (i, j.chunks[i][0], j.chunks[i][1])
                    if j.sealed and j.next_index >= len(j.chunks):
                        return None
                else:
                    for i, c in enumerate(j.chunks):
                        if c[0] is not None and i not in j.returned:
                            j.returned.add(i)
                            return (i, c[0], c[1])
                    if j.sealed and len(j.returned) == len(j.chunks):
                        return None
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError
                self._cond.wait(left)

    def cancel(self, job: int) -> bool:
        with self._cond:
            j = self._jobs.get(job)
            if j is None or j.dispatched:
                return False
        for i in range(len(j.chunks)):
            self._set(job, i, CANCELLED, msgpack.packb({"message": "cancelled"}))
        return True

    def release(self, job: int) -> None:
        with self._cond:
            self._jobs.pop(job, None)

    def next_notification(self, timeout):
        try:
            return self._notes.get(timeout=timeout)
        except queue.Empty:
            return None

    # -- pool ---------------------------------------------------------------------
    def chunksize(self, n: int) -> int:
        if n == 0:
            return 0
        c, extra = divmod(n, self.processes * 4)
        return c + 1 if extra else c

    def workers(self, kind="python") -> list:
        return [{"pid": w.proc.pid, "alive": w.proc.poll() is None, "tasks": w.tasks}
                for w in list(self._workers) if w is not None]

    def close(self) -> None:
        if self._state == "running":
            self._state = "closed"
            for _ in self._threads:
                self._queue.put(None)

    def terminate(self) -> None:
        if self._state == "terminated":
            return
        self._state = "terminated"
        for w in list(self._workers):
            if w is not None:
                w.proc.kill()
        for _ in self._threads:
            self._queue.put(None)
        with self._cond:
            for job_id, j in list(self._jobs.items()):
                for i, c in enumerate(j.chunks):
                    if c[0] is None:
                        self._set(job_id, i, CANCELLED, msgpack.packb({"message": "pool terminated"}))
                j.sealed = True
            self._cond.notify_all()

    def join(self, timeout) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if end is None else max(0.0, end - time.monotonic()))
            if t.is_alive():
                return False
        return True

    def info(self) -> dict:
        return {"state": self._state}
