"""Copying while hashing, and the early write-back that keeps the closing fsync short."""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path

import pytest

from builder.store import hashing
from builder.store.hashing import WRITEBACK_STEP, HashingThread, WriteBack, copy_hashed


class _Recorder:
    def __init__(self, answer: int = 0) -> None:
        self.calls: list[tuple[int, int, int, int]] = []
        self.answer = answer

    def __call__(self, fd: int, offset: int, count: int, flags: int) -> int:
        self.calls.append((fd, offset, count, flags))
        return self.answer


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    calls = _Recorder()
    monkeypatch.setattr(hashing, "_sync_file_range", lambda: calls)
    return calls


def test_copy_starts_writeback_step_by_step(tmp_path: Path, recorder: _Recorder) -> None:
    data = os.urandom(2 * WRITEBACK_STEP + 12345)
    hasher = HashingThread()
    with (tmp_path / "out").open("wb", buffering=0) as handle:
        size = copy_hashed(io.BytesIO(data), handle, hasher, None)
        fd = handle.fileno()
    assert size == len(data)
    assert hasher.finish() == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (tmp_path / "out").read_bytes() == data
    assert recorder.calls == [(fd, 0, WRITEBACK_STEP, 2), (fd, WRITEBACK_STEP, WRITEBACK_STEP, 2)]


def test_writeback_counts_from_where_the_file_is(tmp_path: Path, recorder: _Recorder) -> None:
    # A resumed download appends to the bytes it has.
    with (tmp_path / "out").open("wb", buffering=0) as handle:
        handle.write(b"x" * 100)
        writeback = WriteBack(handle)
        writeback.wrote(WRITEBACK_STEP)
    assert [call[1:3] for call in recorder.calls] == [(100, WRITEBACK_STEP)]


def test_a_refused_writeback_is_not_asked_again(tmp_path: Path) -> None:
    refusing = _Recorder(answer=-1)
    with (tmp_path / "out").open("wb", buffering=0) as handle:
        writeback = WriteBack(handle)
        writeback._call = refusing
        for _ in range(3):
            writeback.wrote(WRITEBACK_STEP)
    assert len(refusing.calls) == 1


def test_no_writeback_without_a_file(recorder: _Recorder) -> None:
    writeback = WriteBack(io.BytesIO())
    writeback.wrote(3 * WRITEBACK_STEP)
    assert recorder.calls == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's sync_file_range")
def test_the_real_call_is_found_and_accepted(tmp_path: Path) -> None:
    call = hashing._sync_file_range()
    assert call is not None
    with (tmp_path / "out").open("wb", buffering=0) as handle:
        handle.write(b"y" * 4096)
        assert call(handle.fileno(), 0, 4096, 2) == 0
