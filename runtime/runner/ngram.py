"""Speculation without a draft model: n-gram lookup in the prompt and the output so far.

Text that copies its input (a file rewritten with one change, an answer quoting its
sources) repeats runs of tokens that already stand earlier in the sequence. After each
token, :class:`NgramIndex` looks up the last ``n`` tokens (``n`` from ``spec_ngram``
down to :data:`MIN_NGRAM`) among the earlier positions and proposes the tokens that
followed the match; the model then verifies them in one batch
(:mod:`runtime.runner.speculation`). This is "prompt lookup decoding" (Saxena, 2023) and
llama.cpp's ``--spec-type ngram-simple``.

Which earlier match: a copy runs on, so when the last proposal was accepted the place
right after it (the *cursor*) is tried first; otherwise the longest match wins, and of
equally long ones the latest, which is nearest in the text being copied.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_NGRAM = 2
"""The shortest match looked up, unless ``spec_ngram`` asks for 1: one token alone
recurs too often ("the", a newline) for its continuation to be worth verifying."""


class NgramIndex:
    """Where each n-gram (``min_n`` to ``max_n`` tokens) of a growing sequence starts,
    updated as tokens are appended."""

    def __init__(self, max_n: int) -> None:
        self.max_n = max_n
        self.min_n = min(MIN_NGRAM, max_n)
        self.tokens: list[int] = []
        self._starts: dict[tuple[int, ...], list[int]] = {}
        self.cursor = -1  # where the next token is expected to come from (-1: nowhere)

    def extend(self, tokens: Sequence[int]) -> None:
        """Append ``tokens`` and index the n-grams that now have a token after them."""
        old = len(self.tokens)
        self.tokens.extend(tokens)
        # An n-gram is indexed once a token follows it: only then has it a continuation.
        for end in range(max(old, 1), len(self.tokens)):
            for n in range(self.min_n, self.max_n + 1):
                if end - n < 0:
                    break
                key = tuple(self.tokens[end - n : end])
                self._starts.setdefault(key, []).append(end)

    def propose(self, k: int) -> list[int]:
        """Up to ``k`` tokens that followed an earlier match of the sequence's end."""
        source = self._follow_cursor() if k > 0 else -1
        if source < 0 and k > 0:
            source = self._longest_match()
        if source < 0:
            self.cursor = -1
            return []
        proposal = self.tokens[source : source + k]
        self.cursor = source
        return proposal

    def accepted(self, count: int) -> None:
        """``count`` tokens of the last proposal were kept (and one more token came)."""
        if self.cursor >= 0:
            self.cursor += count + 1

    def _follow_cursor(self) -> int:
        cursor, tokens = self.cursor, self.tokens
        if not 0 < cursor < len(tokens) - 1:
            return -1
        n = self.min_n
        if cursor < n or tokens[cursor - n : cursor] != tokens[-n:]:
            return -1
        return cursor

    def _longest_match(self) -> int:
        tokens = self.tokens
        for n in range(min(self.max_n, len(tokens) - 1), self.min_n - 1, -1):
            starts = self._starts.get(tuple(tokens[-n:]))
            if starts:
                return starts[-1]  # the latest: the nearest in the text being copied
        return -1
