# ruff: noqa: E501 - Go templates and their renders read best on one line each
"""builder.templates.go_template: Ollama Go templates converted to Jinja render as Ollama does."""

from __future__ import annotations

from typing import Any

import pytest

from builder.templates.chat_template import compile_template
from builder.templates.go_template import convert_go_template, is_go_template, render_messages
from ladle.errors import TemplateError
from tests.conftest import load_fixture_json

CASES = load_fixture_json("ollama", "ollama_template_cases.json")
# Ollama's TestTemplate strips ONE trailing space before comparing, for these only.
STRIPS_ONE_TRAILING_SPACE = {"chatqa", "llama2-chat", "mistral-instruct", "openchat", "vicuna"}

SYSTEM = {"role": "system", "content": "S"}
USER = {"role": "user", "content": "U1"}
ASSISTANT = {"role": "assistant", "content": "A1"}
USER2 = {"role": "user", "content": "U2"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather <now>",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "unit": {"type": "string", "enum": ["c", "f"]},
                "city": {"type": "string", "description": "City"},
            },
        },
    },
}


def go(source: str, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    return render_messages(compile_template(convert_go_template(source)), messages, **kwargs)


@pytest.mark.parametrize(
    ("name", "conversation"),
    [(name, conv) for name in CASES["templates"] for conv in CASES["message_sets"]],
    ids=lambda value: value,
)
def test_ollama_builtin_templates_render_exactly(name: str, conversation: str) -> None:
    case = CASES["templates"][name]
    assert is_go_template(case["gotmpl"])
    template = compile_template(convert_go_template(case["gotmpl"]), origin=f"{name}.gotmpl")
    rendered = render_messages(template, CASES["message_sets"][conversation])
    if name in STRIPS_ONE_TRAILING_SPACE:
        rendered = rendered.removesuffix(" ")
    assert rendered == case["expected"][conversation]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ .System }}", True),
        ("{{- range .Messages }}{{ end }}", True),
        ("{{ $x := 1 }}", True),
        ("{{/* comment */}}hi", True),
        ("{% for m in messages %}{{ m.content }}{% endfor %}", False),
        ("{{ bos_token }}{{ messages[0].content }}", False),
        ("plain text", False),
    ],
)
def test_is_go_template(source: str, expected: bool) -> None:
    assert is_go_template(source) is expected


@pytest.mark.parametrize(  # one line per construct reads best, long or not
    ("source", "expected"),
    [
        ("a \n {{- .Messages | len -}} \n b", "a3b"),
        (
            '{{- range .Messages }}{{ if eq .Role "user" }}u{{ else if eq .Role "assistant" }}a{{ else }}s{{ end }}{{ end }}',
            "sua",
        ),
        (
            "{{ range $i, $m := .Messages }}{{ $i }}{{ $m.Role }},{{ end }}",
            "0system,1user,2assistant,",
        ),
        ("{{ range $m := .Messages }}{{ $m.Content }}{{ end }}", "SU1A1"),
        (
            '{{ range .Messages }}{{ if eq .Role "user" }}{{ continue }}{{ end }}{{ .Content }}{{ end }}',
            "SA1",
        ),
        (
            '{{ range .Messages }}{{ if eq .Role "user" }}{{ break }}{{ end }}{{ .Content }}{{ end }}',
            "S",
        ),
        (
            '{{ $last := "" }}{{ range .Messages }}{{ $last = .Role }}{{ end }}{{ $last }}',
            "assistant",
        ),
        ('{{ $x := "outer" }}{{ range .Messages }}{{ $x := .Role }}{{ end }}{{ $x }}', "outer"),
        ("{{ range .Messages }}{{ $.System }}{{ end }}", "SSS"),
        ("{{ with .System }}[{{ . }}]{{ else }}none{{ end }}", "[S]"),
        ("{{ with .Tools }}tools{{ else }}none{{ end }}", "none"),
        ("{{ if $s := .System }}{{ $s }}!{{ end }}", "S!"),
        ('{{ or "" "b" }} {{ and "a" 0 }} {{ not .Tools }}', "b 0 true"),
        (
            '{{ eq .System "x" "S" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 1 2 }}',
            "true true true true false false",
        ),
        (
            '{{ len .Messages }} {{ (index .Messages 1).Content }} {{ len (slice .Messages 1) }} {{ slice "abcd" 1 3 }}',
            "3 U1 2 bc",
        ),
        (
            '{{ printf "%s|%d|%v|%q|%5s|%-3d|" "a" 3 true "x\\"y" "r" 7 }}',
            'a|3|true|"x\\"y"|    r|7  |',
        ),
        ('{{ printf "%s %s" "only" }}', "only %!s(MISSING)"),
        ('{{ print 1 2 "a" 3 }}{{ println "x" }}', "1 2a3x\n"),
        ('{{ .System | printf "<%s>" | printf "%s!" }}', "<S>!"),
        ("{{ `raw \\n {{` }}{{/* a comment */}}{{- /* trimmed */ -}} x", "raw \\n {{x"),
        ("{ {% raw %} {#\r\n{{ .System }}", "{ {% raw %} {#\r\nS"),
        ("{{ 'a' }} {{ 1.5 }} {{ 0x10 }} {{ nil }} {{ true }}", "97 1.5 16 <nil> true"),
    ],
)  # fmt: skip
def test_go_constructs(source: str, expected: str) -> None:
    # naming .Messages puts every case in Ollama's messages mode (no turns, no cut)
    assert go("{{- $messages_mode := .Messages }}" + source, [SYSTEM, USER, ASSISTANT]) == expected


def test_consecutive_messages_of_one_role_are_merged_and_systems_joined() -> None:
    messages = [SYSTEM, {"role": "system", "content": "T"}, USER, USER2]
    source = "{{ .System }}|{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}"
    assert go(source, messages) == "S\n\nT|system:S\n\nT;user:U1\n\nU2;"


def test_tools_marshal_and_range_like_go() -> None:
    source = (
        "{{ json .Tools }}\n{{ range .Tools }}{{ .Function.Name }}("
        "{{ range $name, $p := .Function.Parameters.Properties }}{{ $name }}:{{ $p.Type }},{{ end }})"
        "{{ end }}"
    )
    first, second = go(source + "{{ .Messages }}", [USER], tools=[WEATHER_TOOL]).split("\n")
    assert first == (
        '[{"type":"function","function":{"name":"get_weather","description":"Weather \\u003cnow\\u003e",'
        '"parameters":{"type":"object","required":["city"],"properties":{'
        '"city":{"type":"string","description":"City"},"unit":{"type":"string","enum":["c","f"]}}}}}]'
    )
    assert second.startswith("get_weather(city:string,unit:string,)")


@pytest.mark.parametrize("arguments", [{"b": 1, "a": "x"}, '{"b": 1.0, "a": "x"}'])
def test_tool_calls_print_their_arguments_as_json(arguments: object) -> None:
    call = {"type": "function", "function": {"name": "f", "arguments": arguments}}
    messages: list[dict[str, Any]] = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
    ]
    source = "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Name }}{{ .Function.Arguments }}{{ end }}{{ end }}"
    assert go(source, messages) == 'f{"a":"x","b":1}'


LEGACY = "{{ if .System }}<s>{{ .System }}{{ end }}<u>{{ .Prompt }}<a>{{ .Response }}<e>"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([USER], "<u>U1<a>"),
        ([SYSTEM, USER, ASSISTANT, USER2], "<s>S<u>U1<a>A1<e><u>U2<a>"),
        ([USER, ASSISTANT], "<u>U1<a>A1"),
        ([], "<u><a>"),
    ],
)
def test_legacy_templates_render_turn_by_turn_and_cut_the_last_at_response(
    messages: list[dict[str, Any]], expected: str
) -> None:
    assert go(LEGACY, messages) == expected


def test_legacy_template_without_response_gets_it_appended() -> None:
    assert go("[{{ .Prompt }}]", [USER, ASSISTANT, USER2]) == "[U1]A1[U2]"


@pytest.mark.parametrize(
    ("source", "line", "column", "reason"),
    [
        ('{{ define "x" }}{{ end }}', 1, 4, "not supported"),
        ('ok\n  {{ template "x" . }}', 2, 6, "not supported"),
        ("{{ html .System }}", 1, 4, "'html' is not supported"),
        ("{{ $y }}", 1, 4, "undefined variable"),
        ("a\n{{ if .System }}x", 2, 4, "without {{ end }}"),
        ("{{ break }}", 1, 4, "outside {{ range }}"),
        ("{{ .System 1 }}", 1, 12, "only functions take arguments"),
        ("{{ eq .System }}", 1, 4, "wrong number of arguments"),
        ("{{ .System", 1, 11, "unclosed action"),
        ("{{ end }}", 1, 4, "unexpected"),
    ],
)
def test_unsupported_or_broken_templates_raise_with_position(
    source: str, line: int, column: int, reason: str
) -> None:
    with pytest.raises(TemplateError, match=reason) as caught:
        convert_go_template(source)
    assert (caught.value.line, caught.value.column) == (line, column)


def test_converted_template_refuses_a_plain_render() -> None:
    template = compile_template(convert_go_template("{{ .System }}"))
    with pytest.raises(TemplateError, match="render_messages"):
        template.render([USER])


def test_render_messages_also_renders_jinja_templates() -> None:
    template = compile_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert render_messages(template, [USER, ASSISTANT]) == "U1A1"
