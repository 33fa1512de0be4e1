"""Push and pull against a real registry (Debian's docker-registry, distribution 2.8)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from builder.distribution import pull_model, push_model
from builder.gguf.file import inspect_gguf
from builder.pipeline.build import build_file
from builder.registry import TransferEvent
from builder.store import media_types
from builder.store.image import Image
from builder.store.manifest import digest_of
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent
from builder.store.store import Store
from ladle.errors import RegistryError, RemoteNotFoundError
from ladle.settings import Settings
from tests.builder.registry.conftest import (
    RecordingTransport,
    build_tiny,
    put_random_image,
)
from tests.fixtures.registry import RegistryServer
from tests.fixtures.tiny_gguf import write_tiny_llama

MIB = 1024 * 1024


class InterruptedPullError(Exception):
    """Stands for a pull killed halfway."""


def test_push_then_pull_into_an_empty_store_keeps_the_digest(
    registry: RegistryServer, store: Store, settings: Settings, tmp_path: Path, tiny_model: Path
) -> None:
    name = f"{registry.host}/me/tiny:1"
    built = build_tiny(store, tmp_path / "project", tiny_model, name)
    events: list[ProgressEvent] = []
    assert push_model(name, store, settings, events.append) == built
    statuses = [e.status for e in events]
    assert statuses[0] == "retrieving manifest"
    assert statuses[-2:] == ["pushing manifest", "success"]

    other = Store(tmp_path / "elsewhere")
    events.clear()
    assert pull_model(name, other, settings, events.append) == built
    assert other.manifest_bytes(ModelName.parse(name)) == store.manifest_bytes(
        ModelName.parse(name)
    )
    image = Image.load(other, ModelName.parse(name))
    assert image.model_path.read_bytes() == tiny_model.read_bytes()
    assert image.system == "You are terse." and image.params == {"temperature": 0.3}
    assert inspect_gguf(image.model_path).architecture == "llama"  # loadable weights
    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = [e for e in events if isinstance(e, TransferEvent)]
    assert {e.digest for e in layers} == set(image.stored.manifest.blob_digests())
    assert all(e.status == "pulling " + e.digest[7:19] for e in layers)


def test_a_draft_layer_is_pushed_and_pulled_with_its_image(
    registry: RegistryServer, store: Store, settings: Settings, tmp_path: Path, tiny_model: Path
) -> None:
    """Ollama's draft media type travels like any weights layer: the pulled image has the
    same digest and its draft is the very file built in."""
    name = f"{registry.host}/me/drafted:1"
    folder = tmp_path / "project"
    folder.mkdir()
    draft = write_tiny_llama(folder / "draft.gguf", seed=4, n_layer=1)
    (folder / "Modelfile").write_text(f"FROM {tiny_model}\nDRAFT ./draft.gguf\n")
    built = build_file(folder / "Modelfile", name, store, lock="off")
    assert push_model(name, store, settings) == built
    other = Store(tmp_path / "elsewhere")
    assert pull_model(name, other, settings) == built
    image = Image.load(other, ModelName.parse(name))
    assert image.draft is not None and image.draft.read_bytes() == draft.read_bytes()
    assert [layer.media_type for layer in image.stored.manifest.layers] == [
        media_types.MODEL,
        media_types.DRAFT,
    ]
    assert image.draft_architecture == "llama"


def test_a_second_push_skips_every_blob_and_a_second_pull_downloads_nothing(
    registry: RegistryServer,
    store: Store,
    settings: Settings,
    tmp_path: Path,
    tiny_model: Path,
    transport: RecordingTransport,
) -> None:
    name = f"{registry.host}/me/again"
    build_tiny(store, tmp_path / "project", tiny_model, name)
    push_model(name, store, settings)
    push_model(name, store, settings, transport=transport)
    assert transport.sent("POST") == [] and transport.sent("PATCH") == []
    assert len(transport.sent("HEAD", "/blobs/")) == 5  # config, weights, 3 text layers
    assert len(transport.sent("PUT")) == 1  # the manifest
    transport.requests.clear()
    pull_model(name, store, settings, transport=transport)
    assert transport.sent("GET", "/blobs/") == []


def test_chunked_upload(
    registry: RegistryServer, store: Store, settings: Settings, tmp_path: Path
) -> None:
    name = f"{registry.host}/me/chunked"
    manifest = put_random_image(store, name, 3 * MIB + 5)
    transport = RecordingTransport()
    digest = push_model(name, store, settings, chunk=MIB, transport=transport)
    model = manifest.layers[0].digest
    assert len(transport.sent("PATCH")) == 4
    assert [r.headers["content-range"] for r in transport.sent("PATCH")] == [
        f"{start}-{min(start + MIB, 3 * MIB + 5) - 1}" for start in range(0, 3 * MIB + 5, MIB)
    ]
    assert transport.sent("PUT", f"digest={model.replace(':', '%3A')}")
    other = Store(tmp_path / "elsewhere")
    assert pull_model(name, other, settings) == digest
    assert other.blob_path(model).read_bytes() == store.blob_path(model).read_bytes()


def test_a_blob_of_another_repository_is_mounted_not_sent(
    registry: RegistryServer,
    store: Store,
    settings: Settings,
    tmp_path: Path,
    tiny_model: Path,
    transport: RecordingTransport,
) -> None:
    base = f"{registry.host}/team/base"
    build_tiny(store, tmp_path / "project", tiny_model, base)
    push_model(base, store, settings)
    derived = f"{registry.host}/team/derived"
    (tmp_path / "Derived").write_text(f"FROM {base}\nSYSTEM You are verbose.\n")
    from builder.pipeline.build import build_file

    build_file(tmp_path / "Derived", derived, store, lock="off")
    push_model(derived, store, settings, transport=transport)
    weights = Image.load(store, ModelName.parse(derived)).stored.manifest.layers[0].digest
    mounts = [r for r in transport.sent("POST") if "mount=" in str(r.url)]
    assert any(
        weights.replace(":", "%3A") in str(r.url) and "from=team%2Fbase" in str(r.url)
        for r in mounts
    )
    assert not transport.sent("PUT", weights.replace(":", "%3A"))  # not uploaded
    other = Store(tmp_path / "elsewhere")
    pull_model(derived, other, settings)
    assert Image.load(other, ModelName.parse(derived)).system == "You are verbose."


def test_a_killed_pull_resumes_from_its_partial_file(
    registry: RegistryServer, store: Store, settings: Settings, tmp_path: Path
) -> None:
    name = f"{registry.host}/me/big"
    manifest = put_random_image(store, name, 6 * MIB)
    push_model(name, store, settings)
    model = manifest.layers[0].digest
    other = Store(tmp_path / "elsewhere")

    def kill_midway(event: ProgressEvent) -> None:
        if isinstance(event, TransferEvent) and event.digest == model and event.completed >= MIB:
            raise InterruptedPullError

    with pytest.raises(InterruptedPullError):
        pull_model(name, other, settings, kill_midway)
    partial = other.temp / ("sha256-" + model[7:] + ".partial")
    kept = partial.stat().st_size
    assert 0 < kept < 6 * MIB
    assert not other.has_blob(model) and not list(other.manifests.rglob("*"))

    transport = RecordingTransport()
    events: list[ProgressEvent] = []
    assert pull_model(name, other, settings, events.append, transport=transport) == digest_of(
        store.manifest_bytes(ModelName.parse(name))
    )
    (download,) = transport.sent("GET", model.replace(":", "%3A")) or transport.sent("GET", model)
    assert download.headers["range"] == f"bytes={kept}-"
    first = next(e for e in events if isinstance(e, TransferEvent) and e.digest == model)
    assert first.completed in (0, kept)
    assert other.blob_path(model).read_bytes() == store.blob_path(model).read_bytes()
    assert not partial.exists()


def test_two_pulls_of_one_blob_download_it_once(
    registry: RegistryServer, store: Store, settings: Settings, tmp_path: Path
) -> None:
    name = f"{registry.host}/me/shared"
    manifest = put_random_image(store, name, 8 * MIB)
    push_model(name, store, settings)
    model = manifest.layers[0].digest
    other = Store(tmp_path / "elsewhere")
    transports = [RecordingTransport(), RecordingTransport()]
    start = threading.Barrier(2)
    results: list[str] = []

    def pull(transport: RecordingTransport) -> None:
        start.wait()
        results.append(pull_model(name, other, settings, transport=transport))

    threads = [threading.Thread(target=pull, args=(t,)) for t in transports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and len(set(results)) == 1
    downloads = [r for t in transports for r in t.sent("GET", "/blobs/") if model[7:] in str(r.url)]
    assert len(downloads) == 1


def test_a_missing_model_is_named(
    registry: RegistryServer, store: Store, settings: Settings
) -> None:
    with pytest.raises(
        RemoteNotFoundError, match=f"registry {registry.host}: model .*nothing-here"
    ):
        pull_model(f"{registry.host}/me/nothing-here", store, settings)
    assert not store.manifests.exists() or not list(store.manifests.rglob("*"))


def test_pushing_a_missing_image_fails_before_connecting(store: Store, settings: Settings) -> None:
    from ladle.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError):
        push_model("localhost:1/me/absent", store, settings)


def test_pushing_to_ollamas_registry_is_refused_with_advice(
    store: Store, settings: Settings
) -> None:
    with pytest.raises(RegistryError, match="such as localhost:5000/me/sre-bot"):
        push_model("sre-bot", store, settings)


def test_an_unreachable_registry_is_a_registry_error(store: Store, settings: Settings) -> None:
    from tests.fixtures.registry import free_port

    with pytest.raises(RegistryError, match="cannot connect"):
        pull_model(f"127.0.0.1:{free_port()}/me/x", store, settings)
