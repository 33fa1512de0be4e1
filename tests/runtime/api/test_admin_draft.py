"""``/api/create`` with Ollama's draft fields: ``draft_files`` (the DRAFT's uploaded GGUF)
and ``draft_quantize``; the draft shows in ``/api/show``'s Modelfile."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.gguf.file import inspect_gguf
from builder.store import media_types
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildError
from modelfile import parse
from runtime.remote_create import create_request, hashed
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import MakeClient
from .test_admin_routes import digest_of, upload
from .test_live_server import live_server

pytestmark = pytest.mark.anyio


async def test_draft_files_become_the_draft_layer(
    make_client: MakeClient, models: Path, tmp_path: Path
) -> None:
    client = await make_client()
    draft = write_tiny_llama(tmp_path / "draft.gguf", seed=7, n_layer=1, name="draft")
    digest = await upload(client, draft)
    request = {"model": "drafted", "from": "tiny", "draft_files": {"draft.gguf": digest}}
    response = await client.post("/api/create", json=request | {"stream": False})
    assert response.status_code == 200, response.text
    image = Image.load(Store(models), ModelName.parse("drafted"))
    layers = image.stored.manifest.layers_of(media_types.DRAFT)
    assert [layer.digest for layer in layers] == [digest_of(draft)]
    assert image.config.model_extra == {"draft": {"model_format": "gguf", "architecture": "llama"}}
    shown = (await client.post("/api/show", json={"model": "drafted"})).json()
    assert f"#   DRAFT sha256-{digest.removeprefix('sha256:')}" in shown["modelfile"]


async def test_a_draft_of_another_vocabulary_is_refused_naming_the_token(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client()
    other = write_tiny_llama(tmp_path / "other.gguf", fim="text")  # 3 tokens replaced
    request = {"model": "mismatch", "from": "tiny", "stream": False}
    request["draft_files"] = {"other.gguf": await upload(client, other)}
    response = await client.post("/api/create", json=request)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "the draft's vocabulary is not the model's: token 381 is '<|fim_prefix|>'" in error
    names = [model["name"] for model in (await client.get("/api/tags")).json()["models"]]
    assert "mismatch:latest" not in names


@pytest.mark.parametrize(
    ("sent", "quantize", "says"),
    [
        ({"d.gguf": "gguf"}, "Q9_9", "draft_quantize: unknown quantization type 'Q9_9'"),
        ({"a.gguf": "gguf", "b.gguf": "gguf"}, None, "draft_files: ladle drafts with exactly one"),
        ({"notes.txt": "notes"}, None, "draft_files: notes.txt: ladle drafts with a GGUF"),
    ],
)
async def test_a_bad_draft_field_is_a_400_naming_it(
    make_client: MakeClient,
    tmp_path: Path,
    sent: dict[str, str],
    quantize: str | None,
    says: str,
) -> None:
    client = await make_client()
    notes = tmp_path / "notes.txt"
    notes.write_text("not weights")
    blobs = {"gguf": write_tiny_llama(tmp_path / "d.gguf", seed=3), "notes": notes}
    draft_files = {name: await upload(client, blobs[kind]) for name, kind in sent.items()}
    request = {"model": "refused", "from": "tiny", "stream": False, "draft_files": draft_files}
    response = await client.post("/api/create", json=request | {"draft_quantize": quantize})
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]


def test_a_remote_create_sends_the_draft_as_draft_files(tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "drafts").mkdir()
    draft = write_tiny_llama(tmp_path / "drafts" / "small.gguf", seed=2, n_layer=1)
    spec = parse("FROM tiny\nDRAFT drafts\n").validate()  # a folder holding one GGUF
    request, files = create_request(spec, tmp_path)
    assert request == {"from": "tiny", "draft_files": {"small.gguf": digest_of(draft)}}
    assert files == [hashed(draft)]
    spec = parse("FROM tiny\nDRAFT small-model\n").validate()
    with pytest.raises(BuildError, match="DRAFT small-model: no file or folder at"):
        create_request(spec, tmp_path)


def test_ladle_create_on_a_server_builds_the_draft_layer(built_store: Path, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "draft.gguf", seed=2, n_layer=1)
    (tmp_path / "Modelfile").write_text("FROM tiny\nDRAFT ./draft.gguf\n")
    with live_server(built_store, tmp_path / "server") as server:
        args = ("create", "remote-drafted", "-f", str(tmp_path / "Modelfile"))
        created = server.ladle(*args, "--host", server.url)
        assert created.returncode == 0, created.stderr
        image = Image.load(Store(server.models), ModelName.parse("remote-drafted"))
        quantized = server.ladle(*args, "--draft-quantize", "q8_0", "--host", server.url)
        assert quantized.returncode == 0, quantized.stderr
        smaller = Image.load(Store(server.models), ModelName.parse("remote-drafted"))
    assert image.draft is not None
    assert image.draft.read_bytes() == (tmp_path / "draft.gguf").read_bytes()
    assert smaller.draft is not None and inspect_gguf(smaller.draft).file_type == "Q8_0"
    assert smaller.model_path == image.model_path  # the model's weights are as they were
