"""Progress of long store work (a build's copies, a registry's transfers): events and sinks.

The builder, the registry client and the HTTP API all report through these, and the CLI
draws them as bars; they live beside the store so that none of those depends on another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """A step of a build: ``status`` text, and for copies the bytes done of ``total``."""

    status: str
    completed: int = 0
    total: int = 0


ProgressSink = Callable[[ProgressEvent], None]
"""Where progress events go: the CLI's bars, an API stream, or a test's list."""
