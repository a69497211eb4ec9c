"""Interpreter workers from Python: ``Pool(workers="interpreters")`` and ``InterpreterPoolExecutor``.

They need CPython 3.12+ (a GIL per sub-interpreter): ``scripts/test`` runs this file under
``.venv-3.13`` (``scripts/_env.sh`` ``ensure_interp_venv``, from pyenv's 3.13 or 3.12). Under 3.11
(the project's .venv) only the refusal tests run; the rest skip with that reason.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import dotbridge
import _interp_tasks as tasks
from dotbridge.futures import InterpreterPoolExecutor, ProcessPoolExecutor
from dotbridge.interpreters import InterpreterWorkersUnavailable, supported_here

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SUPPORTED, REASON = supported_here()
needs_312 = pytest.mark.skipif(not SUPPORTED, reason=f"interpreter workers unavailable here: {REASON}")


def _interp_threads() -> list:
    return [t for t in threading.enumerate() if t.name.startswith("dotbridge-interpreter-")]


def _wait_no_interp_threads(timeout: float = 10.0) -> list:
    end = time.monotonic() + timeout
    while _interp_threads() and time.monotonic() < end:
        time.sleep(0.02)
    return _interp_threads()


@pytest.fixture
def pool():
    p = dotbridge.Pool(2, workers="interpreters")
    try:
        yield p
    finally:
        p.terminate()
        p.join()
    assert not _wait_no_interp_threads(), "interpreter worker threads left behind"


# -- below 3.12: a clear refusal ------------------------------------------------------------------

@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ runs interpreter workers (tests below)")
def test_refused_below_312_with_the_version_and_the_alternative():
    for make in (lambda: dotbridge.Pool(1, workers="interpreters"),
                 lambda: ProcessPoolExecutor(1, workers="interpreters"),
                 lambda: InterpreterPoolExecutor(1)):
        with pytest.raises(InterpreterWorkersUnavailable) as info:
            make()
        msg = str(info.value)
        assert "3.12" in msg and f"{sys.version_info.major}.{sys.version_info.minor}" in msg
        assert "process workers" in msg


def test_unknown_worker_kind_is_a_value_error():
    with pytest.raises(ValueError, match="workers must be one of"):
        dotbridge.Pool(1, workers="threads")
    with pytest.raises(ValueError, match="workers must be one of"):
        ProcessPoolExecutor(1, workers="threads")


# -- 3.12+: the task API ------------------------------------------------------------------------

@needs_312
def test_workers_are_subinterpreters_of_this_process_on_other_threads(pool):
    seen = pool.map(tasks.where, range(8), chunksize=1)
    pids = {p for p, _, _ in seen}
    threads = {t for _, t, _ in seen}
    interps = {i for _, _, i in seen}
    assert pids == {os.getpid()}
    assert threading.get_ident() not in threads
    assert 0 not in interps and None not in interps  # never the main interpreter
    assert [w["pid"] for w in pool._native.workers("python")] == [os.getpid()] * 2


@needs_312
def test_apply_map_imap_starmap_and_async(pool):
    assert pool.apply(tasks.add, (2, 3)) == 5
    assert pool.apply(pow, (2, 100)) == 2 ** 100
    assert pool.map(tasks.sqr, range(100)) == [x * x for x in range(100)]
    assert pool.map(tasks.sqr, range(50), chunksize=7) == [x * x for x in range(50)]
    assert pool.starmap(tasks.add, [(1, 2), (3, 4), (5, 6)]) == [3, 7, 11]
    assert list(pool.imap(tasks.sqr, range(20))) == [x * x for x in range(20)]
    assert list(pool.imap(tasks.sqr, iter(range(20)), chunksize=3)) == [x * x for x in range(20)]
    assert sorted(pool.imap_unordered(tasks.sqr, range(20))) == [x * x for x in range(20)]
    got = []
    r = pool.map_async(tasks.sqr, range(10), callback=got.append)
    assert r.get(timeout=30) == [x * x for x in range(10)]
    r.wait(10)
    assert got == [[x * x for x in range(10)]]
    assert pool.apply_async(tasks.sleep_then, (7, 0.01)).get(timeout=30) == 7


@needs_312
def test_errors_map_as_for_process_workers(pool):
    with pytest.raises(ValueError, match="bad item 3") as info:
        pool.map(tasks.fail_on, range(6), chunksize=1)
    cause = info.value.__cause__
    assert type(cause).__name__ == "RemoteTraceback"
    assert "_interp_tasks.py" in str(cause) and "raise ValueError" in str(cause)
    with pytest.raises(RuntimeError, match="outer 1") as info:
        pool.apply(tasks.chained, (1,))
    assert "KeyError" in str(info.value.__cause__)
    with pytest.raises(multiprocessing_pool().MaybeEncodingError):
        pool.apply(tasks.unpicklable)
    errors = []
    pool.apply_async(tasks.fail_on, (3,), error_callback=errors.append).wait(30)
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(errors[0], ValueError)
    assert pool.apply(tasks.sqr, (9,)) == 81  # the pool stays healthy


def multiprocessing_pool():
    import multiprocessing.pool
    return multiprocessing.pool


@needs_312
def test_a_module_that_refuses_subinterpreters_is_a_clear_import_error(pool):
    name = None
    for candidate in ("numpy", "_testsinglephase"):
        try:
            __import__(candidate)
        except ImportError:
            continue
        name = candidate
        break
    if name is None:
        pytest.skip("neither numpy nor _testsinglephase is importable in this Python")
    with pytest.raises(ImportError) as info:
        pool.apply(tasks.import_module, (name,))
    msg = str(info.value)
    assert name in msg and "sub-interpreters" in msg and "process workers" in msg
    assert pool.apply(tasks.sqr, (4,)) == 16  # the worker is still usable


@needs_312
def test_a_worker_that_exits_fails_its_task_and_is_replaced(pool):
    with pytest.raises(dotbridge.WorkerCrashedError) as info:
        pool.apply(tasks.exit_worker, (3,))
    assert info.value.exitcode == 3
    assert "interpreter worker" in str(info.value)
    assert pool.map(tasks.sqr, range(10)) == [x * x for x in range(10)]


@needs_312
def test_initializer_and_maxtasksperchild_restart_interpreters():
    with dotbridge.Pool(2, initializer=tasks.init, initargs=("ready",), maxtasksperchild=2,
                        workers="interpreters") as p:
        got = p.map(tasks.initialized, range(12), chunksize=1)
        interps = {i for _, _, i in p.map(tasks.where, range(12), chunksize=1)}
    assert got == ["ready"] * 12
    assert len(interps) >= 3  # each interpreter ran at most 2 chunks
    assert not _wait_no_interp_threads()


@needs_312
def test_each_worker_has_its_own_gil(tmp_path):
    """Worker A spins holding its interpreter's GIL (switch interval 100 s, no blocking call) until
    worker B writes to a shared mapping; under one shared GIL B could never run and A times out. The
    speed-up figure (2 vs 1 workers) is in the bench (scripts/bench_interp.py), not here."""
    import mmap
    path = tmp_path / "flags"
    path.write_bytes(b"\0\0")
    with dotbridge.Pool(2, workers="interpreters") as p:
        p.map(tasks.sqr, range(4), chunksize=1)
        holder = p.apply_async(tasks.gil_holder, (str(path), 10.0))
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), 2) as m:
            deadline = time.monotonic() + 30
            while m[1] == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert m[1] == 1, "worker A never started"
        assert p.apply(tasks.gil_poker, (str(path),)) == "poked"  # runs on the idle worker B
        assert holder.get(timeout=30) == "saw the other worker"


# -- shutdown --------------------------------------------------------------------------------------

@needs_312
def test_terminate_with_tasks_in_flight_is_bounded():
    p = dotbridge.Pool(2, workers="interpreters")
    r = p.map_async(tasks.sleep_then, range(8), chunksize=1)
    time.sleep(0.1)
    t0 = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - t0 < 5
    with pytest.raises(Exception):
        r.get(timeout=5)
    assert not _wait_no_interp_threads()


@needs_312
def test_terminate_interrupts_workers_busy_in_python_code():
    """A worker cannot be killed; terminate() raises SystemExit in one still running Python code."""
    p = dotbridge.Pool(2, workers="interpreters")
    p.map(tasks.sqr, range(4), chunksize=1)
    r = p.map_async(tasks.spin, [10 ** 10, 10 ** 10], chunksize=1)  # hours, if not interrupted
    time.sleep(0.3)
    t0 = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - t0 < 10
    with pytest.raises(Exception):
        r.get(timeout=5)
    assert not _wait_no_interp_threads()


@needs_312
def test_close_join_finishes_queued_work():
    p = dotbridge.Pool(2, workers="interpreters")
    r = p.map_async(tasks.sleep_then, [(i) for i in range(6)], chunksize=1)
    p.close()
    p.join()
    assert r.get(timeout=5) == list(range(6))
    assert not _wait_no_interp_threads()


@needs_312
def test_executor_submit_map_errors_and_shutdown():
    with InterpreterPoolExecutor(2) as ex:
        assert ex.submit(tasks.add, 1, 2).result(timeout=30) == 3
        assert list(ex.map(tasks.sqr, range(10), chunksize=3)) == [x * x for x in range(10)]
        fut = ex.submit(tasks.fail_on, 3)
        assert isinstance(fut.exception(timeout=30), ValueError)
        futs = [ex.submit(tasks.sleep_then, i, 0.05) for i in range(6)]
        done, _ = concurrent.futures.wait(futs, timeout=30)
        assert sorted(f.result() for f in done) == list(range(6))
    with ProcessPoolExecutor(2, workers="interpreters") as ex:
        assert ex.submit(tasks.sqr, 12).result(timeout=30) == 144
    assert not _wait_no_interp_threads()


@needs_312
@pytest.mark.parametrize("ending", ["idle pool left open", "task in flight", "closed and joined",
                                    "busy in a long call"])
def test_no_hang_or_abort_at_interpreter_exit(ending, tmp_path):
    """A script that leaves an interpreter pool behind exits normally (the exit hook terminates it and
    ends every sub-interpreter before finalization)."""
    body = {
        "idle pool left open": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)))",
        "task in flight": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)));"
                          " r = p.map_async(t.sleep_then, [1, 2, 3], chunksize=1); time.sleep(0.1)",
        "closed and joined": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)));"
                             " p.close(); p.join()",
        "busy in a long call": "p = dotbridge.Pool(2, workers='interpreters'); print(p.apply(t.sqr, (3,)));"
                               " r = p.apply_async(t.spin, (10 ** 10,)); time.sleep(0.3)",
    }[ending]
    script = tmp_path / "exit_case.py"
    script.write_text(textwrap.dedent(f"""\
        import sys, time
        sys.path.insert(0, {HERE!r})
        import dotbridge
        import _interp_tasks as t
        if __name__ == "__main__":
            {body}
            print("end of script", flush=True)
        """))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["9", "end", "of", "script"], proc.stdout + proc.stderr
    assert "remaining subinterpreters" not in proc.stderr
    assert time.monotonic() - t0 < 30


@needs_312
def test_a_main_script_that_imports_a_refusing_module_breaks_the_pool_with_that_reason(tmp_path):
    """Workers import the caller's ``__main__`` as spawn does; if it imports a module without
    sub-interpreter support, the pool is broken at start (not respawned forever) with that reason."""
    try:
        import _testsinglephase  # noqa: F401
    except ImportError:
        pytest.skip("no _testsinglephase in this Python build")
    script = tmp_path / "main_refuses.py"
    script.write_text(textwrap.dedent("""\
        import _testsinglephase
        import dotbridge

        def sq(x):
            return x * x

        if __name__ == "__main__":
            with dotbridge.Pool(2, workers="interpreters") as p:
                try:
                    p.map(sq, range(3))
                except dotbridge.BrokenProcessPool as e:
                    print("BROKEN", e)
        """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("BROKEN"), proc.stdout + proc.stderr
    assert "_testsinglephase" in proc.stdout and "process workers" in proc.stdout


@needs_312
def test_one_pool_runs_interpreter_workers_and_dotnet_workers(pool):
    """Only the Python kind moves into interpreters: ``dotnet.method`` handles still go to .NET worker processes
    of the same C# pool."""
    from dotbridge._native import default_dotnet_worker
    if not os.path.exists(default_dotnet_worker()[0]):
        pytest.skip("the .NET worker is not published (scripts/setup)")
    count = dotbridge.dotnet.method("Bridge.Samples.Primes.Count")
    assert pool.starmap(count, [(0, 1000), (1000, 2000)]) == [168, 135]
    assert pool.map(tasks.sqr, range(5)) == [0, 1, 4, 9, 16]
    assert {w["pid"] for w in pool._native.workers("python")} == {os.getpid()}
    assert os.getpid() not in {w["pid"] for w in pool._native.workers("dotnet")}


# -- the worker's own codec for PICKLE TASK / RESULT frames (byte-identical to msgpack) -------------
# Interpreter workers have only msgpack's pure-Python fallback, so the worker loop reads and writes these
# two frame shapes itself (dotbridge._frames.decode_pickle_task / encode_pickle_result; process workers
# use them too). These cases pin them to msgpack (C extension under .venv, the fallback under .venv-3.13).

import random  # noqa: E402

import msgpack  # noqa: E402

from dotbridge import _frames  # noqa: E402

# every msgpack int width at its edges: positive fixint, uint 8/16/32/64, negative fixint, int 8/16/32/64
INTS = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000, 2 ** 63 - 1, 2 ** 63,
        2 ** 64 - 1, -1, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000000, -0x80000001, -2 ** 63]
# every str/bin header width at its edges: fixstr (0-31), 8 (bin8 from 0), 16, 32 bits
LENGTHS = [0, 1, 31, 32, 255, 256, 2047, 2048, 65535, 65536, 70000]
UNPACK = dict(raw=False, strict_map_key=False, max_bin_len=1 << 30, max_str_len=1 << 30)


def _msgpack_frame(array) -> bytes:
    body = msgpack.packb(array, use_bin_type=True)
    return len(body).to_bytes(4, "big") + body


def _msgpack_decode(body):
    try:
        return msgpack.unpackb(bytes(body), **UNPACK)
    except Exception:  # noqa: BLE001 - any refusal counts as "msgpack does not decode it"
        return None


def test_own_result_encoding_is_msgpacks_byte_for_byte():
    for tid in INTS:
        for elapsed in (0, 0x7F, 0x80, 0x10000, 2 ** 40, tid):
            assert _frames.encode_pickle_result(tid, b"p", elapsed) == _msgpack_frame([4, tid, 0, b"p", elapsed])
    for n in LENGTHS:
        data = bytes(range(256)) * (n // 256) + bytes(n % 256)
        got = _frames.encode_pickle_result(7, data, 3)
        assert got == _msgpack_frame([4, 7, 0, data, 3]), n
        assert got == _frames.encode_frame([4, 7, 0, data, 3])  # the worker's msgpack path too


def test_own_result_encoding_leaves_what_msgpack_cannot_hold_to_msgpack():
    assert _frames.encode_pickle_result(2 ** 64, b"x", 1) is None  # msgpack makes it an ext 1 (big int)
    assert _frames.encode_pickle_result(1, b"x", -2 ** 63 - 1) is None


def test_own_task_decoding_is_msgpacks_for_every_width():
    targets = [None] + ["t" * n for n in LENGTHS] + ["é" * 20, "módulo:función", "\u20ac" * 100]
    for tid in INTS:
        for target in (None, "a:b"):
            frame = _msgpack_frame([3, tid, 0, target, b"payload"])
            got = _frames.decode_pickle_task(frame, 4, len(frame))
            assert got == _msgpack_decode(frame[4:]) == [3, tid, 0, target, b"payload"]
            assert type(got[1]) is int and type(got[4]) is bytes
    for n in LENGTHS:
        payload = os.urandom(n)
        for target in targets:
            frame = _msgpack_frame([3, 123456, 0, target, payload])
            got = _frames.decode_pickle_task(frame, 4, len(frame))
            assert got == _msgpack_decode(frame[4:]) == [3, 123456, 0, target, payload], (n, target and len(target))


def test_own_task_decoding_reads_only_its_frame_in_a_buffer_of_several():
    frames = [_msgpack_frame([3, i, 0, None, os.urandom(i * 50)]) for i in range(1, 6)]
    buf = bytearray(b"".join(frames))
    pos = 0
    for i, f in enumerate(frames, 1):
        n = int.from_bytes(buf[pos:pos + 4], "big")
        got = _frames.decode_pickle_task(buf, pos + 4, pos + 4 + n)
        assert got == msgpack.unpackb(f[4:], **UNPACK) and got[1] == i
        assert _frames.decode_pickle_task(buf, pos + 4, pos + 3 + n) is None  # one byte short
        if i < len(frames):
            assert _frames.decode_pickle_task(buf, pos + 4, pos + 5 + n) is None  # one byte too many
        pos += 4 + n


def test_own_task_decoding_hands_every_other_shape_to_msgpack():
    others = [
        [4, 1, 0, b"x", 1],                    # RESULT
        [3, 1, 1, "builtins:pow", [[2, 5]]],   # MSGPACK encoding: values are msgpack's job
        [3, 1, 0, None, "not a bin"],
        [3, 1, 0, None, b"x", "extra"],
        [3, 1, 0, None],
        [3, 1.5, 0, None, b"x"],
        [3, True, 0, None, b"x"],
        [3, 2 ** 64, 0, None, b"x"],           # (as msgpack's default hook would make it: packed below)
        [3, 1, 0, b"bin target", b"x"],
        [2, 1, {"python_init": None}],
        [6],
    ]
    for array in others:
        try:
            body = msgpack.packb(array, use_bin_type=True, default=_frames.default)
        except Exception:  # noqa: BLE001
            continue
        assert _frames.decode_pickle_task(body, 0, len(body)) is None, array
    bad_utf8 = b"\x95\x03\x01\x00\xa2\xff\xfe\xc4\x01x"
    assert _msgpack_decode(bad_utf8) is None and _frames.decode_pickle_task(bad_utf8, 0, len(bad_utf8)) is None
    array16 = b"\xdc\x00\x05\x03\x01\x00\xc0\xc4\x01x"  # a legal but non-canonical header: msgpack reads it
    assert _frames.decode_pickle_task(array16, 0, len(array16)) is None
    assert _msgpack_decode(array16) == [3, 1, 0, None, b"x"]


def test_own_task_decoding_never_disagrees_with_msgpack_on_mutated_frames():
    """Random byte flips, truncations and insertions of valid TASK frames: the codec either hands the body
    to msgpack (None) or returns exactly what msgpack returns."""
    rng = random.Random(20261123)
    seeds = [_msgpack_frame([3, tid, 0, target, os.urandom(n)])[4:]
             for tid in (1, 300, 70000, 2 ** 40) for target in (None, "m:f", "x" * 40) for n in (0, 5, 300)]
    decoded = 0
    for _ in range(4000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            i = rng.randrange(len(body))
            if op == 0:
                body[i] = rng.randrange(256)
            elif op == 1:
                del body[i:i + rng.randint(1, 4)]
            else:
                body.insert(i, rng.randrange(256))
        if not body:
            continue
        got = _frames.decode_pickle_task(body, 0, len(body))
        if got is not None:
            decoded += 1
            assert got == _msgpack_decode(body), bytes(body)
    assert decoded > 100  # the flips left many frames well formed (mostly in the payload)


def _worker_process():
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    env = dict(os.environ, DOTBRIDGE_FDS=f"{r1},{w2}", PYTHONPATH=os.path.join(REPO, "python"))
    proc = subprocess.Popen([sys.executable, "-m", "dotbridge._worker"], pass_fds=(r1, w2), env=env)
    os.close(r1)
    os.close(w2)
    return proc, w1, r2


def test_a_worker_answers_tasks_with_ids_of_every_width_in_msgpacks_bytes():
    """Through a real worker process: TASK frames with ids of every width (one os.write, so one read holds
    them all), RESULT frames back whose bytes are msgpack's encoding of what they decode to."""
    import pickle
    import select
    proc, w, r = _worker_process()
    try:
        ids = [1, 0x7F, 0x80, 0x100, 0x10000, 0x100000000, 2 ** 63 - 1]
        big = os.urandom(100_000)  # a bin32 payload over a pipe's capacity: read in pieces
        tasks_ = [[3, tid, 0, None, pickle.dumps((len, [(big if tid == 0x10000 else b"ab",)], True, {}))]
                  for tid in ids]
        os.write(w, _msgpack_frame([2, 1, {}]))
        data = b"".join(_msgpack_frame(t) for t in tasks_) + _msgpack_frame([6])
        while data:
            n = os.write(w, data)
            data = data[n:]
        got = bytearray()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            ready, _, _ = select.select([r], [], [], max(0.0, end - time.monotonic()))
            chunk = os.read(r, 1 << 16) if ready else b""
            if not chunk:
                break
            got += chunk
        assert proc.wait(30) == 0
    finally:
        os.close(w)
        os.close(r)
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    frames, pos = [], 0
    while pos < len(got):
        n = int.from_bytes(got[pos:pos + 4], "big")
        raw = bytes(got[pos:pos + 4 + n])
        frames.append(msgpack.unpackb(raw[4:], **UNPACK))
        assert raw == _msgpack_frame(frames[-1])  # byte-identical to msgpack's encoding
        pos += 4 + n
    assert frames[0][0] == _frames.HELLO
    results = frames[1:]
    assert [f[:3] for f in results] == [[4, tid, 0] for tid in ids]
    assert [pickle.loads(f[3]) for f in results] == [[len(big) if tid == 0x10000 else 2] for tid in ids]


@pytest.mark.parametrize("workers", ["processes", pytest.param("interpreters", marks=needs_312)])
def test_big_and_small_pickled_arguments_and_results_round_trip(workers):
    """Payloads around the codec's widths (bin8/16/32) and bigger than a pipe holds, both ways."""
    with dotbridge.Pool(1, workers=workers) as p:
        for n in (0, 200, 300, 2047, 2048, 70_000, 3_000_000):
            blob = os.urandom(n)
            assert p.apply(bytes, (blob,)) == blob, n  # bytes(b) is b: the same bytes back
