"""A checkpoint folder converted into a GGUF blob of the store, once per set of inputs.

The conversion is keyed by the digest of every file it reads (``config.json``, the
shards, the tokenizer's files), by this converter's version and gguf-py's: a cache in the
store (``.ladle/cache/convert/``) maps that key to the digest of the GGUF blob, so a
second ``ladle create`` over an unchanged folder hashes the folder and converts nothing,
as long as the blob is still there (``ladle prune`` may remove it; then it is converted
again).

Everything is checked before anything is written: a bad folder leaves no blob and no
cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.convert.checkpoint import Checkpoint
from builder.convert.writer import TensorProgress, plan_conversion, write_gguf
from builder.store.hashing import file_digest
from builder.store.manifest import check_digest
from builder.store.store import Store
from ladle.atomic import write_atomically
from ladle.errors import StoreError
from ladle.versions import installed_version

CONVERTER_VERSION = "1"
"""Changed whenever the converter writes different bytes for the same inputs."""

CACHE_FOLDER = ("cache", "convert")
"""Under the store's private folder."""


@dataclass(frozen=True)
class ImportedModel:
    """A checkpoint's GGUF in the store, and the files it was made from."""

    digest: str
    size: int
    path: Path
    inputs: dict[str, str]
    """File name (relative to the folder, ``/``-separated) -> digest of its bytes."""
    cached: bool


def import_checkpoint(
    folder: Path, store: Store, progress: TensorProgress | None = None
) -> ImportedModel:
    """The GGUF of the checkpoint in ``folder``, converted now or taken from the cache."""
    checkpoint = Checkpoint(folder)
    inputs = {
        Path(os.path.relpath(path, folder)).as_posix(): file_digest(path)
        for path in checkpoint.input_files()
    }
    cache = ConversionCache(store)
    key = [folder.name, sorted(inputs.items())]  # the name is the GGUF's general.name
    digest = cache.get(key)
    if digest is None:
        digest = _convert(checkpoint, store, progress)
        cache.put(key, digest)
        cached = False
    else:
        cached = True
    path = store.blob_path(digest)
    return ImportedModel(digest, path.stat().st_size, path, inputs, cached)


def _convert(checkpoint: Checkpoint, store: Store, progress: TensorProgress | None) -> str:
    conversion = plan_conversion(checkpoint)  # every check, before anything is written
    with tempfile.TemporaryDirectory(dir=store.private_folder("tmp")) as temp:
        target = Path(temp) / "model.gguf"
        write_gguf(conversion, target, checkpoint.folder.name, progress)
        with target.open("rb") as handle:
            digest, _ = store.put_stream(handle)
    return digest


class ConversionCache:
    """(the folder's name, its input digests, the converter's and gguf-py's versions) ->
    the digest of the GGUF blob."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.versions = [CONVERTER_VERSION, installed_version("gguf") or "unknown"]

    def get(self, key: Any) -> str | None:
        """The digest of the cached GGUF, when its blob is still in the store."""
        try:
            digest = check_digest(self._path(key).read_text().strip())
        except (OSError, StoreError):
            return None
        return digest if self.store.has_blob(digest) else None

    def put(self, key: Any, digest: str) -> None:
        write_atomically(self._path(key), digest.encode("ascii"))

    def _path(self, key: Any) -> Path:
        text = json.dumps([key, self.versions]).encode("utf-8")
        return self.store.private_folder(*CACHE_FOLDER) / hashlib.sha256(text).hexdigest()
