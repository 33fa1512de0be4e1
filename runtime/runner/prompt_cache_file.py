"""The file a saved prompt cache is kept in, and the checks it passes before it is used.

One file holds one sequence's KV cache as llama.cpp serializes it, after a header that
says what it belongs to::

    MAGIC (8 bytes) | format version (u32 LE) | header length (u32 LE) | header (JSON)
    | llama.cpp's sequence state | SHA-256 of everything before it (32 bytes)

The header names the llama.cpp build that wrote the state (its layout changes between
versions), the weights' digest, the key of the load-time options (:func:`options_key`)
and the tokens the cache holds. A file is used only when its checksum, format version,
build, model and key all match; :class:`CacheFileError` says which did not.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.protocol import LoadSpec

MAGIC = b"LADLEKV\x00"
FORMAT_VERSION = 1
SUFFIX = ".kvcache"
_PREFIX = struct.Struct("<8sII")  # magic, format version, header length
_CHECKSUM_BYTES = 32
MAX_HEADER_BYTES = 64 << 20
"""A header longer than this is damage, not a context (a million tokens is ~8 MB)."""

NOT_IN_KEY = frozenset(
    {
        "model_path",  # the weights' digest stands for it
        "n_batch",
        "n_gpu_layers",
        "main_gpu",
        "n_threads",
        "use_mmap",
        "num_parallel",
        "embedding",
        "runner_timeout",
        "prompt_cache",
        "context_from_memory",
        "draft_path",
    }
)
"""LoadSpec fields that do not change a sequence's cache; every other one (n_ctx, the
cache type, flash attention, adapters, and any added later) is part of the key."""


class CacheFileError(ValueError):
    """A saved cache that must not be used (the reason says why); never leaves
    :mod:`runtime.runner.prompt_cache`, which discards the file."""


class CacheHeader(BaseModel):
    """What a saved cache belongs to, and the tokens it holds."""

    model_config = ConfigDict(frozen=True)

    build: str
    model_digest: str
    key: str
    tokens: tuple[int, ...]


def options_key(spec: LoadSpec) -> str:
    """A digest of the load-time options that change what a sequence's cache holds."""
    fields = spec.model_dump(mode="json", exclude=set(NOT_IN_KEY))
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def tokens_name(tokens: Sequence[int]) -> str:
    """The file name of a cache holding ``tokens``: a digest of them."""
    data = struct.pack(f"<{len(tokens)}i", *tokens)
    return hashlib.sha256(data).hexdigest()[:40] + SUFFIX


def encode(header: CacheHeader, state: bytes) -> bytes:
    """A whole cache file."""
    text = header.model_dump_json().encode()
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text + state
    return body + hashlib.sha256(body).digest()


def read_header(path: Path) -> CacheHeader:
    """The header alone (to index a folder without reading every state)."""
    with path.open("rb") as file:
        length = _check_prefix(file.read(_PREFIX.size))
        return _parse_header(file.read(length), length)


def decode(data: bytes, expected: CacheHeader) -> bytes:
    """The state in a whole file ``data``, after every check against ``expected`` (its
    tokens excepted: the index read them from this file's header)."""
    if len(data) < _PREFIX.size + _CHECKSUM_BYTES:
        raise CacheFileError("it is truncated")
    body, checksum = data[:-_CHECKSUM_BYTES], data[-_CHECKSUM_BYTES:]
    if hashlib.sha256(body).digest() != checksum:
        raise CacheFileError("its checksum does not match (truncated or damaged)")
    length = _check_prefix(body[: _PREFIX.size])
    end = _PREFIX.size + length
    header = _parse_header(body[_PREFIX.size : end], length)
    check_belongs(header, expected)
    return body[end:]


def check_belongs(header: CacheHeader, expected: CacheHeader) -> None:
    """Refuse a cache of another llama.cpp build, model or set of load options."""
    if header.build != expected.build:
        raise CacheFileError(f"it was written by {header.build}, not {expected.build}")
    if header.model_digest != expected.model_digest:
        raise CacheFileError(f"it belongs to the model {header.model_digest}")
    if header.key != expected.key:
        raise CacheFileError("it was saved with other load options")


def _check_prefix(prefix: bytes) -> int:
    """The header length, once the magic and the format version are right."""
    if len(prefix) < _PREFIX.size:
        raise CacheFileError("it is truncated")
    magic, version, length = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise CacheFileError("it is not a ladle prompt cache")
    if version != FORMAT_VERSION:
        raise CacheFileError(f"its format version is {version}, not {FORMAT_VERSION}")
    if length > MAX_HEADER_BYTES:
        raise CacheFileError("its header is damaged")
    return int(length)


def _parse_header(text: bytes, length: int) -> CacheHeader:
    if len(text) < length:
        raise CacheFileError("it is truncated")
    try:
        return CacheHeader.model_validate(json.loads(text))
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError too
        raise CacheFileError("its header is damaged") from None
