"""``context`` on ``/api/generate`` and ``logprobs`` on the generation routes, in process
over the tiny model (greedy, so that the same request gives the same tokens)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

OPTIONS = {"temperature": 0, "seed": 7, "repeat_penalty": 1.0, "num_predict": 6}
GENERATE: dict[str, Any] = {
    "model": "tiny",
    "prompt": "hello world",
    "stream": False,
    "options": OPTIONS,
}
CHAT: dict[str, Any] = {
    "model": "tiny",
    "messages": [{"role": "user", "content": "hello world"}],
    "stream": False,
    "options": OPTIONS,
}


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


def check_ollama_logprobs(entries: list[dict[str, Any]], top: int) -> None:
    for entry in entries:
        assert entry["logprob"] <= 0 and isinstance(entry["token"], str)
        assert entry["bytes"] and all(0 <= b < 256 for b in entry["bytes"])
        alternatives = entry.get("top_logprobs", [])
        assert len(alternatives) == top
        values = [alternative["logprob"] for alternative in alternatives]
        assert values == sorted(values, reverse=True)
        if top:  # greedy, no penalty: the likeliest token is the one drawn
            assert alternatives[0]["logprob"] == entry["logprob"]
            assert alternatives[0]["token"] == entry["token"]


async def test_a_context_continues_the_conversation_from_the_cache(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    first = (await client.post("/api/generate", json=GENERATE)).json()
    context = first["context"]
    assert context and first["prompt_eval_count"] < len(context)
    follow_up = {**GENERATE, "prompt": "and then", "context": context}
    second = (await client.post("/api/generate", json=follow_up)).json()
    assert second["context"][: len(context)] == context
    assert second["prompt_cached_count"] >= len(context) - 1
    assert second["prompt_eval_count"] > len(context)
    fresh = await make_client()  # another server: nothing cached
    alone = (await fresh.post("/api/generate", json=follow_up)).json()
    assert alone["prompt_cached_count"] == 0
    assert alone["response"] == second["response"]
    assert alone["prompt_eval_count"] == second["prompt_eval_count"]
    streamed = await client.post("/api/generate", json={**follow_up, "stream": True})
    pieces = lines(streamed)
    assert pieces[-1]["context"] == second["context"]
    assert not any("context" in piece for piece in pieces[:-1])


@pytest.mark.parametrize(
    "body",
    [
        {"context": [-1]},
        {"context": [1, 10**7]},
        {"context": ["a"]},
        {"context": [1, 2], "raw": True},
    ],
)
async def test_a_bad_context_is_a_400_naming_it(
    make_client: MakeClient, body: dict[str, Any]
) -> None:
    client = await make_client()
    response = await client.post("/api/generate", json={**GENERATE, **body})
    assert response.status_code == 400
    assert "context" in response.json()["error"]


async def test_a_raw_answer_has_no_context(make_client: MakeClient) -> None:
    client = await make_client()
    answer = (await client.post("/api/generate", json={**GENERATE, "raw": True})).json()
    assert "context" not in answer


@pytest.mark.parametrize(("path", "body"), [("/api/generate", GENERATE), ("/api/chat", CHAT)])
async def test_logprobs_on_the_ollama_routes(
    make_client: MakeClient, path: str, body: dict[str, Any]
) -> None:
    client = await make_client()
    whole = (await client.post(path, json={**body, "logprobs": True, "top_logprobs": 3})).json()
    assert len(whole["logprobs"]) == whole["eval_count"] > 0
    check_ollama_logprobs(whole["logprobs"], 3)
    streamed = lines(
        await client.post(path, json={**body, "stream": True, "logprobs": True, "top_logprobs": 3})
    )
    assert [e for piece in streamed for e in piece.get("logprobs", [])] == whole["logprobs"]
    plain = (await client.post(path, json={**body, "logprobs": True})).json()
    check_ollama_logprobs(plain["logprobs"], 0)
    assert "logprobs" not in (await client.post(path, json=body)).json()


@pytest.mark.parametrize("top", [-1, 21, "many"])
@pytest.mark.parametrize(("path", "body"), [("/api/generate", GENERATE), ("/api/chat", CHAT)])
async def test_top_logprobs_outside_0_to_20_is_a_400_naming_it(
    make_client: MakeClient, path: str, body: dict[str, Any], top: Any
) -> None:
    client = await make_client()
    response = await client.post(path, json={**body, "logprobs": True, "top_logprobs": top})
    assert response.status_code == 400 and "top_logprobs" in response.json()["error"]


async def test_logprobs_on_v1_chat_completions(make_client: MakeClient) -> None:
    client = await make_client()
    request = {
        "model": "tiny",
        "messages": CHAT["messages"],
        "max_tokens": 6,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 2,
    }
    whole = (await client.post("/v1/chat/completions", json=request)).json()
    content = whole["choices"][0]["logprobs"]["content"]
    assert len(content) == whole["usage"]["completion_tokens"]
    for entry in content:
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        assert entry["logprob"] <= 0 and len(entry["top_logprobs"]) == 2
    events = (await client.post("/v1/chat/completions", json={**request, "stream": True})).text
    chunks = [json.loads(e.removeprefix("data: ")) for e in events.split("\n\n")[:-2] if e]
    streamed = [
        entry
        for chunk in chunks
        for entry in ((chunk["choices"][0]["logprobs"] or {}).get("content") or [])
    ]
    assert streamed == content
    plain = (await client.post("/v1/chat/completions", json={**request, "logprobs": None})).json()
    assert plain["choices"][0]["logprobs"] is None
    bad = await client.post("/v1/chat/completions", json={**request, "top_logprobs": 21})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "top_logprobs"


async def test_logprobs_on_v1_completions_in_the_legacy_shape(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "prompt": "hello", "max_tokens": 5, "temperature": 0}
    whole = (await client.post("/v1/completions", json={**request, "logprobs": 3})).json()
    choice = whole["choices"][0]
    logprobs = choice["logprobs"]
    n = whole["usage"]["completion_tokens"]
    assert len(logprobs["tokens"]) == len(logprobs["token_logprobs"]) == n
    assert len(logprobs["top_logprobs"]) == len(logprobs["text_offset"]) == n
    assert all(len(top) <= 3 for top in logprobs["top_logprobs"])
    offsets = [0]
    for token in logprobs["tokens"][:-1]:
        offsets.append(offsets[-1] + len(token))
    assert logprobs["text_offset"] == offsets
    assert (await client.post("/v1/completions", json=request)).json()["choices"][0][
        "logprobs"
    ] is None
    bad = await client.post("/v1/completions", json={**request, "logprobs": 21})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "logprobs"
