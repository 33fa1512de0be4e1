"""Progress events as Ollama's API streams them, and as an iterator for the HTTP layer."""

from __future__ import annotations

import threading

import pytest

from builder.registry import TransferEvent, api_object, stream_progress
from builder.registry.progress import BlobProgress
from builder.store.progress import ProgressEvent, ProgressSink
from ladle.errors import RegistryError


def test_events_are_ollamas_objects() -> None:
    assert api_object(ProgressEvent("pulling manifest")) == {"status": "pulling manifest"}
    event = TransferEvent("pulling 0123456789ab", 5, 10, "sha256:0123456789ab" + "0" * 52)
    assert api_object(event) == {
        "status": "pulling 0123456789ab",
        "digest": "sha256:0123456789ab" + "0" * 52,
        "total": 10,
        "completed": 5,
    }


def test_blob_progress_reports_start_throttled_steps_and_the_end_once() -> None:
    events: list[ProgressEvent] = []
    bar = BlobProgress(events.append, "pulling", "sha256:" + "a" * 64, 1000)
    bar.start()
    for _ in range(100):
        bar(10)
    bar.finish()
    completed = [e.completed for e in events]
    assert completed[0] == 0 and completed[-1] == 1000 and completed.count(1000) == 1
    assert len(events) < 10
    assert events[0].status == "pulling aaaaaaaaaaaa"


def test_stream_progress_yields_the_jobs_events_then_its_error() -> None:
    def job(sink: ProgressSink) -> None:
        sink(ProgressEvent("pulling manifest"))
        raise RegistryError("localhost:5000", "gone")

    stream = stream_progress(job)
    assert next(stream).status == "pulling manifest"
    with pytest.raises(RegistryError, match="gone"):
        next(stream)


def test_closing_the_stream_cancels_the_job() -> None:
    stopped = threading.Event()

    def job(sink: ProgressSink) -> None:
        try:
            for index in range(10_000):
                sink(ProgressEvent(f"step {index}"))
                stopped.wait(0.001)
        finally:
            stopped.set()

    stream = stream_progress(job)
    assert next(stream).status == "step 0"
    stream.close()
    assert stopped.wait(5)
