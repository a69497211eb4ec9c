"""The fault suite (helper "faults"): dotbridge loses nothing and lets nothing in.

The rounds live in tests/faults/rounds.py (shared with scripts/faults.py): SIGKILLed
workers (both kinds, map/imap/apply_async/submit), a SIGKILLed parent, misbehaving tasks,
fuzzed frames, a fake worker sending garbage, trust boundaries. Fixed seeds, bounded.
"""

from __future__ import annotations

import os
import struct
import sys

import pytest

from conftest import REPO, real_native_available

sys.path.insert(0, os.path.join(REPO, "tests", "faults"))
import rounds  # noqa: E402

_ok, _why = real_native_available()
_WORKER = os.path.join(REPO, "python", "dotbridge", "_bin", "worker", "Bridge")
needs_native = pytest.mark.skipif(not _ok, reason=_why)
needs_dotnet = pytest.mark.skipif(not (_ok and os.path.exists(_WORKER)), reason=_why or "no .NET worker")


def _assert_clean(res):
    assert res["lost"] == 0, res
    assert res["hangs"] == 0, res
    assert res["ended"] == res["tasks"], res


@needs_native
@pytest.mark.timeout(120)
@pytest.mark.parametrize("api", ["map", "imap", "apply_async", "submit"])
def test_sigkill_python_workers(api):
    for seed in (1, 2):
        res = rounds.kill_round("python", api, seed)
        _assert_clean(res)


@needs_dotnet
@pytest.mark.timeout(120)
@pytest.mark.parametrize("api", ["map", "imap", "apply_async", "submit"])
def test_sigkill_dotnet_workers(api):
    res = rounds.kill_round("dotnet", api, 3)
    _assert_clean(res)


@needs_dotnet
@pytest.mark.timeout(120)
def test_sigkill_parent_leaves_no_process_or_segment():
    res = rounds.parent_kill_round(1)
    assert res["hangs"] == 0 and res["pids"] >= 3, res
    assert res["left_processes"] == 0, res
    assert res["left_segments"] == 0, res


@needs_dotnet
@pytest.mark.timeout(180)
def test_misbehaving_tasks_end_with_clear_errors():
    res = rounds.task_fault_round()
    assert res["hangs"] == 0 and res["lost"] == 0, res
    assert res["ended"] == res["faults"], res
    d = res["details"]
    assert "ValueError: boom 1" in d["raise"]
    assert d["recursion"].startswith("err: RecursionError")
    assert d["chatter"] == "ok: int: 2"


def test_fuzzed_frames_are_protocol_errors_only():
    res = rounds.fuzz_python_decoder(seed=5, count=3000)
    assert res["crashes"] == 0, res["crash_examples"]
    assert res["protocol_errors"] > 1000  # the mutations do hit the checks


def test_frame_limits_are_enforced():
    from dotbridge import _frames
    # length header above max_frame_bytes: refused before any body is read (no allocation)
    r = _frames.FrameReader(max_frame_bytes=1 << 20)
    r.feed(struct.pack(">I", (1 << 20) + 1))
    with pytest.raises(_frames.ProtocolError):
        list(r.frames())
    # default limit is PROTOCOL.md's 1 GiB
    r = _frames.FrameReader()
    r.feed(struct.pack(">I", 0xFFFFFFFF) + b"\x90")
    with pytest.raises(_frames.ProtocolError):
        list(r.frames())
    # nesting deeper than MAX_DEPTH (64) is a protocol error, not a RecursionError
    body = b"\x91" * 200 + b"\x01"
    r = _frames.FrameReader()
    r.feed(struct.pack(">I", len(body)) + body)
    with pytest.raises(_frames.ProtocolError):
        for fr in r.frames():
            _frames.check_depth(fr)
    # a container claiming 4 G elements in a 5-byte body
    body = b"\xdd\xff\xff\xff\xff"
    r = _frames.FrameReader()
    r.feed(struct.pack(">I", len(body)) + body)
    with pytest.raises(_frames.ProtocolError):
        list(r.frames())


@needs_native
@pytest.mark.timeout(120)
def test_fake_worker_sending_garbage_fails_only_its_task(tmp_path):
    res = rounds.fake_worker_round(str(tmp_path))
    assert res["hangs"] == 0 and res["lost"] == 0, res
    assert res["protocol_error"] == 1, res
    assert res["ended"] == 2, res


@needs_dotnet
@pytest.mark.timeout(120)
def test_trust_boundaries():
    res = rounds.trust_round()
    assert res["violations"] == 0, res["details"]


@needs_dotnet
@pytest.mark.timeout(120)
def test_dotnet_workers_open_no_diagnostics_socket_issue5():
    """.NET workers ran the runtime's diagnostics IPC server (a listening Unix socket in
    /tmp); the pool now starts them with DOTNET_EnableDiagnostics=0."""
    res = rounds.trust_round()
    assert not [d for d in res["details"] if "listening" in d], res["details"]
