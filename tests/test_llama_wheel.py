"""llama-cpp/wheel.py: the key and version of ladle's build of llama-cpp-python."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.version import Version

from runtime.hardware import PATCHED_VERSION

SCRIPT = Path(__file__).resolve().parent.parent / "llama-cpp" / "wheel.py"


@pytest.fixture(scope="module")
def wheel() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llama_wheel", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_version_is_the_release_with_a_local_part(wheel: ModuleType) -> None:
    version = Version(wheel.local_version(wheel.build_key()))
    assert version.public == wheel.VERSION
    assert version.local is not None and version.local.startswith("ladle.")
    assert PATCHED_VERSION in str(version)  # what runtime.hardware looks for
    assert Version("0.3.8") <= version < Version("0.4")  # pyproject.toml's requirement


def test_the_installed_build_is_the_release_the_patches_were_made_for(
    wheel: ModuleType,
) -> None:
    assert Version(metadata.version("llama-cpp-python")).public == wheel.VERSION
    assert wheel.patches(), "llama-cpp/patches/ holds no patch"
    for path in wheel.patches():  # each changes only the llama.cpp that the sdist vendors
        targets = [
            line.split()[1]
            for line in path.read_text().splitlines()
            if line[:4] in ("--- ", "+++ ")
        ]
        assert targets and all(t[2:].startswith("vendor/llama.cpp/") for t in targets), path


def test_the_key_changes_with_what_the_wheel_is_built_from(
    wheel: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    plain = wheel.build_key()
    assert wheel.build_key() == plain
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_CUDA=on")
    assert wheel.build_key() != plain
