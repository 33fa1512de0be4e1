"""``POST /v1/responses`` in process: over the tiny model (the object, its events, the
``openai`` client's own parsing of both) and over a scripted runner (the prompt the
request renders, tool calls, ``previous_response_id``), and its 400s, each naming the
field as OpenAI writes a path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest
from openai.types.responses import FunctionToolParam

from builder.store.store import Store
from ladle.errors import RunnerCrashedError

from .conftest import BASE_URL, MakeClient, build
from .test_behaviour import Script, scripted

pytestmark = pytest.mark.anyio

PATH = "/v1/responses"
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
UNIT_TOOL: FunctionToolParam = {
    "type": "function",
    "name": "get_unit",
    "strict": True,
    "parameters": {
        "type": "object",
        "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["unit"],
        "additionalProperties": False,
    },
}
"""A tool whose forced call random weights finish at once (a free string may wander)."""
BAD_SCHEMA = {"type": "array", "items": {"type": "integer"}, "minItems": "x"}
"""A schema the grammar converter refuses."""
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The events of a Responses stream, each checked to name its type in ``event:``."""
    assert response.headers["content-type"].startswith("text/event-stream")
    parsed = []
    for block in response.text.split("\n\n"):
        if block:
            kind, data = block.split("\n")
            event = json.loads(data.removeprefix("data: "))
            assert kind == f"event: {event['type']}"
            parsed.append(event)
    return parsed


def sdk(client: httpx.AsyncClient) -> openai.AsyncOpenAI:
    """The official client, over the in-process app (its client is httpx2's, whose
    interface httpx's client has)."""
    return openai.AsyncOpenAI(
        base_url=f"{BASE_URL}/v1", api_key="unused", http_client=cast(Any, client)
    )


async def test_an_answer_is_a_response_object(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post(PATH, json={"model": "tiny", "input": "hello"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "response" and body["id"].startswith("resp_")
    assert body["model"] == "tiny" and body["status"] == "incomplete"  # num_predict 8
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    [message] = body["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["type"] == "output_text" and message["content"][0]["text"]
    usage = body["usage"]
    assert usage["output_tokens"] == 8 and usage["input_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_the_stream_builds_the_same_answer(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "input": "hello", "max_output_tokens": 5}
    whole = (await client.post(PATH, json=request)).json()
    streamed = events(await client.post(PATH, json={**request, "stream": True}))
    assert [event["type"] for event in streamed[:2]] == ["response.created", "response.in_progress"]
    assert [event["sequence_number"] for event in streamed] == list(range(len(streamed)))
    deltas = [event["delta"] for event in streamed if event["type"] == "response.output_text.delta"]
    text = whole["output"][0]["content"][0]["text"]
    assert "".join(deltas) == text  # the image's temperature 0
    last = streamed[-1]
    assert last["type"] == "response.incomplete" and last["response"]["usage"]["output_tokens"] == 5
    assert last["response"]["output"][0]["content"][0]["text"] == text


async def test_the_openai_client_reads_answers_and_streams(make_client: MakeClient) -> None:
    client = sdk(await make_client())
    answer = await client.responses.create(model="tiny", input="hello", max_output_tokens=4)
    assert answer.status == "incomplete" and answer.output_text
    assert answer.usage is not None and answer.usage.output_tokens == 4
    stream = await client.responses.create(model="tiny", input="hello", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.incomplete"
    assert "response.output_text.delta" in kinds


async def test_a_forced_call_completes_through_the_clients_stream_helper(
    make_client: MakeClient,
) -> None:
    client = sdk(await make_client())
    async with client.responses.stream(
        model="tiny-tools",
        input="Which unit?",
        tools=[UNIT_TOOL],
        tool_choice={"type": "function", "name": "get_unit"},
        max_output_tokens=200,
        temperature=0,
        truncation="auto",  # the tools' JSON alone nearly fills the tiny context
    ) as stream:
        final = await stream.get_final_response()
    assert final.status == "completed"
    [call] = [item for item in final.output if item.type == "function_call"]
    assert call.name == "get_unit" and json.loads(call.arguments)["unit"] in (
        "celsius",
        "fahrenheit",
    )


async def test_instructions_and_input_items_reach_the_template(make_client: MakeClient) -> None:
    script = Script()
    client = await make_client(runner_factory=scripted(script))
    items = [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "hello"}]},
    ]
    body = {"model": "tiny-tools", "instructions": "Be brief.", "input": items}
    answer = (await client.post(PATH, json=body)).json()
    assert answer["status"] == "completed" and answer["instructions"] == "Be brief."
    assert answer["output"][0]["content"][0]["text"] == "Hello, world"
    prompt = script.requests[0].prompt
    assert isinstance(prompt, str)
    assert prompt.index("<|system|>Be brief.") < prompt.index("<|system|>Answer in French.")
    assert prompt.index("<|system|>Answer in French.") < prompt.index("<|user|>hello")


async def test_a_tool_round_trip_continues_from_the_previous_response(
    make_client: MakeClient,
) -> None:
    script = Script(pieces=("Let me check.", CALL))
    client = await make_client(runner_factory=scripted(script))
    first = (
        await client.post(PATH, json={"model": "tiny-tools", "input": "Weather?", "tools": [TOOL]})
    ).json()
    message, call = first["output"]
    assert message["content"][0]["text"] == "Let me check."
    assert call["type"] == "function_call" and json.loads(call["arguments"]) == {"city": "Paris"}
    script.pieces = ("It is 21 degrees.",)
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": "21 degrees"}
    second = await client.post(
        PATH,
        json={
            "model": "tiny-tools",
            "previous_response_id": first["id"],
            "input": [result],
            "tools": [TOOL],
        },
    )
    assert second.status_code == 200, second.text
    assert second.json()["previous_response_id"] == first["id"]
    prompt = script.requests[1].prompt
    assert isinstance(prompt, str)
    assert prompt.index("<|user|>Weather?") < prompt.index("<|assistant|>Let me check.")
    assert prompt.index("Let me check.") < prompt.index("<|tool|>21 degrees")


async def test_a_response_not_stored_cannot_be_continued(make_client: MakeClient) -> None:
    client = await make_client(runner_factory=scripted(Script()))
    body = {"model": "tiny", "input": "hello", "store": False}
    first = (await client.post(PATH, json=body)).json()
    assert first["store"] is False
    again = await client.post(PATH, json={**body, "previous_response_id": first["id"]})
    assert again.status_code == 400
    error = again.json()["error"]
    assert error["param"] == "previous_response_id" and first["id"] in error["message"]


async def test_a_streamed_response_is_kept_too(make_client: MakeClient) -> None:
    script = Script()
    client = await make_client(runner_factory=scripted(script))
    streamed = events(await client.post(PATH, json={"model": "tiny", "input": "a", "stream": True}))
    kept = streamed[-1]["response"]["id"]
    again = await client.post(
        PATH, json={"model": "tiny", "input": "b", "previous_response_id": kept}
    )
    assert again.status_code == 200, again.text
    assert "Hello, world" in str(script.requests[1].prompt)


async def test_parallel_tool_calls_false_answers_one_call(make_client: MakeClient) -> None:
    client = await make_client(runner_factory=scripted(Script(pieces=(CALL, "\n", CALL))))
    body = {"model": "tiny-tools", "input": "Weather?", "tools": [TOOL]}
    both = (await client.post(PATH, json=body)).json()["output"]
    assert [item["type"] for item in both] == ["function_call", "function_call"]
    for limit in ({"parallel_tool_calls": False}, {"max_tool_calls": 1}):
        one = (await client.post(PATH, json={**body, **limit})).json()["output"]
        assert [item["type"] for item in one] == ["function_call"], limit


async def test_an_error_after_the_stream_started_is_response_failed(
    make_client: MakeClient,
) -> None:
    crash = RunnerCrashedError("tiny:latest", "signal SIGSEGV")
    client = await make_client(runner_factory=scripted(Script(failure=crash)))
    response = await client.post(PATH, json={"model": "tiny", "input": "hi", "stream": True})
    last = events(response)[-1]
    assert last["type"] == "response.failed" and last["response"]["status"] == "failed"
    assert "stopped (signal SIGSEGV)" in last["response"]["error"]["message"]


async def test_truncation_decides_what_an_overlong_conversation_does(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    long = "hello world " * 300  # well past the tiny model's 256-token context
    refused = await client.post(PATH, json={"model": "tiny", "input": long})
    assert refused.status_code == 400, refused.text
    cut = await client.post(PATH, json={"model": "tiny", "input": long, "truncation": "auto"})
    assert cut.status_code == 200, cut.text


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"seed": 1}, "seed"),
        ({"background": True}, "background"),
        ({"include": ["web_search_call.results"]}, "include[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].image_url",
        ),
        (
            {"input": [{"type": "function_call_output", "call_id": "c", "output": ""}]},
            "input[0].call_id",
        ),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
        (
            {"text": {"format": {"type": "json_schema", "schema": BAD_SCHEMA}}},
            "text.format",
        ),
        ({"text": {"verbosity": "high"}}, "text.verbosity"),
        ({"reasoning": {"effort": "enormous"}}, "reasoning.effort"),
        ({"previous_response_id": "resp_unknown"}, "previous_response_id"),
        ({"temperature": -1}, "temperature"),
    ],
)
async def test_what_ladle_cannot_do_is_a_400_naming_the_field(
    make_client: MakeClient, fields: dict[str, Any], param: str
) -> None:
    client = await make_client(runner_factory=scripted(Script()))
    response = await client.post(PATH, json={"model": "tiny-tools", "input": "hi", **fields})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error


async def test_an_unknown_model_is_the_clients_not_found_error(make_client: MakeClient) -> None:
    client = sdk(await make_client())
    with pytest.raises(openai.NotFoundError) as missing:
        await client.responses.create(model="nope", input="hello")
    assert "'nope:latest' not found" in missing.value.message


THINKING_TEMPLATE = """\
FROM {model}
PARAMETER num_ctx 256
TEMPLATE \"\"\"{{%- for m in messages %}}<|{{{{ m.role }}}}|>
{{%- if m.reasoning_content %}}<think>{{{{ m.reasoning_content }}}}</think>{{% endif %}}
{{{{- m.content }}}}
{{% endfor %}}<|assistant|>\"\"\"
"""
"""A reasoning model's template (its ``<think>`` makes the image's output parser split
the thoughts off); the scripted runner's pieces are its output."""


@pytest.fixture
async def thinking(
    make_client: MakeClient, models: Path, tiny_model: Path
) -> tuple[httpx.AsyncClient, Script]:
    build(
        Store(models), models.parent / "src", "thinker", THINKING_TEMPLATE.format(model=tiny_model)
    )
    script = Script(pieces=("<think>", "Paris is", " in France.", "</think>", "Paris."))
    return await make_client(runner_factory=scripted(script)), script


async def test_a_reasoning_models_thoughts_are_a_reasoning_item(
    thinking: tuple[httpx.AsyncClient, Script],
) -> None:
    client, script = thinking
    body = {"model": "thinker", "input": "Capital of France?", "reasoning": {"effort": "high"}}
    whole = (
        await client.post(PATH, json={**body, "include": ["reasoning.encrypted_content"]})
    ).json()
    reasoning, message = whole["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"] == []
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Paris is in France."}]
    assert reasoning["encrypted_content"] == "Paris is in France."
    assert message["content"][0]["text"] == "Paris."
    streamed = events(await client.post(PATH, json={**body, "stream": True}))
    thoughts = [e["delta"] for e in streamed if e["type"] == "response.reasoning_text.delta"]
    assert "".join(thoughts) == "Paris is in France."
    again = {"model": "thinker", "previous_response_id": whole["id"], "input": "And Spain?"}
    assert (await client.post(PATH, json=again)).status_code == 200
    assert "<think>Paris is in France.</think>Paris." in str(script.requests[-1].prompt)
