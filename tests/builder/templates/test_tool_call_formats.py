# DeepSeek spells its special tokens with fullwidth bars (U+FF5C) and lower blocks (U+2581).
# ruff: noqa: RUF001
"""The tool-call formats of Ollama's own parsers (qwen3-coder's XML, GLM's arg tags,
DeepSeek's and Cogito's call tokens, Olmo 3's and LFM2's Python-style calls), read from
whole replies and from the same replies split at every place.

The replies and what they must give are Ollama's test vectors (``model/parsers/
*_test.go`` at ollama/ollama@fb30760), read through ladle's PARSER of the same name.
"""

from __future__ import annotations

from typing import Any

import pytest

from builder.templates.parsers import (
    PARSER_NAMES,
    parser_named,
    tool_format,
)
from builder.templates.renderers.gemma4_tools import value_text
from builder.templates.reply_stream import ReplyStream
from builder.templates.tool_calls import ToolCall
from tests.conftest import load_fixture_json

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
CALCULATE = [
    {
        "type": "function",
        "function": {
            "name": "calculate",
            "parameters": {
                "type": "object",
                "properties": {
                    "x": {"type": "number"},
                    "y": {"type": "integer"},
                    "enabled": {"type": "boolean"},
                    "items": {"type": "array"},
                    "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
            },
        },
    }
]

# (parser, prompt end, tools, reply) -> (thinking, content, calls)
REPLIES: list[tuple[str, str, Any, str, tuple[str, str, list[Any]]]] = [
    (
        "qwen3-coder",
        "<|im_start|>assistant\n",
        WEATHER,
        "hi there<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
        "</function>\n</tool_call>",
        ("", "hi there", [["get_weather", {"city": "Paris"}]]),
    ),
    (
        "qwen3-coder",
        "<|im_start|>assistant\n",
        CALCULATE,
        "<tool_call>\n<function=calculate>\n<parameter=x>\n3.14\n</parameter>\n<parameter=y>\n42"
        '\n</parameter>\n<parameter=enabled>\ntrue\n</parameter>\n<parameter=items>\n["a", "b"]'
        "\n</parameter>\n<parameter=maybe>\nnull\n</parameter>\n</function>\n</tool_call>",
        (
            "",
            "",
            [
                [
                    "calculate",
                    {"x": 3.14, "y": 42, "enabled": True, "items": ["a", "b"], "maybe": None},
                ]
            ],
        ),
    ),
    (  # nemotron3nano_test.go, ToolCallWithoutThinkClose: a call ends the reasoning
        "nemotron-3-nano",
        "<|im_start|>assistant\n<think>\n",
        WEATHER,
        "Let me analyze this.\n<tool_call>\n<function=get_weather>\n<parameter=city>Paris"
        "</parameter>\n</function>\n</tool_call>",
        ("Let me analyze this.", "", [["get_weather", {"city": "Paris"}]]),
    ),
    (
        "qwen3.5",
        "<|im_start|>assistant\n<think>\n",
        WEATHER,
        "Weather, then.\n</think>\n\nChecking.\n<tool_call>\n<function=get_weather>\n"
        "<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>",
        ("Weather, then.", "Checking.", [["get_weather", {"city": "Paris"}]]),
    ),
    (  # glm46_test.go, "tool call with typed parameters"
        "glm-4.7",
        "<|assistant|><think>",
        CALCULATE,
        "Sum it.</think><tool_call>calculate\n<arg_key>x</arg_key>\n<arg_value>3.14</arg_value>\n"
        "<arg_key>y</arg_key>\n<arg_value>42</arg_value>\n<arg_key>enabled</arg_key>\n"
        '<arg_value>true</arg_value>\n<arg_key>items</arg_key>\n<arg_value>["a", "b", "c"]'
        "</arg_value></tool_call>",
        (
            "Sum it.",
            "",
            [["calculate", {"x": 3.14, "y": 42, "enabled": True, "items": ["a", "b", "c"]}]],
        ),
    ),
    (  # glm46_test.go, "simple tool call": an undeclared tool keeps its values as text
        "glm-ocr",
        "<|assistant|>\n",
        WEATHER,
        "<tool_call>get-current-weather\n<arg_key>location</arg_key>\n<arg_value>New York, NY"
        "</arg_value>\n<arg_key>unit</arg_key>\n<arg_value>celsius</arg_value></tool_call>",
        ("", "", [["get-current-weather", {"location": "New York, NY", "unit": "celsius"}]]),
    ),
    (  # deepseek3_test.go, "thinking_with_tool_call"
        "deepseek3",
        "<｜Assistant｜><think>",
        WEATHER,
        "Let me check the weather...</think>I'll get that for you.<｜tool▁calls▁begin｜>"
        '<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"location":"Paris"}<｜tool▁call▁end｜>'
        "<｜tool▁calls▁end｜>",
        (
            "Let me check the weather...",
            "I'll get that for you.",
            [["get_weather", {"location": "Paris"}]],
        ),
    ),
    (  # deepseek3_test.go, "multiple_tool_calls"
        "deepseek3",
        "<｜Assistant｜></think>",
        WEATHER,
        "Getting weather for both cities.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather"
        '<｜tool▁sep｜>{"location":"Paris"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_weather'
        '<｜tool▁sep｜>{"location":"London"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        (
            "",
            "Getting weather for both cities.",
            [["get_weather", {"location": "Paris"}], ["get_weather", {"location": "London"}]],
        ),
    ),
    (  # cogito_test.go, "tool_call_simple"
        "cogito",
        "<｜Assistant｜>",
        WEATHER,
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
        '{"location":"Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        ("", "", [["get_weather", {"location": "Paris"}]]),
    ),
    (  # olmo3_test.go: several calls, one a line, with every kind of value
        "olmo3",
        "<|im_start|>assistant\n",
        WEATHER,
        'Let me check the weather.<function_calls>get_weather(location="San Francisco")\n'
        'update_config(settings={"theme": "dark", "fontSize": 14}, price=19.99, on=true, '
        "field=null)\nsearch(query='say \\\"hello\\\"')</function_calls>",
        (
            "",
            "Let me check the weather.",
            [
                ["get_weather", {"location": "San Francisco"}],
                [
                    "update_config",
                    {
                        "settings": {"theme": "dark", "fontSize": 14},
                        "price": 19.99,
                        "on": True,
                        "field": None,
                    },
                ],
                ["search", {"query": 'say "hello"'}],
            ],
        ),
    ),
    (  # lfm2_test.go, "complex_tool_arguments" and two calls in one list
        "lfm2",
        "<|im_start|>assistant\n",
        WEATHER,
        "Processing data.<|tool_call_start|>[process_data(items=['item1','item2'], "
        "config={'enabled': True, 'threshold': 0.95}),bash(command='pwd')]<|tool_call_end|>",
        (
            "",
            "Processing data.",
            [
                [
                    "process_data",
                    {"items": ["item1", "item2"], "config": {"enabled": True, "threshold": 0.95}},
                ],
                ["bash", {"command": "pwd"}],
            ],
        ),
    ),
    (  # lfm2_test.go, "thinking_with_tool_call"
        "lfm2-thinking",
        "<|im_start|>assistant\n",
        WEATHER,
        "<think>Let me check the weather...</think>I'll get that for you.<|tool_call_start|>"
        '[get_weather(location="Paris")]<|tool_call_end|>',
        (
            "Let me check the weather...",
            "I'll get that for you.",
            [["get_weather", {"location": "Paris"}]],
        ),
    ),
]


Q = '<|"|>'
REPLIES += [
    (  # gemma4_test.go, "thinking_then_tool_call"
        "gemma4",
        "<|turn>model\n",
        WEATHER,
        "<|channel>thought\nI need to check the weather<channel|><|tool_call>call:get_weather"
        f"{{location:{Q}Paris{Q}}}<tool_call|>",
        ("I need to check the weather", "", [["get_weather", {"location": "Paris"}]]),
    ),
    (  # gemma4_test.go: nested values, quotes raw and JSON, a Windows path, two calls
        "gemma4",
        "<|turn>model\n",
        WEATHER,
        f'Let me check that for you.<|tool_call>call:plan{{steps:[{{title:{Q}step "one"{Q},'
        f"done:false}}],n:42,t:null,cfg:{{on:true}}}}<tool_call|><|tool_call>call:search"
        f'{{query:"raw \\"quoted\\"",note:{Q}gemma "quoted"{Q},path:{Q}C:\\users\\bob{Q}}}'
        "<tool_call|>",
        (
            "",
            "Let me check that for you.",
            [
                [
                    "plan",
                    {
                        "steps": [{"title": 'step "one"', "done": False}],
                        "n": 42,
                        "t": None,
                        "cfg": {"on": True},
                    },
                ],
                [
                    "search",
                    {"query": 'raw "quoted"', "note": 'gemma "quoted"', "path": "C:\\users\\bob"},
                ],
            ],
        ),
    ),
    (  # after tool results a thinking prompt opens the thought channel itself
        "gemma4",
        '<|tool_response>response:get_weather{value:<|"|>sunny<|"|>}<tool_response|>'
        "<|channel>thought\n",
        WEATHER,
        "It is sunny.\n<channel|>Sunny in Paris.",
        ("It is sunny.", "Sunny in Paris.", []),
    ),
    (  # functiongemma_test.go
        "functiongemma",
        "<start_of_turn>model\n",
        WEATHER,
        "<start_function_call>call:get_weather{city:<escape>Paris, FR<escape>,days:3}"
        "<end_function_call>",
        ("", "", [["get_weather", {"city": "Paris, FR", "days": 3}]]),
    ),
]


COHERE_PROMPT = "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_THINKING|>"
REPLIES += [
    (  # cohere_test.go, TestCohereParseToolCall
        "cohere",
        COHERE_PROMPT,
        WEATHER,
        "<|END_THINKING|>".join(["plan", "<|START_ACTION|>[\n"])
        + '    {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}},'
        + '    {"tool_call_id": "1", "tool_name": "get_time", "parameters": {}}'
        + "\n]<|END_ACTION|>",
        ("plan", "", [["get_weather", {"city": "Paris"}], ["get_time", {}]]),
    ),
    (  # TestCohereParseThinkingThenText, its answer's text tokens hidden by the runner
        "cohere",
        COHERE_PROMPT,
        WEATHER,
        "Let me think about this.<|END_THINKING|>Hello world!",
        ("Let me think about this.", "Hello world!", []),
    ),
]


def _read(name: str, prompt: str, tools: Any, chunks: list[str]) -> tuple[str, str, list[Any]]:
    parser = parser_named(name)
    calls = parser.tool_parser(None, None, tools)
    stream = ReplyStream(parser, think=parser.thinks, prompt=prompt, tools=calls)
    parts = [stream.feed(chunk) for chunk in chunks] + [stream.finish()]
    thinking = "".join(part.thinking for part in parts)
    content = "".join(part.content for part in parts)
    return thinking, content, [[c.name, c.arguments] for part in parts for c in part.tool_calls]


@pytest.mark.parametrize(("name", "prompt", "tools", "reply", "expected"), REPLIES)
def test_replies_read_as_ollama_reads_them(
    name: str, prompt: str, tools: Any, reply: str, expected: tuple[str, str, list[Any]]
) -> None:
    assert _read(name, prompt, tools, [reply]) == expected


@pytest.mark.parametrize(("name", "prompt", "tools", "reply", "expected"), REPLIES)
def test_replies_split_anywhere_read_the_same(
    name: str, prompt: str, tools: Any, reply: str, expected: tuple[str, str, list[Any]]
) -> None:
    for cut in range(1, len(reply)):
        assert _read(name, prompt, tools, [reply[:cut], reply[cut:]]) == expected, cut
    assert _read(name, prompt, tools, list(reply)) == expected


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("qwen3-coder", "See <tool_call>not a call</tool_call> here"),
        ("glm-4.7", "<tool_call>f<arg_key>k</arg_key>oops</tool_call>"),
        (
            "deepseek3",
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{bad<｜tool▁call▁end｜>",
        ),
        ("olmo3", "<function_calls>print 'hi'</function_calls>"),
        ("lfm2", "<|tool_call_start|>[f(1, 2)]<|tool_call_end|>"),
    ],
)
def test_markup_that_is_no_call_stays_in_the_content(name: str, reply: str) -> None:
    parsed = parser_named(name).tool_parser(None, None, WEATHER)
    assert parsed is not None
    assert parsed.parse(reply).content == reply and parsed.parse(reply).tool_calls == []


@pytest.mark.parametrize(
    "format_name",
    [
        "qwen3-coder",
        "glm",
        "deepseek3",
        "cogito",
        "olmo3",
        "pythonic",
        "gemma4",
        "functiongemma",
        "cohere",
    ],
)
def test_a_forced_calls_layout_reads_back(format_name: str) -> None:
    parser = tool_format(format_name)
    calls = [ToolCall(name="f", arguments={"a": 1}), ToolCall(name="g", arguments={"b": None})]
    assert parser.parse(parser.layout.write(calls)).tool_calls == calls


@pytest.mark.parametrize(
    ("format_name", "reply"),
    [
        (
            "qwen3-coder",
            "<tool_call>\n<function=f>\n<parameter=a>\nx\n</parameter>\n</function>\n</tool_",
        ),
        ("qwen3-coder", "<tool_call>\n<function=f>\n<parameter=a>\nx\n"),
        ("glm", "<tool_call>f<arg_key>a</arg_key><arg_value>x</arg_value></tool_c"),
        (
            "deepseek3",
            '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{"a": "x"}'
            "<｜tool▁call▁end｜>",
        ),
        ("pythonic", "<|tool_call_start|>[f(a='x')]"),
    ],
)
def test_a_call_cut_off_before_its_closing_tag_is_still_read(format_name: str, reply: str) -> None:
    parsed = tool_format(format_name).parse(reply)
    assert parsed == type(parsed)("", [ToolCall(name="f", arguments={"a": "x"})])


def test_parsers_show_the_markup_they_read() -> None:
    assert "<｜tool▁sep｜>" in parser_named("deepseek3").markup
    assert "</arg_value>" in parser_named("glm-4.7").markup
    assert {"qwen3-coder", "deepseek3", "olmo3", "lfm2", "glm-4.7"} <= set(PARSER_NAMES)


def test_gemma4_reads_back_every_call_its_renderer_writes() -> None:
    conversations = load_fixture_json("ollama", "renderers", "conversations.json")["conversations"]
    calls = [
        call["function"]
        for conversation in conversations.values()
        for message in conversation["messages"]
        for call in message.get("tool_calls") or ()
        if isinstance(call["function"]["arguments"], dict)
    ]
    assert len(calls) >= 5
    for function in calls:
        text = "<|tool_call>call:" + function["name"] + value_text(function["arguments"])
        parsed = tool_format("gemma4").parse(text + "<tool_call|>")
        assert parsed.tool_calls == [ToolCall(**function)], text


DEEP = "[" * 100_000 + "]" * 100_000
ADVERSARIAL = {
    "qwen3-coder": f"<tool_call>{DEEP}</tool_call>",
    "glm": f"<tool_call>f<arg_key>a</arg_key><arg_value>{DEEP}</arg_value></tool_call>",
    "deepseek3": "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>"
    f"{DEEP}<｜tool▁call▁end｜>",
    "cogito": "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n"
    f"{DEEP}\n```<｜tool▁call▁end｜>",
    "olmo3": f"<function_calls>f(a={DEEP})</function_calls>",
    "pythonic": f"<|tool_call_start|>{DEEP}<|tool_call_end|>",
    "gemma4": f"<|tool_call>call:f{{a:{DEEP}}}<tool_call|>",
    "functiongemma": f"<start_function_call>call:f{{a:{DEEP}}}<end_function_call>",
    "cohere": f"<|START_ACTION|>{DEEP}<|END_ACTION|>",
}


@pytest.mark.parametrize(("format_name", "reply"), ADVERSARIAL.items(), ids=list(ADVERSARIAL))
def test_a_reply_nested_past_any_parsers_depth_is_read_without_failing(
    format_name: str, reply: str
) -> None:
    parsed = tool_format(format_name).parse(reply)
    if format_name == "glm":  # untyped, the value is text, however it nests
        assert parsed.tool_calls == [ToolCall(name="f", arguments={"a": DEEP})]
    else:
        assert (parsed.content, parsed.tool_calls) == (reply, [])
