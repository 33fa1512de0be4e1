"""Arguments written as text (Qwen3-Coder's and GLM's XML-like calls), typed by the
request's tool schema as Ollama types them (``parseTypedToolValue``, its test vectors
at ollama/ollama@fb30760 ``model/parsers/qwen3coder_test.go``)."""

from __future__ import annotations

from typing import Any

import pytest

from builder.templates.tool_call_xml import parameter_types, typed_value
from tests.builder.templates.test_tool_call_formats import CALCULATE


@pytest.mark.parametrize(
    ("raw", "types", "value"),
    [  # qwen3coder_test.go, TestQwenToolCallValueParsing
        ("some-string", (), "some-string"),
        ("\nsome-string\n", (), "some-string"),
        ("\n\nsome-string\n\n", (), "\nsome-string\n"),
        (" \nsome-string\n ", (), " \nsome-string\n "),
        ("123", ("number",), 123),
        ("007", ("integer",), 7),
        ("2147483648", ("integer",), 2147483648),
        ("100.0", ("number",), 100),
        ("1.23e5", ("number",), 123000),
        ("1.5e-3", ("number",), 0.0015),
        ("12345", ("string",), "12345"),
        ("True", ("boolean",), True),
        ("FALSE", ("boolean",), False),
        ("yes", ("boolean",), False),
        ("NULL", ("integer",), None),
        ("abc", ("integer",), "abc"),
        ('["string", 123, true, null]', ("array",), ["string", 123, True, None]),
        ('{"a": 1}', ("object",), {"a": 1}),
        ("[1]", ("object",), "[1]"),
        ("123", ("string", "number"), 123),
        ("hello", ("string", "number"), "hello"),
        ("true", ("integer", "boolean"), True),
    ],
)
def test_values_are_typed_by_the_tool_schema(raw: str, types: tuple[str, ...], value: Any) -> None:
    assert typed_value(raw, types) == value
    assert type(typed_value(raw, types)) is type(value)


def test_parameter_types_read_unions_and_skip_what_is_not_a_tool() -> None:
    tools = [*CALCULATE, {"type": "function"}, "junk"]
    types = parameter_types(tools)  # type: ignore[arg-type]
    assert types == {
        "calculate": {
            "x": ("number",),
            "y": ("integer",),
            "enabled": ("boolean",),
            "items": ("array",),
            "maybe": ("integer", "null"),
        }
    }
