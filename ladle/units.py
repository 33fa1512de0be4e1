"""Sizes and ages as the CLI and the chat print them, in Ollama's words.

Kept apart from :mod:`ladle.cli.images` (which imports the store) so that commands that only
print, such as ``ladle ps`` and the chat, do not import the builder to format a size.
"""

from __future__ import annotations

import time


def human_bytes(size: int) -> str:
    """Decimal units, as Ollama prints sizes: ``98 MB``, ``1.2 GB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if value >= 10 or unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_time(timestamp: float, now: float | None = None) -> str:
    """``Less than a second ago``, ``2 minutes ago``, ``3 days ago``, as Ollama says it."""
    seconds = max(0.0, (now or time.time()) - timestamp)
    for unit, length in (
        ("year", 31_536_000),
        ("month", 2_592_000),
        ("week", 604_800),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
        ("second", 1),
    ):
        if seconds >= length:
            count = int(seconds // length)
            if count == 1:
                return (
                    f"{'An' if unit == 'hour' else 'A'} {unit} ago"
                    if unit != "second"
                    else "1 second ago"
                )
            return f"{count} {unit}s ago"
    return "Less than a second ago"
