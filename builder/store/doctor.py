"""``ladle doctor``: check that every image in the store can be read back intact.

For every file under ``manifests/``: its path is a valid model name, it parses as a
Docker v2 manifest with ``schemaVersion`` 2 and valid digests. For every blob a readable
manifest references: the file exists, has the size the manifest says, and hashes to its
digest (:meth:`Store.verify_blob`, the only step that reads blob bytes; each blob is
hashed once however many images share it). Each problem comes with the command that
fixes it.

Repairs go through ``ladle rm`` and ``ladle prune``: the store never overwrites a blob
that is already there, so re-creating an image does not mend a damaged blob; it must
be pruned first. Unused blobs and temp files left by interrupted writes are noted, not
counted as problems: the store is sound, only larger than it needs to be.

``doctor`` only reads, and takes no lock: a ``ladle rm`` and ``ladle prune`` running
beside it may make it report a blob as missing that was removed on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from builder.store.inventory import Inventory, ManifestFile, take_inventory
from builder.store.maintenance import GRACE_SECONDS
from builder.store.manifest import Descriptor
from builder.store.store import Store
from ladle.errors import CorruptBlobError

Progress = Callable[[int, int], None]
"""Called with the bytes hashed so far and the bytes to hash in all."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store: what, and the command that fixes it."""

    subject: str
    message: str
    fix: str


@dataclass(frozen=True)
class Note:
    """Space the store could give back: what, how many bytes, and how."""

    message: str
    size: int
    fix: str = "ladle prune"


@dataclass(frozen=True)
class Checkup:
    """The result of :func:`examine`."""

    images: int
    blobs: int
    checked_bytes: int
    problems: tuple[Problem, ...]
    notes: tuple[Note, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def examine(store: Store, progress: Progress | None = None, now: float | None = None) -> Checkup:
    """Check every manifest and every blob they reference; see the module docstring."""
    inventory = take_inventory(store)
    problems = [problem for entry in inventory.manifests for problem in _manifest_problems(entry)]
    blobs = _BlobCheck(store, inventory)
    problems += blobs.run(progress)
    return Checkup(
        images=sum(1 for entry in inventory.manifests if entry.manifest is not None),
        blobs=len(blobs.users),
        checked_bytes=blobs.total,
        problems=tuple(problems),
        notes=tuple(_notes(inventory, time.time() if now is None else now)),
    )


def _manifest_problems(entry: ManifestFile) -> list[Problem]:
    subject = f"manifest {entry.label}"
    problems = []
    if entry.name_problem is not None:
        problems.append(Problem(subject, entry.name_problem, f"rm {entry.path}"))
    if entry.manifest_problem is not None:
        fix = f"{entry.remove_command()}, then re-create the image"
        problems.append(Problem(subject, entry.manifest_problem, fix))
    return problems


class _BlobCheck:
    """The referenced blobs: cheap checks (exists, size) first, then one hashing pass over
    the blobs that pass them, so that progress has an honest total."""

    def __init__(self, store: Store, inventory: Inventory) -> None:
        self.store = store
        self.users = inventory.references()
        self.problems: list[Problem] = []
        self.to_hash: list[str] = []
        for digest in sorted(self.users):
            self._stat(digest)
        self.total = sum(inventory.blobs[digest].size for digest in self.to_hash)

    def _stat(self, digest: str) -> None:
        users = self.users[digest]
        try:
            size = self.store.blob_path(digest).stat().st_size
        except FileNotFoundError:
            self._problem(digest, "the blob file is missing", _recreate(users))
            return
        wrong = [
            (entry, descriptor.size)
            for entry in users
            for descriptor in _descriptors(entry, digest)
            if descriptor.size != size
        ]
        if wrong:
            entry, expected = wrong[0]
            message = (
                f"the blob file has {size} bytes, but the manifest of {entry.label} says {expected}"
            )
            self._problem(digest, message, _replace(users))
        else:
            self.to_hash.append(digest)

    def run(self, progress: Progress | None) -> list[Problem]:
        done = 0

        def step(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, self.total)

        for digest in self.to_hash:
            try:
                self.store.verify_blob(digest, step)
            except CorruptBlobError as exc:
                self._problem(digest, exc.reason, _replace(self.users[digest]))
        return self.problems

    def _problem(self, digest: str, message: str, fix: str) -> None:
        names = ", ".join(entry.label for entry in self.users[digest])
        self.problems.append(Problem(f"blob {digest} (used by {names})", message, fix))


def _descriptors(entry: ManifestFile, digest: str) -> list[Descriptor]:
    manifest = entry.manifest
    assert manifest is not None  # only readable manifests reference blobs
    return [d for d in (manifest.config, *manifest.layers) if d.digest == digest]


def _recreate(users: list[ManifestFile]) -> str:
    """A missing blob comes back when an image that uses it is built again."""
    names = ", ".join(entry.label for entry in users)
    return f"re-create {names} ('ladle create'), or remove: {_removal(users)}"


def _replace(users: list[ManifestFile]) -> str:
    """A damaged blob must go before a build can write it again."""
    return f"{_removal(users)} && ladle prune, then re-create the image(s)"


def _removal(users: list[ManifestFile]) -> str:
    """One command that removes every image in ``users``."""
    named = [entry.name.display() for entry in users if entry.name is not None]
    paths = [str(entry.path) for entry in users if entry.name is None]
    commands = ([f"ladle rm {' '.join(named)}"] if named else []) + (
        [f"rm {' '.join(paths)}"] if paths else []
    )
    return " && ".join(commands)


def _notes(inventory: Inventory, now: float) -> list[Note]:
    cutoff = now - GRACE_SECONDS
    orphans = [blob for _, blob in inventory.orphans() if blob.modified < cutoff]
    stale = [temp for temp in inventory.temp_files if temp.modified < cutoff]
    notes = []
    if orphans:
        size = sum(blob.size for blob in orphans)
        notes.append(Note(f"{len(orphans)} blob(s) used by no image", size))
    if stale:
        size = sum(temp.size for temp in stale)
        notes.append(Note(f"{len(stale)} temp file(s) left by interrupted writes", size))
    return notes
