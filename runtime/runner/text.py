"""Turning generated token bytes into text that is safe to stream.

Two things make this more than ``piece.decode()``: a character may be split across
tokens (byte-fallback tokens carry one UTF-8 byte each), and a stop string may be split
across tokens too. :class:`TextStream` holds back incomplete characters and any tail
that could still grow into a stop string, so that a client never sees either.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextStream:
    """Incremental UTF-8 decoding with stop strings."""

    def __init__(self, stops: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._stops = tuple(stop for stop in stops if stop)
        self._held = ""
        self.stopped = False

    def feed(self, data: bytes) -> str:
        """The text that may be shown after ``data``; sets :attr:`stopped` at a stop string
        (the stop string and anything after it are dropped)."""
        held = self._held + self._decoder.decode(data)
        cut = min((i for i in (held.find(stop) for stop in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held, self.stopped = "", True
            return held[:cut]
        keep = self._stop_prefix_length(held)
        self._held = held[len(held) - keep :]
        return held[: len(held) - keep]

    def flush(self) -> str:
        """What was held back, at the end of generation (nothing after a stop)."""
        if self.stopped:
            return ""
        rest = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return rest

    def _stop_prefix_length(self, text: str) -> int:
        """The longest tail of ``text`` that is the start of some stop string."""
        longest = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:length]):
                    longest = length
                    break
        return longest
