"""What a checked GGUF header holds: its values, the tensor table and where arrays lie.

These records are what :func:`builder.gguf.header.parse_header` returns and what its
callers (:mod:`builder.gguf.file`, :mod:`builder.prompt`) read. They are kept apart
from the reading (:mod:`builder.gguf.header`) and from the byte walk that builds them
(:mod:`builder.gguf.header_cursor`) because both of those need them, and a caller needs
nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from builder.gguf.constants import GGMLQuantizationType, GGUFValueType

INLINE_ARRAY_ITEMS = 1024  # longer arrays (vocabularies, merges) stay undecoded

Scalar = int | float | bool | str


@dataclass(frozen=True)
class GGUFArray:
    """Where an array value lies in the header: item type, length and first item.

    ``GGUFHeader.metadata`` holds this instead of the items for arrays longer than
    :data:`INLINE_ARRAY_ITEMS`; ``GGUFHeader.arrays`` has it for every array.
    """

    item_type: GGUFValueType
    count: int
    offset: int
    distinct: bool | None = None
    """For the string arrays in :data:`DISTINCT_ARRAYS`: whether no item is repeated
    (found during the walk that checks their lengths, so no second pass is needed)."""


DISTINCT_ARRAYS = frozenset({"tokenizer.ggml.tokens"})
"""String arrays whose items must be distinct: llama.cpp aborts the whole process on a
token that is in the vocabulary twice."""


Value = Scalar | tuple[Scalar, ...] | GGUFArray


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor table; ``shape[0]`` is the row length (ggml order)."""

    name: str
    shape: tuple[int, ...]
    type: GGMLQuantizationType
    offset: int  # from the start of the data section
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFHeader:
    """Everything before the tensor data, checked against the file's size."""

    version: int
    metadata: Mapping[str, Value]
    arrays: Mapping[str, GGUFArray]  # where every array value lies, decoded or not
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int
    file_size: int
