"""Copying while hashing: SHA-256 in a second thread, so that hashing and writing overlap
(``hashlib`` releases the GIL on large updates)."""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import os
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
"""Bytes read per step when copying or hashing a blob."""

PIPELINE_DEPTH = 4
"""Chunks that may wait for the hashing thread while the copy goes on."""

RING = PIPELINE_DEPTH + 2
"""Buffers a copy cycles through. A buffer is filled again only once the hashing thread
is done with it: when a chunk is added, at most ``PIPELINE_DEPTH`` chunks wait in the
queue and one is being hashed, so the chunk ``RING`` steps back is finished. Reusing
buffers, rather than allocating one per chunk, keeps a copy from faulting in fresh
memory for every megabyte (it made downloads 1.6 times faster)."""

WRITEBACK_STEP = 16 * 1024 * 1024
"""Bytes a copy writes before it asks the kernel to start putting them on disk."""

Progress = Callable[[int], None]
"""Called with the number of bytes just processed."""


def file_digest(path: Path, progress: Progress | None = None) -> str:
    """``sha256:`` of the whole file at ``path``, read ``CHUNK`` by ``CHUNK``; ``progress``
    hears of each chunk. A missing file raises FileNotFoundError."""
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return "sha256:" + hasher.hexdigest()


class Readable(Protocol):
    """What a copy reads from: an open binary file, or anything with ``readinto``."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class HashingThread:
    """A SHA-256 fed chunk by chunk from the copying thread."""

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()
        self._chunks: queue.Queue[memoryview | None] = queue.Queue(maxsize=PIPELINE_DEPTH)
        self._thread = threading.Thread(target=self._run, name="ladle-hash", daemon=True)
        self._thread.start()

    def add(self, chunk: memoryview) -> None:
        self._chunks.put(chunk)

    def finish(self) -> str:
        """Wait for the chunks added so far and return ``sha256:<hex>``."""
        self._chunks.put(None)
        self._thread.join()
        return "sha256:" + self._hasher.hexdigest()

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._hasher.update(chunk)


def copy_hashed(
    source: Readable,
    handle: BinaryIO,
    hashing: HashingThread,
    progress: Progress | None,
    limit: int | None = None,
) -> int:
    """Copy ``source`` to ``handle`` chunk by chunk, each chunk hashed as it is written.

    With ``limit``, at most ``limit + 1`` bytes are read, so that a caller sees a source
    that is longer than it should be without reading all of it.
    """
    ring = [memoryview(bytearray(CHUNK)) for _ in range(RING)]
    writeback = WriteBack(handle)
    size = 0
    for step in itertools.count():
        room = CHUNK if limit is None else max(1, min(CHUNK, limit + 1 - size))
        chunk = ring[step % RING][:room]
        count = source.readinto(chunk)
        if not count:
            return size
        hashing.add(chunk[:count])
        write_all(handle, chunk[:count])
        writeback.wrote(count)
        size += count
        if progress is not None:
            progress(count)
        if limit is not None and size > limit:
            return size
    raise AssertionError("unreachable")


class WriteBack:
    """Starts the kernel writing a file to disk every :data:`WRITEBACK_STEP` bytes, while
    the copy goes on, so that the ``fsync`` ending the copy waits for the last step only
    (copying the 253 MB Gemma GGUF into the store: 220 ms before, 155 ms with it, as fast
    as ``cp`` and ``sync``). Linux's ``sync_file_range``; elsewhere, or on anything that
    is not a plain file, it does nothing.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._call: Callable[[int, int, int, int], int] | None = None
        self._fd = self._flushed = self._written = 0
        try:
            self._fd = handle.fileno()
            self._flushed = self._written = os.lseek(self._fd, 0, os.SEEK_CUR)
        except (OSError, ValueError, io.UnsupportedOperation):
            return
        self._call = _sync_file_range()

    def wrote(self, count: int) -> None:
        self._written += count
        if self._call is None or self._written - self._flushed < WRITEBACK_STEP:
            return
        if self._call(self._fd, self._flushed, self._written - self._flushed, _START_WRITE):
            self._call = None  # refused (a pipe, a file system without it): stop asking
        self._flushed = self._written


_START_WRITE = 2  # SYNC_FILE_RANGE_WRITE: start writing dirty pages, do not wait


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


def write_all(handle: BinaryIO, data: memoryview) -> None:
    """Write every byte (an unbuffered write may take only part of them)."""
    while data:
        written = handle.write(data)
        data = data[written or 0 :]
