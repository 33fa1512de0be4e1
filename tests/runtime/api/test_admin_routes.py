"""The routes that change the store, over the tiny model: blob uploads, create from an
uploaded GGUF or an existing model, pull of a bundled model, push that fails cleanly."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import Settings
from runtime.api import create_app
from tests.fixtures.installed import require_bundled_model
from tests.fixtures.tiny_gguf import write_tiny_llama, write_tiny_lora

from .conftest import BASE_URL, TEST_TIMEOUT_S, MakeClient

pytestmark = pytest.mark.anyio


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def digest_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


async def upload(client: httpx.AsyncClient, path: Path) -> str:
    digest = digest_of(path)
    response = await client.post(f"/api/blobs/{digest}", content=path.read_bytes())
    assert response.status_code == 201, response.text
    return digest


async def test_a_blob_is_uploaded_and_then_present(
    make_client: MakeClient, tiny_model: Path
) -> None:
    client = await make_client()
    digest = digest_of(tiny_model)
    assert (await client.head(f"/api/blobs/{digest}")).status_code in (200, 404)
    await upload(client, tiny_model)
    assert (await client.head(f"/api/blobs/{digest}")).status_code == 200


async def test_a_blob_that_does_not_hash_to_its_digest_is_refused(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    digest = "sha256:" + hashlib.sha256(b"other bytes").hexdigest()
    response = await client.post(f"/api/blobs/{digest}", content=b"these bytes")
    assert response.status_code == 400
    assert "does not hash" in response.json()["error"]
    assert (await client.head(f"/api/blobs/{digest}")).status_code == 404
    wrong = "sha256:" + hashlib.sha256(b"these bytes").hexdigest()
    assert (await client.head(f"/api/blobs/{wrong}")).status_code == 404


async def test_a_blob_over_the_size_cap_is_refused(make_client: MakeClient) -> None:
    client = await make_client(security={"max_blob_bytes": 4})
    digest = "sha256:" + hashlib.sha256(b"too many bytes").hexdigest()
    response = await client.post(f"/api/blobs/{digest}", content=b"too many bytes")
    assert response.status_code == 413
    assert (await client.head(f"/api/blobs/{digest}")).status_code == 404


async def test_a_bad_digest_is_a_400(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await client.head("/api/blobs/sha256:nothex")).status_code == 400


async def test_create_from_an_uploaded_gguf(make_client: MakeClient, tiny_model: Path) -> None:
    client = await make_client()
    digest = await upload(client, tiny_model)
    request = {
        "model": "uploaded",
        "files": {"tiny.gguf": digest},
        "system": "You are uploaded.",
        "parameters": {"num_ctx": 128, "temperature": 0.5, "stop": ["<end>"]},
    }
    response = await client.post("/api/create", json=request)
    assert response.status_code == 200, response.text
    statuses = [line["status"] for line in lines(response)]
    assert statuses[-1] == "success"
    names = [model["name"] for model in (await client.get("/api/tags")).json()["models"]]
    assert "uploaded:latest" in names
    shown = (await client.post("/api/show", json={"model": "uploaded"})).json()
    assert shown["system"] == "You are uploaded."
    assert "num_ctx" in shown["parameters"] and "128" in shown["parameters"]
    assert "<end>" in shown["parameters"]


async def test_a_file_is_a_gguf_by_its_name_or_its_bytes(
    make_client: MakeClient, tiny_model: Path, tmp_path: Path
) -> None:
    """As Ollama's server tells them (``detectModelTypeFromFile``): ``model.bin`` holding
    a GGUF is built from; other bytes under any name but ``*.gguf`` are refused."""
    client = await make_client()
    gguf = await upload(client, tiny_model)
    notes = tmp_path / "notes.txt"
    notes.write_text("not weights")
    text = await upload(client, notes)
    request = {"model": "bin", "files": {"model.bin": gguf}, "stream": False}
    assert (await client.post("/api/create", json=request)).status_code == 200
    for files in ({"notes.bin": text}, {"model.bin": gguf, "config.json": text}):
        response = await client.post("/api/create", json={"model": "x", "files": files})
        assert response.status_code == 400, response.text
        assert "GGUF file" in response.json()["error"]


async def test_create_from_an_existing_model_without_streaming(make_client: MakeClient) -> None:
    client = await make_client()
    request = {"model": "tiny-pirate", "from": "tiny", "system": "Arr.", "stream": False}
    response = await client.post("/api/create", json=request)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success"}
    shown = (await client.post("/api/show", json={"model": "tiny-pirate"})).json()
    assert shown["system"] == "Arr."
    assert "num_predict" in shown["parameters"]  # inherited from tiny


async def test_create_from_an_unknown_model_is_a_404(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post("/api/create", json={"model": "x", "from": "no-such-model"})
    assert response.status_code == 404
    assert "no-such-model" in response.json()["error"]


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"files": {"a.gguf": "sha256:" + "0" * 64}}, 400),  # not uploaded
        ({"from": "tiny", "parameters": {"temperature": -1}}, 400),
        ({"from": "tiny", "parameters": {"no_such_parameter": 1}}, 400),
        ({}, 400),  # neither from nor files
        ({"from": "/etc/passwd"}, 400),  # a path on the server is not a model name
    ],
)
async def test_create_refuses_a_bad_request_before_streaming(
    make_client: MakeClient, fields: dict[str, Any], status: int
) -> None:
    client = await make_client()
    response = await client.post("/api/create", json={"model": "bad", **fields})
    assert response.status_code == status, response.text
    assert "error" in response.json()


# -- create: quantize, and the fields Ollama's clients send ------------------------------


@pytest.fixture
async def ollama_client(models: Path) -> AsyncIterator[ollama.AsyncClient]:
    """The official ``ollama`` client, unchanged, on an in-process app over :func:`models`."""
    app = create_app(Settings(models=models))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        yield ollama.AsyncClient(host=BASE_URL, transport=transport, timeout=TEST_TIMEOUT_S)


@pytest.fixture(scope="module")
def tiny_q8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with Q8_0 weights: quantized already."""
    return write_tiny_llama(tmp_path_factory.mktemp("q8") / "tiny-q8.gguf", file_type="Q8_0")


def quantization_of(models: Path, name: str) -> str:
    return Image.load(Store(models), ModelName.parse(name)).config.file_type


async def test_the_older_quantization_field_quantizes(
    make_client: MakeClient, models: Path
) -> None:
    """Ollama's Go client may send ``quantization`` (CreateRequest's deprecated field)."""
    client = await make_client()
    request = {"model": "old-q8", "from": "tiny", "quantization": "q8_0", "stream": False}
    response = await client.post("/api/create", json=request)
    assert response.status_code == 200, response.text
    assert quantization_of(models, "old-q8") == "Q8_0"
    shown = (await client.post("/api/show", json={"model": "old-q8"})).json()
    assert shown["details"]["quantization_level"] == "Q8_0"
    again = {"model": "twice", "from": "old-q8", "quantization": "Q4_0"}
    refused = await client.post("/api/create", json={**again, "stream": False})
    assert refused.status_code == 400, refused.text
    assert "quantized already (Q8_0)" in refused.json()["error"]
    streamed = await client.post("/api/create", json=again)  # the plan runs in the stream
    assert "quantized already" in lines(streamed)[-1]["error"]


async def test_the_ollama_client_s_quantize_refusals_are_400s(
    ollama_client: ollama.AsyncClient, tiny_q8: Path
) -> None:
    digest = await ollama_client.create_blob(tiny_q8)
    files = {"tiny-q8.gguf": digest}
    with pytest.raises(ollama.ResponseError) as requantize:
        await ollama_client.create(model="requantized", files=files, quantize="q4_0")
    assert requantize.value.status_code == 400
    assert "quantized already (Q8_0)" in requantize.value.error
    with pytest.raises(ollama.ResponseError) as unknown:
        stream = await ollama_client.create(model="x", files=files, quantize="Q9_9", stream=True)
        [part async for part in stream]
    assert unknown.value.status_code == 400  # refused before the stream starts
    assert "quantize: unknown quantization type 'Q9_9'" in unknown.value.error
    done = await ollama_client.create(model="as-is", files=files, quantize="Q8_0")
    assert done.status == "success"  # its type already: nothing to do


async def test_quantize_and_quantization_may_agree_but_not_differ(
    make_client: MakeClient, tiny_q8: Path, models: Path
) -> None:
    client = await make_client()
    files = {"tiny-q8.gguf": await upload(client, tiny_q8)}
    same = {"model": "same", "files": files, "quantize": "Q8_0", "quantization": "q8_0"}
    agreed = await client.post("/api/create", json={**same, "stream": False})
    assert agreed.status_code == 200, agreed.text
    assert quantization_of(models, "same") == "Q8_0"
    differ = {**same, "model": "differ", "quantization": "Q4_0"}
    refused = await client.post("/api/create", json=differ)
    assert refused.status_code == 400
    message = refused.json()["error"]
    assert "quantize 'Q8_0' and quantization 'Q4_0' differ" in message


async def test_the_older_name_field_and_the_modelfile_s_config_fields(
    make_client: MakeClient, models: Path
) -> None:
    """``name`` is ``model``'s older spelling (the Go client always sends it, empty when
    ``model`` is set); ``renderer``, ``parser`` and ``requires`` reach the image."""
    client = await make_client()
    request = {"name": "by-name", "from": "tiny", "stream": False}
    assert (await client.post("/api/create", json=request)).status_code == 200
    fields = {"renderer": "qwen3-coder", "parser": "qwen3", "requires": "0.12.0"}
    go_client = {"model": "configured", "name": "", "from": "tiny", "stream": False, **fields}
    response = await client.post("/api/create", json=go_client)
    assert response.status_code == 200, response.text
    config = Image.load(Store(models), ModelName.parse("configured")).config
    assert (config.renderer, config.parser, config.requires) == tuple(fields.values())
    names = [model["name"] for model in (await client.get("/api/tags")).json()["models"]]
    assert {"by-name:latest", "configured:latest"} <= set(names)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"quantize": "Q9_9"}, "quantize: unknown quantization type 'Q9_9'"),
        ({"quantization": "nope"}, "quantization: unknown quantization type 'nope'"),
        ({"draft_files": {"d.gguf": "sha256:" + "0" * 64}}, "draft_files: d.gguf: blob"),
        ({"draft_quantize": "Q4_0"}, "draft_quantize: needs a draft model (draft_files)"),
        ({"remote_host": "ollama.com"}, "remote_host: ladle builds"),
        ({"info": {"model_family": "x"}}, "info: ladle reads a model's facts"),
        ({"temperature": 0.5}, "temperature: unknown field"),  # not under parameters
        ({"modelfile": "FROM tiny"}, "modelfile: unknown field"),  # Ollama's pre-0.5 field
    ],
)
async def test_create_names_a_field_it_does_not_take(
    make_client: MakeClient, fields: dict[str, Any], says: str
) -> None:
    client = await make_client()
    request = {"model": "refused", "from": "tiny", **fields}
    response = await client.post("/api/create", json=request)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    names = [model["name"] for model in (await client.get("/api/tags")).json()["models"]]
    assert "refused:latest" not in names


async def test_empty_fields_are_fields_not_given(make_client: MakeClient) -> None:
    """As Ollama reads them (``cmp.Or``, ``omitempty``): nothing to refuse or quantize."""
    client = await make_client()
    empty = {"quantize": "", "quantization": "", "draft_quantize": "", "remote_host": ""}
    request = {"model": "plain", "from": "tiny", "stream": False, **empty, "draft_files": {}}
    response = await client.post("/api/create", json=request)
    assert response.status_code == 200, response.text


async def test_pull_of_a_bundled_model_streams_progress(make_client: MakeClient) -> None:
    require_bundled_model("smollm2:135m")
    client = await make_client()
    response = await client.post("/api/pull", json={"model": "smollm2:135m"})
    assert response.status_code == 200, response.text
    pieces = lines(response)
    assert all("error" not in piece for piece in pieces), pieces
    assert len(pieces) >= 2 and pieces[-1] == {"status": "success"}
    names = [model["name"] for model in (await client.get("/api/tags")).json()["models"]]
    assert "smollm2:135m" in names


async def test_push_to_an_unreachable_registry_ends_with_an_error(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    target = "127.0.0.1:9/me/tiny:latest"  # the discard port: nothing listens
    copied = await client.post("/api/copy", json={"source": "tiny", "destination": target})
    assert copied.status_code == 200, copied.text
    response = await client.post("/api/push", json={"model": target, "insecure": True})
    assert response.status_code == 200
    last = lines(response)[-1]
    assert "127.0.0.1:9" in last["error"]
    assert "Traceback" not in last["error"]


async def test_push_of_a_missing_model_is_a_404(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.post("/api/push", json={"model": "127.0.0.1:9/me/none"})
    assert response.status_code == 404


async def test_an_unreachable_registry_is_a_bad_gateway(make_client: MakeClient) -> None:
    from .test_live_server import free_port

    client = await make_client()
    name = f"127.0.0.1:{free_port()}/me/nothing"  # a closed loopback port: refused at once
    whole = await client.post("/api/pull", json={"model": name, "stream": False})
    assert whole.status_code == 502 and "127.0.0.1" in whole.json()["error"]
    streamed = await client.post("/api/pull", json={"model": name})
    assert streamed.status_code == 200
    assert "error" in json.loads(streamed.text.splitlines()[-1])


@pytest.mark.parametrize("target", ["tiny", "hf.co/me/tiny"])
async def test_push_to_ollamas_or_hugging_faces_registry_is_a_bad_request(
    make_client: MakeClient, target: str
) -> None:
    client = await make_client()
    if target != "tiny":
        await client.post("/api/copy", json={"source": "tiny", "destination": target})
    response = await client.post("/api/push", json={"model": target, "stream": False})
    assert response.status_code == 400
    assert "copy the image to a name on your registry" in response.json()["error"]


async def test_inputs_that_cannot_make_an_image_are_a_400(
    make_client: MakeClient, tiny_model: Path, tmp_path: Path
) -> None:
    client = await make_client()
    lora = tmp_path / "lora.gguf"
    write_tiny_lora(lora)
    adapter, model = await upload(client, lora), await upload(client, tiny_model)
    mistakes = [
        ({"files": {"lora.gguf": adapter}}, "is an adapter, not a model"),
        ({"files": {"tiny.gguf": model}, "adapters": {"tiny.gguf": model}}, "not a LoRA"),
        ({"from": "./nowhere.gguf"}, "nowhere.gguf"),
    ]
    for fields, words in mistakes:
        request = {"model": "wrong", "stream": False, **fields}
        response = await client.post("/api/create", json=request)
        assert response.status_code == 400, (fields, response.text)
        assert words in response.json()["error"], response.text
