"""``ladle pull`` from a registry: the manifest, then its blobs, then the tag.

1. The manifest is fetched (at most 4 MiB, its ``Docker-Content-Digest`` checked) and
   validated before anything is written: schema 2, every digest ``sha256:`` and 64
   lower-case hex digits (so no digest can name a path outside the store), and only
   model-image layer types.
2. Each blob the store lacks is downloaded into its partial file and kept only once its
   bytes hash to its digest (:class:`~builder.registry.downloads.Downloads`): wrong bytes are
   refused and dropped, a killed download resumes, and two pulls of one blob download
   it once. When every blob is verified they all become blobs; a registry found
   untrustworthy on the way leaves nothing behind.
3. The manifest is written last, under the tag's lock, with the registry's exact bytes,
   so that the local image ID is the registry's manifest digest.

The store lock is held shared from the first byte to the tag (``prune`` waits).
"""

from __future__ import annotations

from builder.registry.client import RegistryClient
from builder.registry.downloads import Downloads
from builder.registry.progress import BlobProgress
from builder.registry.repository import FetchedManifest, Repository
from builder.store import media_types
from builder.store.manifest import Descriptor, Manifest
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent, ProgressSink
from builder.store.store import Store
from ladle.errors import CorruptBlobError, RegistryError, StoreError, UntrustedRegistryError

INDEXES = frozenset({media_types.MANIFEST_LIST, media_types.OCI_INDEX})


def pull(
    name: ModelName, store: Store, client: RegistryClient, progress: ProgressSink | None = None
) -> str:
    """Pull ``name`` from ``client``'s registry into ``store``; returns the manifest digest."""
    sink = progress or _ignore
    repository = Repository(client, name)
    downloads = Downloads(store)
    with store.in_use():
        sink(ProgressEvent("pulling manifest"))
        fetched = repository.manifest()
        manifest = model_manifest(fetched, name, client.host)
        blobs = unique_blobs(manifest)
        fetched_here: list[str] = []
        for descriptor in blobs:
            try:
                if fetch_blob(repository, descriptor, downloads, sink):
                    fetched_here.append(descriptor.digest)
            except UntrustedRegistryError:
                for digest in [*fetched_here, descriptor.digest]:  # nothing of theirs is kept
                    downloads.discard(digest)
                raise
        sink(ProgressEvent("verifying sha256 digest"))  # done as each blob arrived
        for descriptor in blobs:
            downloads.admit(descriptor.digest)
        sink(ProgressEvent("writing manifest"))
        with store.lock(name):
            digest = store.put_manifest(name, manifest, fetched.data)
    sink(ProgressEvent("success"))
    return digest


def model_manifest(fetched: FetchedManifest, name: ModelName, host: str) -> Manifest:
    """The manifest of a model image, or an error saying what the registry sent instead."""
    if fetched.media_type in INDEXES:
        raise RegistryError(host, f"{name.display()} is a multi-platform index, not a model image")
    try:
        manifest = Manifest.from_bytes(fetched.data, name.display())
    except StoreError as exc:
        raise UntrustedRegistryError(host, f"it sent an invalid manifest: {exc}") from None
    for layer in manifest.layers:
        if not layer.media_type.startswith(media_types.MODEL_IMAGE_LAYERS):
            raise RegistryError(
                host,
                f"{name.display()} is not a model image (it has a layer of type "
                f"{layer.media_type!r}); ladle pulls Ollama-style model images",
            )
    return manifest


def unique_blobs(manifest: Manifest) -> list[Descriptor]:
    """The config and the layers, each digest once."""
    seen: dict[str, Descriptor] = {}
    for descriptor in (manifest.config, *manifest.layers):
        seen.setdefault(descriptor.digest, descriptor)
    return list(seen.values())


def fetch_blob(
    repository: Repository, descriptor: Descriptor, downloads: Downloads, sink: ProgressSink
) -> bool:
    """Download one blob unless the store has it; returns whether this pull fetched it."""
    bar = BlobProgress(sink, "pulling", descriptor.digest, descriptor.size)
    fetched = False
    if not downloads.store.has_blob(descriptor.digest):
        bar.start()
        try:
            fetched = downloads.fetch(
                descriptor.digest,
                descriptor.size,
                lambda offset: repository.blob(descriptor.digest, offset),
                bar,
            )
        except CorruptBlobError as exc:
            raise UntrustedRegistryError(
                repository.client.host,
                f"it sent wrong bytes for blob {descriptor.digest} ({exc.reason}); "
                "they were not kept",
            ) from None
    bar.finish()
    return fetched


def _ignore(event: ProgressEvent) -> None:
    pass
