"""A create request's ``files`` that hold a vision projector, taken apart from the model.

Ollama's client turns a Modelfile's local ``FROM`` files into ``files`` (name -> blob
digest): a LLaVA-style Modelfile's two ``FROM`` lines, model and projector, become two
files. The projector (a GGUF whose architecture is ``clip``) is the image's projector
layer, as a second ``FROM`` is in a local build (:mod:`builder.pipeline.projector`); the
other file is the model, checked as before by ``runtime.api.admin``.
"""

from __future__ import annotations

from pathlib import Path

from builder.gguf.header import starts_as_gguf
from builder.pipeline.projector_file import is_projector
from builder.store.manifest import check_digest
from builder.store.store import Store
from ladle.errors import InvalidFieldError, LadleError


def split_projector(store: Store, files: dict[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """``files`` without its projector, and the projector's blob path (none: ``()``); the
    model may then be a name (``from``). Files that are not uploaded blobs are left for
    the caller to refuse."""
    found = {name: path for name, digest in files.items() if (path := _projector(store, digest))}
    if not found:
        return files, ()
    if len(found) > 1:
        raise InvalidFieldError("files", f"several projectors: {', '.join(sorted(found))}")
    rest = {name: digest for name, digest in files.items() if name not in found}
    return rest, (str(next(iter(found.values()))),)


def _projector(store: Store, digest: str) -> Path | None:
    try:
        path = store.blob_path(check_digest(digest))
        return path if starts_as_gguf(path) and is_projector(path) else None
    except LadleError:  # not a digest, not a GGUF: the model's checks say so
        return None
