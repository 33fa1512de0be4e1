"""``LADLE_KV_CACHE_TYPE``, ``LADLE_FLASH_ATTENTION`` and ``LADLE_CONTEXT_LENGTH``."""

from __future__ import annotations

import pytest

from ladle.errors import SettingsError
from ladle.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_environment({})
    assert settings.kv_cache_type == "f16"
    assert settings.flash_attention == "auto"
    assert settings.context_length is None


def test_values_are_read_case_insensitively() -> None:
    env = {
        "LADLE_KV_CACHE_TYPE": "Q8_0",
        "LADLE_FLASH_ATTENTION": " off ",
        "LADLE_CONTEXT_LENGTH": "32768",
    }
    settings = Settings.from_environment(env)
    assert (settings.kv_cache_type, settings.flash_attention) == ("q8_0", "off")
    assert settings.context_length == 32_768


@pytest.mark.parametrize(("value", "mode"), [("1", "on"), ("true", "on"), ("0", "off")])
def test_flash_attention_takes_ollamas_true_and_false(value: str, mode: str) -> None:
    assert Settings.from_environment({"LADLE_FLASH_ATTENTION": value}).flash_attention == mode


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("LADLE_KV_CACHE_TYPE", "q5_1", "f16, q8_0, q4_0"),
        ("LADLE_FLASH_ATTENTION", "sometimes", "auto, on, off"),
        ("LADLE_CONTEXT_LENGTH", "0", "at least 1"),
        ("LADLE_CONTEXT_LENGTH", "8k", "whole number"),
    ],
)
def test_a_bad_value_names_the_variable(variable: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError, match=variable) as caught:
        Settings.from_environment({variable: value})
    assert words in str(caught.value)


def test_ladle_info_shows_what_a_model_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    from ladle.cli.info import memory_defaults
    from tests.runtime.test_memory import _hardware

    monkeypatch.setenv("LADLE_KV_CACHE_TYPE", "q4_0")
    monkeypatch.delenv("LADLE_CONTEXT_LENGTH", raising=False)
    big_gpu = memory_defaults(_hardware(64 * 2**30, 80 * 2**30))
    assert big_gpu["KV cache type"] == "q4_0"
    assert big_gpu["context (no num_ctx)"].startswith("262,144 (")
    assert memory_defaults(_hardware(64 * 2**30))["context (no num_ctx)"].startswith("4,096 (")
    monkeypatch.setenv("LADLE_CONTEXT_LENGTH", "12000")
    assert memory_defaults(_hardware(64 * 2**30))["context (no num_ctx)"].startswith("12,000")
