"""Fixtures of the builder tests: an empty store, and a project folder with tiny GGUFs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builder.store.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty model store in a temp folder."""
    return Store(tmp_path / "models")


@pytest.fixture
def workdir(tmp_path: Path, tiny_model: Path, tiny_lora: Path) -> Path:
    """A project folder holding ``tiny.gguf`` and ``tiny-lora.gguf``."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(tiny_model, folder / "tiny.gguf")
    shutil.copy(tiny_lora, folder / "tiny-lora.gguf")
    return folder
