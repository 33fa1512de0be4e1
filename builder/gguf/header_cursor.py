"""The walk through a GGUF header's bytes, refusing every read that would pass the
file's end (:class:`HeaderCursor`), and the later walks over a string array it checked.

The cursor is the one place that turns declared counts, lengths and types into reads,
so every check that guards a read sits next to that read; :mod:`builder.gguf.header`
reads the file, drives the cursor through the layout and checks what it built.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
from collections.abc import Iterator
from typing import Any

from builder.gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType
from builder.gguf.header_types import (
    DISTINCT_ARRAYS,
    INLINE_ARRAY_ITEMS,
    GGUFArray,
    Scalar,
    TensorInfo,
    Value,
)
from ladle.errors import GGUFError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # llama.cpp no longer reads version 1
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_TENSOR_NAME_BYTES = 63  # GGML_MAX_NAME (64) less the terminating NUL
MAX_TENSOR_ELEMENTS = 2**63 - 1  # ggml counts elements in int64

_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
_PREFIX = struct.Struct("<4sIQQ")
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, value type, one-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims, type, offset
SCALAR_FORMATS = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
_SCALARS = {kind: struct.Struct("<" + code) for kind, code in SCALAR_FORMATS.items()}


class NeedMoreBytesError(Exception):
    """The header goes on past the bytes read so far (but not past the file's end)."""

    def __init__(self, end: int) -> None:
        self.end = end


def raw_strings(buf: bytes, array: GGUFArray) -> Iterator[bytes]:
    """The items of a string ``array`` that :func:`~builder.gguf.header.parse_header`
    checked, undecoded."""
    pos = array.offset
    for _ in range(array.count if array.item_type == GGUFValueType.STRING else 0):
        (length,) = _U64.unpack_from(buf, pos)
        yield buf[pos + 8 : pos + 8 + length]
        pos += 8 + length


def string_item(buf: bytes, array: GGUFArray, index: int) -> str | None:
    """Item ``index`` of a string ``array`` that
    :func:`~builder.gguf.header.parse_header` checked, or None."""
    if not 0 <= index < array.count:
        return None
    raw = next(itertools.islice(raw_strings(buf, array), index, None), None)
    return None if raw is None else raw.decode("utf-8", errors="replace")


class HeaderCursor:
    """Reads forward through ``buf``, refusing every read that would pass its end."""

    def __init__(self, buf: bytes, path: str | os.PathLike[str], size: int) -> None:
        self.buf, self.path, self.pos, self.size = buf, path, 0, size
        self.arrays: dict[str, GGUFArray] = {}

    def error(self, reason: str) -> GGUFError:
        return GGUFError(self.path, reason)

    def take(self, n: int, what: str) -> int:
        """Claim the next ``n`` bytes for ``what``; return where they start."""
        start = self.pos
        if n > self.size - start:
            raise self.error(
                f"truncated: {what} at byte {start:,} needs {n:,} bytes, "
                f"but the file ends at byte {self.size:,}"
            )
        self.pos = start + n
        if self.pos > len(self.buf):
            raise NeedMoreBytesError(self.pos)
        return start

    def unpack(self, fmt: struct.Struct, what: str) -> Any:
        return fmt.unpack_from(self.buf, self.take(fmt.size, what))[0]

    def string(self, what: str, *, strict: bool = True) -> str:
        length = self.unpack(_U64, f"{what} length")
        if length > self.size:
            raise self.error(
                f"corrupt: {what} at byte {self.pos:,} claims {length:,} bytes, "
                f"more than the whole file ({self.size:,} bytes)"
            )
        start = self.take(length, what)
        raw = bytes(self.buf[start : start + length])
        try:
            return raw.decode("utf-8", errors="strict" if strict else "replace")
        except UnicodeDecodeError:
            raise self.error(f"{what} at byte {start:,} is not valid UTF-8") from None

    def prefix(self) -> tuple[int, int, int]:
        head = bytes(self.buf[:4])
        if self.size == 0:
            raise self.error("empty file (0 bytes), not a GGUF model")
        if head != MAGIC:
            raise self.error(f"not a GGUF file (starts with {head!r})")
        _, version, n_tensors, n_kv = _PREFIX.unpack_from(self.buf, self.take(24, "header"))
        _check_version(version, self)
        room = self.size - self.pos
        if n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES > room:
            raise self.error(
                f"truncated or corrupt: the header declares {n_kv:,} metadata entries and "
                f"{n_tensors:,} tensors, which cannot fit in the {room:,} bytes after it"
            )
        return version, n_tensors, n_kv

    def metadata(self, n_kv: int) -> dict[str, Value]:
        metadata: dict[str, Value] = {}
        for index in range(n_kv):
            key = self.string(f"metadata key #{index}")
            if key in metadata:
                raise self.error(f"duplicate metadata key {key!r}")
            kind = self.value_type(self.unpack(_U32, f"type of {key!r}"), f"{key!r}")
            if key == "general.alignment" and kind != GGUFValueType.UINT32:
                raise self.error(f"general.alignment must be a uint32, not {kind.name}")
            metadata[key] = self.value(kind, key)
        return metadata

    def value_type(self, raw: int, what: str) -> GGUFValueType:
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise self.error(f"{what} has unknown value type {raw}") from None

    def value(self, kind: GGUFValueType, key: str) -> Value:
        what = f"value of {key!r}"
        if kind == GGUFValueType.STRING:
            return self.string(what, strict=False)
        if kind == GGUFValueType.ARRAY:
            return self.array(key)
        return self.unpack(_SCALARS[kind], what)  # type: ignore[no-any-return]

    def array(self, key: str) -> tuple[Scalar, ...] | GGUFArray:
        what = f"value of {key!r}"
        item_type = self.value_type(self.unpack(_U32, f"{what} item type"), what)
        if item_type == GGUFValueType.ARRAY:
            raise self.error(f"{what} is an array of arrays, which llama.cpp cannot read")
        count = self.unpack(_U64, f"{what} length")
        item_size = 8 if item_type == GGUFValueType.STRING else _SCALARS[item_type].size
        if count * item_size > self.size - self.pos:
            raise self.error(
                f"truncated or corrupt: {what} at byte {self.pos:,} declares {count:,} "
                f"items, more than the {self.size - self.pos:,} bytes left can hold"
            )
        offset, distinct = self.pos, None
        if item_type == GGUFValueType.STRING:
            distinct = self.skip_strings(count, what, distinct=key in DISTINCT_ARRAYS)
        else:
            self.take(count * item_size, what)
        location = self.arrays[key] = GGUFArray(item_type, count, offset, distinct)
        if count > INLINE_ARRAY_ITEMS:
            return location
        if item_type == GGUFValueType.STRING:
            return tuple(raw.decode("utf-8", "replace") for raw in raw_strings(self.buf, location))
        code = SCALAR_FORMATS[item_type]
        return struct.unpack_from(f"<{count}{code}", self.buf, location.offset)

    def skip_strings(self, count: int, what: str, *, distinct: bool = False) -> bool | None:
        """Walk ``count`` strings, checking each length; with ``distinct``, also say
        whether they are all different (None without)."""
        # The vocabulary walk: 262,144 items in Gemma 3, so the loops are kept bare (no
        # bounds checks: a length that runs past the buffer is caught after the walk, or
        # by the next unpack, and the walk is redone item by item to say what is wrong).
        buf, pos, unpack = self.buf, self.pos, _U64.unpack_from
        items: list[bytes] = []
        try:
            if distinct:
                keep = items.append
                for _ in range(count):
                    start = pos + 8
                    pos = start + unpack(buf, pos)[0]
                    keep(buf[start:pos])
            else:
                for _ in range(count):
                    pos += 8 + unpack(buf, pos)[0]
        except (struct.error, OverflowError):  # an offset past the end, or past any int
            pos = len(buf) + 1
        if pos > len(buf):
            self._walk_checked(count, what)
        self.pos = pos
        return len(set(items)) == count if distinct else None

    def _walk_checked(self, count: int, what: str) -> None:
        """Walk the strings again, each length checked, and raise the error that fits
        (or ask for more bytes) at the first that runs past the buffer."""
        buf, pos, end = self.buf, self.pos, len(self.buf)
        for index in range(count):
            length = _U64.unpack_from(buf, pos)[0] if end - pos >= 8 else end
            if length > end - pos - 8:
                self.pos = pos
                self.string(f"{what} item #{index}", strict=False)
            pos += 8 + length

    def tensor_info(self, index: int) -> TensorInfo:
        name = self.string(f"name of tensor #{index}")
        if len(name.encode()) > MAX_TENSOR_NAME_BYTES:
            raise self.error(f"tensor name {name[:80]!r} is longer than 63 bytes")
        n_dims = self.unpack(_U32, f"dimension count of tensor {name!r}")
        if n_dims > MAX_DIMS:
            raise self.error(f"tensor {name!r} has {n_dims:,} dimensions (at most 4)")
        start = self.take(8 * n_dims, f"shape of tensor {name!r}")
        shape = struct.unpack_from(f"<{n_dims}Q", self.buf, start)
        raw_type = self.unpack(_U32, f"type of tensor {name!r}")
        offset = self.unpack(_U64, f"offset of tensor {name!r}")
        kind = self.tensor_type(raw_type, name)
        n_elements = math.prod(shape)
        block, type_size = GGML_QUANT_SIZES[kind]
        if n_elements > MAX_TENSOR_ELEMENTS or max(shape, default=0) > MAX_TENSOR_ELEMENTS:
            raise self.error(f"tensor {name!r} has an impossible shape {list(shape)}")
        if shape and shape[0] % block:
            raise self.error(
                f"tensor {name!r} has rows of {shape[0]:,} values, "
                f"not a multiple of the {kind.name} block size {block}"
            )
        n_bytes = n_elements // block * type_size
        return TensorInfo(name, shape, kind, offset, n_elements, n_bytes)

    def tensor_type(self, raw: int, name: str) -> GGMLQuantizationType:
        try:
            kind = GGMLQuantizationType(raw)
        except ValueError:
            kind = None
        if kind is None or kind not in GGML_QUANT_SIZES:
            raise self.error(f"tensor {name!r} has unknown type {raw}")
        return kind


def _check_version(version: int, cursor: HeaderCursor) -> None:
    if version in SUPPORTED_VERSIONS:
        return
    if int.from_bytes(version.to_bytes(4, "little"), "big") in (1, *SUPPORTED_VERSIONS):
        raise cursor.error("big-endian GGUF files are not supported")
    raise cursor.error(f"unsupported GGUF version {version:,} (llama.cpp reads 2 and 3)")
