"""Rich progress bars fed by the builder's progress events.

rich takes about 30 ms to import: a tenth of what ``ladle create`` of a derived image may
take in all, and such a build has no byte counts to show, only a few status lines. So
the bars are made, and rich imported, at the first event that counts bytes; until then
status lines are written to stderr as they come.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING

from builder.store.progress import ProgressEvent

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


BAR_WIDTH = 20
"""Characters of each bar: the rest of the line goes to the description and the figures."""


def stderr_is_terminal() -> bool:
    """Whether progress goes to a person (bars) rather than to a file or a pipe."""
    return sys.stderr.isatty()


class ProgressBars:
    """Progress bars fed by the builder's progress events: one bar per copy."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, event: ProgressEvent) -> None:
        if event.total:
            progress = self._bars()
            task = self._tasks.get(event.status)
            if task is None:
                task = self._tasks[event.status] = progress.add_task(
                    event.status, total=event.total
                )
            progress.update(task, completed=event.completed)
        elif event.status not in ("success",):
            if self._progress is not None:
                self._progress.console.print(event.status, markup=False, highlight=False)
            else:
                print(event.status, file=sys.stderr, flush=True)

    def _bars(self) -> Progress:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.table import Column

            # The description takes what is left and is cut short with "…": the figures
            # stay whole on an 80-column terminal whatever the file's name.
            description = Column(ratio=1, no_wrap=True, overflow="ellipsis")
            self._progress = Progress(
                TextColumn("{task.description}", table_column=description),
                BarColumn(bar_width=BAR_WIDTH),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
                expand=True,
            )
            self._progress.start()
        return self._progress
