"""The header of a GGUF file, read with every count, length and offset checked first.

The layout (ggml's ``docs/gguf.md``; little-endian, versions 2 and 3)::

    magic "GGUF" | version u32 | n_tensors u64 | n_kv u64
    n_kv x      key: string | value_type u32 | value
    n_tensors x name: string | n_dims u32 | dims u64[n_dims] | type u32 | offset u64
    padding to general.alignment (default 32) | tensor data
    string: length u64 + UTF-8 bytes      array: item_type u32 + count u64 + items

Every declared count and length is compared with the bytes left in the file before it
is used, so a corrupt or hostile header costs at most one pass over the file's own
bytes: no huge allocation, no long loop, and no exception but :class:`GGUFError`.
The checks follow llama.cpp's ``gguf_init_from_file``, so a file that passes here does
not fail there for a reason in its header.

``gguf.GGUFReader`` is not used: it trusts declared lengths, and it makes a numpy array
per array item (10 s for Gemma 3 270M's 262,144-token vocabulary). Here arrays longer
than :data:`INLINE_ARRAY_ITEMS` are walked, not decoded; :func:`string_item` fetches
one item later. The header is read into memory (it is a few MB at most, and it grows
only as far as the declared lengths prove to be inside the file); the file is not
memory-mapped, because a file that shrinks under a map kills the process (SIGBUS).
"""

from __future__ import annotations

import itertools
import math
import os
import stat
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.gguf_constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType
from ladle.errors import GGUFError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # llama.cpp no longer reads version 1
DEFAULT_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_TENSOR_NAME_BYTES = 63  # GGML_MAX_NAME (64) less the terminating NUL
INLINE_ARRAY_ITEMS = 1024  # longer arrays (vocabularies, merges) stay undecoded
MAX_TENSOR_ELEMENTS = 2**63 - 1  # ggml counts elements in int64
FIRST_READ_BYTES = 8 * 1024 * 1024  # enough for the header of most models
MAX_HEADER_BYTES = 256 * 1024 * 1024  # vocabularies of 256k tokens take about 10 MB

Scalar = int | float | bool | str

_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
_PREFIX = struct.Struct("<4sIQQ")
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, value type, one-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims, type, offset
_SCALAR_FORMATS = {
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
_SCALARS = {kind: struct.Struct("<" + code) for kind, code in _SCALAR_FORMATS.items()}


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


class _NeedMoreBytesError(Exception):
    """The header goes on past the bytes read so far (but not past the file's end)."""

    def __init__(self, end: int) -> None:
        self.end = end


def read_header(path: str | os.PathLike[str]) -> tuple[GGUFHeader, bytes]:
    """The checked header of the GGUF file at ``path``, and the bytes it was read from."""
    try:
        with open(path, "rb", opener=_open_nonblocking) as file:
            size = _regular_file_size(os.fstat(file.fileno()), path)
            want = min(size, FIRST_READ_BYTES)
            while True:
                file.seek(0)
                buf = file.read(want)
                if len(buf) != want:
                    raise GGUFError(path, "the file changed while it was being read")
                try:
                    return parse_header(buf, path, file_size=size), buf
                except _NeedMoreBytesError as more:
                    want = min(size, max(more.end, 2 * want))
                    if want > MAX_HEADER_BYTES:
                        raise GGUFError(path, _too_long(more.end)) from None
    except FileNotFoundError:
        raise GGUFError(path, "no such file") from None
    except OSError as error:
        raise GGUFError(path, f"cannot read: {error.strerror or error}") from None


def read_joined_header(paths: Sequence[Path], name: str) -> tuple[GGUFHeader, bytes]:
    """The checked header of the GGUF that ``paths`` make when joined in order (weights
    split across packages), read without joining them; errors name ``name``."""
    try:
        size = sum(path.stat().st_size for path in paths)
        want = min(size, FIRST_READ_BYTES)
        while True:
            buf = _read_joined(paths, want)
            try:
                return parse_header(buf, name, file_size=size), buf
            except _NeedMoreBytesError as more:
                want = min(size, max(more.end, 2 * want))
                if want > MAX_HEADER_BYTES:
                    raise GGUFError(name, _too_long(more.end)) from None
    except OSError as error:
        raise GGUFError(name, f"cannot read: {error.strerror or error}") from None


def _read_joined(paths: Sequence[Path], want: int) -> bytes:
    chunks: list[bytes] = []
    for path in paths:
        left = want - sum(len(chunk) for chunk in chunks)
        if left <= 0:
            break
        with path.open("rb") as file:
            chunks.append(file.read(left))
    return b"".join(chunks)


def parse_header(
    buf: bytes, path: str | os.PathLike[str], *, file_size: int | None = None
) -> GGUFHeader:
    """The checked header at the start of ``buf``, the first bytes of a file of
    ``file_size`` bytes (default: all of it); errors name ``path``."""
    cursor = _Cursor(buf, path, len(buf) if file_size is None else file_size)
    version, n_tensors, n_kv = cursor.prefix()
    metadata = cursor.metadata(n_kv)
    alignment = _alignment(metadata, cursor)
    tensors = tuple(cursor.tensor_info(index) for index in range(n_tensors))
    _check_unique([tensor.name for tensor in tensors], "tensor", cursor)
    data_offset = _pad(cursor.pos, alignment) if tensors else cursor.pos
    header = GGUFHeader(
        version, metadata, cursor.arrays, tensors, alignment, data_offset, cursor.size
    )
    _check_tensor_data(header, cursor)
    return header


def raw_strings(buf: bytes, array: GGUFArray) -> Iterator[bytes]:
    """The items of a string ``array`` that :func:`parse_header` checked, undecoded."""
    pos = array.offset
    for _ in range(array.count if array.item_type == GGUFValueType.STRING else 0):
        (length,) = _U64.unpack_from(buf, pos)
        yield buf[pos + 8 : pos + 8 + length]
        pos += 8 + length


def string_item(buf: bytes, array: GGUFArray, index: int) -> str | None:
    """Item ``index`` of a string ``array`` that :func:`parse_header` checked, or None."""
    if not 0 <= index < array.count:
        return None
    raw = next(itertools.islice(raw_strings(buf, array), index, None), None)
    return None if raw is None else raw.decode("utf-8", errors="replace")


class _Cursor:
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
            raise _NeedMoreBytesError(self.pos)
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
        code = _SCALAR_FORMATS[item_type]
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


def _too_long(end: int) -> str:
    return (
        f"corrupt: the header would run past byte {end:,}, "
        f"but no real model needs more than {MAX_HEADER_BYTES:,} bytes of header"
    )


def _open_nonblocking(path: str, flags: int) -> int:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; the type check follows.
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _regular_file_size(status: os.stat_result, path: str | os.PathLike[str]) -> int:
    if stat.S_ISDIR(status.st_mode):
        raise GGUFError(path, "is a directory, not a GGUF file")
    if not stat.S_ISREG(status.st_mode):
        raise GGUFError(path, "is not a regular file")
    return status.st_size


def _check_version(version: int, cursor: _Cursor) -> None:
    if version in SUPPORTED_VERSIONS:
        return
    if int.from_bytes(version.to_bytes(4, "little"), "big") in (1, *SUPPORTED_VERSIONS):
        raise cursor.error("big-endian GGUF files are not supported")
    raise cursor.error(f"unsupported GGUF version {version:,} (llama.cpp reads 2 and 3)")


def _alignment(metadata: Mapping[str, Value], cursor: _Cursor) -> int:
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise cursor.error(f"general.alignment {alignment} is not a power of two")
    return alignment


def _check_unique(names: list[str], what: str, cursor: _Cursor) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise cursor.error(f"duplicate {what} name {name!r}")
        seen.add(name)


def _check_tensor_data(header: GGUFHeader, cursor: _Cursor) -> None:
    """Tensors lie in table order, each padded to the alignment, inside the file."""
    expected = 0
    for tensor in header.tensors:
        if tensor.offset != expected:
            raise cursor.error(
                f"tensor {tensor.name!r} has data offset {tensor.offset:,}, expected "
                f"{expected:,} (tensors are stored in order, padded to {header.alignment})"
            )
        end = header.data_offset + tensor.offset + tensor.n_bytes
        if end > header.file_size:
            raise cursor.error(
                f"truncated: tensor {tensor.name!r} ends at byte {end:,} "
                f"but the file has {header.file_size:,}"
            )
        expected += _pad(tensor.n_bytes, header.alignment)


def _pad(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment
