"""Projector files: a vision model's image encoder, stored as a layer of its own.

A projector (an "mmproj" GGUF, ``general.architecture`` ``clip``) turns an image into
embeddings the text model reads as if they were tokens. Ollama stores it as a layer of
type ``application/vnd.ollama.image.projector`` (``server/create.go`` picks that type for
a GGUF whose architecture is ``clip``), given as a second ``FROM`` of a Modelfile; ladle
also finds it beside the model in a folder ``FROM`` names.

The projector's embeddings must be as wide as the model's
(:func:`~builder.pipeline.projector_file.check_width`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from builder.gguf.header import read_header, starts_as_gguf
from builder.pipeline.layers import LayerPlan, WeightsSource
from builder.pipeline.projector_file import ProjectorFile, check_width, is_projector, read_projector
from builder.pipeline.resolver import Resolver, gguf_files
from builder.store import media_types
from ladle.errors import BuildInputError
from modelfile import ModelSpec


def folder_projector(folder: Path) -> Path | None:
    """The projector among a folder's GGUF files (``*.gguf``, then GGUF ``*.bin``); a
    folder with several is refused, naming them."""
    found = [path for path in gguf_files(folder) if is_projector(path)]
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise BuildInputError(f"FROM {folder}: the folder holds several projectors ({names})")
    return found[0] if found else None


def split_from(
    spec: ModelSpec, local_path: Callable[[str], Path]
) -> tuple[ModelSpec, tuple[str, ...]]:
    """The spec with its one model FROM as ``from_``, and the FROMs that are projector
    files (``local_path``: a reference as a path, :meth:`Resolver.local_path`); several
    FROMs that are not projectors are refused."""
    if not spec.also_from:
        return spec, ()
    projectors: list[str] = []
    models: list[str] = []
    for reference in (*spec.also_from, spec.from_):
        path = local_path(reference)
        is_file = path.is_file() and starts_as_gguf(path)
        (projectors if is_file and is_projector(path) else models).append(reference)
    if len(models) != 1:
        found = ", ".join(models) or "none"
        raise BuildInputError(
            f"FROM: an image has one model and at most one projector; models given: {found}"
        )
    if len(projectors) > 1:
        raise BuildInputError(f"FROM: several projectors given ({', '.join(projectors)})")
    return spec.model_copy(update={"from_": models[0], "also_from": ()}), tuple(projectors)


def projector_uploads(spec: ModelSpec, folder: Path) -> tuple[ModelSpec, tuple[Path, ...]]:
    """For a build on a server (``ladle create --host``): the spec with its model FROM,
    and the projector files to upload beside the model's (a second FROM, or the one in
    a FROM folder); the server takes them apart again (``runtime.api.create_files``)."""

    def local_path(reference: str) -> Path:
        path = Path(reference).expanduser()
        return path if path.is_absolute() else folder / path

    spec, projectors = split_from(spec, local_path)
    paths = [local_path(reference) for reference in projectors]
    base = local_path(spec.from_)
    if not paths and base.is_dir() and (found := folder_projector(base)) is not None:
        paths.append(found)
    return spec, tuple(paths)


def with_projector(
    weights: Sequence[LayerPlan],
    projectors: Sequence[str],
    base: str,
    resolver: Resolver,
    shipped: tuple[str, Path] | None = None,
) -> list[LayerPlan]:
    """The weights' layers with the projector the build gives (a FROM, else one beside
    the model in a FROM folder, else ``shipped``: the one a Hugging Face repository has
    for the model) in place of an inherited one, its width checked."""
    folder = resolver.local_path(base)
    paths = [(ref, resolver.local_path(ref)) for ref in projectors]
    if not paths and folder.is_dir() and (found := folder_projector(folder)) is not None:
        paths = [(f"{base}/{found.name}", found)]
    if not paths and shipped is not None and is_projector(shipped[1]):
        paths = [shipped]
    if not paths:
        return list(weights)
    reference, path = paths[0]
    projector = read_projector(path)
    assert projector is not None  # split_from and folder_projector chose projectors
    check_width(projector, _model_width(weights, resolver), reference)
    kept = [layer for layer in weights if layer.media_type != media_types.PROJECTOR]
    return [*kept, _layer(reference, projector)]


def _layer(reference: str, projector: ProjectorFile) -> LayerPlan:
    source = WeightsSource.checked_file(
        reference, projector.path, projector.header_digest, projector.header_bytes
    )
    return LayerPlan(media_type=media_types.PROJECTOR, size=source.size, weights=source)


def _model_width(weights: Sequence[LayerPlan], resolver: Resolver) -> int | None:
    """The model layer's ``<arch>.embedding_length`` (None when it cannot be read yet:
    split package weights, checked when they load)."""
    models = [layer for layer in weights if layer.media_type == media_types.MODEL]
    if not models:
        return None
    layer = models[0]
    if layer.digest is not None:
        path = resolver.store.blob_path(layer.digest)
    elif layer.weights is not None and len(layer.weights.paths) == 1:
        path = Path(layer.weights.paths[0])
    else:
        return None
    metadata = read_header(path)[0].metadata
    width = metadata.get(f"{metadata.get('general.architecture')}.embedding_length")
    return width if isinstance(width, int) else None
