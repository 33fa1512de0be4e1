"""The store as Ollama's API shows it: ``/api/tags``, ``/api/show``, ``/api/ps``, and
the tag operations ``/api/copy`` and ``/api/delete``.

Everything here is synchronous file IO on the store (small files); the routes run it in
FastAPI's thread pool. ``/api/show`` reads its image through the server's
:class:`~runtime.images.ImageCache`, so the weights' GGUF header is the one the requests
and the memory planner use, inspected once. Digests are shown as Ollama shows them:
hex, no ``sha256:``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from builder.gguf.model_info import model_info
from builder.store.config import ImageConfig
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store, StoredImage
from ladle.errors import ModelNotFoundError, StoreError
from runtime.api.errors import without_paths
from runtime.images import ImageCache, ResolvedModel
from runtime.loaded import PsEntry

logger = logging.getLogger(__name__)

PARAMETER_WIDTH = 30
"""Ollama pads a parameter's name to this width in ``/api/show``'s ``parameters``."""


def timestamp(moment: datetime | float) -> str:
    """RFC 3339 in UTC with a ``Z``, as Go writes ``time.Time``."""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hex_digest(digest: str) -> str:
    return digest.removeprefix("sha256:")


def details(config: ImageConfig) -> dict[str, Any]:
    """Ollama's ``ModelDetails``."""
    return {
        "parent_model": "",
        "format": config.model_format,
        "family": config.model_family,
        "families": list(config.model_families) or None,
        "parameter_size": config.model_type,
        "quantization_level": config.file_type,
    }


DAMAGE = (StoreError, ValueError, OSError)
"""What reading an image's config raises when the store is damaged: a blob missing or
not matching its digest (``StoreError``), bytes that are not an image config (pydantic's
``ValidationError``, a ``ValueError``), a file that cannot be read."""


def _config(store: Store, stored: StoredImage) -> ImageConfig:
    return ImageConfig.model_validate_json(store.read_blob(stored.manifest.config.digest))


def tags(store: Store) -> dict[str, Any]:
    """``GET /api/tags``: every image, the newest first.

    An image whose config cannot be read (a damaged or missing blob) is left out of
    ``models``, logged, and named in ``damaged`` with its problem, as ``ladle doctor``
    reports it: one damaged image never hides the healthy ones. ``damaged`` is there
    only when some image is (Ollama has no such field; its clients skip it)."""
    images = sorted(store.images(), key=lambda stored: stored.modified, reverse=True)
    models, damaged = [], []
    for stored in images:
        try:
            models.append(_summary(store, stored))
        except DAMAGE as error:
            problem = without_paths(str(error))
            logger.warning("/api/tags leaves out %s: %s", stored.name.display(), problem)
            damaged.append({"name": stored.name.display(), "error": problem})
    return {"models": models, "damaged": damaged} if damaged else {"models": models}


def _summary(store: Store, stored: StoredImage) -> dict[str, Any]:
    """One image as ``/api/tags`` lists it."""
    return {
        "name": stored.name.display(),
        "model": stored.name.display(),
        "modified_at": timestamp(stored.modified),
        "size": stored.manifest.size,
        "digest": hex_digest(stored.digest),
        "details": details(_config(store, stored)),
    }


def show(images: ImageCache, name: str, *, verbose: bool = False) -> dict[str, Any]:
    """``POST /api/show``: the image's Modelfile, parameters, template, facts, the GGUF
    metadata (``model_info``: arrays of more than a few items ``[]`` unless ``verbose``,
    as Ollama) and the tensor table."""
    model = images.resolve(ModelName.parse(name))
    image, stored = model.image, model.image.stored
    info, tensors = model_info(image.model_path, verbose=verbose) if model.gguf else ({}, [])
    return {
        "modelfile": image.modelfile(by_name=True),
        "parameters": _parameters(image),
        "template": image.template or "",
        "system": image.system or "",
        "license": "\n".join(image.licenses),
        "details": details(image.config),
        "model_info": info,
        "tensors": tensors,
        "capabilities": capabilities(model),
        "modified_at": timestamp(stored.modified),
        # Ollama's renderer and parser fields, left out when unset as Ollama does
        **{key: value for key in ("renderer", "parser") if (value := getattr(image.config, key))},
    }


def capabilities(model: ResolvedModel) -> list[str]:
    """What ``model`` can do (the image's ``capabilities``), with ``insert`` when its
    weights have fill-in-the-middle tokens even if its config, written before ladle
    looked for them (or by Ollama), does not say so: a request with a suffix is
    answered by what the header says now."""
    found = list(model.image.capabilities)
    if model.gguf is not None and "insert" in model.gguf.capabilities and "insert" not in found:
        found.append("insert")
    return found


def copy(store: Store, source: str, destination: str) -> None:
    """``POST /api/copy``: tag ``destination`` with ``source``'s manifest (no blob copied)."""
    target = ModelName.parse(destination)
    with store.in_use():  # so that a prune cannot take the blobs meanwhile
        stored = store.get(ModelName.parse(source))
        with store.lock(target):
            store.put_manifest(target, stored.manifest)


def delete(store: Store, name: str) -> None:
    """``DELETE /api/delete``: remove a tag (its blobs stay until pruned)."""
    model = ModelName.parse(name)
    with store.lock(model):
        store.delete(model)


def ps(store: Store, entries: list[PsEntry]) -> dict[str, Any]:
    """``GET /api/ps``: the loaded models, the one that stays longest first."""
    models = []
    for entry in entries:
        try:
            facts = details(_config(store, store.get(ModelName.parse(entry.name))))
        except ModelNotFoundError:  # deleted while loaded: still shown until unloaded
            facts = None
        except DAMAGE:  # its config damaged since it loaded: the rest of it still shows
            facts = None
        models.append(
            {
                "name": entry.name,
                "model": entry.model,
                "size": entry.size,
                "digest": hex_digest(entry.digest),
                "details": facts,
                "expires_at": timestamp(entry.expires_at),
                "size_vram": entry.size_vram,
                "context_length": entry.context_length,
                "kv_cache_type": entry.kv_cache_type,
                "flash_attention": entry.flash_attention,
                "kv_cache_bytes": entry.kv_cache_bytes,
                "prompt_cache": asdict(entry.cache_hits),
                "draft": entry.draft,
                "speculation": {
                    **asdict(entry.speculation),
                    "acceptance_rate": entry.speculation.acceptance_rate,
                },
            }
        )
    return {"models": models}


def _parameters(image: Image) -> str:
    lines = []
    for key, value in image.params.items():
        for item in value if isinstance(value, list) else [value]:
            shown = f'"{item}"' if isinstance(item, str) else _value_text(item)
            lines.append(f"{key:<{PARAMETER_WIDTH}} {shown}")
    return "\n".join(lines)


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
