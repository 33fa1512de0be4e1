"""A Messages request as the service's chat request (:mod:`runtime.api.anthropic_request`):
turns, tool calls and results, images, thinking, tools and ``tool_choice``, and the
refusals, each naming the field at fault."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ladle.errors import InvalidFieldError
from runtime.api.anthropic_request import chat_body, read_conversation, think_of, tool_choice
from runtime.api.anthropic_schemas import CountTokensBody, MessagesBody

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"name": "get_weather", "description": "The weather", "input_schema": SCHEMA}
CALL = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}


def body(**fields: Any) -> MessagesBody:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return MessagesBody.model_validate({"model": "m", "max_tokens": 64, **fields})


def turns(**fields: Any) -> list[dict[str, Any]]:
    return read_conversation(body(**fields)).messages


def refused(field: str, **fields: Any) -> str:
    with pytest.raises(InvalidFieldError) as caught:
        request = body(**fields)
        choice = tool_choice(request)
        chat_body(request, choice, think_of(request, False, choice), ())
    assert caught.value.field == field
    return caught.value.reason


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def test_system_and_content_become_turns() -> None:
    system = [text("Be brief."), {**text("Cite."), "cache_control": {"type": "ephemeral"}}]
    assert turns(system=system) == [
        {"role": "system", "content": "Be brief.\nCite."},
        {"role": "user", "content": "hi"},
    ]
    assert turns(system="Be brief.")[0] == {"role": "system", "content": "Be brief."}


def test_consecutive_turns_of_one_role_are_one_turn() -> None:
    messages = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [text("two"), text("three")]},
    ]
    assert turns(messages=messages) == [{"role": "user", "content": "one\ntwo\nthree"}]


def test_a_tool_round_trip_becomes_calls_and_a_tool_turn_before_the_text() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [text("7 C")]}
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [text("Looking."), CALL]},
        {"role": "user", "content": [result, text("and tomorrow?")]},
    ]
    assert turns(messages=messages, tools=[WEATHER])[1:] == [
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Oslo"}},
                }
            ],
        },
        {"role": "tool", "content": "7 C", "tool_call_id": "toolu_1", "tool_name": "get_weather"},
        {"role": "user", "content": "and tomorrow?"},
    ]


def test_a_failed_tool_says_so_in_its_turn() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "no such city"}
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [CALL]},
        {"role": "user", "content": [{**result, "is_error": True}]},
    ]
    assert turns(messages=messages)[-1]["content"] == "Error: no such city"


def test_a_result_must_answer_an_earlier_call() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_9", "content": "7 C"}
    reason = refused(
        "messages.0.content.0.tool_use_id", messages=[{"role": "user", "content": [result]}]
    )
    assert "toolu_9" in reason


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "user", "content": [CALL]}], "messages.0.content.0"),
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "The answer is"}],
            "messages.1",
        ),
        (
            [{"role": "system", "content": [CALL]}, {"role": "user", "content": "q"}],
            "messages.0.content.0",
        ),
    ],
    ids=["tool_use in a user turn", "prefill", "tool_use in a system turn"],
)
def test_blocks_out_of_place_are_refused(messages: list[dict[str, Any]], field: str) -> None:
    refused(field, messages=messages)


def test_images_are_kept_base64_and_located_and_urls_refused() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "aGk="},
    }
    conversation = read_conversation(
        body(messages=[{"role": "user", "content": [text("see"), image]}])
    )
    assert conversation.messages == [{"role": "user", "content": "see", "images": ["aGk="]}]
    assert conversation.first_image == "messages.0.content.1"
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    assert "base64" in refused(
        "messages.0.content.0.source", messages=[{"role": "user", "content": [url]}]
    )


def test_thinking_of_earlier_turns_is_cleared_as_context_management_says() -> None:
    thought = [
        {"role": "user", "content": "a"},
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "t1", "signature": "s"}, text("1")],
        },
        {"role": "user", "content": "b"},
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "t2", "signature": "s"}, text("2")],
        },
        {"role": "user", "content": "c"},
    ]

    def thinking(**fields: Any) -> list[str | None]:
        found = turns(messages=thought, **fields)
        return [turn.get("thinking") for turn in found if turn["role"] == "assistant"]

    assert thinking() == [None, "t2"]  # Anthropic's default: the last turn's
    keep_all = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    assert thinking(context_management=keep_all) == ["t1", "t2"]
    none = {
        "edits": [
            {"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 0}}
        ]
    }
    assert thinking(context_management=none) == [None, None]


def test_tools_become_function_tools_and_tool_choice_openai_s() -> None:
    request = body(tools=[WEATHER], tool_choice={"type": "any", "disable_parallel_tool_use": True})
    choice = tool_choice(request)
    assert (choice.mode, choice.parallel) == ("required", False)
    chat, _ = chat_body(request, choice, None, ())
    assert chat.tools == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "The weather", "parameters": SCHEMA},
        }
    ]
    named = tool_choice(body(tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"}))
    assert (named.mode, named.function) == ("function", "get_weather")
    none = body(tools=[WEATHER], tool_choice={"type": "none"})
    assert chat_body(none, tool_choice(none), None, ())[0].tools is None


def test_tool_choice_and_strict_that_cannot_be_honoured_are_refused() -> None:
    unknown = {"type": "tool", "name": "get_time"}
    assert "get_time" in refused("tool_choice", tools=[WEATHER], tool_choice=unknown)
    refused("tool_choice", tool_choice={"type": "any"})  # no tools to call
    refused("tools.0.strict", tools=[{**WEATHER, "strict": True}])
    forced = body(tools=[{**WEATHER, "strict": True}], tool_choice={"type": "any"})
    assert tool_choice(forced).mode == "required"


@pytest.mark.parametrize(
    ("fields", "reasons", "think"),
    [
        ({}, False, None),
        ({}, True, None),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, False, True),
        ({"thinking": {"type": "disabled"}}, True, False),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, True, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, False, None),
        ({"output_config": {"effort": "xhigh"}}, True, "high"),
        ({"output_config": {"effort": "max"}}, True, "max"),
        ({"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}}, True, False),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "output_config": {"effort": "low"},
            },
            False,
            "low",
        ),
    ],
)
def test_thinking_and_effort_are_think(fields: dict[str, Any], reasons: bool, think: Any) -> None:
    request = body(max_tokens=4096, **fields)
    assert think_of(request, reasons, tool_choice(request)) == think


def test_a_forced_call_is_not_thought_about() -> None:
    forced = {"tools": [WEATHER], "tool_choice": {"type": "any"}}
    request = body(**forced, thinking={"type": "adaptive"})
    assert think_of(request, True, tool_choice(request)) is False
    enabled = {"type": "enabled", "budget_tokens": 1024}
    assert "thinking" in refused("tool_choice", **forced, max_tokens=2048, thinking=enabled)


def test_max_tokens_stops_and_sampling_become_options() -> None:
    request = body(max_tokens=32, stop_sequences=["END"], temperature=0.5, top_p=0.9, top_k=20)
    chat, _ = chat_body(request, tool_choice(request), None, ("<|im_end|>",))
    assert chat.options == {
        "num_predict": 32,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 20,
        "stop": ["<|im_end|>", "END"],  # the image's stops stay
    }
    assert chat.logprobs and chat.shift is False and chat.truncate is False
    plain, _ = chat_body(body(), tool_choice(body()), None, ("<|im_end|>",))
    assert plain.options is not None and plain.options["stop"] is None and not plain.logprobs


def test_the_thinking_budget_must_leave_room_under_max_tokens() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    assert "max_tokens" in refused("thinking.budget_tokens", max_tokens=2048, thinking=thinking)


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"container": "c1"}, ("container",)),
        ({"tools": [{**WEATHER, "type": "web_search_20250305"}]}, ("tools", 0, "type")),
        (
            {"tools": [{**WEATHER, "input_schema": {"type": "string"}}]},
            ("tools", 0, "input_schema"),
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 100}},
            ("thinking", "enabled", "budget_tokens"),
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document"}]}]},
            ("messages", 0, "content", 0),
        ),
        ({"temperature": 1.5}, ("temperature",)),
        ({"messages": [{"role": "user", "content": []}]}, ("messages", 0, "content")),
        ({"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}, None),
    ],
    ids=[
        "unknown field",
        "server tool",
        "schema not an object",
        "small budget",
        "document",
        "temperature",
        "empty turn",
        "tool clearing",
    ],
)
def test_what_ladle_does_not_do_is_refused_by_name(
    fields: dict[str, Any], location: tuple[Any, ...] | None
) -> None:
    with pytest.raises(ValidationError) as caught:
        body(**fields)
    where = caught.value.errors()[0]["loc"]
    assert where[: len(location)] == location if location else "context_management" in where


def test_count_tokens_takes_no_generation_fields() -> None:
    with pytest.raises(ValidationError):
        CountTokensBody.model_validate(
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        )
