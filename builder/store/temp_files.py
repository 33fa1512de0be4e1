"""Temp files that say whether their writer still lives.

A blob is written into a temp file in ``.ladle/tmp/`` before it is moved into place. A
writer killed half-way (a ``ladle create`` stopped with Ctrl-C, an OOM kill) leaves the
file behind, and ``prune`` could only guess from its age whether someone still writes
it. So a writer holds an exclusive ``flock`` on its temp file for as long as it writes:
the kernel releases the lock when the writer's process ends, however it ends. A temp
file named :data:`WRITER_PREFIX` that nobody holds is therefore a dead writer's, and
``prune`` removes it at once; one that somebody holds is being written, whatever its
age, and stays. Files without the prefix (other programs', older ladles') keep the
grace period (:mod:`builder.store.maintenance`).

The lock is taken before the file gets its name: until then it is a ``.new-`` file,
which only the grace period can remove, so ``prune`` never sees a writer's file
unlocked while its writer lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from enum import Enum
from pathlib import Path

WRITER_PREFIX = "writing-"
"""The name of a temp file whose writer holds its lock while writing."""
_UNNAMED_PREFIX = ".new-"


class Writer(Enum):
    """What a temp file says of its writer."""

    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"
    """Not a locked writer's file: its age is all there is to go by."""


def create_locked(folder: Path) -> tuple[int, Path]:
    """A new empty temp file in ``folder``, open for writing (the descriptor) and locked
    by this process until the descriptor is closed."""
    descriptor, name = tempfile.mkstemp(dir=folder, prefix=_UNNAMED_PREFIX)
    unnamed = Path(name)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        path = unnamed.with_name(WRITER_PREFIX + unnamed.name.removeprefix(_UNNAMED_PREFIX))
        unnamed.rename(path)
    except BaseException:
        os.close(descriptor)
        unnamed.unlink(missing_ok=True)
        raise
    return descriptor, path


def writer_of(path: Path) -> Writer:
    """Whether the writer of the temp file ``path`` still lives: its lock is held."""
    if not path.name.startswith(WRITER_PREFIX) or not path.is_file():
        return Writer.UNKNOWN
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return Writer.UNKNOWN
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return Writer.ALIVE
    except OSError:  # a file system without flock: say nothing
        return Writer.UNKNOWN
    finally:
        with contextlib.suppress(OSError):
            os.close(descriptor)  # and with it this probe's own lock
    return Writer.GONE
