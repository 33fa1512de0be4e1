"""``ladle create --host`` sends a vision model's projector as one more file."""

from __future__ import annotations

import shutil
from pathlib import Path

from builder.store.hashing import file_digest
from modelfile import parse
from runtime.remote_create import create_request
from tests.fixtures.tiny_projector import write_tiny_projector


def test_a_second_from_is_sent_as_a_projector_file(tmp_path: Path, tiny_model: Path) -> None:
    shutil.copy(tiny_model, tmp_path / "tiny.gguf")
    projector = write_tiny_projector(tmp_path / "mmproj.gguf")
    spec = parse("FROM ./mmproj.gguf\nFROM ./tiny.gguf\n").validate()
    request, files = create_request(spec, tmp_path)
    assert "from" not in request
    assert request["files"] == {
        "tiny.gguf": file_digest(tiny_model),
        "mmproj.gguf": file_digest(projector),
    }
    assert {file.path.name for file in files} == {"tiny.gguf", "mmproj.gguf"}


def test_a_named_model_with_a_local_projector(tmp_path: Path) -> None:
    projector = write_tiny_projector(tmp_path / "mmproj.gguf")
    spec = parse("FROM llava:7b\nFROM ./mmproj.gguf\n").validate()
    request, _ = create_request(spec, tmp_path)
    assert request["from"] == "llava:7b"
    assert request["files"] == {"mmproj.gguf": file_digest(projector)}


def test_a_folder_sends_its_projector_beside_the_model(tmp_path: Path, tiny_model: Path) -> None:
    folder = tmp_path / "llava"
    folder.mkdir()
    shutil.copy(tiny_model, folder / "model.gguf")
    write_tiny_projector(folder / "mmproj.gguf")
    request, _ = create_request(parse("FROM ./llava\n").validate(), tmp_path)
    assert set(request["files"]) == {"model.gguf", "mmproj.gguf"}
