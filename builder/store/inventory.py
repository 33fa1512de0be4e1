"""What a store holds on disk, readable or not: the shared ground of ``prune`` and ``doctor``.

:meth:`Store.images` skips what it cannot read, which is right for ``ladle list`` and
wrong for maintenance: a manifest that does not parse still says "these blobs are mine"
to whoever wrote it, and ``doctor`` must name it. :func:`take_inventory` lists every
file under ``manifests/``, every blob file and every temp file, and reads nothing but
manifests (blobs are only ``stat``-ed).

Which files are what:

- ``manifests/**/<file>``: a manifest, whatever its depth; one whose path is not
  ``<host>/<namespace>/<model>/<tag>`` with a valid name is still read, so that its
  blobs are protected, and reported by ``doctor``.
- ``blobs/sha256-<64 hex>``: a blob. Other names there (Ollama's ``-partial`` downloads)
  belong to someone else and are left alone.
- ``.ladle/tmp/*``, and dot-files under ``blobs/`` and ``manifests/`` (the temp files of
  :func:`ladle.atomic.write_atomically`): temp files of writes in progress, or left
  behind by interrupted ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from builder.store.manifest import DIGEST, Manifest
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import LadleError, StoreError

BLOB_PREFIX = "sha256-"
"""A blob file's name is this prefix and 64 hex digits (Ollama's layout)."""


@dataclass(frozen=True)
class ManifestFile:
    """One file under ``manifests/``: its name when the path is one, its manifest when
    it parses, and otherwise why not."""

    path: Path
    relative: str
    name: ModelName | None
    name_problem: str | None
    manifest: Manifest | None
    manifest_problem: str | None

    @property
    def label(self) -> str:
        """How to mention it: the model name, or the path when it has no valid name."""
        return self.name.display() if self.name is not None else f"manifests/{self.relative}"

    def remove_command(self) -> str:
        """The command that removes it: ``ladle rm NAME``, or ``rm PATH`` without a name."""
        return f"ladle rm {self.name.display()}" if self.name is not None else f"rm {self.path}"


@dataclass(frozen=True)
class StoredFile:
    """A blob or temp file: where it is, its size and modification time."""

    path: Path
    size: int
    modified: float


@dataclass(frozen=True)
class Inventory:
    """Every manifest, blob and temp file of a store, at one moment."""

    manifests: tuple[ManifestFile, ...] = ()
    blobs: dict[str, StoredFile] = field(default_factory=dict)
    temp_files: tuple[StoredFile, ...] = ()

    def unreadable(self) -> list[ManifestFile]:
        """Manifests that do not parse: nobody can tell which blobs they reference."""
        return [entry for entry in self.manifests if entry.manifest is None]

    def references(self) -> dict[str, list[ManifestFile]]:
        """Digest -> the readable manifests that reference it, in path order."""
        users: dict[str, list[ManifestFile]] = {}
        for entry in self.manifests:
            if entry.manifest is not None:
                for digest in dict.fromkeys(entry.manifest.blob_digests()):
                    users.setdefault(digest, []).append(entry)
        return users

    def orphans(self) -> list[tuple[str, StoredFile]]:
        """Blob files that no readable manifest references, by digest."""
        referenced = self.references()
        return sorted((d, blob) for d, blob in self.blobs.items() if d not in referenced)


def take_inventory(store: Store) -> Inventory:
    """List what ``store`` holds (an empty inventory when it does not exist yet)."""
    return Inventory(
        manifests=tuple(_manifest_files(store)),
        blobs=dict(_blob_files(store)),
        temp_files=tuple(_temp_files(store)),
    )


def _manifest_files(store: Store) -> Iterator[ManifestFile]:
    for path in _files(store.manifests):
        if not path.name.startswith("."):
            yield _read_manifest(store, path)


def _read_manifest(store: Store, path: Path) -> ManifestFile:
    relative = path.relative_to(store.manifests).as_posix()
    name, name_problem = _name_of(relative)
    manifest, manifest_problem = None, None
    try:
        manifest = Manifest.from_bytes(path.read_bytes(), f"manifests/{relative}")
    except StoreError as exc:
        manifest_problem = str(exc)
    except OSError as exc:
        manifest_problem = f"cannot read manifests/{relative}: {exc.strerror or exc}"
    return ManifestFile(path, relative, name, name_problem, manifest, manifest_problem)


def _name_of(relative: str) -> tuple[ModelName | None, str | None]:
    """The model name a manifest path stands for, or why it stands for none."""
    parts = relative.split("/")
    if len(parts) != 4:
        return None, "its path is not <host>/<namespace>/<model>/<tag>"
    host, namespace, model, tag = parts
    try:
        name = ModelName.parse(f"{host}/{namespace}/{model}:{tag}")
    except LadleError as exc:
        return None, str(exc)
    if name.relative_path().as_posix() != relative:
        # ladle and Ollama look names up by their lower-case path; this one is never found.
        return None, f"its path is not lower-case, so it is never found as {name.display()}"
    return name, None


def _blob_files(store: Store) -> Iterator[tuple[str, StoredFile]]:
    if not store.blobs.is_dir():
        return
    for path in sorted(store.blobs.iterdir()):
        digest = "sha256:" + path.name.removeprefix(BLOB_PREFIX)
        is_blob = path.name.startswith(BLOB_PREFIX) and DIGEST.fullmatch(digest)
        if is_blob and (stored := _stored(path)) is not None:
            yield digest, stored


def _temp_files(store: Store) -> Iterator[StoredFile]:
    temps = _files(store.temp)
    for folder in (store.blobs, store.manifests):
        temps += [path for path in _files(folder) if path.name.startswith(".")]
    for path in temps:
        if (stored := _stored(path)) is not None:
            yield stored


def _files(folder: Path) -> list[Path]:
    """Regular files under ``folder``, at any depth, in path order."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _stored(path: Path) -> StoredFile | None:
    """The file's size and time; ``None`` when it is gone (a writer just renamed it)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return StoredFile(path, status.st_size, status.st_mtime)
