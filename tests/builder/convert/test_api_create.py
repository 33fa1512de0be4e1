"""``/api/create`` with a checkpoint's files, as ``ladle create --host`` (and Ollama's
client) uploads them: converted on the server, its progress in the stream, converted
once; a bad upload is a 400 naming the file as sent, before the stream starts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelfile
from builder.gguf.file import inspect_gguf
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import Settings
from runtime.api import create_app
from runtime.remote_create import create_request
from tests.builder.convert.test_lora import TARGETS, write_peft
from tests.builder.convert.tiny_checkpoint import write_convertible_checkpoint
from tests.builder.convert.tiny_models import write_tiny_model
from tests.fixtures.installed import smollm2_gguf

SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")

Post = Callable[[dict[str, Any]], Awaitable[httpx.Response]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(models=tmp_path / "models"))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:11434", timeout=120)
        )


async def _upload(client: httpx.AsyncClient, folder: Path) -> dict[str, str]:
    """The checkpoint's files sent as ``ladle create --host`` sends them; the ``files``."""
    spec = modelfile.parse(f"FROM {folder}\n").validate()
    request, files = create_request(spec, folder)
    for file in files:
        response = await client.post(f"/api/blobs/{file.digest}", content=file.path.read_bytes())
        assert response.status_code == 201, response.text
    sent: dict[str, str] = request["files"]
    return sent


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.mark.anyio
async def test_create_converts_the_uploaded_files_once(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    folder = write_convertible_checkpoint(tmp_path / "my-finetune", smollm2_gguf(), SHARDS)
    files = await _upload(client, folder)
    assert sorted(files) == sorted(
        [*SHARDS, "config.json", "tokenizer.json", "tokenizer_config.json"]
    )
    response = await client.post("/api/create", json={"model": "tuned", "files": files})
    assert response.status_code == 200, response.text
    lines = _lines(response)
    converting = [line for line in lines if line["status"] == "converting tuned to GGUF"]
    assert len(converting) > 10 and converting[-1]["completed"] == converting[-1]["total"]
    done = [line["completed"] for line in converting]
    assert done == sorted(done) and converting[0]["total"] == converting[-1]["total"]
    assert lines[-1] == {"status": "success"}
    store = Store(tmp_path / "models")
    image = Image.read(store, store.get(ModelName.parse("tuned")))
    info = inspect_gguf(image.model_path)
    assert (info.architecture, info.name, info.file_type) == ("llama", "tuned", "F32")
    again = _lines(await client.post("/api/create", json={"model": "tuned", "files": files}))
    assert [line["status"] for line in again if "GGUF" in line["status"]] == [
        "using the GGUF converted from tuned before"
    ]


@pytest.mark.anyio
async def test_a_bad_upload_is_a_400_naming_the_file(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    folder = write_convertible_checkpoint(tmp_path / "broken", smollm2_gguf(), SHARDS)
    shard = folder / SHARDS[1]
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated
    files = await _upload(client, folder)
    response = await client.post("/api/create", json={"model": "broken", "files": files})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(f"files: {SHARDS[1]}: tensor ") and "outside the file" in error
    assert str(tmp_path) not in error
    assert not list((tmp_path / "models").glob("manifests/**/broken"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../model.safetensors", "is not a file name in a checkpoint folder"),
        ("a/b/model.safetensors", "is not a file name in a checkpoint folder"),
        ("pytorch_model.bin", "pytorch_model.bin is a PyTorch pickle"),
        ("config.json/extra.json", "its name clashes with another file's"),
        ("model\x00.safetensors", "is not a file name in a checkpoint folder"),
    ],
)
async def test_file_names_are_checked(
    client: httpx.AsyncClient, tmp_path: Path, name: str, why: str
) -> None:
    digest = (await client.post("/api/blobs/" + _sha(b"x"), content=b"x")).status_code
    assert digest == 201
    files = {name: _sha(b"x"), "config.json": _sha(b"x"), "model.safetensors": _sha(b"x")}
    response = await client.post("/api/create", json={"model": "bad", "files": files})
    assert response.status_code == 400
    assert why in response.json()["error"]


def _sha(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.anyio
async def test_create_converts_an_uploaded_peft_adapter_for_its_base(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """``FROM ./base`` and ``ADAPTER ./lora`` (a checkpoint and a PEFT folder) sent as
    ``ladle create --host`` sends them: the server converts both, the LoRA for that base."""
    _, weights = write_tiny_model(tmp_path / "base", "llama")
    write_peft(tmp_path / "lora", weights, TARGETS["llama"])
    spec = modelfile.parse("FROM ./base\nADAPTER ./lora\n").validate()
    request, files = create_request(spec, tmp_path)
    assert sorted(request["adapters"]) == ["adapter_config.json", "adapter_model.safetensors"]
    for file in files:
        response = await client.post(f"/api/blobs/{file.digest}", content=file.path.read_bytes())
        assert response.status_code == 201, response.text
    response = await client.post("/api/create", json={"model": "tuned", **request})
    assert response.status_code == 200 and _lines(response)[-1] == {"status": "success"}
    store = Store(tmp_path / "models")
    image = Image.read(store, store.get(ModelName.parse("tuned")))
    (adapter,) = image.adapter_paths
    info = inspect_gguf(adapter)
    assert (info.general_type, info.adapter_type, info.architecture) == ("adapter", "lora", "llama")
    no_weights = {"adapter_config.json": request["adapters"]["adapter_config.json"]}
    refused = await client.post(
        "/api/create", json={"model": "x", "files": request["files"], "adapters": no_weights}
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == (
        "adapters: adapter_model.safetensors is missing: a PEFT adapter needs it"
    )
