"""``ladle push``: the image's blobs, then its manifest, with the store's exact bytes.

Each blob is skipped when the repository has it already (``HEAD``), mounted from another
repository of the same registry when a local image from there references it (the
registry may decline, and then it is uploaded), and otherwise uploaded: in one ``PUT``,
or in ``PATCH`` chunks when it is larger than ``chunk``. The manifest goes last, as the
bytes the store holds, so the registry's digest is the local image ID.
"""

from __future__ import annotations

from builder.registry.client import RegistryClient
from builder.registry.progress import BlobProgress
from builder.registry.pull import unique_blobs
from builder.registry.repository import Repository
from builder.store.manifest import Descriptor, Manifest, digest_of
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent, ProgressSink
from builder.store.store import Store
from ladle.errors import CorruptBlobError

UPLOAD_CHUNK = 256 * 1024 * 1024
"""Blobs larger than this are sent in chunks of this size (PATCH), smaller ones at once."""


def push(
    name: ModelName,
    store: Store,
    client: RegistryClient,
    progress: ProgressSink | None = None,
    chunk: int = UPLOAD_CHUNK,
) -> str:
    """Push the image ``name`` to ``client``'s registry; returns its manifest digest."""
    sink = progress or _ignore
    repository = Repository(client, name)
    with store.in_use():
        sink(ProgressEvent("retrieving manifest"))
        data = store.manifest_bytes(name)
        manifest = Manifest.from_bytes(data, name.display())
        sources = mount_sources(store, name)
        for descriptor in unique_blobs(manifest):
            send_blob(repository, descriptor, store, sources.get(descriptor.digest), chunk, sink)
        sink(ProgressEvent("pushing manifest"))
        repository.put_manifest(data, manifest.media_type)
    sink(ProgressEvent("success"))
    return digest_of(data)


def send_blob(
    repository: Repository,
    descriptor: Descriptor,
    store: Store,
    mount_from: str | None,
    chunk: int,
    sink: ProgressSink,
) -> None:
    """Make the repository hold one blob: already there, mounted, or uploaded."""
    digest, size = descriptor.digest, descriptor.size
    bar = BlobProgress(sink, "pushing", digest, size)
    if not repository.has_blob(digest, repository.push_scope()):
        path = store.blob_path(digest)
        if not path.is_file() or path.stat().st_size != size:
            raise CorruptBlobError(digest, f"the blob file is missing or not {size} bytes")
        location = repository.start_upload(digest, mount_from)
        if location is not None:
            bar.start()
            repository.upload(location, path, size, digest, chunk, bar)
    bar.finish()


def mount_sources(store: Store, name: ModelName) -> dict[str, str]:
    """Digest -> another repository of the same registry that a local image came from
    (or goes to) and that references it: where the registry may mount it from."""
    _, namespace, model, _ = name.key()
    here = f"{namespace}/{model}"
    sources: dict[str, str] = {}
    for image in store.images():
        host, other_namespace, other_model, _ = image.name.key()
        other = f"{other_namespace}/{other_model}"
        if host == name.key()[0] and other != here:
            for digest in image.manifest.blob_digests():
                sources.setdefault(digest, other)
    return sources


def _ignore(event: ProgressEvent) -> None:
    pass
