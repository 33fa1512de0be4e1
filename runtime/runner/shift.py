"""Keeping a sequence within its context: a prompt cut before it is evaluated, and a
generation's cache shifted when it fills the context.

A prompt longer than the context fails, or with ``truncate`` loses its oldest tokens
after ``num_keep`` (:func:`truncated`). A generation that fills the context *shifts* it
unless its request says ``shift: false``, as Ollama's runner did (``ShiftCacheSlot`` and
``ShiftDiscard`` in ``runner/llamarunner/cache.go``, before Ollama moved to llama.cpp's
server, whose ``--context-shift`` it now passes with the same rule):

- the first ``num_keep`` tokens stay, plus the BOS when the sequence starts with it
  (Ollama's ``num_keep`` counts from after the BOS; -1 keeps the whole prompt), at most
  all but one token of the context (:func:`kept_tokens`);
- of the rest, the oldest are dropped so that half of what follows the kept tokens is
  free (:func:`discarded_tokens`);
- the newer ones keep their cache: llama.cpp removes the dropped positions
  (``llama_memory_seq_rm``) and moves the later ones down over the gap
  (``llama_memory_seq_add``; it re-rotates their keys before the next decode). A cache
  whose positions cannot move (``llama_memory_can_shift`` false, as for recurrent
  models) starts over from the kept tokens, evaluated again (:func:`shift`).

Shifting lets a generation run past the context, so a request without ``num_predict`` is
capped at :data:`MAX_PREDICT_CONTEXTS` contexts' worth of tokens, as Ollama caps it.
"""

from __future__ import annotations

from .native import LlamaModel

MAX_PREDICT_CONTEXTS = 10
"""The most tokens a generation may produce, in contexts (Ollama's ``boundedNumPredict``:
"put an upper limit on num_predict to avoid the model running on forever")."""


def predict_limit(num_predict: int, n_ctx: int) -> int:
    """How many tokens a request may generate: its ``num_predict`` (-1: unlimited) within
    :data:`MAX_PREDICT_CONTEXTS` contexts."""
    cap = MAX_PREDICT_CONTEXTS * n_ctx
    return cap if num_predict < 0 or num_predict > cap else num_predict


def kept_tokens(num_keep: int, prompt: list[int], bos: int | None, n_ctx: int) -> int:
    """How many of a sequence's first tokens a shift keeps: ``num_keep`` after the BOS
    (when ``prompt`` starts with the model's ``bos``), -1 for the whole prompt, and at
    least one token fewer than the context, so that a shift always frees one."""
    if num_keep < 0:
        keep = len(prompt)
    else:
        keep = num_keep + (1 if bos is not None and prompt[:1] == [bos] else 0)
    return max(0, min(keep, n_ctx - 1))


def discarded_tokens(n_tokens: int, keep: int, n_ctx: int) -> int:
    """How many tokens after the ``keep`` first a shift drops from a sequence of
    ``n_tokens``: enough to free half of the context after the kept tokens (at least one)."""
    wanted_free = max((n_ctx - keep) // 2, 1)
    return max(wanted_free - (n_ctx - n_tokens), 0)


def shift(model: LlamaModel, seq_id: int, tokens: list[int], keep: int) -> list[int]:
    """Shift sequence ``seq_id``, whose cache holds ``tokens`` (cut in place to what it
    holds after); returns the tokens to evaluate again, none when the cache could move."""
    discard = discarded_tokens(len(tokens), keep, model.n_ctx)
    if discard == 0:
        return []
    end = keep + discard
    if model.can_shift and model.forget(seq_id, keep, end):
        model.move(seq_id, end, -discard)
        del tokens[keep:end]
        return []
    model.forget(seq_id)  # this cache cannot move: start over from what is kept
    kept = tokens[:keep] + tokens[end:]
    tokens.clear()
    return kept


def truncated(tokens: list[int], n_ctx: int, num_keep: int, num_predict: int) -> list[int]:
    """``tokens`` cut to fit ``n_ctx`` with room to generate: the first ``num_keep``
    tokens (the system prompt's start) and the newest ones stay."""
    reserve = min(num_predict, n_ctx // 2) if num_predict > 0 else n_ctx // 4
    room = n_ctx - max(reserve, 1)
    keep = min(max(num_keep, 0), room // 2)
    return tokens[:keep] + tokens[len(tokens) - (room - keep) :]
