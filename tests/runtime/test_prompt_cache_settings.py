"""``LADLE_CACHE_DIR`` and ``LADLE_CACHE_MAX``, and the prompt cache a load asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from ladle.errors import SettingsError
from ladle.settings import DEFAULT_CACHE_MAX, Settings
from runtime.loading import prompt_cache_spec


def test_the_default_cache_folder_is_in_the_store() -> None:
    settings = Settings.from_environment({"LADLE_MODELS": "/store"})
    assert settings.prompt_cache_folder == Path("/store/.ladle/prompt-cache")
    assert settings.cache_max == DEFAULT_CACHE_MAX


def test_the_cache_folder_and_cap_are_read_from_the_environment() -> None:
    env = {"LADLE_MODELS": "/store", "LADLE_CACHE_DIR": "/caches", "LADLE_CACHE_MAX": "2GiB"}
    settings = Settings.from_environment(env)
    assert (settings.prompt_cache_folder, settings.cache_max) == (Path("/caches"), 2 * 1024**3)


@pytest.mark.parametrize("off", ["0", "off", "OFF"])
def test_a_cap_of_zero_turns_saving_off(off: str, tmp_path: Path) -> None:
    settings = Settings.from_environment({"LADLE_MODELS": "/store", "LADLE_CACHE_MAX": off})
    assert settings.cache_max == 0
    folder = settings.prompt_cache_folder
    assert prompt_cache_spec(tmp_path / "sha256-ab", folder, settings.cache_max) is None


def test_a_bad_cap_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="LADLE_CACHE_MAX"):
        Settings.from_environment({"LADLE_MODELS": "/store", "LADLE_CACHE_MAX": "lots"})


def test_a_load_keys_its_caches_by_the_weights_blob(tmp_path: Path) -> None:
    blob = tmp_path / ("sha256-" + "ab" * 32)
    spec = prompt_cache_spec(blob, tmp_path / "caches", 1 << 20)
    assert spec is not None
    assert (spec.folder, spec.max_bytes) == (tmp_path / "caches", 1 << 20)
    assert spec.model_digest == "sha256-" + "ab" * 32
