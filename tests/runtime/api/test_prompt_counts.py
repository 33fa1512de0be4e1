"""Prompt counts with the prompt cache, in process over the tiny model: a repeated
request counts its whole prompt both times (``prompt_eval_count``, OpenAI's
``usage.prompt_tokens``) and says how much of it came from the cache
(``prompt_cached_count``, ``usage.prompt_tokens_details.cached_tokens``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "hello world, the world is"}]


async def test_a_repeated_generate_counts_its_whole_prompt_both_times(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    request = {"model": "tiny", "prompt": "hello world the world is", "stream": False}
    first = (await client.post("/api/generate", json=request)).json()
    second = (await client.post("/api/generate", json=request)).json()
    assert first["prompt_eval_count"] == second["prompt_eval_count"] > 1
    assert first["prompt_cached_count"] == 0
    assert second["prompt_cached_count"] == second["prompt_eval_count"] - 1  # all but the last
    assert second["prompt_eval_duration"] > 0  # the time spent on the token evaluated


async def test_a_streamed_chat_ends_with_both_counts(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny", "messages": MESSAGES}
    finals = []
    for _ in range(2):
        response = await client.post("/api/chat", json=request)
        finals.append(json.loads(response.text.splitlines()[-1]))
    first, second = finals
    assert first["done"] and second["done"]
    assert first["prompt_eval_count"] == second["prompt_eval_count"]
    assert (first["prompt_cached_count"], second["prompt_cached_count"]) == (
        0,
        second["prompt_eval_count"] - 1,
    )


async def test_openai_usage_counts_the_whole_prompt_and_the_cached_part(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    request: dict[str, Any] = {"model": "tiny", "messages": MESSAGES, "max_tokens": 4}
    first = (await client.post("/v1/chat/completions", json=request)).json()["usage"]
    second = (await client.post("/v1/chat/completions", json=request)).json()["usage"]
    assert first["prompt_tokens"] == second["prompt_tokens"] > 1
    assert first["prompt_tokens_details"] == {"cached_tokens": 0}
    assert second["prompt_tokens_details"] == {"cached_tokens": second["prompt_tokens"] - 1}
    assert second["total_tokens"] == second["prompt_tokens"] + second["completion_tokens"]
    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    events = (await client.post("/v1/chat/completions", json=streamed)).text.split("\n\n")
    usage = json.loads(events[-3].removeprefix("data: "))["usage"]  # before [DONE]
    assert usage["prompt_tokens"] == first["prompt_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == first["prompt_tokens"] - 1
    completion = {"model": "tiny", "prompt": "hello world", "max_tokens": 2}
    for _ in range(2):
        text_usage = (await client.post("/v1/completions", json=completion)).json()["usage"]
    assert text_usage["prompt_tokens_details"]["cached_tokens"] == text_usage["prompt_tokens"] - 1
