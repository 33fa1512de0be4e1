"""An image on a model-pool replica's node, found by manifest digest, never by name.

A replica loads from its own node's store (``LADLE_MODELS`` there). When that store is
the ingress's (a shared directory), the image is already there. Otherwise the replica
pulls the image's name from the registry that name names (ladle's own pull, which
verifies every blob against its digest) and serves it only if the pulled manifest has
the digest the ingress resolved: a tag moved in the registry since is refused, so a
node never serves bytes other than the ones the request was checked against.
"""

from __future__ import annotations

import logging
from pathlib import Path

from builder.store.store import Store
from ladle.errors import LadleError, RegistryError
from ladle.settings import Settings
from runtime.cluster.wire import BLOB_PREFIX, PoolLoad
from runtime.protocol import LoadSpec

logger = logging.getLogger(__name__)


def node_spec(load: PoolLoad, settings: Settings, node: str) -> LoadSpec:
    """``load``'s spec with paths into this node's store, pulling the image first when
    the store lacks it. Blocking (run it in a thread)."""
    store = Store(settings.models)
    if not holds(store, load.digest):
        logger.info("%s (%s) is not on node %s: pulling it", load.name, load.digest, node)
        pull_by_digest(load, store, settings, node)
    return relocated(load.spec, store)


def holds(store: Store, digest: str) -> bool:
    """Whether ``store`` tags an image of manifest ``digest`` whose blobs are all there."""
    for image in store.images():
        if image.digest == digest:
            layers = [*image.manifest.layers, image.manifest.config]
            return all(store.has_blob(layer.digest) for layer in layers)
    return False


def pull_by_digest(load: PoolLoad, store: Store, settings: Settings, node: str) -> None:
    """Pull ``load.name`` into ``store``; RegistryError unless it is ``load.digest``."""
    # Imported here: most replicas never pull, and every import slows a replacement's start.
    from builder.distribution import pull_model

    host = load.name.split("/")[0]
    try:
        digest = pull_model(load.name, store, settings)
    except LadleError as error:
        raise RegistryError(
            host,
            f"{load.name} ({load.digest}) is not in node {node}'s store "
            f"({settings.models}) and pulling it failed: {error}",
        ) from error
    if digest != load.digest:
        raise RegistryError(
            host,
            f"{load.name} there is now {digest}, not {load.digest} as the server resolved "
            f"it; node {node} serves no other bytes",
        )


def relocated(spec: LoadSpec, store: Store) -> LoadSpec:
    """``spec`` with its blob paths (the ingress node's) moved into ``store``."""
    adapters = tuple(
        adapter.model_copy(update={"path": _blob(adapter.path, store)}) for adapter in spec.adapters
    )
    return spec.model_copy(
        update={"model_path": _blob(spec.model_path, store), "adapters": adapters}
    )


def _blob(path: Path, store: Store) -> Path:
    if not path.name.startswith(BLOB_PREFIX):
        return path  # not a store blob (a test's bare GGUF): the same path everywhere
    return store.blob_path("sha256:" + path.name.removeprefix(BLOB_PREFIX))
