"""Where a new job's KV cache comes from: its own slot, another slot, or the disk.

A job keeps the part of its slot's cache that its prompt starts with (the next turn of a
chat: an *in-memory* hit). When another slot, busy or not, holds a longer prefix of the
prompt (the same long SYSTEM prompt in another user's chat), that slot's cache is copied
into the job's sequence (llama.cpp's sequence copy) and cut to the shared part: a
*shared-prefix* hit. When a cache saved by an earlier runner (:mod:`.prompt_cache`)
covers still more, it is read back instead: a *disk* hit. Only the rest is evaluated.

A source is taken only when it saves at least :data:`MIN_GAIN` tokens over the one before
it: copying a stream or reading a file costs more than evaluating a few tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from .native import LlamaModel

MIN_GAIN = 16
"""Tokens a copy from another slot or from disk must save over the job's own cache."""

CacheSource = Literal["memory", "shared", "disk"]


class Holder(Protocol):
    """A slot: a sequence id and the tokens its cache holds."""

    seq_id: int
    tokens: list[int]


class SavedCaches(Protocol):
    """The disk's caches (:class:`.prompt_cache.PromptCache`), as the admission sees them."""

    def longest(self, prompt: Sequence[int]) -> tuple[int, object] | None:
        """The saved cache sharing the longest prefix with ``prompt``: (length, entry)."""
        ...

    def restore(self, entry: object, model: LlamaModel, seq_id: int) -> list[int] | None:
        """Load ``entry`` into ``seq_id``; its tokens, or None when it was bad (dropped)."""
        ...


@dataclass
class CacheStats:
    """A runner's cache hits since it loaded, and the prompt tokens they saved."""

    memory_hits: int = 0
    shared_hits: int = 0
    disk_hits: int = 0
    tokens_saved: int = 0

    def count(self, source: CacheSource | None, tokens: int) -> None:
        if source is None or tokens == 0:
            return
        name = f"{source}_hits"
        setattr(self, name, getattr(self, name) + 1)
        self.tokens_saved += tokens


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens ``a`` and ``b`` share from their start."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def prepare(
    model: LlamaModel,
    slot: Holder,
    others: Sequence[Holder],
    prompt: Sequence[int],
    saved: SavedCaches | None,
) -> tuple[int, CacheSource | None]:
    """Fill ``slot``'s cache with the longest prefix of ``prompt`` it can get (leaving at
    least one token to evaluate, for the logits); how many tokens and from where.

    One source is taken, the best: a sequence copy is done by llama.cpp at the next
    decode, so a saved cache read into the slot after a copy would be overwritten by it.
    (For the same reason the engine admits no other job after a copy until it decoded.)"""
    limit = len(prompt) - 1
    own = min(common_prefix(slot.tokens, prompt), limit)
    donor = max(others, key=lambda other: common_prefix(other.tokens, prompt), default=None)
    shared = min(common_prefix(donor.tokens, prompt), limit) if donor else 0
    found = saved.longest(prompt) if saved is not None else None
    on_disk = min(found[0], limit) if found is not None else 0
    best = max(own, shared if shared >= own + MIN_GAIN else own)
    if saved is not None and found is not None and on_disk >= best + MIN_GAIN:
        return _from_disk(model, slot, saved, found[1], on_disk)
    source: CacheSource | None = "memory" if own else None
    if donor is not None and shared >= own + MIN_GAIN:
        model.copy(donor.seq_id, slot.seq_id)
        slot.tokens[:] = donor.tokens
        own, source = shared, "shared"
    kept = _cut(model, slot, own)  # 0 when the cache cannot be cut there
    return kept, source if kept else None


def _from_disk(
    model: LlamaModel, slot: Holder, saved: SavedCaches, entry: object, length: int
) -> tuple[int, CacheSource | None]:
    """A saved cache read into ``slot`` and cut to ``length`` tokens; nothing when its
    file was bad (dropped): the prompt is evaluated whole."""
    tokens = saved.restore(entry, model, slot.seq_id)
    if tokens is None:
        model.forget(slot.seq_id)
        slot.tokens.clear()
        return 0, None
    slot.tokens[:] = tokens
    return _cut(model, slot, length), "disk"


def _cut(model: LlamaModel, slot: Holder, keep: int) -> int:
    """Drop ``slot``'s cache after ``keep`` tokens; what is left (0 if it cannot be cut)."""
    if keep < len(slot.tokens) and not model.forget(slot.seq_id, keep):
        model.forget(slot.seq_id)  # this cache cannot be cut: start over
        keep = 0
    del slot.tokens[keep:]
    return keep
