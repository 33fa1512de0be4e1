"""Fixtures shared by the whole suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]  # tests/ladle/test_pytest_plugin.py runs pytest in a temp repo

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parent.parent / "examples"


def load_fixture_json(*parts: str) -> Any:
    """A JSON file under ``tests/fixtures``."""
    return json.loads(FIXTURES.joinpath(*parts).read_text(encoding="utf-8"))


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama GGUF (random weights, real tokenizer) that llama.cpp loads in ms."""
    from tests.fixtures.tiny_gguf import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter GGUF for :func:`tiny_model`."""
    from tests.fixtures.tiny_gguf import write_tiny_lora

    return write_tiny_lora(tmp_path_factory.mktemp("tiny") / "tiny-lora.gguf")
