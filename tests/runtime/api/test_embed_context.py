"""Embeddings at the context's limit, and a ``num_ctx`` below Ollama's minimum, in
process over the tiny model (and SmolLM2 for one case): as Ollama, a long input is cut
by default, refused in Ollama's words with ``truncate: false``, and a ``num_ctx`` of 0 to
3 is raised to 4 on every endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.store.store import Store
from tests.fixtures.installed import require_bundled_model

from .conftest import MakeClient, build

pytestmark = pytest.mark.anyio

LONG = "hello world the world is " * 12
OLLAMA_WORDS = "the input length exceeds the context length"


async def test_a_long_input_is_cut_to_num_ctx_by_default(make_client: MakeClient) -> None:
    client = await make_client()
    options = {"num_ctx": 16}
    embed = {"model": "tiny", "input": LONG, "options": options}
    response = await client.post("/api/embed", json=embed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["prompt_eval_count"] == 16  # the BOS and 15 of the text's tokens
    older = {"model": "tiny", "prompt": LONG, "options": options}
    response = await client.post("/api/embeddings", json=older)
    assert response.status_code == 200, response.text
    assert response.json()["embedding"] == pytest.approx(body["embeddings"][0], abs=1e-5)


async def test_a_long_input_without_truncation_is_a_400_in_ollamas_words(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    embed = {"model": "tiny", "input": ["hello", LONG], "truncate": False}
    response = await client.post("/api/embed", json={**embed, "options": {"num_ctx": 16}})
    assert response.status_code == 400, response.text
    assert OLLAMA_WORDS in response.json()["error"]
    fits = await client.post("/api/embed", json={**embed, "input": "hello"})
    assert fits.status_code == 200, fits.text


async def test_num_ctx_below_4_is_raised_to_4_on_every_endpoint(make_client: MakeClient) -> None:
    client = await make_client()

    async def post(path: str, body: dict[str, Any], num_ctx: int) -> dict[str, Any]:
        response = await client.post(path, json={**body, "options": {"num_ctx": num_ctx}})
        assert response.status_code == 200, f"{path} {num_ctx}: {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    embedded = await post("/api/embed", {"model": "tiny", "input": LONG}, 0)
    assert embedded["prompt_eval_count"] == 4
    context = [model["context_length"] for model in (await client.get("/api/ps")).json()["models"]]
    assert context == [4]
    assert (await post("/api/embeddings", {"model": "tiny", "prompt": LONG}, 2))["embedding"]
    generated = await post(
        "/api/generate", {"model": "tiny", "prompt": LONG, "stream": False, "truncate": True}, 1
    )
    assert generated["done"]
    chat = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    chat["truncate"] = True  # the system prompt and turn take more than 4 tokens
    assert (await post("/api/chat", chat, 3))["done"]
    refused = await client.post("/api/embed", json={"model": "tiny", "options": {"num_ctx": -1}})
    assert refused.status_code == 400 and "num_ctx" in refused.json()["error"]


async def test_smollm2_cuts_or_refuses_a_long_input(make_client: MakeClient, models: Path) -> None:
    require_bundled_model("smollm2:135m")
    build(Store(models), models.parent / "src", "smol", "FROM smollm2:135m\n")
    client = await make_client()
    embed = {"model": "smol", "input": LONG, "options": {"num_ctx": 32}}
    response = await client.post("/api/embed", json=embed)
    assert response.status_code == 200, response.text
    assert response.json()["prompt_eval_count"] == 32  # SmolLM2 adds no BOS or EOS
    refused = await client.post("/api/embed", json={**embed, "truncate": False})
    assert refused.status_code == 400 and OLLAMA_WORDS in refused.json()["error"]
