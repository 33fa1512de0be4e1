"""Ollama's own parser cases (tests/fixtures/ollama/ollama_parser_cases.json).

``parse`` and ``roundtrip`` cases run through :func:`modelfile.parse`; ``create_request``
cases also through ``Modelfile.validate()``. Cases that need the filesystem side of
Ollama's CreateRequest (``create_request_fs``, ``files_for_model``) belong to the builder:
tests/builder/test_ollama_create_compat.py runs them.
Where ladle is deliberately different, the case is listed in ``DELIBERATE`` with the
reason, and docs/modelfile.md lists the same cases.
"""

from __future__ import annotations

import codecs
from typing import Any

import pytest

import modelfile
from ladle.errors import ModelfileError
from tests.conftest import load_fixture_json

CASES: list[dict[str, Any]] = load_fixture_json("ollama", "ollama_parser_cases.json")

DELIBERATE = {
    "derived: control_chars_dropped": "ladle refuses control characters instead of dropping them",
}

# Ollama counts "\r\n" as two lines and reports a missing value on the next line;
# ladle reports the line the problem is on.
OLLAMA_LINE_QUIRKS = {
    "derived: crlf_bad_command_line_number": 2,
    "derived: instruction_without_argument_newline": 1,
}

ENCODINGS = {
    "utf-16-le-bom": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be-bom": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-8-bom": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
}


def _cases(*kinds: str, ok_only: bool = False, reparse_only: bool = False) -> list[Any]:
    return [
        pytest.param(case, id=case["name"])
        for case in CASES
        if case["kind"] in kinds
        and case["name"] not in DELIBERATE
        and (case["expect"] == "ok" or not ok_only)
        and (case.get("reparse_equal") or not reparse_only)
    ]


def _input(case: dict[str, Any]) -> str | bytes:
    encoding = case.get("input_encoding")
    return ENCODINGS[encoding](case["input"]) if encoding else case["input"]


def test_every_case_is_run_or_listed() -> None:
    kinds = {"parse", "roundtrip", "create_request", "create_request_fs", "files_for_model"}
    assert {case["kind"] for case in CASES} <= kinds
    assert set(DELIBERATE) <= {case["name"] for case in CASES}
    assert sum(case["kind"] in ("parse", "roundtrip", "create_request") for case in CASES) == 144


@pytest.mark.parametrize("case", _cases("parse", "roundtrip", "create_request"))
def test_parse(case: dict[str, Any]) -> None:
    if case["expect"] == "error":
        with pytest.raises(ModelfileError) as caught:
            modelfile.parse(_input(case))
        expected_line = OLLAMA_LINE_QUIRKS.get(case["name"], case.get("error_line"))
        if expected_line is not None:
            assert caught.value.line == expected_line
        return
    parsed = modelfile.parse(_input(case))
    if "commands" in case:
        assert parsed.commands == [tuple(command) for command in case["commands"]]
    assert modelfile.parse(modelfile.format(parsed)) == parsed


@pytest.mark.parametrize("case", _cases("parse", "roundtrip", "create_request", ok_only=True))
def test_format_is_idempotent(case: dict[str, Any]) -> None:
    once = modelfile.format(modelfile.parse(_input(case)))
    assert modelfile.format(modelfile.parse(once)) == once


@pytest.mark.parametrize("case", _cases("parse", "roundtrip", ok_only=True, reparse_only=True))
def test_ollama_string_form_reads_back(case: dict[str, Any]) -> None:
    """Ollama's own ``Modelfile.String()`` output parses to the same commands where
    Ollama says it does (``reparse_equal``); Ollama's form drops comments."""
    reparsed = modelfile.parse(case["modelfile_string"])
    assert reparsed.commands == modelfile.parse(_input(case)).commands


@pytest.mark.parametrize("case", _cases("create_request"))
def test_create_request(case: dict[str, Any]) -> None:
    parsed = modelfile.parse(_input(case))
    if "create_request_error" in case:
        with pytest.raises(ModelfileError):
            parsed.validate()
        return
    assert parsed.validate().to_create_request() == case["create_request"]


def test_control_characters_are_refused_not_dropped() -> None:
    with pytest.raises(ModelfileError) as caught:
        modelfile.parse("FROM foo\nSYSTEM a\x07b\x00c\n")
    assert (caught.value.line, caught.value.column) == (2, 9)
    assert "U+0007" in caught.value.reason
