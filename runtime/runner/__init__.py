"""Runner processes: one per loaded model, each serving many requests at once.

The server side imports only :func:`start_runner` (and :func:`grammar_for_format` to
turn an API ``format`` into the GBNF that :class:`runtime.protocol.GenerateRequest`
carries); the runner process itself (``python -m runtime.runner``) is :mod:`.process`,
and only it loads llama.cpp. The names are imported on first use (PEP 562), so that the
runner process, which imports this package first, does not pay for the server side's
asyncio client: every millisecond of its start is part of a cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import RunnerProcess, start_runner
    from .grammar import grammar_for_format

__all__ = ["RunnerProcess", "grammar_for_format", "start_runner"]


def __getattr__(name: str) -> Any:
    if name in ("RunnerProcess", "start_runner"):
        from . import client

        return getattr(client, name)
    if name == "grammar_for_format":
        from .grammar import grammar_for_format

        return grammar_for_format
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
