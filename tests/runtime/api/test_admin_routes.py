"""The routes that change the store, over the tiny model: blob uploads, create from an
uploaded GGUF or an existing model, pull of a bundled model, push that fails cleanly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.installed import require_bundled_model

from .conftest import MakeClient

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
