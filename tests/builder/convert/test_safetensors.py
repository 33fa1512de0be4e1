"""The safetensors reader: tensors read back exactly; damaged headers refused, naming
the file."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from builder.convert.safetensors import MAX_HEADER_BYTES, SafetensorsFile
from ladle.errors import BuildInputError
from tests.builder.convert.hf_export import write_safetensors


def _raw(path: Path, header: object, data: bytes = b"", length: int | None = None) -> Path:
    raw = json.dumps(header).encode("utf-8")
    size = len(raw) if length is None else length
    path.write_bytes(struct.pack("<Q", size) + raw + data)
    return path


def test_tensors_read_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tensors: dict[str, npt.NDArray[Any]] = {
        "a": rng.normal(size=(3, 5)).astype(np.float32),
        "b": rng.normal(size=(7,)).astype(np.float16),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    write_safetensors(tmp_path / "m.safetensors", tensors.items())
    file = SafetensorsFile(tmp_path / "m.safetensors")
    assert sorted(file.tensors) == ["a", "b", "empty"]
    for name, data in tensors.items():
        found = file.read(name)
        assert found.dtype == data.dtype and found.shape == data.shape
        assert np.array_equal(found, data)


def test_bf16_is_read_as_its_raw_bits(tmp_path: Path) -> None:
    values = np.array([1.0, -2.5, 3.140625], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    entry = {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}
    file = SafetensorsFile(_raw(tmp_path / "m.safetensors", {"w": entry}, bits.tobytes()))
    assert np.array_equal(file.read("w"), bits)


@pytest.mark.parametrize(
    ("header", "data", "length", "reason"),
    [
        (None, b"", 10**15, "claims 1000000000000000 bytes"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"", 4000, "truncated"),
        (
            {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
            b"\0" * 8,
            None,
            "outside the file",
        ),
        (
            {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
            b"\0" * 8,
            None,
            "needs 12 bytes",
        ),
        ({"w": {"dtype": "I8", "shape": [8], "data_offsets": [0, 8]}}, b"\0" * 8, None, "is I8"),
        (
            {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}},
            b"\0" * 8,
            None,
            "not lists of integers",
        ),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            b"\0" * 8,
            None,
            "overlap",
        ),
        ([1, 2], b"", None, "not a JSON object"),
    ],
)
def test_a_damaged_file_is_refused_naming_it(
    tmp_path: Path, header: object, data: bytes, length: int | None, reason: str
) -> None:
    path = _raw(tmp_path / "damaged.safetensors", header, data, length)
    with pytest.raises(BuildInputError, match=reason) as caught:
        SafetensorsFile(path)
    assert str(path) in str(caught.value)


def test_a_file_shorter_than_the_length_prefix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\1\2\3")
    with pytest.raises(BuildInputError, match="too short"):
        SafetensorsFile(path)


def test_header_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1))
    with pytest.raises(BuildInputError, match="more than"):
        SafetensorsFile(path)
