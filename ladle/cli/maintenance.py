"""Store maintenance commands: ``prune`` and ``doctor``.

The rules they follow (what prune may delete, what doctor checks) are in
:mod:`builder.store.maintenance` and :mod:`builder.store.doctor`; this module only prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from builder.store.store import Store
from ladle.settings import Settings
from ladle.units import human_bytes

if TYPE_CHECKING:
    from builder.store.doctor import Checkup
    from builder.store.maintenance import PrunePlan, Removal


def _store() -> Store:
    return Store(Settings.from_environment().models)


def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="List what would be removed; remove nothing.")
    ] = False,
    caches: Annotated[
        bool, typer.Option("--caches", help="Remove every saved prompt cache too.")
    ] = False,
) -> None:
    """Remove blobs that no image uses, temp files left by interrupted writes, and the
    prompt caches saved for models no longer in the store (all of them with --caches).

    Nothing is removed while a manifest cannot be read (it may reference any blob: fix or
    remove it first), while a build or copy is writing to the store, or if it was modified
    in the last 10 minutes (another program may be writing it), unless it is a temp file
    whose ladle writer has died (each writer holds a lock on its file).

    Example: ladle rm sre-bot:old && ladle prune
    """
    from builder.store.maintenance import GRACE_SECONDS, plan_prune
    from builder.store.maintenance import prune as prune_store

    store = _store()
    verb = "would delete" if dry_run else "deleted"

    def report(removal: Removal) -> None:
        typer.echo(f"{verb} {removal.label(store)} ({human_bytes(removal.size)})")

    if dry_run:
        plan = plan_prune(store)
        for removal in plan.removals:
            report(removal)
    else:
        plan = prune_store(store, report)
    if plan.spared:
        size = human_bytes(sum(removal.size for removal in plan.spared))
        typer.echo(
            f"kept {_count(len(plan.spared), 'unused blob')} ({size}) modified less than "
            f"{GRACE_SECONDS // 60} minutes ago, in case a write is still in progress"
        )
    reclaimed = plan.reclaimed + _prune_prompt_caches(store, plan, verb, everything=caches)
    total = "reclaimable" if dry_run else "reclaimed"
    typer.echo(f"Total {total} space: {human_bytes(reclaimed)}")


def _prune_prompt_caches(store: Store, plan: PrunePlan, verb: str, *, everything: bool) -> int:
    """Remove (or, on a dry run, list) the saved prompt caches that go; their bytes."""
    from builder.store.maintenance import prompt_cache_removals, remove_prompt_caches

    folder = Settings.from_environment().prompt_cache_folder
    removals = prompt_cache_removals(folder, store, plan, everything=everything)
    if verb == "deleted":
        remove_prompt_caches(removals)
    for removal in removals:
        typer.echo(f"{verb} prompt caches of {removal.path.name} ({human_bytes(removal.size)})")
    return sum(removal.size for removal in removals)


def doctor() -> None:
    """Check the store: every manifest parses, every blob it references is there, has
    the right size and hashes to its digest. Prints each problem with its fix, and
    exits 1 if there is any.

    Example: ladle doctor
    """
    from builder.store.doctor import examine
    from builder.store.progress import ProgressEvent
    from ladle.cli.progress import ProgressBars, stderr_is_terminal

    store = _store()
    if stderr_is_terminal():
        with ProgressBars() as bars:
            checkup = examine(
                store, lambda done, total: bars.update(ProgressEvent("verifying", done, total))
            )
    else:
        checkup = examine(store)
    _print_checkup(checkup)
    if not checkup.ok:
        raise typer.Exit(1)


def _print_checkup(checkup: Checkup) -> None:
    for problem in checkup.problems:
        typer.echo(f"problem: {problem.subject}: {problem.message}\n    fix: {problem.fix}")
    for note in checkup.notes:
        typer.echo(f"note: {note.message} ({human_bytes(note.size)}); '{note.fix}' removes them")
    counts = f"{_count(checkup.images, 'image')}, {_count(checkup.blobs, 'blob')}"
    if checkup.ok:
        typer.echo(f"store OK: {counts}, {human_bytes(checkup.checked_bytes)} checked")
    else:
        typer.echo(f"{_count(len(checkup.problems), 'problem')} found in {counts}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
