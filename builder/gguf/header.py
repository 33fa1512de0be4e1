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
than :data:`~builder.gguf.header_types.INLINE_ARRAY_ITEMS` are walked, not decoded;
:func:`~builder.gguf.header_cursor.string_item` fetches one item later. The header is
read into memory (it is a few MB at most, and it grows only as far as the declared
lengths prove to be inside the file); the file is not memory-mapped, because a file that
shrinks under a map kills the process (SIGBUS).

The records it returns are in :mod:`builder.gguf.header_types`; the walk through the
bytes, with the checks that guard each read, is :mod:`builder.gguf.header_cursor`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from builder.gguf.header_cursor import MAGIC, HeaderCursor, NeedMoreBytesError
from builder.gguf.header_types import GGUFHeader, Value
from ladle.errors import GGUFError

DEFAULT_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT
FIRST_READ_BYTES = 8 * 1024 * 1024  # enough for the header of most models
MAX_HEADER_BYTES = 256 * 1024 * 1024  # vocabularies of 256k tokens take about 10 MB


def starts_as_gguf(path: Path) -> bool:
    """Whether the regular file ``path`` begins with the GGUF magic: how a GGUF saved under
    another name (``model.bin``) is told from other weights, as Ollama tells it."""
    try:
        with open(path, "rb", opener=_open_nonblocking) as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return False
            return file.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


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
                except NeedMoreBytesError as more:
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
            except NeedMoreBytesError as more:
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
    cursor = HeaderCursor(buf, path, len(buf) if file_size is None else file_size)
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


def _alignment(metadata: Mapping[str, Value], cursor: HeaderCursor) -> int:
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise cursor.error(f"general.alignment {alignment} is not a power of two")
    return alignment


def _check_unique(names: list[str], what: str, cursor: HeaderCursor) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise cursor.error(f"duplicate {what} name {name!r}")
        seen.add(name)


def _check_tensor_data(header: GGUFHeader, cursor: HeaderCursor) -> None:
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
