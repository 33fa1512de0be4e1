"""A vision image (model + projector layer) pushed and pulled keeps its digest."""

from __future__ import annotations

import shutil
from pathlib import Path

from builder.distribution import pull_model, push_model
from builder.pipeline.build import build_file
from builder.store import media_types
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import Settings
from tests.fixtures.registry import RegistryServer
from tests.fixtures.tiny_projector import write_tiny_projector


def test_a_projector_layer_survives_push_and_pull(
    registry: RegistryServer, store: Store, settings: Settings, tmp_path: Path, tiny_model: Path
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(tiny_model, folder / "tiny.gguf")
    projector = write_tiny_projector(folder / "mmproj.gguf")
    (folder / "Modelfile").write_text("FROM ./tiny.gguf\nFROM ./mmproj.gguf\n")
    name = f"{registry.host}/me/vision:1"
    built = build_file(folder / "Modelfile", name, store, lock="off")
    assert push_model(name, store, settings, lambda event: None) == built

    other = Store(tmp_path / "elsewhere")
    assert pull_model(name, other, settings, lambda event: None) == built
    image = Image.load(other, ModelName.parse(name))
    assert image.projector is not None
    assert image.projector.read_bytes() == projector.read_bytes()
    assert "vision" in image.capabilities
    [layer] = image.stored.manifest.layers_of(media_types.PROJECTOR)
    assert image.projector.name.endswith(layer.digest.removeprefix("sha256:"))
