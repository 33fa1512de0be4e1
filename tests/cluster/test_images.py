"""A replica's node finds an image by manifest digest, or pulls it from the registry its
name names and serves it only if the digest is the one the server resolved (the tests'
docker-registry; no Ray needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.distribution import push_model
from builder.store.media_types import MODEL
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import RegistryError
from ladle.settings import Settings
from runtime.cluster.images import holds, node_spec
from runtime.cluster.wire import PoolLoad
from runtime.protocol import LoadSpec
from tests.fixtures.registry import RegistryServer
from tests.runtime.api.conftest import TINY_MODELFILE, build


def settings_of(store: Store) -> Settings:
    return Settings.from_environment({**os.environ, "LADLE_MODELS": str(store.root)})


@pytest.fixture
def pushed(tmp_path: Path, tiny_model: Path, registry: RegistryServer) -> tuple[Store, ModelName]:
    """A store with ``tiny`` under a name on the tests' registry, pushed there."""
    store = Store(tmp_path / "head")
    build(store, tmp_path / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    local = ModelName.parse("tiny")
    name = ModelName.parse(f"{registry.host}/images-test/tiny:{tmp_path.name[-12:]}")
    store.put_manifest(name, store.get(local).manifest, store.manifest_bytes(local))
    push_model(name.full(), store, settings_of(store))
    return store, name


def pool_load(store: Store, name: ModelName) -> PoolLoad:
    image = store.get(name)
    weights = next(layer for layer in image.manifest.layers if layer.media_type == MODEL)
    spec = LoadSpec(model_path=store.blob_path(weights.digest))
    return PoolLoad(name=name.full(), digest=image.digest, spec=spec)


def test_a_shared_store_is_used_as_it_is(pushed: tuple[Store, ModelName]) -> None:
    store, name = pushed
    load = pool_load(store, name)
    assert node_spec(load, settings_of(store), "head") == load.spec


def test_a_node_without_the_image_pulls_it_by_digest(
    pushed: tuple[Store, ModelName], tmp_path: Path
) -> None:
    store, name = pushed
    node = Store(tmp_path / "node")
    load = pool_load(store, name)
    spec = node_spec(load, settings_of(node), "node-2")
    assert holds(node, load.digest)
    assert spec.model_path.parent == node.blobs and spec.model_path.is_file()
    assert spec.model_path.name == load.spec.model_path.name


def test_a_tag_moved_in_the_registry_is_not_served(
    pushed: tuple[Store, ModelName], tmp_path: Path
) -> None:
    store, name = pushed
    moved = pool_load(store, name).model_copy(update={"digest": "sha256:" + "0" * 64})
    node = Store(tmp_path / "node")
    with pytest.raises(RegistryError, match="serves no other bytes"):
        node_spec(moved, settings_of(node), "node-2")


def test_an_image_in_no_registry_is_named_with_the_node(tmp_path: Path, tiny_model: Path) -> None:
    store = Store(tmp_path / "head")
    build(store, tmp_path / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    load = pool_load(store, ModelName.parse("tiny")).model_copy(
        update={"name": "127.0.0.1:9/library/tiny:latest"}
    )
    with pytest.raises(RegistryError, match="not in node node-2's store"):
        node_spec(load, settings_of(Store(tmp_path / "node")), "node-2")
