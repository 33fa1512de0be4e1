"""Ollama's ``truncate`` field on ``/api/generate`` and ``/api/chat``: a prompt longer
than the context is cut with ``"truncate": true`` and refused otherwise (Ollama cuts by
default; ladle says so instead of answering without the conversation's start)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

N_CTX = 64
OPTIONS = {"num_ctx": N_CTX, "num_predict": 4}
LONG = " ".join(f"word{i}" for i in range(200))
BODIES = {
    "/api/generate": {"prompt": LONG},
    "/api/chat": {"messages": [{"role": "user", "content": LONG}]},
}


@pytest.mark.parametrize("path", list(BODIES))
async def test_truncate_true_cuts_a_long_prompt(make_client: MakeClient, path: str) -> None:
    client = await make_client()
    body = {"model": "tiny", "stream": False, "options": OPTIONS, **BODIES[path]}
    response = await client.post(path, json={**body, "truncate": True})
    assert response.status_code == 200, response.text
    assert response.json()["prompt_eval_count"] < N_CTX


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize("truncate", [{}, {"truncate": None}, {"truncate": False}])
async def test_a_long_prompt_is_refused_unless_truncation_is_asked(
    make_client: MakeClient, path: str, truncate: dict[str, Any]
) -> None:
    client = await make_client()
    body = {"model": "tiny", "stream": False, "options": OPTIONS, **BODIES[path], **truncate}
    response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "the input length exceeds the context length" in error
    assert '"truncate": true' in error and "num_ctx" in error


async def test_truncate_must_be_a_boolean(make_client: MakeClient) -> None:
    client = await make_client()
    body = {"model": "tiny", "prompt": "hello", "truncate": "sometimes"}
    response = await client.post("/api/generate", json=body)
    assert response.status_code == 400
    assert "truncate" in response.json()["error"]
