"""The official ``anthropic`` client, unchanged, against ``ladle serve``'s Messages API:
``messages.create``, ``messages.stream``, ``count_tokens``, a tool round trip with
``smol-tools`` and the errors, as Anthropic's users write them."""

from __future__ import annotations

from pathlib import Path

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam, ToolResultBlockParam

from tests.runtime.api.test_live_server import Server

from .conversation import CITY, QUESTION, TEMPERATURE, TOOL_RESULT, WEATHER_TOOL

ROOT = Path(__file__).parents[2]

HELLO: list[MessageParam] = [{"role": "user", "content": "hello"}]
WEATHER: ToolParam = {
    "name": WEATHER_TOOL["function"]["name"],
    "description": WEATHER_TOOL["function"]["description"],
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}
"""The weather tool, in Anthropic's shape."""


@pytest.fixture
def client(client_server: Server) -> anthropic.Anthropic:
    # Anthropic's own token is never sent anywhere but ladle; ladle needs none here.
    return anthropic.Anthropic(base_url=client_server.url, api_key="unused", timeout=120)


def test_create_and_stream(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="tiny", max_tokens=6, messages=HELLO)
    assert message.type == "message" and message.role == "assistant"
    [block] = message.content
    assert block.type == "text" and block.text
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 6
    with client.messages.stream(model="tiny", max_tokens=6, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == block.text  # the image's temperature 0
    [folded] = final.content
    assert folded.type == "text" and folded.text == block.text
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 6


def test_raw_events_come_in_anthropic_s_order(client: anthropic.Anthropic) -> None:
    events = list(client.messages.create(model="tiny", max_tokens=4, messages=HELLO, stream=True))
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds


def test_count_tokens_is_the_prompt_create_evaluates(client: anthropic.Anthropic) -> None:
    system = "Answer in one word."
    counted = client.messages.count_tokens(model="tiny", system=system, messages=HELLO)
    usage = client.messages.create(model="tiny", max_tokens=1, system=system, messages=HELLO).usage
    assert counted.input_tokens == usage.input_tokens + (usage.cache_read_input_tokens or 0)


def test_a_stop_sequence_is_reported(client: anthropic.Anthropic) -> None:
    said = client.messages.create(model="tiny", max_tokens=8, messages=HELLO).content[0]
    assert said.type == "text"
    stop = said.text.strip()[1:4]
    cut = client.messages.create(model="tiny", max_tokens=8, messages=HELLO, stop_sequences=[stop])
    assert (cut.stop_reason, cut.stop_sequence) == ("stop_sequence", stop)


def test_tool_round_trip(client: anthropic.Anthropic, tool_model: str) -> None:
    messages: list[MessageParam] = [{"role": "user", "content": QUESTION}]
    first = client.messages.create(
        model=tool_model, max_tokens=48, messages=messages, tools=[WEATHER]
    )
    assert first.stop_reason == "tool_use", first
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": CITY}
    result: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": TOOL_RESULT,
    }
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [result]},
    ]
    final = client.messages.create(
        model=tool_model, max_tokens=48, messages=messages, tools=[WEATHER]
    )
    assert final.stop_reason == "end_turn"
    answer = "".join(block.text for block in final.content if block.type == "text")
    assert str(TEMPERATURE) in answer


def test_streamed_tool_use_is_folded_by_the_client(
    client: anthropic.Anthropic, tool_model: str
) -> None:
    messages: list[MessageParam] = [{"role": "user", "content": QUESTION}]
    with client.messages.stream(
        model=tool_model, max_tokens=48, messages=messages, tools=[WEATHER]
    ) as stream:
        final = stream.get_final_message()
    [call] = [block for block in final.content if block.type == "tool_use"]
    assert call.input == {"city": CITY} and final.stop_reason == "tool_use"


def test_errors_are_the_client_s_exceptions(client: anthropic.Anthropic) -> None:
    quick = client.with_options(max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as missing:
        quick.messages.create(model="nope", max_tokens=4, messages=HELLO)
    assert "'nope:latest' not found" in str(missing.value)
    assert missing.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model 'nope:latest' not found"},
    }
    with pytest.raises(anthropic.BadRequestError) as unknown:
        quick.messages.create(
            model="tiny", max_tokens=4, messages=HELLO, extra_body={"mcp_servers": []}
        )
    assert "mcp_servers: unknown field" in str(unknown.value)


def test_the_documented_example_runs(client_server: Server) -> None:
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = docs.split("## Anthropic's API", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = example.replace("http://127.0.0.1:11434", client_server.url)
    exec(compile(example.replace("sre-bot", "tiny"), "docs/api.md", "exec"), {})
