"""The draft model: a small model beside the target, proposing tokens greedily.

A runner whose :class:`~runtime.protocol.LoadSpec` has a ``draft_path`` loads that GGUF
too (:func:`load_draft`), with a context of its own holding the same ``num_parallel``
sequences as the target's. For each sequence that wants proposals, :class:`Drafter`
first brings the draft's cache up to the sequence's tokens (keeping the longest common
prefix, as the engine does for prompts, so a chat's next turn and the tokens accepted
since the last proposal are all it evaluates), then decodes greedily, one token per
sequence per batch, until it has proposed ``k`` tokens or is no longer confident
(:data:`DRAFT_P_MIN`, llama.cpp's ``--draft-p-min``): a guess the draft itself doubts
is seldom accepted, and verifying it costs the target more than it saves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import llama_cpp as llama
import numpy as np

from ladle.errors import RunnerError
from runtime.protocol import LoadSpec

from .native import Batch, LlamaLog, LlamaModel
from .prefix import common_prefix

DRAFT_P_MIN = 0.6
"""A draft token whose probability under the draft is lower ends the proposal."""

LONG_CATCH_UP = 16
"""Tokens behind past which catching a draft's cache up is a prompt's evaluation."""

Want = tuple[int, Sequence[int], int]
"""A sequence id, its tokens (prompt and output; the last one not evaluated yet) and how
many tokens to propose after them."""


def load_draft(spec: LoadSpec, target: LlamaModel, log: LlamaLog) -> LlamaModel | None:
    """The draft model of ``spec`` (None when it has none), checked against ``target``."""
    if spec.draft_path is None:
        return None
    # The draft has its own weights only: no adapters, projector, saved caches or draft.
    alone = {"adapters": (), "embedding": False, "projector_path": None, "prompt_cache": None}
    draft_spec = spec.model_copy(update={"model_path": spec.draft_path, **alone})
    draft = LlamaModel(draft_spec, log)
    if draft.n_vocab != target.n_vocab:
        draft.close()
        raise RunnerError(
            f"the draft model {spec.draft_path} has {draft.n_vocab} tokens, the model "
            f"{target.n_vocab}: a draft must share its model's vocabulary"
        )
    return draft


class Drafter:
    """Greedy proposals from a draft :class:`LlamaModel`, one sequence per engine slot."""

    def __init__(self, model: LlamaModel) -> None:
        self.model = model
        self.batch = Batch(model.n_batch)
        self.cached: dict[int, list[int]] = {}  # seq_id -> the tokens its cache holds
        self.p_min = DRAFT_P_MIN

    def propose(self, wanted: Sequence[Want]) -> tuple[list[list[int]], float]:
        """Up to ``k`` tokens for each of ``wanted``, and the seconds a proposal costs: a
        long catch-up (a new prompt: a cost paid once, as the model's own prompt) is left
        out, so that it does not make the draft look slow for good."""
        started = time.perf_counter()
        proposals: list[list[int]] = [[] for _ in wanted]
        behind = sum(len(tokens) - len(self.cached.get(seq, ())) for seq, tokens, _ in wanted)
        try:
            next_tokens = self._catch_up(wanted)
            caught_up = time.perf_counter()
            self._extend(wanted, next_tokens, proposals)
        except RunnerError:
            for seq_id, _, _ in wanted:  # its cache holds part of a failed batch
                self.forget(seq_id)
            return [[] for _ in wanted], 0.0
        if behind > LONG_CATCH_UP:
            started = caught_up
        return proposals, time.perf_counter() - started

    def forget(self, seq_id: int) -> None:
        """Empty ``seq_id``'s cache."""
        self.model.forget(seq_id)
        self.cached[seq_id] = []

    def close(self) -> None:
        self.batch.close()

    def _catch_up(self, wanted: Sequence[Want]) -> list[tuple[int, float]]:
        """Evaluate what each sequence's cache lacks; the draft's first guess for each."""
        todo = [self._reuse(seq_id, tokens) for seq_id, tokens, _ in wanted]
        guesses: list[tuple[int, float]] = [(-1, 0.0)] * len(wanted)
        while any(todo):
            last = self._fill(wanted, todo)
            self._decode()
            for item, index in last.items():
                guesses[item] = self._guess(index)
        return guesses

    def _fill(self, wanted: Sequence[Want], todo: list[list[int]]) -> dict[int, int]:
        """Put as much of ``todo`` in the batch as fits; the logits index of each item
        whose last token is in this batch."""
        batch = self.batch
        batch.clear()
        last: dict[int, int] = {}
        for item, (seq_id, _, _) in enumerate(wanted):
            take = min(len(todo[item]), batch.free)
            if take == 0:
                continue
            cached, done = self.cached[seq_id], take == len(todo[item])
            for offset, token in enumerate(todo[item][:take]):
                index = batch.add(token, len(cached) + offset, seq_id, done and offset == take - 1)
            if done:
                last[item] = index
            cached += todo[item][:take]
            del todo[item][:take]
        return last

    def _extend(
        self, wanted: Sequence[Want], guesses: list[tuple[int, float]], out: list[list[int]]
    ) -> None:
        """Add confident guesses to ``out`` and decode them for the next, up to each k."""
        active = list(range(len(wanted)))
        while active:
            batch_items = []
            self.batch.clear()
            for item in active:
                token, probability = guesses[item]
                if token < 0 or probability < self.p_min:
                    continue
                out[item].append(token)
                if len(out[item]) >= wanted[item][2]:
                    continue
                seq_id = wanted[item][0]
                cached = self.cached[seq_id]
                batch_items.append((item, self.batch.add(token, len(cached), seq_id, True)))
                cached.append(token)
            if not batch_items:
                return
            self._decode()
            for item, index in batch_items:
                guesses[item] = self._guess(index)
            active = [item for item, _ in batch_items]

    def _reuse(self, seq_id: int, tokens: Sequence[int]) -> list[int]:
        """Keep the cache's prefix shared with ``tokens`` (less its last token, whose
        logits are needed); the tokens left to evaluate."""
        cached = self.cached.setdefault(seq_id, [])
        keep = min(common_prefix(cached, tokens), len(tokens) - 1)
        if keep < len(cached) and not self.model.forget(seq_id, keep):
            self.model.forget(seq_id)  # a cache that cannot be cut: start over
            keep = 0
        del cached[keep:]
        return list(tokens[keep:])

    def _decode(self) -> None:
        code = self.model.decode(self.batch)
        if code != 0:
            raise RunnerError(f"the draft model's llama_decode failed with status {code}")

    def _guess(self, index: int) -> tuple[int, float]:
        """The draft's likeliest token at batch ``index`` and its probability."""
        pointer = llama.llama_get_logits_ith(self.model.ctx, index)
        logits = np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,))
        best = int(np.argmax(logits))
        probability = 1.0 / float(np.exp(logits - logits[best]).sum())
        return best, probability
