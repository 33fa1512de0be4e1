"""Resumable, verified downloads into the store (no network: the sources are in memory)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
from collections.abc import Iterator

import pytest

from builder.registry.downloads import Downloads
from builder.store.hashing import Readable
from builder.store.store import Store
from ladle.errors import CorruptBlobError, StoreError

DATA = bytes(range(256)) * 20_000  # 5 MB
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


class DroppedError(Exception):
    """A connection lost mid-download (as the HTTP client raises it)."""


class Source:
    """A blob's bytes served from memory; can honour ``Range`` or not, or be cut short."""

    def __init__(self, data: bytes = DATA, resumes: bool = True, cut_at: int | None = None) -> None:
        self.data, self.resumes, self.cut_at = data, resumes, cut_at
        self.offsets: list[int] = []

    @contextlib.contextmanager
    def __call__(self, offset: int) -> Iterator[tuple[Readable, int]]:
        self.offsets.append(offset)
        start = offset if self.resumes else 0
        end = self.cut_at if self.cut_at is not None else len(self.data)
        yield Cut(self.data[start:end], interrupted=self.cut_at is not None), start


class Cut(io.BytesIO):
    """A stream that fails at its end, as a dropped connection does."""

    def __init__(self, data: bytes, interrupted: bool) -> None:
        super().__init__(data)
        self.interrupted = interrupted

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = super().readinto(buffer)
        if not count and self.interrupted:
            raise DroppedError("dropped")
        return count


def test_a_download_is_verified_then_admitted(store: Store) -> None:
    downloads = Downloads(store)
    assert downloads.fetch(DIGEST, len(DATA), Source())
    assert not store.has_blob(DIGEST) and downloads.verified_path(DIGEST).is_file()
    downloads.admit(DIGEST)
    assert store.read_blob(DIGEST) == DATA
    assert not downloads.verified_path(DIGEST).exists()
    assert not downloads.fetch(DIGEST, len(DATA), Source())  # in the store: nothing to do


def test_a_cut_download_resumes_where_it_stopped(store: Store) -> None:
    downloads = Downloads(store)
    with pytest.raises(DroppedError):
        downloads.fetch(DIGEST, len(DATA), Source(cut_at=3_000_000))
    assert downloads.partial_path(DIGEST).stat().st_size == 3_000_000
    source = Source()
    progress: list[int] = []
    assert downloads.fetch(DIGEST, len(DATA), source, progress.append)
    assert source.offsets == [3_000_000]
    assert sum(progress) == len(DATA) and progress[0] == 3_000_000
    downloads.admit(DIGEST)
    assert store.read_blob(DIGEST) == DATA


def test_a_source_that_cannot_resume_starts_over(store: Store) -> None:
    downloads = Downloads(store)
    with pytest.raises(DroppedError):
        downloads.fetch(DIGEST, len(DATA), Source(cut_at=1_000_000))
    assert downloads.fetch(DIGEST, len(DATA), Source(resumes=False))
    downloads.admit(DIGEST)
    assert store.read_blob(DIGEST) == DATA


def test_wrong_or_too_many_bytes_are_refused_and_dropped(store: Store) -> None:
    downloads = Downloads(store)
    with pytest.raises(CorruptBlobError, match="hash to sha256:"):
        downloads.fetch(DIGEST, len(DATA), Source(DATA[::-1]))
    with pytest.raises(
        CorruptBlobError, match=f"more than {len(DATA) - 9} bytes, not {len(DATA) - 10}"
    ):
        downloads.fetch(DIGEST, len(DATA) - 10, Source())
    with pytest.raises(CorruptBlobError, match="bytes, not"):
        downloads.fetch(DIGEST, len(DATA) + 10, Source())
    assert not any(store.temp.iterdir()) and not store.has_blob(DIGEST)


def test_a_corrupt_partial_file_fails_the_hash_and_is_dropped(store: Store) -> None:
    downloads = Downloads(store)
    store.private_folder("tmp")
    downloads.partial_path(DIGEST).write_bytes(b"\0" * 1000)  # not the blob's first bytes
    with pytest.raises(CorruptBlobError):
        downloads.fetch(DIGEST, len(DATA), Source())
    assert not downloads.partial_path(DIGEST).exists()
    assert downloads.fetch(DIGEST, len(DATA), Source())


def test_a_source_resuming_elsewhere_is_refused(store: Store) -> None:
    downloads = Downloads(store)
    with pytest.raises(DroppedError):
        downloads.fetch(DIGEST, len(DATA), Source(cut_at=1000))

    @contextlib.contextmanager
    def liar(offset: int) -> Iterator[tuple[Readable, int]]:
        yield io.BytesIO(DATA[offset + 5 :]), offset + 5

    with pytest.raises(StoreError, match="resumed at 1005, not 1000"):
        downloads.fetch(DIGEST, len(DATA), liar)


def test_two_downloads_of_one_blob_fetch_it_once(store: Store) -> None:
    downloads = Downloads(store)
    calls: list[int] = []

    @contextlib.contextmanager
    def slow(offset: int) -> Iterator[tuple[Readable, int]]:
        calls.append(offset)
        time.sleep(0.3)
        yield io.BytesIO(DATA), 0

    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(downloads.fetch(DIGEST, len(DATA), slow)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [0] and sorted(results) == [False, True]
    downloads.admit(DIGEST)
    downloads.admit(DIGEST)  # the second pull's admit finds the blob
    assert store.read_blob(DIGEST) == DATA


def test_discard_drops_what_was_downloaded(store: Store) -> None:
    downloads = Downloads(store)
    downloads.fetch(DIGEST, len(DATA), Source())
    downloads.discard(DIGEST)
    assert not any(store.temp.iterdir())
    with pytest.raises(StoreError, match=r"the download of blob .* is gone"):
        downloads.admit(DIGEST)
