"""Ollama's ``shift`` field on ``/api/generate`` and ``/api/chat``, and ``/v1`` at the
context's end, over the tiny model with a 64-token context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.store.store import Store

from .conftest import MakeClient, build

pytestmark = pytest.mark.anyio

N_CTX = 64
OPTIONS = {"num_ctx": N_CTX, "num_predict": 120, "ignore_eos": True}


async def _post(make_client: MakeClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    client = await make_client()
    response = await client.post(path, json={"model": "tiny", "stream": False, **body})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("shift", [{}, {"shift": None}, {"shift": True}])
async def test_generate_shifts_past_the_context_end_by_default(
    make_client: MakeClient, shift: dict[str, Any]
) -> None:
    body = {"prompt": "hello", "options": OPTIONS, **shift}
    answer = await _post(make_client, "/api/generate", body)
    assert answer["done_reason"] == "length"  # num_predict's
    assert answer["eval_count"] == 120 > N_CTX - answer["prompt_eval_count"]
    assert len(answer["context"]) == answer["prompt_eval_count"] + 120


async def test_shift_false_ends_generate_and_chat_at_the_context_end(
    make_client: MakeClient,
) -> None:
    body = {"prompt": "hello", "options": OPTIONS, "shift": False}
    answer = await _post(make_client, "/api/generate", body)
    assert answer["done_reason"] == "length"
    assert answer["prompt_eval_count"] + answer["eval_count"] == N_CTX + 1
    chat = {"messages": [{"role": "user", "content": "hello"}], "options": OPTIONS}
    shifted = await _post(make_client, "/api/chat", chat)
    assert shifted["eval_count"] == 120
    stopped = await _post(make_client, "/api/chat", {**chat, "shift": False})
    assert stopped["done_reason"] == "length"
    assert stopped["prompt_eval_count"] + stopped["eval_count"] == N_CTX + 1


async def test_shift_must_be_a_boolean(make_client: MakeClient) -> None:
    client = await make_client()
    body = {"model": "tiny", "prompt": "hello", "shift": "sometimes"}
    response = await client.post("/api/generate", json=body)
    assert response.status_code == 400
    assert "shift" in response.json()["error"]


async def test_v1_ends_at_the_context_end_with_finish_reason_length(
    make_client: MakeClient, models: Path, tiny_model: Path, tmp_path: Path
) -> None:
    modelfile = f"FROM {tiny_model}\nPARAMETER num_ctx {N_CTX}\nPARAMETER temperature 0\n"
    build(Store(models), tmp_path / "src", "tiny64", modelfile)
    client = await make_client()
    body = {"model": "tiny64", "prompt": "hello", "max_tokens": 120}
    response = await client.post("/v1/completions", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["choices"][0]["finish_reason"] == "length"
    usage = answer["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == N_CTX + 1
