"""Responses ``input`` items and ``tools`` as the service's conversation and function
list (pure), and every item, part or tool ladle cannot take refused by where it is."""

from __future__ import annotations

from typing import Any

import pytest

from ladle.errors import InvalidFieldError
from runtime.api.openai_responses_input import chat_tools, conversation, namespaced

ARGUMENTS = '{"city":"Paris"}'
CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": ARGUMENTS}
TOOL = {"type": "function", "name": "get_weather"}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": '{"temperature":21}'}


def text(kind: str, value: str) -> dict[str, str]:
    return {"type": kind, "text": value}


def test_messages_of_every_role_and_their_text_parts() -> None:
    items = [
        {"role": "developer", "content": "Be brief."},
        {
            "type": "message",
            "role": "user",
            "content": [text("input_text", "a"), text("input_text", "b")],
        },
        {"type": "message", "role": "assistant", "content": [text("output_text", "c")]},
        {"role": "system", "content": "Mind the user."},
    ]
    assert conversation(items) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": "c"},
        {"role": "system", "content": "Mind the user."},
    ]


def test_a_refusal_part_is_the_assistants_text() -> None:
    item = {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}
    assert conversation([item]) == [{"role": "assistant", "content": "No."}]


def test_a_call_round_trip_is_tool_calls_then_a_tool_turn() -> None:
    items = [{"role": "user", "content": "Weather?"}, CALL, OUTPUT]
    _, assistant, tool = conversation(items)
    assert assistant == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
            }
        ],
    }
    assert tool == {
        "role": "tool",
        "content": '{"temperature":21}',
        "tool_call_id": "call_1",
        "tool_name": "get_weather",
    }


def test_one_answers_reasoning_message_and_calls_are_one_assistant_turn() -> None:
    second = {**CALL, "call_id": "call_2"}
    items: list[Any] = [
        {"role": "user", "content": "Weather?"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [],
            "content": [text("reasoning_text", "Hm.")],
        },
        {"type": "message", "role": "assistant", "content": [text("output_text", "Checking.")]},
        CALL,
        second,
        OUTPUT,
        {**OUTPUT, "call_id": "call_2"},
    ]
    _, assistant, first_result, second_result = conversation(items)
    assert assistant["content"] == "Checking." and assistant["thinking"] == "Hm."
    assert [call["id"] for call in assistant["tool_calls"]] == ["call_1", "call_2"]
    assert first_result["tool_call_id"] == "call_1" and second_result["tool_call_id"] == "call_2"


def test_a_message_replayed_after_its_calls_joins_their_turn() -> None:
    items = [CALL, {"role": "assistant", "content": "Calling."}, OUTPUT]
    assistant, tool = conversation(items)
    assert assistant["content"] == "Calling." and len(assistant["tool_calls"]) == 1
    assert tool["role"] == "tool"


@pytest.mark.parametrize(
    ("reasoning", "thinking"),
    [
        (
            {"content": [text("reasoning_text", "raw")], "summary": [text("summary_text", "s")]},
            "raw",
        ),
        ({"encrypted_content": "plain", "summary": [text("summary_text", "s")]}, "plain"),
        ({"summary": [text("summary_text", "sum"), text("summary_text", "mary")]}, "summary"),
    ],
)
def test_reasoning_becomes_the_next_assistant_turns_thinking(
    reasoning: dict[str, Any], thinking: str
) -> None:
    items = [{"role": "user", "content": "q"}, {"type": "reasoning", **reasoning}]
    items.append({"role": "assistant", "content": "a"})
    assert conversation(items)[1] == {"role": "assistant", "content": "a", "thinking": thinking}


def test_reasoning_with_no_turn_after_it_is_an_assistant_turn_of_its_own() -> None:
    items = [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "summary": [text("summary_text", "t")]},
    ]
    assert conversation(items)[-1] == {"role": "assistant", "content": "", "thinking": "t"}


def test_a_namespace_tools_functions_are_named_within_it() -> None:
    spawn = {"type": "function", "name": "spawn", "parameters": {"type": "object"}}
    namespace = {
        "type": "namespace",
        "name": "agents",
        "description": "Sub-agents",
        "tools": [spawn],
    }
    assert chat_tools([namespace]) == [
        {"type": "function", "function": {"name": "agents.spawn", "parameters": {"type": "object"}}}
    ]
    assert namespaced([namespace, TOOL]) == {"agents.spawn": ("agents", "spawn")}
    call = {**CALL, "name": "spawn", "namespace": "agents"}
    assert conversation([call])[0]["tool_calls"][0]["function"]["name"] == "agents.spawn"


def test_function_tools_become_nested_functions() -> None:
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
        {
            "type": "function",
            "name": "now",
            "description": None,
            "parameters": None,
            "strict": None,
        },
    ]
    assert chat_tools(tools) == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
        {"type": "function", "function": {"name": "now"}},
    ]
    assert chat_tools([]) is None and chat_tools(None) is None


@pytest.mark.parametrize(
    ("items", "field", "words"),
    [
        (["hello"], "input.0", "an object"),
        ([{"type": "item_reference", "id": "msg_1"}], "input.0.type", "item_reference"),
        ([{"content": "no role or type"}], "input.0.type", "None"),
        ([{"role": "critic", "content": "x"}], "input.0.role", "developer"),
        ([{"role": "user"}], "input.0.content", "required"),
        ([{"role": "user", "content": 3}], "input.0.content", "a list"),
        (
            [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x"}]}],
            "input.0.content.0.image_url",
            "send a data URL",
        ),
        (
            [{"role": "system", "content": [{"type": "input_image", "image_url": "data:,"}]}],
            "input.0.content.0.type",
            "only a user message",
        ),
        (
            [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}],
            "input.0.content.0.type",
            "cannot read files",
        ),
        (
            [{"role": "user", "content": [{"type": "input_text"}]}],
            "input.0.content.0.text",
            "a string",
        ),
        ([OUTPUT], "input.0.call_id", "no function_call with call_id 'call_1'"),
        ([{**CALL, "arguments": "{not json"}], "input.0.arguments", "JSON string of an object"),
        ([{**CALL, "arguments": "[1]"}], "input.0.arguments", "JSON string of an object"),
        ([{**CALL, "name": ""}], "input.0.name", "non-empty"),
        ([{"type": "reasoning", "encrypted_content": 5}], "input.0.encrypted_content", "string"),
    ],
)
def test_items_ladle_cannot_take_are_refused_by_where_they_are(
    items: list[Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        conversation(items)
    assert refused.value.field == field and words in refused.value.reason


@pytest.mark.parametrize(
    ("tool", "field", "words"),
    [
        ({"type": "web_search"}, "tools.0.type", "'web_search'"),
        ({"type": "namespace", "name": "n", "tools": []}, "tools.0.tools", "a list of function"),
        (
            {"type": "namespace", "name": "n", "tools": [{"type": "mcp"}]},
            "tools.0.tools.0.type",
            "'mcp'",
        ),
        ({"type": "namespace", "name": "n", "tools": [], "x": 1}, "tools.0.x", "namespace tool"),
        ({"type": "function"}, "tools.0.name", "non-empty"),
        (
            {"type": "function", "name": "f", "defer_loading": True},
            "tools.0.defer_loading",
            "not a field",
        ),
        (
            {"type": "function", "name": "f", "parameters": "{}"},
            "tools.0.parameters",
            "JSON schema",
        ),
        ({"type": "function", "name": "f", "strict": "yes"}, "tools.0.strict", "boolean"),
        ({"type": "function", "name": "f", "description": 1}, "tools.0.description", "string"),
        ("get_weather", "tools.0", "an object"),
    ],
)
def test_tools_ladle_cannot_take_are_refused_by_where_they_are(
    tool: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        chat_tools([tool])
    assert refused.value.field == field and words in refused.value.reason
