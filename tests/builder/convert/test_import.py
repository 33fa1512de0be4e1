"""``FROM <checkpoint folder>`` in a Modelfile: converted once, cached by the files'
digests, locked file by file, quantized like any F32 GGUF."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from builder.convert import imported
from builder.gguf.file import inspect_gguf
from builder.pipeline.build import build_file
from builder.pipeline.options import BuildOptions
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent
from builder.store.store import Store
from ladle.errors import BuildError
from tests.builder.convert.conftest import Export
from tests.builder.convert.tiny_checkpoint import tensor_shapes, write_convertible_checkpoint
from tests.fixtures.installed import smollm2_gguf


def _project(tmp_path: Path, checkpoint: Path, text: str = "FROM ./smollm2-hf\n") -> Path:
    """A Modelfile beside a link to ``checkpoint``; returns the Modelfile's path."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "smollm2-hf").symlink_to(checkpoint, target_is_directory=True)
    modelfile = project / "Modelfile"
    modelfile.write_text(text, encoding="utf-8")
    return modelfile


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _image(store: Store, name: str) -> Image:
    return Image.read(store, store.get(ModelName.parse(name)))


def test_from_a_checkpoint_folder_builds_an_image(
    smollm2_export: Export, store: Store, tmp_path: Path
) -> None:
    modelfile = _project(tmp_path, smollm2_export.folder)
    build_file(modelfile, "smol", store)
    image = _image(store, "smol")
    info = inspect_gguf(image.model_path)
    assert (info.architecture, info.file_type, info.name) == ("llama", "F32", "smollm2-hf")
    assert image.config.model_family == "llama"
    assert image.template is not None and "<|im_start|>" in image.template
    lock = json.loads((tmp_path / "project" / "Modelfile.lock").read_text())
    base = lock["from"]
    assert (base["kind"], base["source"]) == ("checkpoint", "smollm2-hf")
    assert base["digest"] == _digest(image.model_path)
    names = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert base["files"] == {name: _digest(smollm2_export.folder / name) for name in names}


def test_a_second_create_converts_nothing(
    smollm2_export: Export, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modelfile = _project(tmp_path, smollm2_export.folder)
    first = build_file(modelfile, "smol", store)

    def refuse(*args: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(imported, "write_gguf", refuse)
    assert build_file(modelfile, "smol-again", store, lock="locked") == first


def test_locked_refuses_a_changed_tokenizer_file(
    smollm2_export: Export, store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "copy" / "smollm2-hf"
    folder.mkdir(parents=True)
    for file in smollm2_export.folder.iterdir():  # the weights linked, the rest copied
        (os.link if file.suffix == ".safetensors" else shutil.copy)(file, folder / file.name)
    modelfile = _project(tmp_path, folder)
    build_file(modelfile, "smol", store)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}{{ m.content }}{% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(BuildError, match=r"tokenizer_config\.json"):
        build_file(modelfile, "smol", store, lock="locked")
    build_file(modelfile, "smol", store)  # converted again, with the new template
    assert _image(store, "smol").template == config["chat_template"]


def test_quantize_applies_to_the_converted_weights(
    smollm2_export: Export, store: Store, tmp_path: Path
) -> None:
    modelfile = _project(tmp_path, smollm2_export.folder)
    build_file(modelfile, "smol-q8", store, options=BuildOptions(quantize="q8_0"))
    image = _image(store, "smol-q8")
    assert inspect_gguf(image.model_path).file_type == "Q8_0"
    assert image.config.file_type == "Q8_0"
    lock = json.loads((tmp_path / "project" / "Modelfile.lock").read_text())
    assert lock["quantize"] == {"type": "Q8_0", "digest": _digest(image.model_path)}
    assert (
        lock["from"]["kind"] == "checkpoint"
        and lock["from"]["digest"] != lock["quantize"]["digest"]
    )


def test_the_conversion_reports_its_progress(store: Store, tmp_path: Path) -> None:
    """What ``ladle create`` draws as a bar: bytes of tensors written, of all, rising to
    the total; a second build says the conversion came from the cache."""
    folder = write_convertible_checkpoint(tmp_path / "tuned", smollm2_gguf())
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM ./tuned\n", encoding="utf-8")
    events: list[ProgressEvent] = []
    build_file(modelfile, "tuned", store, progress=events.append)
    converting = [e for e in events if e.status == "converting tuned to GGUF"]
    done = [event.completed for event in converting]
    assert len(done) == len(tensor_shapes(json.loads((folder / "config.json").read_text())))
    assert done == sorted(done) and done[-1] == converting[0].total > 0
    events.clear()
    build_file(modelfile, "tuned", store, progress=events.append)
    statuses = [event.status for event in events]
    assert "using the GGUF converted from tuned before" in statuses
    assert not [status for status in statuses if status.startswith("converting")]
