"""KV cache type and flash attention end to end: the server setting, a Modelfile's
PARAMETER and a request's ``options`` choose them, ``/api/ps`` and ``/metrics`` show
them, and the combinations llama.cpp cannot make are a 400 naming the option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from builder.store.store import Store
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import MakeClient, build

pytestmark = pytest.mark.anyio

HEAD_32 = """\
FROM {model}
PARAMETER num_ctx 256
PARAMETER num_predict 2
"""


@pytest.fixture
def tiny_32(models: Path, tmp_path: Path) -> str:
    """``tiny32`` in the test's store: the tiny model with a head dimension of 32, which
    the 32-value blocks of q8_0 and q4_0 divide (the plain tiny model's is 16)."""
    gguf = write_tiny_llama(tmp_path / "tiny32.gguf", n_head=2, n_head_kv=1)
    build(Store(models), tmp_path / "src", "tiny32", HEAD_32.format(model=gguf))
    return "tiny32"


async def _generate(client: httpx.AsyncClient, model: str, **options: Any) -> httpx.Response:
    body = {"model": model, "prompt": "hello", "stream": False, "options": options}
    return await client.post("/api/generate", json=body)


async def _loaded(client: httpx.AsyncClient) -> dict[str, Any]:
    models = (await client.get("/api/ps")).json()["models"]
    assert len(models) == 1
    return dict(models[0])


async def test_request_options_choose_the_cache_and_a_change_reloads(
    make_client: MakeClient, tiny_32: str
) -> None:
    client = await make_client()
    assert (await _generate(client, tiny_32)).status_code == 200
    f16 = await _loaded(client)
    assert (f16["kv_cache_type"], f16["flash_attention"]) == ("f16", True)
    response = await _generate(client, tiny_32, kv_cache_type="q8_0")
    assert response.status_code == 200, response.text
    q8 = await _loaded(client)
    assert q8["kv_cache_type"] == "q8_0" and q8["flash_attention"] is True
    # 34 bytes per 32 values against 64: 53% (llama.cpp's own size, read from its log).
    assert 0 < q8["kv_cache_bytes"] <= 0.55 * f16["kv_cache_bytes"]
    metrics = (await client.get("/metrics")).text
    assert 'ladle_loaded_model_context_tokens{flash_attention="true",kv_cache_type="q8_0"' in (
        metrics
    )
    assert "ladle_kv_cache_bytes{" in metrics


async def test_the_server_setting_is_the_default(make_client: MakeClient, tiny_32: str) -> None:
    client = await make_client(kv_cache_type="q4_0", flash_attention="on")
    assert (await _generate(client, tiny_32)).status_code == 200
    loaded = await _loaded(client)
    assert (loaded["kv_cache_type"], loaded["flash_attention"]) == ("q4_0", True)


async def test_flash_attention_off_is_reported(make_client: MakeClient, tiny_32: str) -> None:
    client = await make_client()
    assert (await _generate(client, tiny_32, flash_attention=False)).status_code == 200
    assert (await _loaded(client))["flash_attention"] is False


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"kv_cache_type": "q3_k"}, "'f16', 'q8_0' or 'q4_0'"),
        ({"kv_cache_type": 8}, "kv_cache_type"),
        ({"flash_attention": "sometimes"}, "flash_attention"),
        ({"kv_cache_type": "q8_0", "flash_attention": False}, "needs flash attention"),
        ({"kv_cache_type": "q4_0"}, "head dimension (16)"),  # the plain tiny model's
    ],
)
async def test_a_cache_llama_cpp_cannot_make_is_a_400_naming_it(
    make_client: MakeClient, options: dict[str, Any], words: str
) -> None:
    client = await make_client()
    response = await _generate(client, "tiny", **options)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert words in error and next(iter(options)) in error
    assert (await client.get("/api/ps")).json()["models"] == []
