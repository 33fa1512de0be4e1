# DeepSeek spells its special tokens with fullwidth bars (U+FF5C) and lower blocks (U+2581).
# ruff: noqa: RUF001
"""The parser a chat template implies when it writes calls in a format of its own."""

from __future__ import annotations

import pytest

from builder.templates.parsers import (
    own_call_format,
    parser_for_template,
    parser_named,
    tool_format,
)

# Lines of the models' own chat templates (their tool-call parts), as published with them.
TEMPLATE_LINES = {
    "qwen3-coder": "{{- '<tool_call>\\n<function=' + tool_call.name + '>\\n' }}"
    "{{- '<parameter=' + args_name + '>\\n' }}",
    "glm": "{{ '<tool_call>' + tc.name }}{% for k, v in _args.items() %}"
    "<arg_key>{{ k }}</arg_key><arg_value>{{ v }}</arg_value>{% endfor %}</tool_call>",
    "cogito": "{{'<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + "
    "tool['function']['name'] + '\\n' + '```json' + '\\n' + "
    "tool['function']['arguments'] + '\\n' + '```'}}",
    "deepseek3": "{{'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['function']['name'] + "
    "'<｜tool▁sep｜>' + tool['function']['arguments'] + '<｜tool▁call▁end｜>'}}",
    "pythonic": "{{- '<|tool_call_start|>[' + calls | join(', ') + ']<|tool_call_end|>' -}}",
    "gemma4": "{{- '<|tool_call>call:' + function['name'] + '{' -}}{{- '}<tool_call|>' -}}",
    "functiongemma": "{{- '<start_function_call>call:' + function['name'] + '{' -}}",
}


@pytest.mark.parametrize(("format_name", "line"), TEMPLATE_LINES.items())
def test_a_template_that_writes_its_own_format_is_read_in_it(format_name: str, line: str) -> None:
    assert own_call_format(line) == format_name
    parser = parser_for_template(None, line)
    assert parser.tools == format_name and not parser.thinks
    thinking = parser_for_template(None, "<think>{{ reasoning }}</think>" + line)
    assert thinking.tools == format_name and thinking.thinks
    assert type(thinking.tool_parser(None, line)) is type(tool_format(format_name))


def test_gemma4s_template_reasons_in_its_thought_channel() -> None:
    template = "{{- '<|channel>thought\\n' + message['reasoning'] + '<channel|>' -}}"
    parser = parser_for_template(None, template + TEMPLATE_LINES["gemma4"])
    assert parser.thinking is not None and parser.thinking.open == "<|channel>thought"
    assert "<|channel>" in parser.markup


def test_templates_of_the_json_formats_keep_them() -> None:
    assert (
        own_call_format("{{ '<tool_call>\\n' + tool_call | tojson + '\\n</tool_call>' }}") is None
    )
    assert parser_for_template(None, "{{ '<tool_call>' }}{{ tools }}") is parser_named(
        "passthrough"
    )
