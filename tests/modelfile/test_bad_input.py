"""Hostile and broken input: every case is a ``ModelfileError``, located where it can be.

Never another exception and never a hang: each refusal must come back within
``HANG_GUARD_S`` (a guard against runaway regex backtracking, not a benchmark).
"""

from __future__ import annotations

import codecs
import random
import time
from pathlib import Path

import pytest

import modelfile
from ladle.errors import ModelfileError

HANG_GUARD_S = 2.0
MB = 1_000_000
HEAD = "FROM smollm2:135m\n"


def _refused(text: str | bytes) -> ModelfileError:
    start = time.perf_counter()
    with pytest.raises(ModelfileError) as caught:
        modelfile.parse(text)
    assert time.perf_counter() - start < HANG_GUARD_S
    return caught.value


def _refused_file(path: Path) -> ModelfileError:
    with pytest.raises(ModelfileError) as caught:
        modelfile.parse_file(path)
    return caught.value


def _junk(size: int) -> bytes:
    return random.Random(0).randbytes(size)


# Control characters and encodings.


@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_nul_byte_is_refused_where_it_stands(as_bytes: bool) -> None:
    text = HEAD + "SYSTEM ab\x00c\n"
    error = _refused(text.encode() if as_bytes else text)
    assert (error.line, error.column) == (2, 10)
    assert "U+0000" in error.reason


def test_nul_byte_at_the_start_of_the_file() -> None:
    error = _refused(b"\x00" + HEAD.encode())
    assert (error.line, error.column) == (1, 1)


@pytest.mark.parametrize(
    ("data", "offset", "column"),
    [
        pytest.param(b"SYSTEM caf\xe9 au lait\n", 28, 11, id="latin-1"),
        pytest.param(b"SYSTEM caf\xc3", 28, 11, id="truncated-at-eof"),
        pytest.param(b"SYSTEM \xc0\xafetc\n", 25, 8, id="overlong"),
        pytest.param(b"SYSTEM \xed\xa0\x80\n", 25, 8, id="encoded-surrogate"),
    ],
)
def test_invalid_utf8_names_its_position(data: bytes, offset: int, column: int) -> None:
    error = _refused(HEAD.encode() + data)
    assert (error.line, error.column) == (2, column)
    assert "invalid UTF-8" in error.reason
    assert f"byte offset {offset}" in error.reason


def test_invalid_utf8_column_counts_characters() -> None:
    error = _refused(HEAD.encode() + "SYSTEM éé".encode() + b"\xff\n")
    assert (error.line, error.column) == (2, 10)


def test_invalid_utf16_column_counts_characters() -> None:
    lone_surrogate = b"\x00\xd8"
    error = _refused(codecs.BOM_UTF16_LE + "FROM x".encode("utf-16-le") + lone_surrogate)
    assert (error.line, error.column) == (1, 7)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_refused(encoding: str) -> None:
    error = _refused((HEAD + "SYSTEM hello\n").encode(encoding))
    assert error.line == 1


def test_excerpt_does_not_echo_control_characters() -> None:
    error = _refused(HEAD + "SYSTEM \x1b[2J\x1b[31mred\n")
    assert (error.line, error.column) == (2, 8)
    assert "\x1b" not in str(error)


# Junk and size.


def test_binary_junk_is_refused() -> None:
    error = _refused(_junk(64 * 1024))
    assert error.line >= 1
    assert error.column >= 1


def test_binary_junk_read_as_text_is_refused() -> None:
    # As if decoded by a lenient reader: every byte is a character, controls included.
    _refused(HEAD + _junk(64 * 1024).decode("latin-1"))


def test_binary_junk_after_a_valid_line_points_past_it() -> None:
    error = _refused(HEAD.encode() + _junk(64 * 1024))
    assert error.line >= 2


@pytest.fixture
def ten_mb_modelfile(tmp_path: Path) -> Path:
    """A 10 MB file that would be a valid Modelfile but for its size."""
    path = tmp_path / "Modelfile"
    path.write_bytes(HEAD.encode() + b"# padding\n" * MB)
    return path


def test_ten_mb_file_is_refused_by_size(ten_mb_modelfile: Path) -> None:
    start = time.perf_counter()
    error = _refused_file(ten_mb_modelfile)
    assert time.perf_counter() - start < HANG_GUARD_S
    assert error.path == str(ten_mb_modelfile)
    assert "MiB" in error.reason


def test_ten_mb_bytes_and_text_are_refused_by_size(ten_mb_modelfile: Path) -> None:
    data = ten_mb_modelfile.read_bytes()
    assert "MiB" in _refused(data).reason
    assert "MiB" in _refused(data.decode()).reason


def test_long_line_of_junk_is_refused_on_its_line() -> None:
    rng = random.Random(0)
    junk = "".join(rng.choice("abcXYZ019 \t\"'#{}<>|") for _ in range(100_000))
    error = _refused(HEAD + "x" + junk + "\nSYSTEM hi\n")
    assert (error.line, error.column) == (2, 1)


def test_error_on_a_long_line_stays_readable() -> None:
    error = _refused(HEAD + "x" * 100_000 + "\n")
    assert len(str(error)) < 2_000


def test_long_system_line_parses() -> None:
    prompt = ("You are terse. " * 7_000)[:100_000].strip()
    parsed = modelfile.parse(HEAD + "SYSTEM " + prompt + "\nPARAMETER top_k 20\n")
    assert parsed.validate().system == prompt
    assert modelfile.parse(modelfile.format(parsed)) == parsed


MB_OF_LINES = "You are a helpful assistant. Answer in one line.\n" * (MB // 50)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('SYSTEM """' + MB_OF_LINES + HEAD, id="triple-quote-after-keyword"),
        pytest.param('"""' + MB_OF_LINES + HEAD, id="triple-quote-alone"),
        pytest.param('TEMPLATE "' + MB_OF_LINES + HEAD, id="single-quote"),
        pytest.param('SYSTEM """' + "y" * MB + "\n" + HEAD, id="one-long-line"),
        pytest.param('SYSTEM """' + ' """ x\n' * (MB // 7), id="closes-early-on-every-line"),
    ],
)
def test_unterminated_quote_in_a_1_mb_file_fails_fast(text: str) -> None:
    error = _refused(text)
    assert error.line == 1


# Paths.


def test_directory_is_refused_with_its_path(tmp_path: Path) -> None:
    error = _refused_file(tmp_path)
    assert error.path == str(tmp_path)
    assert str(tmp_path) in str(error)


def test_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "Modelfile"
    error = _refused_file(missing)
    assert error.path == str(missing)
    assert str(missing) in str(error)
    assert "No such file" in error.reason
