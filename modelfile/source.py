"""Turning the bytes of a Modelfile into text the grammar can read.

Ollama decodes with a byte-order-mark override (UTF-8, UTF-16 LE and UTF-16 BE, each
with or without BOM for UTF-8) and silently drops every non-printable character. ladle
decodes the same encodings but refuses control characters and invalid UTF-8 with an
error that points at them, because dropping bytes silently changes prompts.
"""

from __future__ import annotations

import codecs
import re

from ladle.errors import Diagnostic, ModelfileError

MAX_MODELFILE_BYTES = 2 * 1024 * 1024
"""Largest Modelfile ladle reads: far above any real one, and small enough that even the
slowest input to parse (one short line after another, ~13 µs a line) takes under 3 s."""

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# C0 controls other than tab, line feed and carriage return, DEL, and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LONE_CR = re.compile(r"\r(?!\n)")


def decode(data: bytes, path: str | None = None) -> str:
    """Decode Modelfile bytes: a BOM picks UTF-8 or UTF-16, otherwise strict UTF-8."""
    check_size(len(data), path)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data[len(bom) :], encoding, path, skipped=len(bom))
    return _decode(data, "utf-8", path, skipped=0)


def check_size(size: int, path: str | None) -> None:
    """Refuse inputs over :data:`MAX_MODELFILE_BYTES` before reading them."""
    if size > MAX_MODELFILE_BYTES:
        limit = MAX_MODELFILE_BYTES // (1024 * 1024)
        raise _error(f"file is {size:,} bytes; a Modelfile may be at most {limit} MiB", 1, 1, path)


def prepare(text: str, path: str | None = None) -> str:
    """Check decoded text and normalise it for the lexer.

    A leading BOM is dropped; a lone carriage return (old Mac line end) becomes a line
    feed so that line numbers are true. ``\\r\\n`` is kept: Ollama keeps it inside
    quoted values, and the grammar treats it as a line end elsewhere.
    """
    check_size(len(text), path)
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = _CONTROL.search(text)
    if bad is not None:
        line, column = line_and_column(text, bad.start())
        char = f"U+{ord(bad.group()):04X}"
        hint = "is this a binary file? Ollama would silently drop it"
        if _looks_like_utf16(text):
            hint = "it looks like UTF-16 without a byte-order mark; save the file as UTF-8"
        raise _error(
            f"control character {char} is not allowed in a Modelfile ({hint})",
            line,
            column,
            path,
            text,
        )
    if "\r" in text:
        text = _LONE_CR.sub("\n", text)
    return text


def _looks_like_utf16(text: str) -> bool:
    """Every other character NUL: UTF-16 text decoded as UTF-8."""
    head = text[:200]
    return len(head) >= 4 and head.count("\x00") * 3 >= len(head)


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset in ``text``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def source_line(text: str, line: int) -> str | None:
    """The text of 1-based ``line`` without its line end, or None past the end."""
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip("\r")
    return None


def _decode(data: bytes, encoding: str, path: str | None, skipped: int) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode(encoding, errors="replace")
        line, column = line_and_column(good, len(good))
        byte = data[exc.start : exc.start + 1].hex()
        name = "UTF-16" if encoding.startswith("utf-16") else "UTF-8"
        where = f"byte offset {exc.start + skipped}"
        shown = data.decode(encoding, errors="replace")
        raise _error(
            f"invalid {name} (byte 0x{byte} at {where}); save the file as UTF-8",
            line,
            column,
            path,
            shown,
        ) from None


def _error(
    message: str, line: int, column: int, path: str | None, text: str | None = None
) -> ModelfileError:
    shown = source_line(text, line) if text is not None else None
    return ModelfileError(Diagnostic("error", message, line, column, path, shown))
