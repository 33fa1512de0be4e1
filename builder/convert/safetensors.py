"""Reading safetensors files without PyTorch or the ``safetensors`` package.

The format (https://github.com/huggingface/safetensors, "Format"): an unsigned 64-bit
little-endian integer N, then N bytes of UTF-8 JSON mapping each tensor name to its
``dtype``, ``shape`` and ``data_offsets`` ([begin, end), relative to the byte after the
header), plus an optional ``"__metadata__"`` map of strings; then the raw data,
little-endian, row-major.

Every claim of the header is checked against the file before anything is read: a
header longer than the file, offsets past its end, a size that does not match the
shape, overlapping tensors. A tensor is read on its own (:meth:`SafetensorsFile.read`)
through a memory map of just its bytes, so converting streams tensor by tensor.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from ladle.errors import BuildInputError

MAX_HEADER_BYTES = 100_000_000
"""The largest header accepted; the reference implementation refuses larger ones too."""

DTYPES: dict[str, npt.DTypeLike] = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
"""The weight types converted, and the numpy type their bytes are read as (BF16, which
numpy lacks, as its raw 16 bits)."""

_LENGTH = struct.Struct("<Q")
_METADATA = "__metadata__"


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors file, as its header describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    """Offset of its first byte in the file (header included)."""
    nbytes: int


class SafetensorsFile:
    """The header of one safetensors file, checked, and a way to read its tensors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tensors = _read_header(path)

    def read(self, name: str) -> npt.NDArray[Any]:
        """The tensor ``name``, read-only, mapped from the file (BF16 as ``uint16``)."""
        entry = self.tensors[name]
        if entry.nbytes == 0:
            return np.zeros(entry.shape, dtype=DTYPES[entry.dtype])
        return np.memmap(
            self.path, dtype=DTYPES[entry.dtype], mode="r", offset=entry.begin, shape=entry.shape
        )


def _read_header(path: Path) -> dict[str, TensorEntry]:
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            length = _header_length(handle.read(_LENGTH.size), size, path)
            raw = handle.read(length)
    except OSError as exc:
        raise BuildInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BuildInputError(f"{path}: the safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise BuildInputError(f"{path}: the safetensors header is not a JSON object")
    start = _LENGTH.size + length
    entries = [
        _entry(name, value, start, size - start, path)
        for name, value in header.items()
        if name != _METADATA
    ]
    _check_no_overlap(entries, path)
    return {entry.name: entry for entry in entries}


def _header_length(prefix: bytes, size: int, path: Path) -> int:
    if len(prefix) < _LENGTH.size:
        raise BuildInputError(f"{path}: too short to be a safetensors file ({size} bytes)")
    (length,) = _LENGTH.unpack(prefix)
    if length > MAX_HEADER_BYTES:
        raise BuildInputError(
            f"{path}: the safetensors header claims {length} bytes, more than the "
            f"{MAX_HEADER_BYTES} accepted (a damaged or hostile file)"
        )
    if _LENGTH.size + length > size:
        raise BuildInputError(
            f"{path}: the safetensors header claims {length} bytes, but the file has only "
            f"{size} (truncated)"
        )
    return int(length)


def _entry(name: str, value: Any, start: int, data_size: int, path: Path) -> TensorEntry:
    where = f"{path}: tensor {name!r}"
    if not isinstance(value, dict):
        raise BuildInputError(f"{where}: its header entry is not an object")
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if dtype not in DTYPES:
        raise BuildInputError(
            f"{where} is {dtype}; ladle converts {', '.join(DTYPES)} weights (quantized "
            "checkpoints such as GPTQ or AWQ are not supported)"
        )
    if not _ints(shape) or not _ints(offsets) or len(offsets) != 2:
        raise BuildInputError(f"{where}: its shape or data_offsets are not lists of integers")
    begin, end = offsets
    nbytes = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
    if not 0 <= begin <= end <= data_size:
        raise BuildInputError(
            f"{where}: its data [{begin}, {end}) lies outside the file's {data_size} bytes of "
            "data (truncated or damaged)"
        )
    if end - begin != nbytes:
        raise BuildInputError(
            f"{where}: shape {shape} of {dtype} needs {nbytes} bytes; the header gives "
            f"{end - begin}"
        )
    return TensorEntry(name, dtype, tuple(shape), start + begin, nbytes)


def _ints(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) and item >= 0 for item in value
    )


def _check_no_overlap(entries: list[TensorEntry], path: Path) -> None:
    ordered = sorted(entries, key=lambda entry: entry.begin)
    for first, second in itertools.pairwise(ordered):
        if first.begin + first.nbytes > second.begin:
            raise BuildInputError(
                f"{path}: tensors {first.name!r} and {second.name!r} overlap (a damaged file)"
            )
