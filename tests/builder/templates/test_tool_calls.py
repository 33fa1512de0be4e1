"""Tool calls read out of generated text, whole and in chunks, per format and family."""

from __future__ import annotations

import json

import pytest
from syrupy.assertion import SnapshotAssertion

from builder.templates.tool_call_stream import ToolCallStream
from builder.templates.tool_calls import (
    FORMATS,
    ParsedOutput,
    ToolCall,
    ToolCallParser,
    parser_for_family,
    parser_for_format,
)

WEATHER = ToolCall(name="get_weather", arguments={"city": "Paris"})
TIME = ToolCall(name="get_time", arguments={"zone": "CET", "24h": True})
NOW = ToolCall(name="now")

HERMES_WEATHER = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
)
HERMES_TIME = (
    '<tool_call>{"name": "get_time", "arguments": {"zone": "CET", "24h": true}}</tool_call>'
)
LLAMA_WEATHER = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
LLAMA_TIME = '{"name": "get_time", "parameters": {"zone": "CET", "24h": true}}'
MISTRAL_LIST = (
    '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}, '
    '{"name": "get_time", "arguments": {"zone": "CET", "24h": true}}]'
)


def parse(format_name: str, text: str) -> ParsedOutput:
    return parser_for_format(format_name).parse(text)


@pytest.mark.parametrize(
    ("text", "content", "calls"),
    [
        pytest.param(HERMES_WEATHER, "", [WEATHER], id="one"),
        pytest.param(f"{HERMES_WEATHER}\n{HERMES_TIME}\n", "", [WEATHER, TIME], id="several"),
        pytest.param(
            f"Let me look.\n\n{HERMES_WEATHER}\n{HERMES_TIME}",
            "Let me look.",
            [WEATHER, TIME],
            id="text-before",
        ),
        pytest.param(
            f"Before.\n{HERMES_WEATHER}\nAfter.", "Before.\nAfter.", [WEATHER], id="text-around"
        ),
        pytest.param(
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
            "",
            [WEATHER],
            id="unclosed",
        ),
        pytest.param(
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_c',
            "",
            [WEATHER],
            id="cut-in-closing-tag",
        ),
        pytest.param(
            f'Sure.\n{HERMES_TIME}\n<tool_call>{{"name": "now"}}<',
            "Sure.",
            [TIME, NOW],
            id="second-cut-at-closing-tag",
        ),
        pytest.param(
            '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
            "",
            [WEATHER],
            id="string-args",
        ),
        pytest.param(
            '<tool_call>[{"name": "now"}, {"name": "get_weather", "arguments": {"city": "Paris"}}]'
            "</tool_call>",
            "",
            [NOW, WEATHER],
            id="list",
        ),
        pytest.param(
            '<tool_call>{"function": {"name": "now", "arguments": null}}</tool_call>',
            "",
            [NOW],
            id="openai-shape",
        ),
    ],
)
def test_hermes(text: str, content: str, calls: list[ToolCall]) -> None:
    assert parse("hermes", text) == ParsedOutput(content, calls)


@pytest.mark.parametrize(
    ("text", "content", "calls"),
    [
        pytest.param(LLAMA_WEATHER, "", [WEATHER], id="bare"),
        pytest.param(f"  {LLAMA_WEATHER}; {LLAMA_TIME}\n", "", [WEATHER, TIME], id="bare-several"),
        pytest.param(f"<|python_tag|>{LLAMA_WEATHER}", "", [WEATHER], id="tag"),
        pytest.param(
            f"Checking.<|python_tag|>{LLAMA_WEATHER};{LLAMA_TIME}",
            "Checking.",
            [WEATHER, TIME],
            id="tag-several-text-before",
        ),
        pytest.param(
            '{"name": "get_weather", "parameters": "{\\"city\\": \\"Paris\\"}"}',
            "",
            [WEATHER],
            id="string-args",
        ),
        pytest.param(
            '{"name": "get_weather", "arguments": {"city": "Paris"}}',
            "",
            [WEATHER],
            id="arguments-key",
        ),
        pytest.param('<|python_tag|>{"name": "now"}', "", [NOW], id="tag-no-args"),
    ],
)
def test_llama3(text: str, content: str, calls: list[ToolCall]) -> None:
    assert parse("llama3", text) == ParsedOutput(content, calls)


@pytest.mark.parametrize(
    ("text", "content", "calls"),
    [
        pytest.param(
            '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
            "",
            [WEATHER],
            id="list-one",
        ),
        pytest.param(MISTRAL_LIST, "", [WEATHER, TIME], id="list-several"),
        pytest.param(
            f"Sure thing. {MISTRAL_LIST}</s>", "Sure thing. </s>", [WEATHER, TIME], id="text-around"
        ),
        pytest.param('[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', "", [WEATHER], id="named"),
        pytest.param(
            '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]'
            '{"zone": "CET", "24h": true}',
            "",
            [WEATHER, TIME],
            id="named-several",
        ),
        pytest.param(
            '[TOOL_CALLS]get_weather[CALL_ID]a1B2c3D4e[ARGS]"{\\"city\\": \\"Paris\\"}"',
            "",
            [WEATHER],
            id="call-id-string-args",
        ),
        pytest.param(
            "Ok.\n[TOOL_CALLS]now[ARGS]{}\nDone.", "Ok.\nDone.", [NOW], id="named-text-around"
        ),
    ],
)
def test_mistral(text: str, content: str, calls: list[ToolCall]) -> None:
    assert parse("mistral", text) == ParsedOutput(content, calls)


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ('{"name": "get_weather", "arguments": {"city": "Paris"}}', [WEATHER]),
        (f"\n[{LLAMA_WEATHER}, {LLAMA_TIME}]\n", [WEATHER, TIME]),
        ('{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}', [WEATHER]),
        ('{"type": "function", "function": {"name": "now", "arguments": ""}}', [NOW]),
    ],
    ids=["object", "list", "string-args", "openai-shape"],
)
def test_json(text: str, calls: list[ToolCall]) -> None:
    assert parse("json", text) == ParsedOutput("", calls)


@pytest.mark.parametrize(
    ("format_name", "text"),
    [
        ("hermes", '<tool_call>{"name": "get_weather", "arguments": {city: Paris}}</tool_call>'),
        ("hermes", '<tool_call>{"name": "get_weather"} and more'),
        ("hermes", '<tool_call>{"arguments": {}}</tool_call>'),
        ("hermes", '<tool_call>{"name": "x", "arguments": [1]}</tool_call>'),
        ("hermes", '<tool_call>{"name": "x", "arguments": "{not json"}</tool_call>'),
        ("hermes", "<tool_call>[]</tool_call>"),
        ("hermes", "<tool_call>" + "[" * 100_000),
        ("llama3", '{"name": "Ada", "age": 36}'),
        ("llama3", f"Here it is: {LLAMA_WEATHER}"),
        ("llama3", f"{LLAMA_WEATHER};"),
        ("llama3", '<|python_tag|>brave_search.call(query="Paris weather")'),
        ("mistral", '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}'),
        ("mistral", "[TOOL_CALLS]get_weather[ARGS]{oops}"),
        ("mistral", "[TOOL_CALLS] nothing here"),
        ("json", "The answer is 42.\n"),
        ("json", '{"name": "get_weather"}'),
        ("json", '[{"name": "get_weather", "arguments": {}}, 3]'),
    ],
)
def test_text_that_is_not_a_call_stays_content(format_name: str, text: str) -> None:
    assert parse(format_name, text) == ParsedOutput(text, [])


def test_a_malformed_call_stays_content_beside_good_ones() -> None:
    bad = '<tool_call>{"name": "get_weather", "arguments": {"city": }}</tool_call>'
    parsed = parse("hermes", f"{bad}\n{HERMES_TIME}")
    assert parsed == ParsedOutput(bad, [TIME])


@pytest.mark.parametrize("format_name", FORMATS)
def test_plain_text_is_kept_as_it_is(format_name: str) -> None:
    text = "  Paris is sunny today; take a <hat> [or two].\n\n"
    assert parse(format_name, text) == ParsedOutput(text, [])
    assert parse(format_name, "") == ParsedOutput("", [])


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tool-call format 'xml'; known: hermes"):
        parser_for_format("xml")


def test_ollama_and_openai_shapes(snapshot: SnapshotAssertion) -> None:
    call = ToolCall(name="get_weather", arguments={"city": "Zürich", "days": [1, 2]})
    assert call.to_ollama() == snapshot
    assert call.to_openai("call_0") == snapshot
    assert json.loads(call.to_openai("call_0")["function"]["arguments"]) == call.arguments


# --- streaming -----------------------------------------------------------------------

STREAM_CASES = [
    ("hermes", f"Let me look.\n\n{HERMES_WEATHER}\n{HERMES_TIME}\n", "Let me look."),
    ("hermes", f"Before.\n{HERMES_WEATHER}\nAfter.", "Before."),
    (
        "hermes",
        "Plain <tool_ca answer <tool_call that <tool_calm\n",
        "Plain <tool_ca answer <tool_call that <tool_calm",
    ),
    ("hermes", "Cut off <tool_c", "Cut off"),
    ("hermes", f"Looking.\n{HERMES_WEATHER[:-3]}", "Looking."),
    ("hermes", '<tool_call>{"name": oops}</tool_call> and on', ""),
    ("llama3", f" {LLAMA_WEATHER}; {LLAMA_TIME}", ""),
    ("llama3", f"Checking.<|python_tag|>{LLAMA_WEATHER}", "Checking."),
    ("llama3", "No <|python tag here {} at all.", "No <|python tag here {} at all."),
    ("mistral", f"Sure thing. {MISTRAL_LIST}", "Sure thing."),
    ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', ""),
    ("json", f"[{LLAMA_WEATHER}]", ""),
    ("json", "Just words, {braces} and [brackets].  ", "Just words, {braces} and [brackets]."),
]


@pytest.mark.parametrize("size", range(1, 8))
@pytest.mark.parametrize(("format_name", "text", "shown_early"), STREAM_CASES)
def test_stream_matches_parse_for_any_chunking(
    format_name: str, text: str, shown_early: str, size: int
) -> None:
    parser = parser_for_format(format_name)
    stream = ToolCallStream(parser)
    shown = "".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size))
    rest = stream.finish()
    assert shown == shown_early
    assert ParsedOutput(shown + rest.content, rest.tool_calls) == parser.parse(text)


def test_stream_shows_content_as_soon_as_it_is_sure() -> None:
    stream = ToolCallStream(parser_for_format("hermes"))
    assert [stream.feed(chunk) for chunk in ["Hi", " there", "\n<tool", "_c", "all>{"]] == [
        "Hi",
        " there",
        "",
        "",
        "",
    ]
    assert stream.feed('"name": "now"}</tool_call>') == ""
    assert stream.finish() == ParsedOutput("", [NOW])


@pytest.mark.parametrize("cut", range(1, len("</tool_call>")))
def test_stream_reads_a_call_cut_in_its_closing_tag(cut: int) -> None:
    """The length limit may end a reply inside ``</tool_call>``: still a call."""
    stream = ToolCallStream(parser_for_format("hermes"))
    text = f"Looking.\n{HERMES_WEATHER[:-cut]}"
    shown = "".join(stream.feed(text[i : i + 5]) for i in range(0, len(text), 5))
    assert (shown, stream.finish()) == ("Looking.", ParsedOutput("", [WEATHER]))


def test_stream_releases_a_false_marker_start() -> None:
    stream = ToolCallStream(parser_for_format("mistral"))
    assert stream.feed("See [TOOL") == "See"
    assert stream.feed("S] and more") == " [TOOLS] and more"
    assert stream.finish() == ParsedOutput("", [])


# --- choosing the format ---------------------------------------------------------------

QWEN_TEMPLATE = "{% if tools %}<tools>{{ tools | tojson }}</tools> <tool_call>{% endif %}"
GO_TOOLS_TEMPLATE = "{{ if .Tools }}Tools: {{ .Tools }}{{ end }}{{ .Prompt }}"
NO_TOOLS_TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}"


@pytest.mark.parametrize(
    ("family", "template", "expected"),
    [
        ("llama3-instruct", None, "llama3"),
        ("mistral-instruct", None, "mistral"),
        ("qwen2", None, "hermes"),
        ("hermes-3", None, "hermes"),
        ("chatml", None, "hermes"),
        ("gemma-instruct", None, None),
        (None, None, None),
        (None, QWEN_TEMPLATE, "hermes"),
        (None, "{{ if .ToolCalls }}[TOOL_CALLS] [{{ end }}", "mistral"),
        (None, "{%- if tools %}<|python_tag|>{% endif %}", "llama3"),
        (None, GO_TOOLS_TEMPLATE, "json"),
        ("gemma3-instruct", GO_TOOLS_TEMPLATE, "json"),
        ("llama3-instruct", GO_TOOLS_TEMPLATE, "llama3"),
        ("mistral-instruct", QWEN_TEMPLATE, "hermes"),
        ("chatml", NO_TOOLS_TEMPLATE, None),
        (None, NO_TOOLS_TEMPLATE, None),
    ],
)
def test_parser_for_family(family: str | None, template: str | None, expected: str | None) -> None:
    parser = parser_for_family(family, template)
    assert (parser.format if parser else None) == expected


def test_every_format_has_a_parser() -> None:
    assert FORMATS == ("hermes", "llama3", "mistral", "json")
    assert all(isinstance(parser_for_format(name), ToolCallParser) for name in FORMATS)
