"""Ollama's filesystem cases of its Modelfile parser, run through ladle's builder.

Ollama's ``Modelfile.CreateRequest(relativeDir)`` (``parser/parser.go``) makes the body
of ``/api/create`` from a Modelfile: a FROM, ADAPTER or DRAFT that names a local file or
folder becomes ``files``, ``adapters`` or ``draft_files``, each file mapped to its
``sha256:`` digest, and a folder gives the files ``filesForModel`` picks from it. The
``create_request_fs`` cases (tests/fixtures/ollama/ollama_parser_cases.json) check that
request; the ``files_for_model`` cases check the pick.

In ladle that request is made by :func:`runtime.remote_create.create_request` (``ladle
create --host``; its keys are file names, which is what Ollama's client sends once it
has uploaded the files) and read by ``/api/create`` (:func:`runtime.api.admin.create_spec`),
whose spec the builder plans and builds. Each passing case is followed that far: the
request, the spec the server makes of it, the plan's model layer, and the image whose
weights are the very file the request named.

GGUF files are tiny models written by tests/fixtures/tiny_gguf.py: Ollama's cases use a
header with no tensors, or 512 arbitrary bytes, which ladle's planner refuses. A case
that needs what ladle lacks is a strict xfail naming it (:data:`NEEDS`), so that it
fails, and is moved out of the list, the day the feature lands. A case ladle answers
differently on purpose is in :data:`DELIBERATE` with the reason (docs/modelfile.md,
"Where ladle differs from Ollama").
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

import modelfile
from builder.pipeline.build import build_spec
from builder.pipeline.plan import plan
from builder.pipeline.resolver import Resolver
from builder.store import media_types
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildError
from runtime.api.admin import CreateBody, create_spec
from runtime.remote_create import create_request
from tests.conftest import load_fixture_json
from tests.fixtures.tiny_gguf import write_tiny_llama

KINDS = ("create_request_fs", "files_for_model")
CASES: list[dict[str, Any]] = [
    case
    for case in load_fixture_json("ollama", "ollama_parser_cases.json")
    if case["kind"] in KINDS
]

_DRAFT = "needs DRAFT layers (a draft model for speculative decoding): not built yet"
_SAFETENSORS = "needs safetensors import (a Hugging Face folder converted to GGUF): not built yet"
_PYTORCH = "needs PyTorch import (pytorch_model*.bin, consolidated*.pth): not built yet"
NEEDS = {
    "create_request_draft_files": _DRAFT,
    "create_request_draft_rejects_same_file": _DRAFT,
    "create_request_draft_rejects_same_directory": _DRAFT,
    "files_for_model: safetensors model files": _SAFETENSORS,
    "files_for_model: safetensors with both tokenizer.json and tokenizer.model": _SAFETENSORS,
    "files_for_model: safetensors sentence transformers module weights": _SAFETENSORS,
    "files_for_model: safetensors with consolidated files - prefers model files": _SAFETENSORS,
    "files_for_model: safetensors without model-.safetensors files - uses consolidated": (
        _SAFETENSORS
    ),
    "files_for_model: pytorch model files": _PYTORCH,
    "files_for_model: consolidated pth files": _PYTORCH,
    # Ollama refuses a pytorch_model.bin that is not a zip archive (an unfetched git LFS
    # pointer); ladle refuses the folder too, but only because it finds no GGUF in it.
    "files_for_model: invalid content type for pytorch model": _PYTORCH,
}
"""Cases that need a feature ladle does not have yet: strict xfails."""

DELIBERATE = {
    "create_request_files_two_from_merge": (
        "several FROM lines: the last one counts (docs/modelfile.md, difference 8); Ollama "
        "merges the files of every FROM that names a local file"
    ),
    "files_for_model: gguf files": (
        "a FROM folder of GGUF weights sends the GGUF alone: a GGUF carries its own config and "
        "tokenizer, and ladle's /api/create builds from exactly one file"
    ),
    "files_for_model: bin files as gguf": (
        "a FROM folder of GGUF weights sends the GGUF alone, as for *.gguf"
    ),
    "files_for_model: no model files found": (
        "ladle's message says what it looked for (a GGUF), since it imports nothing else; "
        "Ollama's names Modelfiles and safetensors"
    ),
}
"""Cases ladle answers differently on purpose, and why."""

OCTETS = "<512 bytes: byte(i%256)>"
"""Ollama's stand-in for a file of binary weights (``application/octet-stream``)."""
PLACEHOLDERS = {
    OCTETS: bytes(i % 256 for i in range(512)),
    "<512 zero bytes>": bytes(512),
    "<bytes 50 4B 03 04>": bytes.fromhex("504B0304"),  # a zip archive's magic
}


def _cases(kind: str) -> list[Any]:
    return [
        pytest.param(
            case,
            id=case["name"],
            marks=[pytest.mark.xfail(strict=True, reason=NEEDS[case["name"]])]
            if case["name"] in NEEDS
            else [],
        )
        for case in CASES
        if case["kind"] == kind
    ]


def test_every_case_is_run() -> None:
    assert len(CASES) == 16
    assert set(NEEDS) | set(DELIBERATE) <= {case["name"] for case in CASES}
    assert not set(NEEDS) & set(DELIBERATE)


def _is_gguf(name: str, content: str) -> bool:
    """The files that stand for GGUF weights: ``*.gguf``, and a ``*.bin`` of octets."""
    return name.endswith(".gguf") or (name.endswith(".bin") and content == OCTETS)


def _write_files(files: dict[str, str], folder: Path) -> Path:
    """The case's ``setup.files`` in ``folder``; GGUF weights as tiny models."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if _is_gguf(name, content):
            write_tiny_llama(path, name=path.stem)
        else:
            path.write_bytes(PLACEHOLDERS.get(content, content.encode("utf-8")))
    return folder


def _digest(path: Path) -> str:
    """``sha256:<hex>`` of the file's bytes, as Ollama's ``digestForFile`` writes it."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _served_and_built(request: dict[str, Any], sources: dict[str, Path], tmp_path: Path) -> None:
    """``request`` as ladle's /api/create takes it, once its files are uploaded: the spec
    names the uploaded GGUF, the plan imports it, and the image's weights are its bytes."""
    store = Store(tmp_path / "server")
    for name, digest in request["files"].items():
        assert store.put_bytes(sources[name].read_bytes()) == digest
    spec = create_spec(CreateBody.model_validate({"model": "compat", **request}), store)
    (name, digest), *_ = request["files"].items()
    assert spec.from_ == str(store.blob_path(digest))
    planned = plan(spec, ModelName.parse("compat"), Resolver(store, store.root))
    model = planned.layers[0]
    assert model.media_type == media_types.MODEL and model.weights is not None
    assert (model.weights.paths, model.size) == ((spec.from_,), sources[name].stat().st_size)
    build_spec(spec, ModelName.parse("compat"), store, store.root)
    layers = store.get(ModelName.parse("compat")).manifest.layers_of(media_types.MODEL)
    assert [layer.digest for layer in layers] == [digest]


# -- create_request_fs: the request a Modelfile makes ---------------------------------


def _create_request_setup(case: dict[str, Any], tmp_path: Path) -> tuple[Path, str]:
    """The folder the Modelfile is in, and its text with the GGUF paths filled in."""
    folder = tmp_path / "project"
    folder.mkdir()
    _write_files(case["setup"].get("files", {}), folder)
    text = case["input"]
    for line in case["setup"].get("gguf", []):
        label = line.split(":")[0]
        path = write_tiny_llama(tmp_path / f"{label}.gguf", name=label)
        text = text.replace(f"<abs path {label}>", str(path)).replace(f"<{label}>", str(path))
    relative_dir = folder if case["relative_dir"] == "<tmpdir>" else tmp_path / "elsewhere"
    return relative_dir, text


@pytest.mark.parametrize("case", _cases("create_request_fs"))
def test_create_request(case: dict[str, Any], tmp_path: Path) -> None:
    folder, text = _create_request_setup(case, tmp_path)
    spec = modelfile.parse(text).validate()
    if case["expect"] == "error":
        with pytest.raises(BuildError, match=re.escape(case["error_contains"])):
            create_request(spec, folder)
        return
    request, files = create_request(spec, folder)
    sources = {file.path.name: file.path for file in files}
    match case["name"]:
        case "create_request_draft_files":
            draft = folder / "draft.gguf"
            assert request["from"] == "base"
            assert request["draft_files"] == {"draft.gguf": _digest(draft)}
            return
        case "create_request_files_single_gguf":
            n1 = tmp_path / "n1.gguf"
            assert request == {"files": {"n1.gguf": _digest(n1)}}  # and no "from"
        case "create_request_files_two_from_merge":  # DELIBERATE: the last FROM counts
            n2 = tmp_path / "n2.gguf"
            assert request == {"files": {"n2.gguf": _digest(n2)}}
            assert _digest(tmp_path / "n1.gguf") != _digest(n2)
        case name:
            raise AssertionError(f"no check written for {name!r}")
    _served_and_built(request, sources, tmp_path)


# -- files_for_model: what a FROM folder gives ----------------------------------------


@pytest.mark.parametrize("case", _cases("files_for_model"))
def test_files_for_model(case: dict[str, Any], tmp_path: Path) -> None:
    folder = _write_files(case["setup"]["files"], tmp_path / "model")
    spec = modelfile.parse(f"FROM {folder}\n").validate()
    if case["expect"] == "error":
        with pytest.raises(BuildError) as caught:
            create_request(spec, tmp_path)
        wanted = case["error_contains"]
        if case["name"] in DELIBERATE:  # ladle says what it looked for
            wanted = f"the folder {folder} holds no GGUF file"
        assert wanted in str(caught.value)
        with pytest.raises(BuildError, match=re.escape(wanted)):  # the local build too
            Resolver(Store(tmp_path / "models"), tmp_path).resolve(str(folder))
        return
    request, _ = create_request(spec, tmp_path)
    wanted = case["want_files"]
    if case["name"] in DELIBERATE:  # the GGUF alone
        wanted = [name for name in wanted if _is_gguf(name, case["setup"]["files"][name])]
    assert sorted(request["files"]) == sorted(wanted)
    assert request["files"] == {name: _digest(folder / name) for name in wanted}
    assert "from" not in request
    picked = Resolver(Store(tmp_path / "models"), tmp_path).resolve(str(folder))
    assert [getattr(picked, "path", None)] == [folder / name for name in wanted]
    _served_and_built(request, {name: folder / name for name in wanted}, tmp_path)
