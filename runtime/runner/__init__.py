"""Runner processes: one per loaded model, each serving many requests at once.

The server side imports only :func:`start_runner` (and :func:`grammar_for_format` to
turn an API ``format`` into the GBNF that :class:`runtime.protocol.GenerateRequest`
carries); the runner process itself (``python -m runtime.runner``) is :mod:`.process`,
and only it loads llama.cpp.
"""

from __future__ import annotations

from .client import RunnerProcess, start_runner
from .grammar import grammar_for_format

__all__ = ["RunnerProcess", "grammar_for_format", "start_runner"]
