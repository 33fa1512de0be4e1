"""Fixtures of the registry tests: settings in a temp folder, a tiny image in a store,
and an HTTP transport that records what ladle sends."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from builder.pipeline.build import build_file
from builder.store import media_types
from builder.store.manifest import Descriptor, Manifest
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.settings import HubSettings, RegistrySettings, Settings

TINY_MODELFILE = (
    "FROM ./tiny.gguf\n"
    'TEMPLATE "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"\n'
    "SYSTEM You are terse.\n"
    "PARAMETER temperature 0.3\n"
)


class RecordingTransport(httpx.HTTPTransport):
    """An HTTP transport that keeps every request ladle sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)

    def sent(self, method: str, fragment: str = "") -> list[httpx.Request]:
        """The requests of ``method`` whose URL contains ``fragment``."""
        return [r for r in self.requests if r.method == method and fragment in str(r.url)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose every path is in the test's temp folder; Hugging Face offline."""
    return Settings(
        models=tmp_path / "models",
        registry=RegistrySettings(
            credentials=tmp_path / "ladle" / "credentials.json",
            docker_config=tmp_path / "docker" / "config.json",
        ),
        hub=HubSettings(cache=tmp_path / "hf", offline=True),
    )


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings.models)


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


def build_tiny(store: Store, folder: Path, tiny_model: Path, name: str) -> str:
    """Build the tiny test image as ``name`` in ``store``; returns its digest."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_model, folder / "tiny.gguf")
    (folder / "Modelfile").write_text(TINY_MODELFILE)
    return build_file(folder / "Modelfile", name, store, lock="off")


def put_random_image(store: Store, name: str, size: int) -> Manifest:
    """An image whose model layer is ``size`` random bytes (pulls check digests, not GGUF)."""
    data = os.urandom(size)
    model = Descriptor(media_type=media_types.MODEL, digest=store.put_bytes(data), size=size)
    config_bytes = b'{"model_format":"gguf"}'
    config = Descriptor(
        media_type=media_types.CONFIG,
        digest=store.put_bytes(config_bytes),
        size=len(config_bytes),
    )
    manifest = Manifest(config=config, layers=(model,))
    store.put_manifest(ModelName.parse(name), manifest)
    return manifest


def store_is_empty(store: Store) -> bool:
    """No blob, no manifest and no temp file: nothing was written."""
    files = [
        path
        for folder in (store.blobs, store.manifests, store.temp)
        if folder.exists()
        for path in folder.rglob("*")
        if path.is_file()
    ]
    return not files
