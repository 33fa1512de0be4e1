"""Whether two GGUF models share a vocabulary, as a draft model must share its target's.

In speculative decoding the draft proposes token ids and the target verifies those very
ids, so an id must mean the same token in both: the same text and type for every id,
and the same special tokens (a draft that ends on another EOS id, or adds no BOS where
the target does, drafts for another prompt). Only the headers are read: the token arrays
lie there, the weights are never touched.

llama.cpp's own check (``common_speculative_are_compatible``) lets the vocabularies'
sizes differ by a little and skips the first few ids; ladle asks for equality, which is
what "the same tokenizer" means and what an image must promise wherever it runs.
"""

from __future__ import annotations

import itertools
import struct

from builder.gguf.header_cursor import SCALAR_FORMATS, raw_strings
from builder.gguf.header_types import GGUFArray, GGUFHeader, Value

TOKENS = "tokenizer.ggml.tokens"
TOKEN_TYPES = "tokenizer.ggml.token_type"
SPECIAL_KEYS = (
    "tokenizer.ggml.model",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id",  # sic: gguf's spelling
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
)
"""The tokenizer's kind, its special token ids and whether it adds BOS/EOS by itself."""

HeaderBytes = tuple[GGUFHeader, bytes]
"""A checked header and the bytes it was read from (:func:`builder.gguf.header.read_header`)."""


def vocabulary_difference(model: HeaderBytes, draft: HeaderBytes) -> str | None:
    """The first way ``draft``'s vocabulary differs from ``model``'s, in words naming the
    token (its index and both texts) or the key; None when they are the same."""
    return (
        _token_difference(model, draft)
        or _type_difference(model, draft)
        or _special_difference(model[0], draft[0])
    )


def _token_difference(model: HeaderBytes, draft: HeaderBytes) -> str | None:
    ours, theirs = _tokens(model), _tokens(draft)
    for index, (wanted, got) in enumerate(itertools.zip_longest(ours, theirs)):
        if wanted != got:
            return (
                f"token {index:,} is {_shown(got, len(theirs))} in the draft "
                f"but {_shown(wanted, len(ours))} in the model"
            )
    return None


def _type_difference(model: HeaderBytes, draft: HeaderBytes) -> str | None:
    ours, theirs = _numbers(model, TOKEN_TYPES), _numbers(draft, TOKEN_TYPES)
    if ours == theirs:
        return None
    tokens = _tokens(model)
    for index, (wanted, got) in enumerate(itertools.zip_longest(ours, theirs)):
        if wanted != got:
            text = _shown(tokens[index] if index < len(tokens) else None, len(tokens))
            return f"token {index:,} ({text}) has type {got} in the draft but {wanted} in the model"
    return None  # pragma: no cover - unequal tuples differ somewhere


def _special_difference(model: GGUFHeader, draft: GGUFHeader) -> str | None:
    for key in SPECIAL_KEYS:
        wanted, got = model.metadata.get(key), draft.metadata.get(key)
        if wanted != got:
            return f"{key} is {_value(got)} in the draft but {_value(wanted)} in the model"
    return None


def _tokens(found: HeaderBytes) -> list[bytes]:
    header, buf = found
    array = header.arrays.get(TOKENS)
    return list(raw_strings(buf, array)) if array is not None else []


def _numbers(found: HeaderBytes, key: str) -> tuple[Value, ...]:
    """The items of a numeric array of the header (empty when it has none)."""
    header, buf = found
    array: GGUFArray | None = header.arrays.get(key)
    if array is None or array.item_type not in SCALAR_FORMATS:
        return ()
    code = SCALAR_FORMATS[array.item_type]
    return struct.unpack_from(f"<{array.count}{code}", buf, array.offset)


def _shown(token: bytes | None, count: int) -> str:
    if token is None:
        return f"missing (it has {count:,} tokens)"
    return repr(token.decode("utf-8", errors="replace"))


def _value(value: Value | None) -> str:
    return "not set" if value is None else repr(value)
