"""The message and the stream events of ``/v1/messages`` (:mod:`runtime.api.anthropic_answer`),
from the service's reply pieces: block order, deltas, signatures, stop reasons and usage;
the official ``anthropic`` package folds the events into the same message."""

from __future__ import annotations

import hashlib
from typing import Any

from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from builder.templates.tool_calls import ToolCall
from runtime.api.anthropic_answer import MessageAnswer, StopSequences
from runtime.api.service import Reply
from runtime.protocol import GenerateChunk, TokenLogprob

FINAL = GenerateChunk(done=True, prompt_eval_count=30, cached_tokens=20, eval_count=7)
CALL = ToolCall(name="get_weather", arguments={"city": "Oslo"})
EVENTS: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)


def last(reason: str = "stop", final: GenerateChunk = FINAL) -> Reply:
    return Reply(final=final, done_reason=reason)


def streamed(answer: MessageAnswer, replies: list[Reply]) -> list[dict[str, Any]]:
    events = list(answer.opening())
    for reply in replies:
        events += answer.events(reply)
    return events


def folded(events: list[dict[str, Any]]) -> Message:
    """The message the official client builds from ``events``."""
    snapshot = None
    for event in events:
        if event["type"] != "ping":
            snapshot = accumulate_event(
                event=EVENTS.validate_python(event), current_snapshot=snapshot, json_bufs={}
            )
    assert snapshot is not None
    return snapshot


REPLIES = [
    Reply(thinking="Let me "),
    Reply(thinking="see."),
    Reply(text="It is "),
    Reply(text="cold.", tool_calls=(CALL,)),
    last(),
]


def test_a_stream_opens_each_block_closes_it_and_ends_the_message() -> None:
    events = streamed(MessageAnswer("m", max_tokens=64), REPLIES)
    kinds = [
        (event["type"], event.get("index"), event.get("delta", {}).get("type")) for event in events
    ]
    assert kinds == [
        ("message_start", None, None),
        ("ping", None, None),
        ("content_block_start", 0, None),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, None),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    assert events[0]["message"]["content"] == [] and events[0]["message"]["stop_reason"] is None
    assert events[11]["content_block"] == {
        "type": "tool_use",
        "id": events[11]["content_block"]["id"],
        "name": "get_weather",
        "input": {},
    }
    assert events[12]["delta"]["partial_json"] == '{"city":"Oslo"}'


def test_the_whole_message_is_what_the_official_client_folds_from_the_stream() -> None:
    answer = MessageAnswer("m", max_tokens=64)
    client = folded(streamed(answer, REPLIES))
    assert client.model_dump(exclude_none=True) == Message.model_validate(
        answer.message()
    ).model_dump(exclude_none=True)
    whole = MessageAnswer("m", max_tokens=64).whole(REPLIES)
    assert len(whole["content"]) == 3 and whole["usage"] == answer.message()["usage"]
    thinking, text, call = whole["content"]
    assert thinking == {
        "type": "thinking",
        "thinking": "Let me see.",
        "signature": hashlib.sha256(b"Let me see.").hexdigest(),
    }
    assert text == {"type": "text", "text": "It is cold."}
    assert call["type"] == "tool_use" and call["id"].startswith("toolu_")
    assert (call["name"], call["input"]) == ("get_weather", {"city": "Oslo"})
    assert whole["stop_reason"] == "tool_use" and whole["stop_sequence"] is None


def test_usage_counts_the_cached_prompt_apart() -> None:
    whole = MessageAnswer("m", max_tokens=64).whole([Reply(text="hi"), last()])
    assert whole["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 20,
        "output_tokens": 7,
    }
    assert whole["id"].startswith("msg_") and whole["role"] == "assistant"
    assert whole["stop_reason"] == "end_turn"


def test_a_length_stop_is_max_tokens_or_a_full_context() -> None:
    at_limit = GenerateChunk(done=True, eval_count=64)
    short = GenerateChunk(done=True, eval_count=12)
    assert MessageAnswer("m", max_tokens=64).whole([last("length", at_limit)])["stop_reason"] == (
        "max_tokens"
    )
    full = MessageAnswer("m", max_tokens=64).whole([last("length", short)])
    assert full["stop_reason"] == "model_context_window_exceeded"


def generated(text: str) -> Reply:
    """A piece whose generated tokens hold ``text`` (the runner cut a stop from it)."""
    token = TokenLogprob(id=1, token=text, bytes=tuple(text.encode()), logprob=-0.1)
    return Reply(logprobs=(token,))


def test_the_stop_sequence_that_ended_the_answer_is_named() -> None:
    stops = StopSequences(["END", "STOP"], ["<|im_end|>"])
    answer = MessageAnswer("m", max_tokens=64, stops=stops)
    whole = answer.whole(
        [Reply(text="done"), generated("done"), generated(" STO"), generated("P!"), last()]
    )
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("stop_sequence", "STOP")
    image_first = StopSequences(["END"], ["<|im_end|>"])
    answer = MessageAnswer("m", max_tokens=64, stops=image_first)
    whole = answer.whole([generated("ok<|im_end|>END"), last()])
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("end_turn", None)
    eos = MessageAnswer("m", max_tokens=64, stops=StopSequences(["END"], []))
    assert eos.whole([generated("fine"), last()])["stop_reason"] == "end_turn"


def test_omitted_thinking_keeps_its_block_and_signature_but_not_its_text() -> None:
    answer = MessageAnswer("m", max_tokens=64, show_thinking=False)
    events = streamed(answer, [Reply(thinking="secret"), Reply(text="hi"), last()])
    assert not [event for event in events if event.get("delta", {}).get("type") == "thinking_delta"]
    thinking = answer.message()["content"][0]
    assert thinking == {
        "type": "thinking",
        "thinking": "",
        "signature": hashlib.sha256(b"secret").hexdigest(),
    }


def test_an_empty_answer_has_no_blocks() -> None:
    events = streamed(MessageAnswer("m", max_tokens=0), [last("length", GenerateChunk(done=True))])
    assert [event["type"] for event in events] == [
        "message_start",
        "ping",
        "message_delta",
        "message_stop",
    ]
    assert events[2]["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
