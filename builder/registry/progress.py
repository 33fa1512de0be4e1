"""Progress of pulls and pushes, as callbacks or as an iterator of events.

Events are the builder's :class:`~builder.pipeline.execute.ProgressEvent` (so the CLI draws them
with the same bars), with the blob's digest added for transfers. Their statuses are
Ollama's, so that ``/api/pull`` and ``/api/push`` can stream them as Ollama does::

    {"status": "pulling manifest"}
    {"status": "pulling 1a2b3c4d5e6f", "digest": "sha256:…", "total": 98765, "completed": 4096}
    {"status": "verifying sha256 digest"}
    {"status": "writing manifest"}
    {"status": "success"}

:func:`stream_progress` runs a pull or push in a worker thread and yields its events, for
an HTTP handler that streams them; closing the iterator cancels the transfer (a pull's
partial file stays, to resume).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from builder.store.progress import ProgressEvent, ProgressSink

REPORT_INTERVAL = 0.1
"""Seconds between two reports of one transfer's bytes (the last is always reported)."""


@dataclass(frozen=True)
class TransferEvent(ProgressEvent):
    """Bytes of one blob moved: ``completed`` of ``total``."""

    digest: str = ""

    def to_api(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "digest": self.digest,
            "total": self.total,
            "completed": self.completed,
        }


def api_object(event: ProgressEvent) -> dict[str, Any]:
    """The JSON object Ollama's API streams for ``event``."""
    if isinstance(event, TransferEvent):
        return event.to_api()
    if event.total:  # a build's copy or conversion: its bytes, as Ollama's pulls show them
        return {"status": event.status, "total": event.total, "completed": event.completed}
    return {"status": event.status}


class TransferCancelledError(Exception):
    """Raised inside a transfer whose progress iterator was closed (never shown to users)."""


class BlobProgress:
    """Counts one blob's bytes and reports them, at most every :data:`REPORT_INTERVAL`."""

    def __init__(self, sink: ProgressSink, verb: str, digest: str, total: int) -> None:
        self._sink, self._digest, self._total = sink, digest, total
        self._status = f"{verb} {digest.removeprefix('sha256:')[:12]}"
        self.completed = 0
        self._reported = 0.0
        self._reported_bytes = -1

    def start(self) -> None:
        self._report()

    def __call__(self, count: int) -> None:
        self.completed += count
        now = time.monotonic()
        if now - self._reported >= REPORT_INTERVAL or self.completed >= self._total:
            self._reported = now
            self._report()

    def finish(self) -> None:
        """Report the blob complete (it was there already, or has just arrived)."""
        self.completed = self._total
        if self._reported_bytes != self._total:
            self._report()

    def _report(self) -> None:
        self._reported_bytes = self.completed
        self._sink(TransferEvent(self._status, self.completed, self._total, self._digest))


def stream_progress(job: Callable[[ProgressSink], object]) -> Iterator[ProgressEvent]:
    """Run ``job(sink)`` in a thread and yield every event it reports; the job's error,
    if any, is raised after its last event."""
    events: queue.Queue[ProgressEvent | None] = queue.Queue()
    cancelled = threading.Event()
    failure: list[BaseException] = []

    def sink(event: ProgressEvent) -> None:
        if cancelled.is_set():
            raise TransferCancelledError
        events.put(event)

    def run() -> None:
        try:
            job(sink)
        except BaseException as exc:  # handed to the consumer, in its thread
            failure.append(exc)
        finally:
            events.put(None)

    worker = threading.Thread(target=run, name="ladle-transfer", daemon=True)
    worker.start()
    try:
        while (event := events.get()) is not None:
            yield event
    finally:
        cancelled.set()
    worker.join()
    if failure and not isinstance(failure[0], TransferCancelledError):
        raise failure[0]
