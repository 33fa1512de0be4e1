"""Speculation without a draft model: n-gram lookup in the prompt and the output so far.

Text that copies its input (a file rewritten with one change, an answer quoting its
sources) repeats runs of tokens that already stand earlier in the sequence. After each
token, :class:`NgramIndex` looks up the last ``n`` tokens (``n`` from ``spec_ngram``
down to :data:`MIN_NGRAM`) among the earlier positions and proposes the tokens that
followed the match; the model then verifies them in one batch
(:mod:`runtime.runner.speculation`). This is "prompt lookup decoding" (Saxena, 2023) and
llama.cpp's ``--spec-type ngram-simple``.

Which earlier match: the longest, and of equally long ones the latest, which is nearest
in the text being copied. How far to follow it: only as long as the other recent matches
(:data:`MATCHES_CHECKED`) agree on each next token. Where they part, the text has a slot
that changes from copy to copy (the number in ``item_3``, a renamed word that the output
already spells one way and the input the other), and the next token is a guess. In the
rewrite benchmark nearly every proposal whose first token was such a guess was
rejected, and each cost a verify of several tokens for the one token a plain step gives;
stopping there took the rewrite from 1.02x to 1.55x in a replay of its greedy stream.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_NGRAM = 2
"""The shortest match looked up, unless ``spec_ngram`` asks for 1: one token alone
recurs too often ("the", a newline) for its continuation to be worth verifying."""
MATCHES_CHECKED = 8
"""How many of the latest matches must agree on a token for it to be proposed (the
replay above: 1.06x checking one, 1.55x two to eight, 1.47x sixteen, as the oldest
copies of a slot drown out how the output fills it now)."""


class NgramIndex:
    """Where each n-gram (``min_n`` to ``max_n`` tokens) of a growing sequence starts,
    updated as tokens are appended."""

    def __init__(self, max_n: int) -> None:
        self.max_n = max_n
        self.min_n = min(MIN_NGRAM, max_n)
        self.tokens: list[int] = []
        self._starts: dict[tuple[int, ...], list[int]] = {}

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
        """Up to ``k`` tokens that followed the latest longest match of the sequence's
        end, as far as the latest :data:`MATCHES_CHECKED` matches agree on them."""
        matches = self._longest_match() if k > 0 else []
        if not matches:
            return []
        tokens, source = self.tokens, matches[-1]
        others = matches[-MATCHES_CHECKED:-1]
        proposal: list[int] = []
        for offset, token in enumerate(tokens[source : source + k]):
            if any(p + offset < len(tokens) and tokens[p + offset] != token for p in others):
                break
            proposal.append(token)
        return proposal

    def _longest_match(self) -> list[int]:
        """Where the tokens after each earlier match of the longest n-gram ending the
        sequence start, oldest first; none when no n-gram matches."""
        tokens = self.tokens
        for n in range(min(self.max_n, len(tokens) - 1), self.min_n - 1, -1):
            starts = self._starts.get(tuple(tokens[-n:]))
            if starts:
                return starts
        return []
