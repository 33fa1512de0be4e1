"""Anthropic's ``/v1/messages`` and ``/v1/messages/count_tokens`` in process, over the
tiny model (real answers, real counts) and a scripted runner (thinking, tool calls, a
stream that fails): the message, the named server-sent events, Anthropic's error object,
and ``x-api-key``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from builder.store.store import Store
from ladle.errors import RunnerCrashedError
from ladle.security_values import ApiKey
from ladle.settings import SecuritySettings

from .conftest import MakeClient, build
from .test_behaviour import Script, scripted

pytestmark = pytest.mark.anyio

MESSAGES = "/v1/messages"
COUNT = "/v1/messages/count_tokens"
HELLO = [{"role": "user", "content": "hello"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 12}},
        "required": ["city"],
    },
}
THINK_MODELFILE = """\
FROM {model}
PARAMETER num_ctx 256
TEMPLATE \"\"\"{{% if tools %}}<tools>{{{{ tools | tojson }}}}</tools>{{% endif %}}
{{% for m in messages %}}<|{{{{ m.role }}}}|><think>{{{{ m.thinking }}}}</think>{{{{ m.content }}}}
{{% endfor %}}<|assistant|><tool_call>\"\"\"
"""
"""A reasoning model (its template writes ``<think>`` tags) that takes tools."""


def ask(**fields: Any) -> dict[str, Any]:
    return {"model": "tiny", "max_tokens": 6, "messages": HELLO, **fields}


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of a stream, checking each event is named by its type."""
    assert response.headers["content-type"].startswith("text/event-stream")
    pairs = []
    for block in response.text.split("\n\n"):
        if block:
            name, data = block.split("\n")
            payload = json.loads(data.removeprefix("data: "))
            assert name == f"event: {payload['type']}"
            pairs.append((payload["type"], payload))
    return pairs


async def test_a_message_is_anthropic_s_object(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post(MESSAGES, json=ask())
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["id"].startswith("msg_") and message["type"] == "message"
    assert (message["role"], message["model"]) == ("assistant", "tiny")
    [block] = message["content"]
    assert block["type"] == "text" and block["text"]
    assert (message["stop_reason"], message["stop_sequence"]) == ("max_tokens", None)
    usage = message["usage"]
    assert usage["output_tokens"] == 6 and usage["input_tokens"] > 0


async def test_a_stream_is_named_events_with_the_same_text(make_client: MakeClient) -> None:
    client = await make_client()
    whole = (await client.post(MESSAGES, json=ask())).json()
    events = sse(await client.post(MESSAGES, json=ask(stream=True)))
    kinds = [kind for kind, _ in events]
    assert kinds[:3] == ["message_start", "ping", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(data["delta"]["text"] for kind, data in events if kind == "content_block_delta")
    assert text == whole["content"][0]["text"]  # the image's temperature 0
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 6


async def test_count_tokens_counts_the_prompt_messages_evaluates(make_client: MakeClient) -> None:
    client = await make_client()
    question = ask(system="Answer briefly.", messages=[{"role": "user", "content": "hello there"}])
    counted = await client.post(
        COUNT, json={k: question[k] for k in ("model", "system", "messages")}
    )
    assert counted.status_code == 200, counted.text
    usage = (await client.post(MESSAGES, json=question)).json()["usage"]
    assert counted.json() == {
        "input_tokens": usage["input_tokens"] + usage["cache_read_input_tokens"]
    }


async def test_max_tokens_0_evaluates_the_prompt_and_says_nothing(make_client: MakeClient) -> None:
    client = await make_client()
    message = (await client.post(MESSAGES, json=ask(max_tokens=0))).json()
    assert message["content"] == [] and message["stop_reason"] == "max_tokens"
    again = (await client.post(MESSAGES, json=ask(max_tokens=1))).json()["usage"]
    assert again["input_tokens"] == 1  # all but the last prompt token came from the cache


async def test_a_stop_sequence_ends_the_answer_and_is_named(make_client: MakeClient) -> None:
    client = await make_client()
    text = (await client.post(MESSAGES, json=ask(max_tokens=8))).json()["content"][0]["text"]
    stop = text.strip()[2:5]
    assert len(stop) == 3, text
    cut = (await client.post(MESSAGES, json=ask(max_tokens=8, stop_sequences=[stop]))).json()
    assert (cut["stop_reason"], cut["stop_sequence"]) == ("stop_sequence", stop)
    said = "".join(block["text"] for block in cut["content"])
    assert stop not in said and text.startswith(said)


async def test_a_forced_call_is_made_by_a_grammar_and_is_a_tool_use_block(
    make_client: MakeClient,
) -> None:
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    script = Script(pieces=(call[:20], call[20:]))
    client = await make_client(runner_factory=scripted(script))
    request = ask(
        model="tiny-tools",
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    message = (await client.post(MESSAGES, json=request)).json()
    grammar = script.requests[-1].grammar
    assert grammar is not None and '\\"get_weather\\"' in grammar  # the call, forced
    assert message["stop_reason"] == "tool_use", message
    [block] = message["content"]
    assert (block["type"], block["name"], block["input"]) == (
        "tool_use",
        "get_weather",
        {"city": "Oslo"},
    )
    events = sse(await client.post(MESSAGES, json={**request, "stream": True}))
    starts = [data["content_block"] for kind, data in events if kind == "content_block_start"]
    assert starts == [
        {"type": "tool_use", "id": starts[0]["id"], "name": "get_weather", "input": {}}
    ]
    [partial] = [
        data["delta"]["partial_json"]
        for kind, data in events
        if kind == "content_block_delta" and data["delta"]["type"] == "input_json_delta"
    ]
    assert json.loads(partial) == {"city": "Oslo"}


@pytest.fixture
def thinking_model(models: Path, tiny_model: Path, tmp_path: Path) -> str:
    build(Store(models), tmp_path / "src", "tiny-think", THINK_MODELFILE.format(model=tiny_model))
    return "tiny-think"


async def test_thinking_and_calls_come_back_as_their_blocks(
    make_client: MakeClient, thinking_model: str
) -> None:
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    script = Script(pieces=("<think>Cold ", "north.</think>", "Checking.", call))
    client = await make_client(runner_factory=scripted(script))
    request = ask(
        model=thinking_model,
        max_tokens=2048,
        tools=[WEATHER],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    message = (await client.post(MESSAGES, json=request)).json()
    kinds = [block["type"] for block in message["content"]]
    assert kinds == ["thinking", "text", "tool_use"], message
    assert message["content"][0]["thinking"] == "Cold north."
    assert message["content"][2]["input"] == {"city": "Oslo"}
    assert message["stop_reason"] == "tool_use"
    events = sse(await client.post(MESSAGES, json={**request, "stream": True}))
    deltas = [data["delta"]["type"] for kind, data in events if kind == "content_block_delta"]
    assert deltas[-1] == "input_json_delta" and "signature_delta" in deltas


async def test_thinking_reaches_the_template_and_earlier_thinking_is_cleared(
    make_client: MakeClient, thinking_model: str
) -> None:
    script = Script()
    client = await make_client(runner_factory=scripted(script))
    thought = {"type": "thinking", "thinking": "OLD-THOUGHT", "signature": "x"}
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [thought, {"type": "text", "text": "1"}]},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": [{**thought, "thinking": "NEW-THOUGHT"}]},
        {"role": "user", "content": "c"},
    ]
    await client.post(MESSAGES, json=ask(model=thinking_model, messages=messages))
    prompt = script.requests[-1].prompt
    assert "NEW-THOUGHT" in prompt and "OLD-THOUGHT" not in prompt


async def test_an_error_in_a_stream_is_an_error_event(make_client: MakeClient) -> None:
    crash = RunnerCrashedError("tiny:latest", "signal SIGSEGV")
    client = await make_client(runner_factory=scripted(Script(failure=crash)))
    events = sse(await client.post(MESSAGES, json=ask(stream=True)))
    kind, error = events[-1]
    assert kind == "error" and error["error"]["type"] == "api_error"
    assert "SIGSEGV" in error["error"]["message"]


@pytest.mark.parametrize(
    ("request_fields", "status", "kind", "says"),
    [
        ({"model": "nope"}, 404, "not_found_error", "'nope:latest' not found"),
        ({"container": "c1"}, 400, "invalid_request_error", "container: unknown field"),
        ({"max_tokens": -1}, 400, "invalid_request_error", "max_tokens"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "aGk=",
                                },
                            }
                        ],
                    }
                ]
            },
            400,
            "invalid_request_error",
            'messages.0.content.0: "tiny:latest" does not support vision',
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048},
            400,
            "invalid_request_error",
            "thinking: ",
        ),
        (
            {"messages": [{"role": "user", "content": "word " * 400}]},
            400,
            "invalid_request_error",
            "prompt is too long: ",
        ),
        ({"top_k": 2**40}, 400, "invalid_request_error", "top_k: "),
    ],
    ids=["unknown model", "unknown field", "max_tokens", "image", "thinking", "too long", "top_k"],
)
async def test_errors_are_anthropic_error_objects(
    make_client: MakeClient, request_fields: dict[str, Any], status: int, kind: str, says: str
) -> None:
    client = await make_client()
    response = await client.post(MESSAGES, json=ask(**request_fields))
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert says in body["error"]["message"]


async def test_effort_on_a_model_that_does_not_reason_is_no_error(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post(
        MESSAGES, json=ask(thinking={"type": "adaptive"}, output_config={"effort": "high"})
    )
    assert response.status_code == 200, response.text


async def test_x_api_key_is_a_key_and_refusals_are_anthropic_s(make_client: MakeClient) -> None:
    keys = (ApiKey(secret=SecretStr("sk-local"), scope="user"),)
    client = await make_client(security=SecuritySettings(api_keys=keys))
    refused = await client.post(MESSAGES, json=ask())
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    by_header = await client.post(MESSAGES, json=ask(), headers={"x-api-key": "sk-local"})
    assert by_header.status_code == 200, by_header.text
    wrong = await client.post(
        COUNT, json={"model": "tiny", "messages": HELLO}, headers={"x-api-key": "no"}
    )
    assert wrong.status_code == 401
