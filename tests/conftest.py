"""Fixtures shared by the whole suite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.fixtures.registry import RegistryServer

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
def tiny_long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama trained (so it says) for 1,024 tokens: room for a prompt with tools,
    since ladle, like Ollama, keeps num_ctx within a model's trained length."""
    from tests.fixtures.tiny_gguf import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("tiny-long") / "tiny.gguf", n_ctx=1024)


@pytest.fixture(scope="session")
def tiny_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter GGUF for :func:`tiny_model`."""
    from tests.fixtures.tiny_gguf import write_tiny_lora

    return write_tiny_lora(tmp_path_factory.mktemp("tiny") / "tiny-lora.gguf")


REGISTRY_USER = ("me", "s3cret")
"""The user of :func:`auth_registry`'s htpasswd file."""


def _require_registry_binary() -> None:
    from tests.fixtures.installed import missing
    from tests.fixtures.registry import registry_binary

    if registry_binary() is None:
        missing("docker-registry", "apt-get install docker-registry, as .ci/run does")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real registry (distribution 2.8) on a loopback port, storing in a temp folder."""
    from tests.fixtures.registry import RegistryServer

    _require_registry_binary()
    server = RegistryServer(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real registry that asks for Basic credentials (htpasswd): :data:`REGISTRY_USER`."""
    from tests.fixtures.registry import RegistryServer, write_htpasswd

    _require_registry_binary()
    folder = tmp_path_factory.mktemp("auth-registry")
    htpasswd = write_htpasswd(folder / "htpasswd", dict([REGISTRY_USER]))
    server = RegistryServer(folder, htpasswd)
    yield server
    server.stop()
