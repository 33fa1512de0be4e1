"""Prompt caches end to end: hits counted in ``/api/ps`` and ``/metrics``, a runner's
caches saved in ``LADLE_CACHE_DIR`` when it unloads and read back by the next one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

HISTORY = "you are a helpful bot and the world is hello " * 6


async def _generate(client: httpx.AsyncClient, prompt: str, **fields: Any) -> dict[str, Any]:
    body = {"model": "tiny", "prompt": prompt, "raw": True, "stream": False, **fields}
    response = await client.post("/api/generate", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _hits(client: httpx.AsyncClient) -> dict[str, Any]:
    [model] = (await client.get("/api/ps")).json()["models"]
    return dict(model["prompt_cache"])


async def test_hits_are_counted_and_caches_survive_an_unload(
    make_client: MakeClient, tmp_path: Path
) -> None:
    folder = tmp_path / "prompt-cache"
    client = await make_client(cache_dir=folder)
    await _generate(client, HISTORY, options={"num_predict": 1})
    turn = await _generate(client, HISTORY + " it is")
    assert turn["prompt_cached_count"] > 16
    assert await _hits(client) == {
        "memory": 1, "shared": 0, "disk": 0, "tokens_saved": turn["prompt_cached_count"]
    }  # fmt: skip

    await _generate(client, "", keep_alive=0)  # unload: the runner saves its caches
    assert (await client.get("/api/ps")).json()["models"] == []
    assert len(list(folder.rglob("*.kvcache"))) == 1

    again = await _generate(client, HISTORY + " it is")
    assert again["prompt_cached_count"] > 16
    assert (await _hits(client))["disk"] == 1
    metrics = (await client.get("/metrics")).text
    assert 'ladle_prompt_cache_hits_total{source="memory"} 1.0' in metrics
    assert 'ladle_prompt_cache_hits_total{source="disk"} 1.0' in metrics


async def test_a_cap_of_zero_saves_nothing(make_client: MakeClient, tmp_path: Path) -> None:
    folder = tmp_path / "prompt-cache"
    client = await make_client(cache_dir=folder, cache_max=0)
    await _generate(client, HISTORY, options={"num_predict": 1})
    await _generate(client, "", keep_alive=0)
    assert not folder.exists()
