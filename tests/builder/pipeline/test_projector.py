"""Projector layers: a second FROM or a folder's mmproj becomes Ollama's projector layer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.pipeline.build import build_file
from builder.pipeline.lockfile import lock_path
from builder.pipeline.projector_file import read_projector
from builder.store import media_types
from builder.store.diff import diff_images
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import BuildInputError
from tests.fixtures.tiny_projector import write_tiny_projector


@pytest.fixture
def projector(workdir: Path) -> Path:
    return write_tiny_projector(workdir / "mmproj.gguf")


def _build(folder: Path, store: Store, text: str, name: str = "vision") -> Image:
    path = folder / f"{name}.Modelfile"
    path.write_text(text, encoding="utf-8")
    build_file(path, name, store)
    return Image.load(store, ModelName.parse(name))


def _projector_layers(image: Image) -> list[str]:
    return [layer.digest for layer in image.stored.manifest.layers_of(media_types.PROJECTOR)]


@pytest.mark.parametrize(
    "modelfile",
    ["FROM ./tiny.gguf\nFROM ./mmproj.gguf\n", "FROM ./mmproj.gguf\nFROM ./tiny.gguf\n"],
)
def test_a_second_from_gives_the_projector_layer(
    workdir: Path, store: Store, projector: Path, modelfile: str
) -> None:
    image = _build(workdir, store, modelfile)
    [digest] = _projector_layers(image)
    assert store.read_blob(digest) == projector.read_bytes()
    assert image.model_path.read_bytes() == (workdir / "tiny.gguf").read_bytes()
    lock = json.loads(lock_path(workdir / "vision.Modelfile").read_text())
    assert lock["projector"] == {"./mmproj.gguf": digest}
    assert lock["from"]["reference"] == "./tiny.gguf"


def test_a_folder_with_a_model_and_its_mmproj(workdir: Path, store: Store, projector: Path) -> None:
    folder = workdir / "llava"
    folder.mkdir()
    shutil.copy(workdir / "tiny.gguf", folder / "model.gguf")
    shutil.copy(projector, folder / "mmproj-model-f16.gguf")
    image = _build(workdir, store, "FROM ./llava\n")
    [digest] = _projector_layers(image)
    assert store.read_blob(digest) == projector.read_bytes()


def test_an_image_built_from_it_keeps_the_projector(
    workdir: Path, store: Store, projector: Path
) -> None:
    base = _build(workdir, store, "FROM ./tiny.gguf\nFROM ./mmproj.gguf\n", "base")
    child = _build(workdir, store, "FROM base\nSYSTEM look closely\n", "child")
    assert _projector_layers(child) == _projector_layers(base)
    plain = _build(workdir, store, "FROM ./tiny.gguf\n", "plain")
    [projector_digest] = _projector_layers(child)
    assert f"+projector  {projector_digest}" in diff_images(plain, child).text()


def test_a_projector_of_the_wrong_width_names_both_widths(workdir: Path, store: Store) -> None:
    write_tiny_projector(workdir / "wide.gguf", n_embd_text=96)
    with pytest.raises(BuildInputError, match=r"96 wide.*embedding width is 64"):
        _build(workdir, store, "FROM ./tiny.gguf\nFROM ./wide.gguf\n")


def test_two_models_are_refused(workdir: Path, store: Store) -> None:
    shutil.copy(workdir / "tiny.gguf", workdir / "other.gguf")
    with pytest.raises(BuildInputError, match=r"one model.*\./tiny\.gguf, \./other\.gguf"):
        _build(workdir, store, "FROM ./tiny.gguf\nFROM ./other.gguf\n")


def test_the_projector_file_is_read_from_its_header(projector: Path) -> None:
    read = read_projector(projector)
    assert read is not None
    assert (read.projector_type, read.output_width) == ("mlp", 64)
    assert read_projector(projector.with_name("tiny.gguf")) is None


def test_the_image_says_vision_and_shows_its_projector(
    workdir: Path, store: Store, projector: Path
) -> None:
    image = _build(workdir, store, "FROM ./tiny.gguf\nFROM ./mmproj.gguf\n")
    assert image.projector is not None
    assert image.capabilities[:2] == ("completion", "vision")
    assert f"FROM {image.projector}\n" in image.modelfile()
    assert "vision" not in _build(workdir, store, "FROM ./tiny.gguf\n", "plain").capabilities
