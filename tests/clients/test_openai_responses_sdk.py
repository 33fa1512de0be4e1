"""The official ``openai`` client, unchanged, against ``ladle serve``'s Responses API
(``/v1/responses``): answers, streams (the raw events and the client's own stream
helper), structured output, and a function-tool round trip, both by sending the whole
conversation back (``store: false``, as Codex does) and by ``previous_response_id``."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputParam

from tests.runtime.api.test_live_server import Server

from .conftest import ROOT
from .conversation import CITY, QUESTION, STRUCTURED_QUESTION, TEMPERATURE, TOOL_RESULT, Weather

WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city"}},
        "required": ["city"],
    },
    "strict": False,
}
"""conversation.py's tool, in the Responses API's flat shape."""


@pytest.fixture
def client(client_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{client_server.url}/v1", api_key="unused", timeout=120)


def test_an_answer_and_its_stream(client: openai.OpenAI) -> None:
    answer = client.responses.create(model="tiny", input="hello", max_output_tokens=6)
    assert answer.object == "response" and answer.status == "incomplete"
    assert answer.incomplete_details is not None
    assert answer.incomplete_details.reason == "max_output_tokens"
    assert answer.output_text and answer.usage is not None and answer.usage.output_tokens == 6
    stream = client.responses.create(model="tiny", input="hello", max_output_tokens=6, stream=True)
    events = list(stream)
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == answer.output_text  # the image's temperature 0
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[-1].type == "response.incomplete"


def test_instructions_and_the_stream_helper(client: openai.OpenAI, tool_model: str) -> None:
    with client.responses.stream(
        model=tool_model, instructions="Answer in one short sentence.", input="Say hello."
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed" and final.instructions == "Answer in one short sentence."
    assert final.output_text and "".join(deltas) == final.output_text


def test_structured_output(client: openai.OpenAI, tool_model: str) -> None:
    answer = client.responses.parse(
        model=tool_model, input=STRUCTURED_QUESTION, text_format=Weather
    )
    assert isinstance(answer.output_parsed, Weather)


def ask_weather(client: openai.OpenAI, model: str, **fields: Any) -> Any:
    """The first turn: the model calls ``get_weather`` for the city."""
    first = client.responses.create(model=model, input=QUESTION, tools=[WEATHER], **fields)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(call.name, json.loads(call.arguments)) for call in calls] == [
        ("get_weather", {"city": CITY})
    ]
    return first


def test_a_tool_round_trip_sending_the_whole_conversation(
    client: openai.OpenAI, tool_model: str
) -> None:
    first = ask_weather(client, tool_model, store=False)
    [call] = [item for item in first.output if item.type == "function_call"]
    conversation: ResponseInputParam = [{"role": "user", "content": QUESTION}]
    conversation += [item.model_dump(exclude_none=True) for item in first.output]
    conversation.append(
        {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT}
    )
    final = client.responses.create(
        model=tool_model, input=conversation, tools=[WEATHER], store=False
    )
    assert not [item for item in final.output if item.type == "function_call"]
    assert str(TEMPERATURE) in final.output_text


def test_a_tool_round_trip_by_previous_response_id(client: openai.OpenAI, tool_model: str) -> None:
    first = ask_weather(client, tool_model)
    [call] = [item for item in first.output if item.type == "function_call"]
    final = client.responses.create(
        model=tool_model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT}],
        tools=[WEATHER],
    )
    assert final.previous_response_id == first.id
    assert str(TEMPERATURE) in final.output_text


def test_a_streamed_call_arrives_as_function_call_events(
    client: openai.OpenAI, tool_model: str
) -> None:
    with client.responses.stream(model=tool_model, input=QUESTION, tools=[WEATHER]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.done" in kinds
    [call] = [item for item in final.output if item.type == "function_call"]
    assert json.loads(call.arguments) == {"city": CITY}


def test_refusals_are_the_clients_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="nope", input="hello")
    assert "'nope:latest' not found" in missing.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="tiny", input="hello", background=True)
    assert refused.value.param == "background"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model="tiny", input="hello", previous_response_id="resp_none")
    assert unknown.value.param == "previous_response_id"


def test_the_documented_example_runs(client_server: Server) -> None:
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = docs.split("### The Responses API", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = example.replace("http://127.0.0.1:11434", client_server.url)
    exec(compile(example.replace("sre-bot", "tiny"), "docs/api.md", "exec"), {})
