"""Downloads into the store: resumable, verified, and admitted all at once.

A pull fetches every blob of a manifest before any becomes visible:

1. :meth:`Downloads.fetch` streams a blob into ``.ladle/tmp/sha256-<hex>.partial`` (one
   name per digest) while hashing it. A killed download leaves the file, and the next
   one asks its source for the rest (``Range``), hashing what is on disk first. Bytes
   beyond the blob's size, or that hash to another digest, are refused and the partial
   file is removed. Verified bytes are renamed to ``sha256-<hex>.verified``, still in
   ``.ladle/tmp``.
2. :meth:`Downloads.admit` moves verified downloads into ``blobs/`` once every blob of
   the manifest is verified; the manifest is written after that (by the caller).
3. :meth:`Downloads.discard` drops the downloads of a source found untrustworthy, so
   that a refused pull leaves nothing behind.

Each digest has a cross-process lock, held while it is fetched or admitted: a second
pull of the same blob waits for the first and then finds it verified (or in the store),
so the blob is downloaded once.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from builder.store.hashing import CHUNK, HashingThread, Progress, Readable, copy_hashed
from builder.store.manifest import check_digest
from builder.store.store import Store, writing
from ladle.atomic import fsync_folder
from ladle.errors import CorruptBlobError, StoreError

PARTIAL_SUFFIX = ".partial"
"""A download in progress: ``.ladle/tmp/sha256-<hex>.partial``."""
VERIFIED_SUFFIX = ".verified"
"""A download whose bytes hash to its digest, waiting to be admitted."""

Fetch = Callable[[int], AbstractContextManager[tuple[Readable, int]]]
"""Opens a blob's source, given how many bytes are on disk already: returns the stream
and the offset it starts at (that number, or 0 for a source that cannot resume)."""


class Downloads:
    """The downloads of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def partial_path(self, digest: str) -> Path:
        return self.store.temp / (self.store.blob_path(digest).name + PARTIAL_SUFFIX)

    def verified_path(self, digest: str) -> Path:
        return self.store.temp / (self.store.blob_path(digest).name + VERIFIED_SUFFIX)

    def fetch(self, digest: str, size: int, fetch: Fetch, progress: Progress | None = None) -> bool:
        """Download blob ``digest`` of ``size`` bytes unless the store has it or a verified
        download of it; returns whether this call downloaded it."""
        check_digest(digest)
        self.store.private_folder("tmp")
        with self._lock(digest):
            if self.store.has_blob(digest) or self.verified_path(digest).is_file():
                return False
            partial = self.partial_path(digest)
            try:
                with writing("a download"), partial.open("a+b", buffering=0) as handle:
                    self._fetch_into(handle, digest, size, fetch, progress)
                    partial.chmod(0o644)
                    partial.replace(self.verified_path(digest))
            except BaseException:
                if partial.exists() and partial.stat().st_size == 0:
                    partial.unlink()  # nothing to resume
                raise
        return True

    def admit(self, digest: str) -> None:
        """Make the verified download of ``digest`` a blob (nothing to do when the store
        has the blob already)."""
        with self._lock(digest):
            verified = self.verified_path(digest)
            if self.store.has_blob(digest):
                verified.unlink(missing_ok=True)
                return
            try:
                with writing("a blob"):
                    self.store.blobs.mkdir(parents=True, exist_ok=True)
                    verified.replace(self.store.blob_path(digest))
            except StoreError:
                if not verified.exists():
                    raise StoreError(
                        f"the download of blob {digest} is gone (a prune of the store, or "
                        "a pull beside this one that was refused); pull again"
                    ) from None
                raise
            fsync_folder(self.store.blobs)

    def discard(self, digest: str) -> None:
        """Drop what was downloaded of ``digest``, verified or partial."""
        with self._lock(digest):
            self.verified_path(digest).unlink(missing_ok=True)
            self.partial_path(digest).unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self, digest: str) -> Iterator[None]:
        """Hold the cross-process lock of one blob's download."""
        path = self.store.private_folder("locks") / (self.store.blob_path(digest).name + ".lock")
        with writing("a lock file"), path.open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _fetch_into(
        self, handle: io.FileIO, digest: str, size: int, fetch: Fetch, progress: Progress | None
    ) -> None:
        on_disk = os.fstat(handle.fileno()).st_size
        offset = on_disk if on_disk <= size else 0
        with fetch(offset) as (source, start):
            if start not in (0, offset):
                raise StoreError(f"blob {digest}: the source resumed at {start}, not {offset}")
            os.truncate(handle.fileno(), start)  # keep only what the source continues
            hashing = HashingThread()
            try:
                _hash_prefix(handle, start, hashing)
                if progress is not None and start:
                    progress(start)
                received = start + copy_hashed(source, handle, hashing, progress, size - start)
            finally:
                got = hashing.finish()
        problem = None
        if received != size:
            problem = f"{'more than ' if received > size else ''}{received} bytes, not {size}"
        elif got != digest:
            problem = f"received bytes hash to {got}"
        if problem is not None:
            self.partial_path(digest).unlink(missing_ok=True)
            raise CorruptBlobError(digest, problem)
        os.fsync(handle.fileno())


def _hash_prefix(handle: io.FileIO, length: int, hashing: HashingThread) -> None:
    """Hash the first ``length`` bytes of ``handle`` (a download being resumed)."""
    handle.seek(0)
    remaining = length
    while remaining:
        chunk = memoryview(bytearray(min(CHUNK, remaining)))
        count = handle.readinto(chunk)
        if not count:
            raise OSError(0, "the partial download became shorter while it was read")
        hashing.add(chunk[:count])
        remaining -= count
