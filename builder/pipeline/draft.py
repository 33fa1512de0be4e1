"""DRAFT: a draft model for speculative decoding, planned as one layer of the image.

``DRAFT <model>`` resolves as FROM does (:class:`~builder.pipeline.resolver.Resolver`: an
image in the store, a GGUF file or folder, bundled weights, ``hf.co/…``) and becomes a
layer of Ollama's draft media type (:data:`builder.store.media_types.DRAFT`), so that the
image stays exchangeable through registries. From an image, its model weights are the
draft (nothing else of it). An image built FROM an image with a draft keeps that draft
unless its own DRAFT replaces it, as ADAPTER layers are kept.

Checked while planning, before anything is copied:

* the draft is a model GGUF, not an adapter;
* it does not name the same local path as FROM (Ollama's rule, ``parser.CreateRequest``);
* its vocabulary is the model's (:mod:`builder.gguf.vocabulary`): a mismatch names the
  first differing token and, for a Modelfile, the DRAFT's line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from builder.gguf.header import read_header, read_joined_header
from builder.gguf.vocabulary import HeaderBytes, vocabulary_difference
from builder.pipeline.layers import LayerPlan, WeightsSource
from builder.pipeline.resolver import (
    Base,
    BundledBase,
    CheckpointBase,
    FileBase,
    ImageBase,
    PackageBase,
    Resolver,
)
from builder.sources import bundled
from builder.store import media_types
from builder.store.config import ImageConfig
from builder.store.store import Store, StoredImage
from ladle.errors import BuildError, BuildInputError

if TYPE_CHECKING:  # gguf (and numpy) load only when a GGUF is read
    from builder.gguf.file import GGUFInfo

DraftKind = Literal["image", "file", "package", "checkpoint"]


class DraftPlan(BaseModel):
    """How a Modelfile's DRAFT resolved (an inherited draft has none)."""

    model_config = ConfigDict(frozen=True)

    reference: str
    kind: DraftKind
    architecture: str
    file_type: str = ""
    """llama.cpp's name of the weights' type (empty for split package weights)."""
    parent: str | None = None
    """The manifest digest of the draft's image (``kind="image"``)."""

    def config_entry(self) -> dict[str, str]:
        """The image config's ``draft`` object, as Ollama writes it (``model.Draft``)."""
        return {"model_format": "gguf", "architecture": self.architecture}


class DraftLayer(BaseModel):
    """The draft layer a build gets (none, inherited, or the Modelfile's own)."""

    model_config = ConfigDict(frozen=True)

    layers: tuple[LayerPlan, ...] = ()
    plan: DraftPlan | None = None


def plan_draft(
    reference: str | None,
    from_: str,
    resolver: Resolver,
    model: list[LayerPlan],
    inherited: list[LayerPlan],
    where: str | None = None,
) -> DraftLayer:
    """The draft layer of a build: ``reference`` (the DRAFT) resolved and checked against
    the ``model`` weights' layers, else the base image's ``inherited`` draft layers.
    ``where`` (``Modelfile:3:1``) is named in its errors."""
    if reference is None:
        return DraftLayer(layers=tuple(inherited))
    _check_not_from(reference, from_, resolver, where)
    layer, planned = _draft_layer(reference, resolver.resolve(reference), resolver.store, where)
    difference = _difference(model, layer, resolver.store)
    if difference is not None:
        raise _located(where, reference, f"the draft's vocabulary is not the model's: {difference}")
    return DraftLayer(layers=(layer,), plan=planned)


def with_draft(config: ImageConfig, draft: DraftLayer) -> ImageConfig:
    """``config`` with the new draft's entry (an inherited one comes with the base
    image's config)."""
    if draft.plan is None:
        return config
    return config.model_copy(update={"draft": draft.plan.config_entry()})


def _draft_layer(
    reference: str, base: Base, store: Store, where: str | None
) -> tuple[LayerPlan, DraftPlan]:
    """The draft's layer (a blob of the store, or weights to copy) and how it resolved."""
    match base:
        case ImageBase(image=stored):
            return _from_image(reference, stored, store, where)
        case CheckpointBase(digest=digest, size=size, path=path):
            layer = LayerPlan(media_type=media_types.DRAFT, digest=digest, size=size)
            return layer, _planned(reference, "checkpoint", _inspect(path, reference))
        case FileBase(path=path):
            return _from_file(reference, path, where)
        case PackageBase(weights=weights):
            return _from_package(reference, weights)
        case BundledBase(model=model):  # builder.pipeline.build.stage builds it first
            raise BuildError(f"bundled model {model.name} must be built before its use as DRAFT")
    raise BuildError(f"cannot draft with {reference}")


def _from_image(
    reference: str, stored: StoredImage, store: Store, where: str | None
) -> tuple[LayerPlan, DraftPlan]:
    """DRAFT an image: its model weights, a blob of the store already."""
    models = stored.manifest.layers_of(media_types.MODEL)
    if not models:
        raise _located(where, reference, "the image has no model weights to draft with")
    layer = LayerPlan(media_type=media_types.DRAFT, digest=models[0].digest, size=models[0].size)
    info = _inspect(store.blob_path(models[0].digest), reference)
    planned = _planned(reference, "image", info)
    return layer, planned.model_copy(update={"parent": stored.digest})


def _from_file(reference: str, path: Path, where: str | None) -> tuple[LayerPlan, DraftPlan]:
    """DRAFT a GGUF file (a folder's, or one from the Hugging Face cache): to be copied."""
    info = _inspect(path, reference)
    if info.general_type != "model":
        raise _located(where, reference, "this GGUF is an adapter, not a model")
    source = WeightsSource.checked_file(reference, path, info.header_digest, info.header_bytes)
    layer = LayerPlan(media_type=media_types.DRAFT, size=source.size, weights=source)
    return layer, _planned(reference, "file", info)


def _from_package(reference: str, weights: bundled.BundledWeights) -> tuple[LayerPlan, DraftPlan]:
    """DRAFT bundled weights, perhaps split across packages (joined as they are copied)."""
    paths = weights.paths()
    source = WeightsSource.of_package(reference, weights)
    header, _ = read_joined_header(paths, reference)
    architecture = str(header.metadata.get("general.architecture", ""))
    layer = LayerPlan(media_type=media_types.DRAFT, size=source.size, weights=source)
    return layer, DraftPlan(reference=reference, kind="package", architecture=architecture)


def _inspect(path: Path, reference: str) -> GGUFInfo:
    from builder.gguf.file import inspect_gguf  # gguf (and numpy) load only here

    return inspect_gguf(path, display_name=reference)


def _planned(reference: str, kind: DraftKind, info: GGUFInfo) -> DraftPlan:
    """How DRAFT resolved, with the facts of its GGUF."""
    return DraftPlan(
        reference=reference, kind=kind, architecture=info.architecture, file_type=info.file_type
    )


def _check_not_from(reference: str, from_: str, resolver: Resolver, where: str | None) -> None:
    """As Ollama's client refuses it: a DRAFT and a FROM naming one local file or folder."""
    draft, model = resolver.local_path(reference), resolver.local_path(from_)
    if draft.exists() and model.exists() and draft.resolve() == model.resolve():
        prefix = f"{where}: " if where else ""
        raise BuildInputError(
            f"{prefix}DRAFT must not reference the same local path as FROM: {draft}"
        )


def _difference(model: list[LayerPlan], draft: LayerPlan, store: Store) -> str | None:
    """How the draft's vocabulary differs from the model weights'; None when they agree
    or the image has no model weights to compare with."""
    weights = [layer for layer in model if layer.media_type == media_types.MODEL]
    if not weights:
        return None
    return vocabulary_difference(_header(weights[0], store), _header(draft, store))


def _header(layer: LayerPlan, store: Store) -> HeaderBytes:
    """The GGUF header of a weights layer: a blob of the store, a file, or joined files."""
    if layer.digest is not None:
        return read_header(store.blob_path(layer.digest))
    assert layer.weights is not None  # a weights layer is a blob or a source
    paths = [Path(path) for path in layer.weights.paths]
    if len(paths) == 1:
        return read_header(paths[0])
    return read_joined_header(paths, layer.weights.reference)


def _located(where: str | None, reference: str, reason: str) -> BuildInputError:
    """An error naming the DRAFT instruction (and its place in the Modelfile, if known)."""
    prefix = f"{where}: " if where else ""
    return BuildInputError(f"{prefix}DRAFT {reference}: {reason}")
