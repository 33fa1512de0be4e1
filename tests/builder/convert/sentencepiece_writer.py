"""Writing a SentencePiece ``tokenizer.model`` (a ``ModelProto``) by hand, for the tests.

Independent of the reader under test: each message is built from protobuf's wire format
(varint keys and lengths, little-endian floats). :data:`PIECES` is a tiny BPE
vocabulary: the unknown, bos and eos tokens, the 256 byte pieces, then a few merges of
``a``, ``b`` and ``▁`` (SentencePiece's space), scored so that ``▁ab`` wins over ``▁a b``.
"""

from __future__ import annotations

import struct
from pathlib import Path

NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6

PIECES: list[tuple[str, float, int]] = [
    ("<unk>", 0.0, UNKNOWN),
    ("<s>", 0.0, CONTROL),
    ("</s>", 0.0, CONTROL),
    *[(f"<0x{byte:02X}>", 0.0, BYTE) for byte in range(256)],
    ("▁ab", -1.0, NORMAL),
    ("▁a", -2.0, NORMAL),
    ("ab", -3.0, NORMAL),
    ("▁", -4.0, NORMAL),
    ("a", -5.0, NORMAL),
    ("b", -6.0, NORMAL),
]


def piece_id(text: str) -> int:
    """The id of the piece ``text`` in :data:`PIECES`."""
    return next(i for i, (piece, _, _) in enumerate(PIECES) if piece == text)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int | float) -> bytes:
    if isinstance(payload, bytes):
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload
    if isinstance(payload, float):
        return _varint(number << 3 | 5) + struct.pack("<f", payload)
    return _varint(number << 3) + _varint(payload)


def write_sentencepiece(
    path: Path,
    pieces: list[tuple[str, float, int]] = PIECES,
    model_type: int = 2,
    add_dummy_prefix: bool = True,
) -> Path:
    """A ``tokenizer.model`` of ``pieces`` (text, score, type) at ``path``."""
    body = b"".join(
        _field(1, _field(1, text.encode()) + _field(2, score) + _field(3, kind))
        for text, score, kind in pieces
    )
    trainer = _field(3, model_type) + _field(4, len(pieces))  # model_type, vocab_size
    normalizer = _field(1, b"identity") + _field(3, int(add_dummy_prefix))
    path.write_bytes(body + _field(2, trainer) + _field(3, normalizer))
    return path
