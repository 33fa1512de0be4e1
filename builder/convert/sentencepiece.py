"""Reading a SentencePiece ``tokenizer.model`` without the sentencepiece package.

The file is one protocol buffer, a ``ModelProto`` (sentencepiece's
``sentencepiece_model.proto``): field 1 repeats ``SentencePiece {1: piece, 2: score,
3: type}``, field 2 is the ``TrainerSpec`` (its field 3, ``model_type``: 1 unigram,
2 BPE), field 3 the ``NormalizerSpec`` (its field 3, ``add_dummy_prefix``, true unless
set). Only those are read; every other field is skipped by its wire type, as protobuf
readers do. The wire format (https://protobuf.dev/programming-guides/encoding/): each
field is a varint key ``number << 3 | wire type``, then a varint (type 0), 8 bytes
(1), a varint length and that many bytes (2) or 4 bytes (5).

llama.cpp's ``llama`` tokenizer merges pieces by score, as SentencePiece's BPE models
do (Llama 2, Mistral 7B, Gemma, Phi-3); a unigram model is refused, since llama.cpp
would read it as BPE and split text differently.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ladle.errors import BuildInputError

MAX_MODEL_BYTES = 64 * 1024 * 1024
"""Larger ``tokenizer.model`` files are refused unread (Gemma 3's is 4.7 MB)."""

NORMAL = 1
BPE = 2
_FLOAT = struct.Struct("<f")


@dataclass(frozen=True)
class Piece:
    """One entry of the vocabulary: its text, score and type (llama.cpp's numbering:
    1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte)."""

    text: str
    score: float
    kind: int


@dataclass(frozen=True)
class SentencePieceModel:
    """What the GGUF needs of a ``tokenizer.model``."""

    pieces: list[Piece]
    add_dummy_prefix: bool


class _MalformedError(Exception):
    """The bytes are not a protocol buffer (caught at :func:`read_sentencepiece`)."""


def read_sentencepiece(path: Path) -> SentencePieceModel:
    """The model in ``path``; ``BuildInputError`` names the file when it is not one."""
    try:
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise BuildInputError(f"{path}: larger than {MAX_MODEL_BYTES} bytes; refused unread")
        data = path.read_bytes()
    except OSError as exc:
        raise BuildInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        model, model_type = _model(data)
    except (_MalformedError, UnicodeDecodeError, struct.error):
        raise BuildInputError(f"{path} is not a SentencePiece model (a damaged file?)") from None
    if not model.pieces:
        raise BuildInputError(f"{path}: a SentencePiece model without pieces")
    if model_type != BPE:
        raise BuildInputError(
            f"{path}: a SentencePiece {'unigram' if model_type == 1 else str(model_type)} "
            "model; llama.cpp's SentencePiece tokenizer reads BPE models only"
        )
    return model


def _model(data: bytes) -> tuple[SentencePieceModel, int]:
    pieces: list[Piece] = []
    model_type, add_dummy_prefix = 1, True  # the proto's defaults
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            pieces.append(_piece(value))
        elif number == 2 and isinstance(value, bytes):
            model_type = _int_field(value, 3, model_type)
        elif number == 3 and isinstance(value, bytes):
            add_dummy_prefix = bool(_int_field(value, 3, int(add_dummy_prefix)))
    return SentencePieceModel(pieces, add_dummy_prefix), model_type


def _piece(data: bytes) -> Piece:
    text, score, kind = "", 0.0, NORMAL
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            text = value.decode("utf-8")
        elif number == 2 and isinstance(value, bytes) and len(value) == 4:
            (score,) = _FLOAT.unpack(value)
        elif number == 3 and isinstance(value, int):
            kind = value
    return Piece(text, score, kind)


def _int_field(data: bytes, wanted: int, default: int) -> int:
    """The last varint field ``wanted`` of the message ``data`` (protobuf: the last wins)."""
    found = default
    for number, value in _fields(data):
        if number == wanted and isinstance(value, int):
            found = value
    return found


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Each field of a message: its number, and a varint's value or the bytes of a
    length-delimited or fixed-size one."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
            continue
        size = {1: 8, 5: 4}.get(wire)
        if wire == 2:
            size, at = _varint(data, at)
        if size is None or at + size > len(data) or number == 0:
            raise _MalformedError
        yield number, data[at : at + size]
        at += size


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise _MalformedError
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at
