"""``/api/show``'s ``model_info`` and ``tensors``: a GGUF header's values as Ollama
shows them.

Ollama's show answers every metadata value, but an array of more than
:data:`SHORT_ARRAY_ITEMS` items (a vocabulary, its merges, its token types) as ``[]``
unless the request asks ``verbose``; then every array comes whole (262,144 tokens for
Gemma 3: megabytes of JSON, which is why it is not the default). The tensor table comes
with both: each tensor's name, ggml type name and shape.

The header is read again from the weights file for a verbose show: the header cache
(:mod:`runtime.images`) keeps the long arrays undecoded, so that what every request
reads stays small.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from builder.gguf.constants import GGUFValueType
from builder.gguf.header import read_header
from builder.gguf.header_cursor import SCALAR_FORMATS, raw_strings
from builder.gguf.header_types import GGUFArray, GGUFHeader, Value

SHORT_ARRAY_ITEMS = 5
"""The longest array a show answers without ``verbose`` (Ollama's rule)."""


def model_info(
    path: str | os.PathLike[str], *, verbose: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The metadata of the GGUF file at ``path`` (long arrays ``[]`` unless ``verbose``)
    and its tensor table, as ``/api/show`` answers them."""
    header, buf = read_header(path)
    info = {key: _shown(header, buf, value, verbose) for key, value in header.metadata.items()}
    return info, tensor_table(header)


def tensor_table(header: GGUFHeader) -> list[dict[str, Any]]:
    """Each tensor's name, type name and shape (ggml order), as Ollama's ``tensors``."""
    return [
        {"name": tensor.name, "type": tensor.type.name, "shape": list(tensor.shape)}
        for tensor in header.tensors
    ]


def _shown(header: GGUFHeader, buf: bytes, value: Value, verbose: bool) -> Any:
    if isinstance(value, GGUFArray):
        return _decoded(buf, value) if verbose else []
    if isinstance(value, tuple):
        return list(value) if verbose or len(value) <= SHORT_ARRAY_ITEMS else []
    return value


def _decoded(buf: bytes, array: GGUFArray) -> list[Any]:
    """Every item of a long ``array`` the header walk checked but left undecoded."""
    if array.item_type == GGUFValueType.STRING:
        return [raw.decode("utf-8", "replace") for raw in raw_strings(buf, array)]
    code = SCALAR_FORMATS[array.item_type]
    return list(struct.unpack_from(f"<{array.count}{code}", buf, array.offset))
