"""``ladle prune``: remove the blobs no image uses, and temp files of interrupted writes.

Pruning deletes data, so it only deletes what it can prove unused. The rules:

1. **Every manifest must parse.** A blob is kept while any manifest references it, and
   a manifest that cannot be read references nobody knows what. So one unreadable file
   under ``manifests/`` stops the prune before anything is removed; the error names each
   such file, to fix or remove (``ladle rm NAME``, or delete the file). Guessing would
   delete the weights of the very image the user is about to repair.
2. **Never beside a writer.** Builds and copies write blobs before the manifest that
   references them, holding the store lock shared (:meth:`Store.in_use`); prune takes
   it exclusively and refuses to run while any of them holds it. (Tag locks would not
   do: a build takes its tag's lock only to write the manifest, after its blobs.)
3. **A grace period for everyone else.** Another program may share the store without
   ladle's lock (``LADLE_MODELS=~/.ollama/models``, with Ollama pulling). So a blob or
   temp file modified in the last :data:`GRACE_SECONDS` is spared, referenced or not.
   Except a temp file that says who writes it (:mod:`builder.store.temp_files`): one
   whose writer has died (a killed ``ladle create``, an upload cut off) is removed at
   once, whatever its age, and one whose writer lives stays, whatever its age.
4. **Only what is ours.** Blobs are files named ``sha256-<64 hex>``; temp files are
   those of ``.ladle/tmp/`` and the dot-files that atomic writes leave beside blobs and
   manifests. Anything else (Ollama's ``-partial`` downloads, ``.ladle/cache/``) stays.
5. **Prompt caches follow their weights.** The KV caches runners save when they unload
   (``LADLE_CACHE_DIR``, by default ``.ladle/prompt-cache/``, one subfolder per weights'
   blob) go when those weights leave the store; all of them with ``--caches``.

``--dry-run`` runs rules 1, 3 and 4 and removes nothing; it takes no lock, so it may
list a blob that a build is about to reference.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder.store.inventory import Inventory, StoredFile, take_inventory
from builder.store.store import Store
from builder.store.temp_files import Writer, writer_of
from ladle.atomic import fsync_folder
from ladle.errors import StoreError

GRACE_SECONDS = 10 * 60
"""Files modified more recently than this may belong to a write in progress."""


@dataclass(frozen=True)
class Removal:
    """A file that prune removes: a blob (with its digest) or a temp file."""

    path: Path
    size: int
    digest: str | None = None

    def label(self, store: Store) -> str:
        """The blob's digest, or the temp file's path inside the store."""
        return self.digest or self.path.relative_to(store.root).as_posix()


@dataclass(frozen=True)
class PrunePlan:
    """What one prune removes, and the unused blobs it spares because they are fresh."""

    removals: tuple[Removal, ...]
    spared: tuple[Removal, ...]

    @property
    def reclaimed(self) -> int:
        """Bytes freed by the removals."""
        return sum(removal.size for removal in self.removals)


def plan_prune(store: Store, now: float | None = None) -> PrunePlan:
    """What :func:`prune` would remove now; reads the store, writes nothing.

    Raises ``StoreError`` when a manifest cannot be parsed (rule 1).
    """
    inventory = take_inventory(store)
    _refuse_unreadable(inventory)
    cutoff = (time.time() if now is None else now) - GRACE_SECONDS
    orphans = [
        (Removal(blob.path, blob.size, digest), blob) for digest, blob in inventory.orphans()
    ]
    temps = [Removal(temp.path, temp.size) for temp in inventory.temp_files if _stale(temp, cutoff)]
    return PrunePlan(
        removals=tuple(removal for removal, file in orphans if file.modified < cutoff)
        + tuple(temps),
        spared=tuple(removal for removal, file in orphans if file.modified >= cutoff),
    )


def _stale(temp: StoredFile, cutoff: float) -> bool:
    """Whether the temp file ``temp`` is left over: its writer is gone, or, when it cannot
    tell, it is older than ``cutoff`` (rule 3)."""
    writer = writer_of(temp.path)
    return writer is Writer.GONE or (writer is Writer.UNKNOWN and temp.modified < cutoff)


def prune(
    store: Store,
    removed: Callable[[Removal], None] | None = None,
    now: float | None = None,
) -> PrunePlan:
    """Remove what :func:`plan_prune` lists, holding the store lock exclusively;
    ``removed`` is called after each file goes."""
    if not store.root.is_dir():
        return PrunePlan((), ())
    with store.exclusively():
        plan = plan_prune(store, now)
        for removal in plan.removals:
            _remove(store, removal)
            if removed is not None:
                removed(removal)
        fsync_folder(store.blobs)
    return plan


def _refuse_unreadable(inventory: Inventory) -> None:
    """Rule 1: stop before removing anything while a manifest cannot be read."""
    unreadable = inventory.unreadable()
    if unreadable:
        lines = ["nothing was pruned: a manifest that cannot be read may reference any blob"]
        for entry in unreadable:
            lines += [
                f"  {entry.manifest_problem}",
                f"    fix it, or remove it: {entry.remove_command()}",
            ]
        raise StoreError("\n".join(lines))


def _remove(store: Store, removal: Removal) -> None:
    try:
        removal.path.unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot remove {removal.label(store)}: {exc.strerror or exc}") from None


def prompt_cache_removals(
    folder: Path, store: Store, plan: PrunePlan, *, everything: bool = False
) -> list[Removal]:
    """The saved prompt caches (``LADLE_CACHE_DIR``: one subfolder per weights' blob name)
    whose weights are gone from the store or go in ``plan``; all of them if ``everything``."""
    if not folder.is_dir():
        return []
    going = {removal.path.name for removal in plan.removals}
    removals = []
    for models in sorted(path for path in folder.iterdir() if path.is_dir()):
        kept = (store.blobs / models.name).is_file() and models.name not in going
        if everything or not kept:
            files = [path for path in models.rglob("*") if path.is_file()]
            size = sum(path.stat().st_size for path in files)
            removals.append(Removal(models, size))
    return removals


def remove_prompt_caches(removals: list[Removal]) -> None:
    """Delete the folders :func:`prompt_cache_removals` listed."""
    for removal in removals:
        try:
            shutil.rmtree(removal.path)
        except FileNotFoundError:
            continue  # a runner's eviction got there first
        except OSError as exc:
            raise StoreError(f"cannot remove {removal.path}: {exc.strerror or exc}") from None
