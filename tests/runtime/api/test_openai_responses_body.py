"""The ``/v1/responses`` body as the chat the service answers (pure), its refusals of
what ladle does not implement, and the bounded store of ``previous_response_id``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ladle.errors import InvalidFieldError
from runtime.api.openai_responses_body import ResponsesBody
from runtime.api.openai_responses_kept import KeptResponses
from runtime.api.schemas import ChatBody

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
NOW = {"type": "function", "name": "now"}


def body(**fields: Any) -> ResponsesBody:
    parsed = ResponsesBody.model_validate({"model": "tiny", "input": "hello", **fields})
    parsed.check()
    return parsed


def chat(**fields: Any) -> ChatBody:
    parsed = body(**fields)
    return parsed.to_chat(parsed.items(), parsed.choice())


def test_the_fields_become_the_chats() -> None:
    made = chat(
        instructions="Be brief.",
        max_output_tokens=32,
        temperature=0.5,
        top_p=0.9,
        tools=[TOOL],
        reasoning={"effort": "minimal"},
        text={"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        truncation="auto",
    )
    assert made.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]
    assert made.options == {"num_predict": 32, "temperature": 0.5, "top_p": 0.9}
    assert made.tools == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert made.think == "low" and made.format == {"type": "object"}
    assert made.truncate is True and made.shift is False


def test_openai_defaults_truncation_disabled_and_no_think() -> None:
    made = chat()
    assert made.truncate is False and made.think is None and made.format is None
    assert made.tools is None and not made.logprobs


@pytest.mark.parametrize(("effort", "think"), [("none", False), ("high", "high"), ("xhigh", "max")])
def test_reasoning_effort_is_the_think_level(effort: str, think: Any) -> None:
    assert chat(reasoning={"effort": effort}).think == think


def test_json_object_is_format_json_and_text_is_none() -> None:
    assert chat(text={"format": {"type": "json_object"}}).format == "json"
    assert chat(text={"format": {"type": "text"}}).format is None


def test_tool_choice_none_hides_the_tools_and_allowed_tools_narrows_them() -> None:
    assert chat(tools=[TOOL], tool_choice="none").tools is None
    allowed = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "now"}],
    }
    parsed = body(tools=[TOOL, NOW], tool_choice=allowed)
    choice = parsed.choice()
    assert choice.mode == "required" and [tool["function"]["name"] for tool in choice.tools] == [
        "now"
    ]
    assert parsed.to_chat(parsed.items(), choice).tools == [
        {"type": "function", "function": {"name": "now"}}
    ]


def test_a_named_function_choice_takes_the_responses_flat_form() -> None:
    choice = body(tools=[TOOL, NOW], tool_choice={"type": "function", "name": "now"}).choice()
    assert choice.mode == "function" and choice.function == "now"


def test_logprobs_are_asked_by_include_or_top_logprobs() -> None:
    assert chat(include=["message.output_text.logprobs"]).logprobs
    made = chat(top_logprobs=3)
    assert made.logprobs and made.top_logprobs == 3


def test_the_echo_repeats_the_settings() -> None:
    echo = body(
        instructions="Be brief.",
        metadata={"ticket": "42"},
        prompt_cache_key="conversation-1",
        store=False,
        tools=[TOOL],
        parallel_tool_calls=False,
    ).echo()
    assert echo["instructions"] == "Be brief." and echo["metadata"] == {"ticket": "42"}
    assert echo["prompt_cache_key"] == "conversation-1" and echo["store"] is False
    assert echo["tools"] == [TOOL] and echo["parallel_tool_calls"] is False
    assert echo["truncation"] == "disabled" and echo["text"]["format"] == {"type": "text"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"seed": 3}, "seed"),
        ({"background": True}, "background"),
        ({"include": ["file_search_call.results"]}, "include.0"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        (
            {"tools": [TOOL], "tool_choice": {"type": "allowed_tools", "mode": "any", "tools": []}},
            "tool_choice.mode",
        ),
        (
            {
                "tools": [TOOL],
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [NOW]},
            },
            "tool_choice.tools",
        ),
        ({"tools": [TOOL], "tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"reasoning": {"effort": "enormous"}}, "reasoning.effort"),
    ],
)
def test_what_ladle_does_not_implement_is_refused_by_name(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        chat(**fields)
    assert refused.value.field == field


def test_codexs_client_metadata_is_taken() -> None:
    assert chat(client_metadata={"thread_id": "t", "turn": "{}"}).messages


def test_a_null_field_is_taken_as_absent() -> None:
    assert chat(conversation=None, prompt=None, background=False).messages


@pytest.mark.parametrize(
    "fields",
    [
        {"text": {"verbosity": "low"}},
        {"reasoning": {"context": "all_turns"}},
        {"reasoning": {"effort": "low", "unknown": 1}},
        {"service_tier": "priority"},
        {"truncation": "middle"},
        {"temperature": 3},
        {"metadata": {str(n): "v" for n in range(17)}},
        {"stream_options": {"include_usage": True}},
        {"stream": "yes"},
        {"max_output_tokens": 1.5},
    ],
)
def test_values_outside_what_ladle_takes_fail_validation(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ResponsesBody.model_validate({"model": "tiny", "input": "hello", **fields})


def test_kept_responses_continue_and_are_forgotten_oldest_first() -> None:
    kept = KeptResponses(count=2, chars=10_000)
    for number in range(3):
        kept.keep(f"resp_{number}", ({"role": "user", "content": str(number)},))
    assert len(kept) == 2
    assert kept.items("resp_2") == ({"role": "user", "content": "2"},)
    with pytest.raises(InvalidFieldError) as forgotten:
        kept.items("resp_0")
    assert forgotten.value.field == "previous_response_id" and "'resp_0'" in forgotten.value.reason


def test_kept_responses_stay_within_their_characters() -> None:
    kept = KeptResponses(count=100, chars=200)
    item = {"role": "user", "content": "x" * 60}
    kept.keep("resp_a", (item,))
    kept.keep("resp_b", (item,))
    kept.items("resp_a")  # continued: now the newest
    kept.keep("resp_c", (item,))
    assert len(kept) == 2
    with pytest.raises(InvalidFieldError):
        kept.items("resp_b")
    kept.keep("resp_huge", ({"role": "user", "content": "x" * 500},))
    with pytest.raises(InvalidFieldError):
        kept.items("resp_huge")
