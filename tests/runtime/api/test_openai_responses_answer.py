"""The Responses API's answer built from service replies (pure): the event sequence,
item by item, the whole object agreeing with the stream, and the ``openai`` package's
own stream accumulator taking every sequence (reasoning, text, calls, a length stop)."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from builder.templates.tool_calls import ToolCall
from runtime.api.openai_responses_answer import ResponseAnswer, Shape
from runtime.api.service import Reply
from runtime.protocol import GenerateChunk, TokenLogprob, TokenProbability

ECHO = {"model": "tiny", "tools": [], "tool_choice": "auto", "parallel_tool_calls": True}
FINAL = GenerateChunk(done=True, prompt_eval_count=12, eval_count=5, cached_tokens=4)
DONE = Reply(final=FINAL, done_reason="stop")
CALL = ToolCall(name="get_weather", arguments={"city": "Paris"})


def streamed(replies: list[Reply], shape: Shape | None = None) -> list[dict[str, Any]]:
    answer = ResponseAnswer(ECHO, shape or Shape())
    events = answer.opening()
    for reply in replies:
        events += answer.events(reply)
    return events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"].removeprefix("response.") for event in events]


def sdk_final(events: list[dict[str, Any]]) -> Any:
    """The ``openai`` package's stream state fed ``events`` (as JSON, as they travel):
    the response it completes."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        wire = json.loads(json.dumps(event))
        state.handle_event(
            cast(ResponseStreamEvent, construct_type(type_=ResponseStreamEvent, value=wire))
        )
    return state._completed_response


def test_a_text_answer_is_one_message_item() -> None:
    events = streamed([Reply(text="Hello"), Reply(text=" world"), DONE])
    assert kinds(events) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["incomplete_details"] is None
    [message] = done["output"]
    assert message["type"] == "message" and message["status"] == "completed"
    assert message["content"][0]["text"] == "Hello world"
    final = sdk_final(events)
    assert final.output_text == "Hello world" and final.id == done["id"]


def test_usage_counts_the_whole_prompt_and_its_cached_part() -> None:
    usage = streamed([Reply(text="hi"), DONE])[-1]["response"]["usage"]
    assert usage["input_tokens"] == 12 and usage["output_tokens"] == 5
    assert usage["total_tokens"] == 17
    assert usage["input_tokens_details"] == {"cached_tokens": 4, "cache_write_tokens": 8}


def test_reasoning_comes_first_as_reasoning_text_then_the_message() -> None:
    replies = [Reply(thinking="Let me"), Reply(thinking=" think."), Reply(text="Yes."), DONE]
    events = streamed(replies)
    assert kinds(events)[2:9] == [
        "output_item.added",
        "content_part.added",
        "reasoning_text.delta",
        "reasoning_text.delta",
        "reasoning_text.done",
        "content_part.done",
        "output_item.done",
    ]
    reasoning, message = events[-1]["response"]["output"]
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Let me think."}]
    assert reasoning["summary"] == [] and "encrypted_content" not in reasoning
    assert message["content"][0]["text"] == "Yes."
    assert [item.type for item in sdk_final(events).output] == ["reasoning", "message"]


def test_a_summary_asked_for_carries_the_reasoning_as_the_summary() -> None:
    shape = Shape(summary=True, encrypted=True)
    events = streamed([Reply(thinking="Hmm."), Reply(text="Yes."), DONE], shape)
    assert "reasoning_summary_part.added" in kinds(events)
    assert "reasoning_summary_text.delta" in kinds(events)
    reasoning = events[-1]["response"]["output"][0]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Hmm."}]
    assert reasoning["content"] == [] and reasoning["encrypted_content"] == "Hmm."
    assert sdk_final(events).output[0].summary[0].text == "Hmm."


def test_tool_calls_are_function_call_items_after_the_message() -> None:
    events = streamed([Reply(text="Checking."), Reply(tool_calls=(CALL, CALL)), DONE])
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "function_call", "function_call"]
    first, second = output[1:]
    assert json.loads(first["arguments"]) == {"city": "Paris"} and first["name"] == "get_weather"
    assert first["call_id"] != second["call_id"] and first["id"] != second["id"]
    assert kinds(events)[-5:] == [
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    calls = [item for item in sdk_final(events).output if item.type == "function_call"]
    assert [call.arguments for call in calls] == [first["arguments"], second["arguments"]]


def test_a_namespace_functions_call_carries_its_namespace_apart() -> None:
    shape = Shape(namespaced={"agents.spawn": ("agents", "spawn")})
    call = ToolCall(name="agents.spawn", arguments={})
    events = streamed([Reply(tool_calls=(call, CALL)), DONE], shape)
    spawned, weather = events[-1]["response"]["output"]
    assert (spawned["namespace"], spawned["name"]) == ("agents", "spawn")
    assert "namespace" not in weather and weather["name"] == "get_weather"
    assert sdk_final(events).output[0].namespace == "agents"


def test_a_length_stop_is_an_incomplete_response() -> None:
    events = streamed([Reply(text="Hel"), Reply(final=FINAL, done_reason="length")])
    last = events[-1]
    assert last["type"] == "response.incomplete"
    response = last["response"]
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"


def test_an_empty_answer_is_an_empty_message() -> None:
    events = streamed([DONE])
    [message] = events[-1]["response"]["output"]
    assert message["content"][0]["text"] == "" and "output_item.added" in kinds(events)
    assert sdk_final(events).output_text == ""


def test_the_whole_answer_is_the_streams_last_state() -> None:
    replies = [Reply(thinking="a"), Reply(text="b"), Reply(tool_calls=(CALL,)), DONE]
    whole = ResponseAnswer(ECHO, Shape()).whole(replies)
    last = streamed(replies)[-1]["response"]
    strip = {"id", "call_id"}

    def shape_of(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k not in strip} for item in output]

    assert shape_of(whole["output"]) == shape_of(last["output"])
    assert whole["status"] == last["status"] == "completed"


def test_logprobs_ride_on_the_text_deltas_and_the_part() -> None:
    top = TokenProbability(id=2, token="Hi", bytes=(72, 105), logprob=-0.5)
    token = TokenLogprob(id=2, token="Hi", logprob=-0.5, bytes=(72, 105), top=(top,))
    held = TokenLogprob(id=1, token="!", logprob=-1.0, bytes=(33,))
    replies = [Reply(logprobs=(held,)), Reply(text="Hi!", logprobs=(token,)), DONE]
    events = streamed(replies, Shape(logprobs=True))
    [delta] = [event for event in events if event["type"] == "response.output_text.delta"]
    assert [entry["token"] for entry in delta["logprobs"]] == ["!", "Hi"]
    part = events[-1]["response"]["output"][0]["content"][0]
    assert part["logprobs"][1] == {
        "token": "Hi",
        "logprob": -0.5,
        "bytes": [72, 105],
        "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}],
    }


def test_logprobs_not_asked_for_are_empty() -> None:
    token = TokenLogprob(id=2, token="Hi", logprob=-0.5, bytes=(72, 105))
    events = streamed([Reply(text="Hi", logprobs=(token,)), DONE])
    assert all(not event.get("logprobs") for event in events)


def test_obfuscation_pads_only_the_deltas() -> None:
    events = streamed([Reply(text="Hi"), Reply(tool_calls=(CALL,)), DONE], Shape(obfuscate=True))
    padded = {event["type"] for event in events if "obfuscation" in event}
    assert padded == {"response.output_text.delta", "response.function_call_arguments.delta"}


def test_a_failure_after_the_start_is_response_failed() -> None:
    answer = ResponseAnswer(ECHO, Shape())
    events = answer.opening() + answer.events(Reply(text="Hi"))
    failed = answer.failed("runner crashed")
    assert failed["type"] == "response.failed"
    assert failed["sequence_number"] == events[-1]["sequence_number"] + 1
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "runner crashed"}


@pytest.mark.parametrize("summary", [False, True])
def test_reasoning_after_text_opens_a_new_item(summary: bool) -> None:
    """A model that thinks again after writing text (harmony's channels may): each run
    of one kind is its own item, in order."""
    replies = [Reply(thinking="a"), Reply(text="b"), Reply(thinking="c"), Reply(text="d"), DONE]
    events = streamed(replies, Shape(summary=summary))
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "reasoning", "message"]
    assert [item["output_index"] for item in events if item["type"].endswith("item.added")] == [
        0,
        1,
        2,
        3,
    ]
    assert sdk_final(events).output_text == "bd"
