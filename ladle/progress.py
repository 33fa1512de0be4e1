"""Rich progress bars fed by the builder's progress events."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from builder.execute import ProgressEvent

console = Console(stderr=True)


class ProgressBars:
    """Rich progress bars fed by the builder's progress events: one bar per copy."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, event: ProgressEvent) -> None:
        if event.total:
            task = self._tasks.get(event.status)
            if task is None:
                task = self._tasks[event.status] = self._progress.add_task(
                    event.status, total=event.total
                )
            self._progress.update(task, completed=event.completed)
        elif event.status not in ("success",):
            self._progress.console.print(event.status)
