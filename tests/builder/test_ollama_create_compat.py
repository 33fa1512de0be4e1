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
import shutil
from pathlib import Path
from typing import Any

import gguf
import pytest

import modelfile
from builder.gguf.file import inspect_gguf
from builder.pipeline.build import build_spec
from builder.pipeline.plan import plan
from builder.pipeline.resolver import CheckpointBase, Resolver
from builder.store import media_types
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildError, InvalidFieldError
from runtime.api.admin import CreateBody, create_spec
from runtime.remote_create import create_request
from tests.builder.convert.tiny_checkpoint import write_convertible_checkpoint
from tests.conftest import load_fixture_json
from tests.fixtures.installed import smollm2_gguf
from tests.fixtures.tiny_gguf import write_tiny_llama

KINDS = ("create_request_fs", "files_for_model")
CASES: list[dict[str, Any]] = [
    case
    for case in load_fixture_json("ollama", "ollama_parser_cases.json")
    if case["kind"] in KINDS
]

NEEDS: dict[str, str] = {}
"""Cases that need a feature ladle does not have yet: strict xfails."""

_NO_PICKLES = (
    "PyTorch checkpoints (pytorch_model*.bin, consolidated*.pth) are refused, naming the file: "
    "they are pickles, and loading one runs any code it carries (docs/modelfile.md)"
)
DELIBERATE = {
    "create_request_files_two_from_merge": (
        "several FROM lines give one model and at most one projector (docs/modelfile.md, "
        "difference 8); two models are refused, naming both, where Ollama merges the files "
        "of every FROM that names a local file"
    ),
    "files_for_model: gguf files": (
        "a FROM folder of GGUF weights sends the GGUF alone: a GGUF carries its own config and "
        "tokenizer, and ladle's /api/create builds from exactly one file"
    ),
    "files_for_model: bin files as gguf": (
        "a FROM folder of GGUF weights sends the GGUF alone, as for *.gguf"
    ),
    "files_for_model: pytorch model files": _NO_PICKLES,
    "files_for_model: consolidated pth files": _NO_PICKLES,
    # Ollama refuses a pytorch_model.bin that is not a zip archive (an unfetched git LFS
    # pointer); ladle refuses every pytorch_model*.bin, by its name.
    "files_for_model: invalid content type for pytorch model": _NO_PICKLES,
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


def _draft_served_and_built(request: dict[str, Any], draft: Path, tmp_path: Path) -> None:
    """A DRAFT request as ladle's /api/create takes it: FROM the image ``base`` on the
    server, the uploaded draft becomes the image's draft layer, the very file sent."""
    store = Store(tmp_path / "server")
    base = write_tiny_llama(tmp_path / "base.gguf", name="base")
    build_spec(modelfile.parse(f"FROM {base}").validate(), ModelName.parse("base"), store, tmp_path)
    (digest,) = request["draft_files"].values()
    assert store.put_bytes(draft.read_bytes()) == digest
    spec = create_spec(CreateBody.model_validate({"model": "compat", **request}), store)
    assert spec.draft == str(store.blob_path(digest))
    build_spec(spec, ModelName.parse("compat"), store, store.root)
    image = Image.load(store, ModelName.parse("compat"))
    assert image.draft == store.blob_path(digest)
    assert [layer.digest for layer in image.stored.manifest.layers_of(media_types.DRAFT)] == [
        digest
    ]


def test_a_local_build_refuses_a_draft_at_the_path_of_from(tmp_path: Path) -> None:
    """Ollama's rule holds for ``ladle create`` on this machine as well as for the
    request it sends a server."""
    model = write_tiny_llama(tmp_path / "model.gguf")
    spec = modelfile.parse("FROM ./model.gguf\nDRAFT model.gguf\n").validate()
    wanted = "DRAFT must not reference the same local path as FROM"
    with pytest.raises(BuildError, match=wanted):
        plan(spec, ModelName.parse("compat"), Resolver(Store(tmp_path / "models"), tmp_path))
    assert model.is_file()


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
    if case["name"] == "create_request_files_two_from_merge":  # DELIBERATE: one model
        with pytest.raises(BuildError, match="one model and at most one projector") as error:
            create_request(spec, folder)
        assert "n1.gguf" in str(error.value) and "n2.gguf" in str(error.value)
        return
    if case["expect"] == "error":
        with pytest.raises(BuildError, match=re.escape(case["error_contains"])):
            create_request(spec, folder)
        return
    request, files = create_request(spec, folder)
    sources = {file.path.name: file.path for file in files}
    match case["name"]:
        case "create_request_draft_files":
            draft = folder / "draft.gguf"
            assert request == {"from": "base", "draft_files": {"draft.gguf": _digest(draft)}}
            _draft_served_and_built(request, draft, tmp_path)
            return
        case "create_request_files_single_gguf":
            n1 = tmp_path / "n1.gguf"
            assert request == {"files": {"n1.gguf": _digest(n1)}}  # and no "from"
        case name:
            raise AssertionError(f"no check written for {name!r}")
    _served_and_built(request, sources, tmp_path)


# -- files_for_model: what a FROM folder gives ----------------------------------------


@pytest.mark.parametrize("case", _cases("files_for_model"))
def test_files_for_model(case: dict[str, Any], tmp_path: Path) -> None:
    if DELIBERATE.get(case["name"]) is _NO_PICKLES:
        _refuses_pickles(case["setup"]["files"], tmp_path)
        return
    if any(name.endswith(".safetensors") for name in case["setup"]["files"]):
        _checkpoint_case(case, tmp_path)
        return
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


# -- files_for_model: Hugging Face checkpoints, converted by the server ---------------

CHECKPOINT_REFUSALS = {
    "files_for_model: safetensors sentence transformers module weights": (
        "files: 2_Dense/model.safetensors is a sentence-transformers module's weights"
    ),
    "files_for_model: safetensors with consolidated files - prefers model files": (
        "files: tokenizer.json is missing: the model's tokenizer is needed"
    ),
    "files_for_model: safetensors without model-.safetensors files - uses consolidated": (
        "files: tokenizer.json is missing: the model's tokenizer is needed"
    ),
}
"""Checkpoint cases whose files the server cannot convert: Ollama's cases check only
what the client picks; the server refuses these with a 400 before the stream starts."""


def _write_checkpoint(files: dict[str, str], folder: Path, tmp_path: Path) -> Path:
    """The case's files, real where a conversion reads them: the weights (the top-level
    ``model*.safetensors``, else ``consolidated*.safetensors``) deal out a tiny random
    Llama's tensors, ``config.json`` and ``tokenizer.json`` are that model's; the rest
    hold the case's placeholders."""
    top = [name for name in files if name.endswith(".safetensors") and "/" not in name]
    shards = tuple(n for n in top if n.startswith("model")) or tuple(top)
    real = write_convertible_checkpoint(tmp_path / "real", smollm2_gguf(), shards)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if (real / name).is_file() and (name in shards or not name.endswith(".safetensors")):
            shutil.copyfile(real / name, path)
        else:
            path.write_bytes(PLACEHOLDERS.get(content, content.encode("utf-8")))
    return folder


def _checkpoint_case(case: dict[str, Any], tmp_path: Path) -> None:
    """The client sends Ollama's pick; the server converts it (or refuses it, naming the
    file as sent) to the same tensors as converting the folder where it is."""
    folder = _write_checkpoint(case["setup"]["files"], tmp_path / "model", tmp_path)
    request, _ = create_request(modelfile.parse(f"FROM {folder}\n").validate(), tmp_path)
    assert request == {"files": {name: _digest(folder / name) for name in case["want_files"]}}
    store = Store(tmp_path / "server")
    for name, digest in request["files"].items():
        assert store.put_bytes((folder / name).read_bytes()) == digest
    body = CreateBody.model_validate({"model": "compat", **request})
    if case["name"] in CHECKPOINT_REFUSALS:
        with pytest.raises(InvalidFieldError) as caught:
            create_spec(body, store)
        assert str(caught.value).startswith(CHECKPOINT_REFUSALS[case["name"]])
        assert str(tmp_path) not in str(caught.value)  # no server path in the answer
        return
    build_spec(create_spec(body, store), ModelName.parse("compat"), store, store.root)
    served = Image.read(store, store.get(ModelName.parse("compat"))).model_path
    local = Resolver(Store(tmp_path / "models"), tmp_path).resolve(str(folder))
    assert isinstance(local, CheckpointBase)
    assert local.inputs == {k: v for k, v in request["files"].items() if k in local.inputs}
    assert inspect_gguf(served).name == "compat"
    assert _tensor_bytes(served) == _tensor_bytes(local.path)


def _tensor_bytes(path: Path) -> dict[str, bytes]:
    return {t.name: bytes(t.data.tobytes()) for t in gguf.GGUFReader(path).tensors}


def _refuses_pickles(files: dict[str, str], tmp_path: Path) -> None:
    """A folder of PyTorch pickles: the client, a local build and the server (given the
    files by another client) each refuse it, naming a pickle."""
    folder = _write_files(files, tmp_path / "model")
    spec = modelfile.parse(f"FROM {folder}\n").validate()
    pickle = next(name for name in sorted(files) if name.endswith((".bin", ".pth")))
    wanted = f"{pickle} is a PyTorch pickle; ladle does not load pickles"
    with pytest.raises(BuildError, match=re.escape(wanted)):
        create_request(spec, tmp_path)
    with pytest.raises(BuildError, match=re.escape(f"PyTorch pickles ({pickle})")):
        Resolver(Store(tmp_path / "models"), tmp_path).resolve(str(folder))
    store = Store(tmp_path / "server")
    sent = {name: store.put_bytes((folder / name).read_bytes()) for name in files}
    body = CreateBody.model_validate({"model": "compat", "files": sent})
    with pytest.raises(InvalidFieldError, match=re.escape(f"files: {wanted}")):
        create_spec(body, store)
