"""The content-addressed model store, in Ollama's on-disk layout.

::

    <root>/blobs/sha256-<64 hex>                     content, named by its SHA-256
    <root>/manifests/<host>/<namespace>/<model>/<tag> Docker v2 manifest JSON
    <root>/.ladle/locks/, .ladle/tmp/                ladle's own bookkeeping
    <root>/.ladle/cache/<kind>/                      build caches (e.g. quantized weights)

Writes stream into a temp file inside the store while hashing, fsync it, check the
digest, ``os.replace`` it into place and fsync the folder (the writer holds a lock on
its temp file meanwhile, so that ``prune`` knows a dead writer's file,
:mod:`builder.store.temp_files`); manifests are written last,
the same way, under a per-tag lock shared across processes. A reader sees the old image
or the new one, never a mix. Reads verify digests: a damaged blob is reported, never
served.

Downloads from registries go through :mod:`builder.registry.downloads` (resumable, verified,
admitted all at once).

Blobs are written before the manifest that references them, so for a while they look
unused. Writers therefore hold the store lock shared (:meth:`Store.in_use`) from the
moment they resolve a base until their manifest is written, and ``prune`` takes it
exclusively (:meth:`Store.exclusively`), refusing to run beside them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from builder.store.hashing import (
    CHUNK,
    HashingThread,
    Progress,
    Readable,
    WriteBack,
    copy_hashed,
    file_digest,
    write_all,
)
from builder.store.manifest import Manifest, check_digest, digest_of
from builder.store.names import ModelName
from builder.store.temp_files import create_locked
from ladle.atomic import fsync_folder, write_atomically
from ladle.errors import CorruptBlobError, ModelNotFoundError, StoreError

__all__ = ["CHUNK", "BlobWriter", "Progress", "Readable", "Store", "StoredImage", "writing"]

Check = Callable[[Path], object]
"""Called with a complete temp file before it becomes a blob; raises to refuse it."""

STORE_LOCK = "store.lock"
"""The store-wide lock file in ``.ladle/locks/`` (tag locks are named by a hash)."""


@dataclass(frozen=True)
class StoredImage:
    """A tag in the store: its name, manifest, manifest digest and modification time."""

    name: ModelName
    manifest: Manifest
    digest: str
    modified: float


class Store:
    """A model store rooted at ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.manifests = root / "manifests"
        self._private = root / ".ladle"
        self.temp = self._private / "tmp"

    # -- blobs -------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """The path of a blob; the only place a digest becomes a path."""
        return self.blobs / ("sha256-" + check_digest(digest).removeprefix("sha256:"))

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` (unless already there) and return its digest."""
        digest = digest_of(data)
        if not self.has_blob(digest):
            self._ensure_dirs()
            with writing("blob " + digest):
                write_atomically(self.blob_path(digest), data)
        return digest

    def put_stream(
        self,
        source: Readable,
        expected: str | None = None,
        progress: Progress | None = None,
        check: Callable[[Path], object] | None = None,
    ) -> tuple[str, int]:
        """Copy ``source`` into the store in one pass, hashing while writing.

        Returns ``(digest, size)``. With ``expected``, bytes that hash differently are
        refused; ``check`` is called with the complete temp file before it is moved into
        place, and may raise to refuse it. A refused or failed copy keeps nothing.
        """
        self._ensure_dirs()
        with writing("a blob"), self._temp_file() as (handle, temp):
            hashing = HashingThread()
            try:
                size = copy_hashed(source, handle, hashing, progress)
            finally:
                digest = hashing.finish()
            self._keep(handle, temp, digest, expected, check)
        return digest, size

    @contextlib.contextmanager
    def blob_writer(self, expected: str | None = None) -> Iterator[BlobWriter]:
        """A blob written piece by piece (:meth:`BlobWriter.write`), for bytes that come
        in pieces rather than from a file (an HTTP upload read on an event loop, each
        piece written from whichever worker thread is free). It is stored by
        :meth:`BlobWriter.commit`, only if it hashes to ``expected``; otherwise, or
        without a commit, nothing is kept."""
        self._ensure_dirs()
        with writing("a blob"), self._temp_file() as (handle, temp):
            yield BlobWriter(self, handle, temp, expected)

    def _keep(
        self, handle: BinaryIO, temp: Path, digest: str, expected: str | None, check: Check | None
    ) -> None:
        """Move the complete temp file into place as the blob ``digest``, after checking
        it: its digest against ``expected``, its content with ``check``."""
        os.fsync(handle.fileno())
        if expected is not None and digest != expected:
            raise CorruptBlobError(expected, f"received bytes hash to {digest}")
        if check is not None:
            check(temp)
        temp.chmod(0o644)
        target = self.blob_path(digest)
        if not target.exists():
            temp.replace(target)
            fsync_folder(self.blobs)

    def read_blob(self, digest: str) -> bytes:
        """A small blob's bytes, verified against its digest."""
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CorruptBlobError(digest, "the blob file is missing") from None
        if digest_of(data) != digest:
            raise CorruptBlobError(digest, "its content does not match the digest")
        return data

    def verify_blob(self, digest: str, progress: Progress | None = None) -> None:
        """Hash a blob of any size and raise ``CorruptBlobError`` if it does not match."""
        try:
            found = file_digest(self.blob_path(digest), progress)
        except FileNotFoundError:
            raise CorruptBlobError(digest, "the blob file is missing") from None
        if found != digest:
            raise CorruptBlobError(digest, "its content does not match the digest")

    def blob_digests(self) -> set[str]:
        """Digests of every blob file present."""
        if not self.blobs.is_dir():
            return set()
        return {
            "sha256:" + path.name.removeprefix("sha256-")
            for path in self.blobs.iterdir()
            if path.name.startswith("sha256-")
        }

    # -- manifests ---------------------------------------------------------

    def manifest_path(self, name: ModelName) -> Path:
        return self.manifests / name.relative_path()

    def get(self, name: ModelName) -> StoredImage:
        """The image tagged ``name``; ``ModelNotFoundError`` when there is none."""
        path = self.manifest_path(name)
        try:
            data = path.read_bytes()
            modified = path.stat().st_mtime
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ModelNotFoundError(name.display()) from None
        manifest = Manifest.from_bytes(data, name.display())
        return StoredImage(name, manifest, digest_of(data), modified)

    def put_manifest(self, name: ModelName, manifest: Manifest, data: bytes | None = None) -> str:
        """Tag ``name`` with ``manifest`` (atomically) and return its digest.

        Every blob it references must already be in the store. ``data`` are the
        manifest's bytes as a registry sent them, kept as they are so that the digest
        stays the registry's; they must parse to ``manifest``.
        """
        missing = [digest for digest in manifest.blob_digests() if not self.has_blob(digest)]
        if missing:
            raise StoreError(f"cannot tag {name.display()}: blob {missing[0]} is not in the store")
        if data is None:
            data = manifest.to_bytes()
        elif Manifest.from_bytes(data, name.display()) != manifest:
            raise StoreError(f"cannot tag {name.display()}: the manifest bytes do not match it")
        path = self.manifest_path(name)
        with writing("the manifest of " + name.display()):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        return digest_of(data)

    def manifest_bytes(self, name: ModelName) -> bytes:
        """The manifest file of ``name`` exactly as stored (what a push sends)."""
        try:
            return self.manifest_path(name).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ModelNotFoundError(name.display()) from None

    def delete(self, name: ModelName) -> None:
        """Remove the tag ``name`` (blobs stay until pruned)."""
        path = self.manifest_path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise ModelNotFoundError(name.display()) from None
        fsync_folder(path.parent)
        for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty

    def images(self) -> Iterator[StoredImage]:
        """Every tag in the store; unreadable manifests are skipped (``doctor`` reports them)."""
        if not self.manifests.is_dir():
            return
        for path in sorted(self.manifests.glob("*/*/*/*")):
            if not path.is_file():
                continue
            host, namespace, model, tag = path.relative_to(self.manifests).parts
            try:
                name = ModelName.parse(f"{host}/{namespace}/{model}:{tag}")
                yield self.get(name)
            except (StoreError, ValueError):
                continue
            except Exception:  # an invalid name on disk (not written by ladle)
                continue

    # -- locking and temp files -------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: ModelName) -> Iterator[None]:
        """Hold the cross-process write lock of one tag."""
        self._ensure_dirs()
        key = hashlib.sha256("/".join(name.key()).encode()).hexdigest()[:32]
        with (self._private / "locks" / f"{key}.lock").open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def in_use(self) -> Iterator[None]:
        """Hold the store lock shared, as every writer does: ``prune`` will not run."""
        with self._store_lock(fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def exclusively(self) -> Iterator[None]:
        """Hold the store lock alone, or raise ``StoreError`` at once if a writer holds it."""
        with self._store_lock(fcntl.LOCK_EX | fcntl.LOCK_NB):
            yield

    @contextlib.contextmanager
    def _store_lock(self, operation: int) -> Iterator[None]:
        with writing("the store lock"):
            self._ensure_dirs()
            handle = (self._private / "locks" / STORE_LOCK).open("a+b")
        with handle:
            try:
                fcntl.flock(handle, operation)
            except BlockingIOError:
                raise StoreError(
                    "another ladle command is writing to the store (a build or a copy); "
                    "try again when it has finished"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _temp_file(self) -> Iterator[tuple[BinaryIO, Path]]:
        """A new temp file, locked as its writer's until it is closed and removed."""
        descriptor, temp = create_locked(self.temp)
        try:
            # Unbuffered: each step goes straight from the hashed buffer to the file.
            with os.fdopen(descriptor, "wb", buffering=0) as handle:
                yield handle, temp
        finally:
            temp.unlink(missing_ok=True)

    def private_folder(self, *parts: str) -> Path:
        """A folder of ladle's own under ``<root>/.ladle``, created: ``("cache", "quantize")``.

        Files that ladle writes before storing them (a quantizer's output) belong in
        ``private_folder("tmp")``, on the store's file system and cleared with it.
        """
        folder = self._private.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _ensure_dirs(self) -> None:
        for folder in (self.blobs, self.manifests, self._private / "locks", self.temp):
            folder.mkdir(parents=True, exist_ok=True)


class BlobWriter:
    """A blob being written piece by piece (:meth:`Store.blob_writer`); one thread at a
    time may call it."""

    def __init__(self, store: Store, handle: BinaryIO, temp: Path, expected: str | None) -> None:
        self._store, self._handle, self._temp, self._expected = store, handle, temp, expected
        self._hasher = hashlib.sha256()
        self._writeback = WriteBack(handle)
        self.size = 0
        """Bytes written so far."""

    def write(self, data: bytes) -> None:
        """Hash and write the next piece (blocking: call it from a worker thread)."""
        with writing("a blob"):
            self._hasher.update(data)
            write_all(self._handle, memoryview(data))
        self._writeback.wrote(len(data))
        self.size += len(data)

    def commit(self, check: Check | None = None) -> str:
        """Store what was written, if it hashes to the digest expected (else
        ``CorruptBlobError``) and ``check`` takes it; returns its digest. Blocking."""
        digest = "sha256:" + self._hasher.hexdigest()
        with writing("a blob"):
            self._store._keep(self._handle, self._temp, digest, self._expected, check)
        return digest


@contextlib.contextmanager
def writing(what: str) -> Iterator[None]:
    """Turn an OS error while writing (disk full, permissions) into a ``StoreError``."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StoreError(f"cannot write {what} to the store: {reason}") from None
