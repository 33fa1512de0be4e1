"""OpenAI's ``/v1`` routes over the tiny model, in process: objects, server-sent events,
usage, the field mapping onto the service, and OpenAI's error object."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import httpx
import openai
import pytest

from .conftest import BASE_URL, MakeClient

pytestmark = pytest.mark.anyio

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hello"}]


def events(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of a server-sent event stream, ``[DONE]`` as a string."""
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("\n\n")
    payloads = [block.removeprefix("data: ") for block in response.text.split("\n\n") if block]
    return [payload if payload == "[DONE]" else json.loads(payload) for payload in payloads]


async def test_chat_completion_is_an_openai_object(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post(CHAT, json={"model": "tiny", "messages": USER})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["model"] == "tiny"
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] == "length"  # the image's num_predict 8
    usage = body["usage"]
    assert usage["completion_tokens"] == 8 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_chat_streams_sse_ending_with_done_and_usage(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "messages": USER, "max_tokens": 5}
    whole = (await client.post(CHAT, json=request)).json()
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    *chunks, done = events(await client.post(CHAT, json=streamed))
    assert done == "[DONE]"
    *pieces, usage = chunks
    assert {chunk["id"] for chunk in chunks} == {chunks[0]["id"]}
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert pieces[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(piece["choices"][0]["delta"].get("content", "") for piece in pieces)
    assert text == whole["choices"][0]["message"]["content"]  # temperature 0
    assert pieces[-1]["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5
    assert all(piece["usage"] is None for piece in pieces)


async def test_a_stream_without_include_usage_has_no_usage(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "messages": USER, "stream": True}
    *chunks, done = events(await client.post(CHAT, json=request))
    assert done == "[DONE]" and all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_completions_continue_a_prompt(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "prompt": "hello", "max_tokens": 3, "stop": "\n"}
    body = (await client.post("/v1/completions", json=request)).json()
    assert body["id"].startswith("cmpl-") and body["object"] == "text_completion"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] <= 3
    *chunks, done = events(
        await client.post("/v1/completions", json={**request, "stop": None, "stream": True})
    )
    assert done == "[DONE]" and all(chunk["object"] == "text_completion" for chunk in chunks)
    assert "".join(chunk["choices"][0]["text"] for chunk in chunks)


async def test_json_schema_response_format_constrains_the_answer(make_client: MakeClient) -> None:
    client = await make_client()
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    request = {"model": "tiny", "messages": USER, "max_tokens": 40, "response_format": fmt}
    body = (await client.post(CHAT, json=request)).json()
    choice = body["choices"][0]
    assert choice["message"]["content"].lstrip().startswith("{")
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"])["a"], int)


async def test_embeddings_as_floats_and_base64(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "input": ["hello", "world"]}
    body = (await client.post("/v1/embeddings", json=request)).json()
    assert body["object"] == "list" and body["usage"]["prompt_tokens"] > 0
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert body["data"][0]["object"] == "embedding"
    vector = body["data"][0]["embedding"]
    encoded = await client.post(
        "/v1/embeddings", json={**request, "input": "hello", "encoding_format": "base64"}
    )
    raw = base64.b64decode(encoded.json()["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(vector, abs=1e-6)


async def test_models_list_and_retrieve(make_client: MakeClient) -> None:
    client = await make_client()
    listed = (await client.get("/v1/models")).json()
    assert listed["object"] == "list"
    assert sorted(model["id"] for model in listed["data"]) == ["tiny-tools:latest", "tiny:latest"]
    assert all(m["object"] == "model" and m["owned_by"] == "library" for m in listed["data"])
    found = (await client.get("/v1/models/tiny:latest")).json()
    assert found["id"] == "tiny:latest" and isinstance(found["created"], int)
    qualified = await client.get("/v1/models/registry.ollama.ai/library/tiny:latest")
    assert qualified.json()["id"] == "tiny:latest"


def test_openai_messages_become_the_templates() -> None:
    from runtime.api.openai import ChatCompletionBody

    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
    body = ChatCompletionBody(
        model="tiny",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "content": "2", "tool_call_id": "c1"},
        ],
        max_completion_tokens=7,
        stop="x",
        response_format={"type": "json_object"},
    )
    chat = body.to_chat()
    assert chat.messages[0]["content"] == "hi"
    assert chat.messages[1]["tool_calls"][0]["function"]["arguments"] == {"x": 1}
    assert chat.format == "json"
    assert chat.options is not None
    assert chat.options["num_predict"] == 7 and chat.options["stop"] == "x"


CALL_WITHOUT_FUNCTION = [{"role": "assistant", "content": "", "tool_calls": [{"id": "1"}]}]

V1_ERRORS = [
    ({"model": "nope", "messages": USER}, 404, "'nope:latest' not found", None),
    ({"model": "tiny", "messages": USER, "n": 2}, 400, "n must be 1", "n"),
    ({"model": "tiny", "messages": []}, 400, "messages", "messages"),
    ({"model": "tiny", "messages": USER, "temperature": -1}, 400, "temperature", "temperature"),
    ({"model": "tiny", "messages": USER, "max_tokens": -5}, 400, "num_predict", "max_tokens"),
    (
        {"model": "tiny", "messages": USER, "response_format": {"type": "yaml"}},
        400,
        "type",
        "response_format.type",
    ),
    ({"model": "tiny", "messages": USER, "tools": [{}]}, 400, "tools", "tools"),
    (
        {"model": "tiny", "messages": CALL_WITHOUT_FUNCTION},
        400,
        "a call needs a function",
        "messages[0].tool_calls",
    ),
    ({"messages": USER}, 400, "model", "model"),
]


@pytest.mark.parametrize(("body", "status", "says", "param"), V1_ERRORS)
async def test_errors_are_openai_error_objects(
    make_client: MakeClient, body: dict[str, Any], status: int, says: str, param: str | None
) -> None:
    client = await make_client()
    for stream in (True, False):
        response = await client.post(CHAT, json={**body, "stream": stream})
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert says in error["message"] and error["type"] == "invalid_request_error"
        assert error["param"] == param  # the field at fault, as OpenAI names it


async def test_the_openai_client_reads_the_field_at_fault(make_client: MakeClient) -> None:
    """The official client, unchanged, exposes ``param`` on its ``BadRequestError``."""
    http = await make_client()
    client = openai.AsyncOpenAI(base_url=f"{BASE_URL}/v1", api_key="unused", http_client=http)
    with pytest.raises(openai.BadRequestError) as hot:
        await client.chat.completions.create(model="tiny", messages=USER, temperature=-1)
    assert hot.value.param == "temperature" and hot.value.status_code == 400
    with pytest.raises(openai.BadRequestError) as empty:
        await client.chat.completions.create(model="tiny", messages=[])
    assert empty.value.param == "messages"
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="nope", messages=USER)
    assert missing.value.param is None


async def test_unknown_models_and_paths_are_openai_404s(make_client: MakeClient) -> None:
    client = await make_client()
    for path in ("/v1/models/nope", "/v1/nothing"):
        response = await client.get(path)
        assert response.status_code == 404
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
