"""Atomic file replacement: a reader sees the old file or the new one, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: temp file beside it, fsync, rename, fsync the folder.

    The file keeps its permission bits (a new one gets ``mode``); on any failure the old
    file is untouched and the temp file is removed.
    """
    folder = path.parent
    if path.exists():
        mode = path.stat().st_mode & 0o7777
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", delete=False)  # noqa: SIM115
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(mode)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(folder)


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
