"""Planning a build: which layers an image gets and where each comes from.

:func:`plan` is pure apart from reading its inputs (base manifests and small layers,
GGUF headers): it writes nothing, and its :class:`BuildPlan` is plain data that tests
pin with snapshots. :mod:`builder.pipeline.execute` carries a plan out.

Inheritance follows Ollama: TEMPLATE and SYSTEM replace the base's; parameters merge key
by key (a new ``stop`` list replaces the base's); LICENSE appends; MESSAGE replaces the
base's messages; ADAPTER layers append. Beyond Ollama, ``SYSTEM ""`` clears an inherited
system prompt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from builder.pipeline.draft import DraftLayer, DraftPlan, plan_draft, with_draft
from builder.pipeline.layers import LayerPlan, WeightsSource
from builder.pipeline.options import BuildOptions
from builder.pipeline.projector import split_from, with_projector
from builder.pipeline.quantize import SOURCE_TYPES, QuantizeStep, check_source, quantize_type
from builder.pipeline.resolver import (
    Base,
    BundledBase,
    CheckpointBase,
    FileBase,
    HubBase,
    ImageBase,
    PackageBase,
    Resolver,
)
from builder.store import media_types
from builder.store.config import ImageConfig, Provenance, RootFS, gguf_facts
from builder.store.image import Image
from builder.store.names import ModelName
from builder.store.store import Store, StoredImage
from builder.templates.family import detect_family
from builder.templates.parsers import PARSER_NAMES, parser_named
from builder.templates.renderers import RENDERER_NAMES, architecture_defaults, renderer_named
from ladle.errors import BuildError, BuildInputError, QuantizeRefusedError
from modelfile import ModelSpec

if TYPE_CHECKING:  # gguf (and numpy) load only when a GGUF is read
    from builder.gguf.file import GGUFInfo


class BuildPlan(BaseModel):
    """Everything needed to write one image, and nothing that is not known yet."""

    model_config = ConfigDict(frozen=True)

    name: str
    base: str
    base_kind: Literal["image", "file", "package", "bundled", "checkpoint"]
    parents: tuple[str, ...]
    layers: tuple[LayerPlan, ...]
    config: ImageConfig
    quantize: QuantizeStep | None = None
    """Quantize the model weights (the base's, or the imported file's) with llama.cpp."""
    draft: DraftPlan | None = None
    """How the Modelfile's DRAFT resolved (its layer is in ``layers``)."""
    draft_quantize: QuantizeStep | None = None
    """Quantize the DRAFT's weights with llama.cpp."""


def plan(
    spec: ModelSpec, name: ModelName, resolver: Resolver, options: BuildOptions | None = None
) -> BuildPlan:
    """The plan for building ``spec`` as ``name``; the base must not be an unbuilt
    bundled model (build that first: see :func:`builder.pipeline.build.build`)."""
    spec, projectors = split_from(spec, resolver.local_path)
    base = resolver.resolve(spec.from_)
    if isinstance(base, BundledBase):
        raise BuildError(f"bundled model {base.model.name} must be built before {name}")
    inherited = _Inherited.of(base, resolver.store)
    options = options or BuildOptions()
    quantize = _quantize_step(options, inherited, spec.from_)
    draft = plan_draft(
        spec.draft, spec.from_, resolver, inherited.weights, inherited.drafts, options.draft_at
    )
    weights = with_projector(
        inherited.weights, projectors, spec.from_, resolver, _shipped_projector(base)
    )
    layers = [*weights, *_adapters(spec, inherited, resolver), *draft.layers]
    layers += _template_layers(spec.template, inherited)
    system = spec.system if spec.system is not None else inherited.system
    if system:  # SYSTEM "" clears an inherited system prompt
        layers.append(_text(media_types.SYSTEM, system))
    layers += [_text(media_types.LICENSE, text) for text in (*inherited.licenses, *spec.license)]
    params = _merge_params(inherited.params, spec.parameters.set_values())
    if params:
        layers.append(_text(media_types.PARAMS, _json(params)))
    messages = [m.model_dump() for m in spec.messages] if spec.messages else inherited.messages
    if messages:
        layers.append(_text(media_types.MESSAGES, _json(messages)))
    config = inherited.config.model_copy(
        update={**_output_format(spec, inherited), "requires": spec.requires}
    )
    return BuildPlan(
        name=name.full(),
        base=spec.from_,
        base_kind=inherited.kind,
        parents=inherited.parents,
        layers=tuple(layers),
        config=with_draft(config, draft),
        quantize=quantize,
        draft=draft.plan,
        draft_quantize=_draft_quantize_step(options, draft),
    )


def _shipped_projector(base: Base) -> tuple[str, Path] | None:
    """The projector a Hugging Face repository ships for the FROM model, if any."""
    file = base.file if isinstance(base, HubBase) else None
    if file is None or file.projector is None:
        return None
    return f"hf.co/{file.repo_id}/{file.projector_filename}", file.projector


def _quantize_step(options: BuildOptions, inherited: _Inherited, base: str) -> QuantizeStep | None:
    """The requested quantization, refused now when the base's weights are quantized
    already (split package weights, whose type is not known yet, are checked by execute)."""
    if options.quantize is None:
        if options.requantize:
            raise QuantizeRefusedError("requantize was asked for without a type to quantize to")
        return None
    step = QuantizeStep(type=quantize_type(options.quantize), requantize=options.requantize)
    if not any(layer.media_type == media_types.MODEL for layer in inherited.weights):
        raise QuantizeRefusedError(f"FROM {base}: there are no model weights to quantize")
    check_source(inherited.config.file_type, step, f"FROM {base}")
    return step


def _draft_quantize_step(options: BuildOptions, draft: DraftLayer) -> QuantizeStep | None:
    """The DRAFT's quantization: of a new draft only, whose weights are unquantized
    (Ollama's rule: a quantized draft is not quantized again)."""
    if options.draft_quantize is None:
        return None
    step = QuantizeStep(type=quantize_type(options.draft_quantize))
    if draft.plan is None:
        raise QuantizeRefusedError("draft_quantize was asked for without a DRAFT to quantize")
    file_type = draft.plan.file_type
    if file_type not in ("", "unknown", step.type, *SOURCE_TYPES):
        raise QuantizeRefusedError(
            f"DRAFT {draft.plan.reference}: draft_quantize needs unquantized weights "
            f"(F32, F16 or BF16), but these are {file_type}"
        )
    return step


class _Inherited(BaseModel):
    """What the base gives a new image."""

    kind: Literal["image", "file", "package", "bundled", "checkpoint"]
    weights: list[LayerPlan]
    adapters: list[LayerPlan] = []
    drafts: list[LayerPlan] = []
    """The base image's draft layer."""
    template: str | None = None
    template_layers: list[LayerPlan] = []
    """The base image's Jinja template layer, compiled when that image was built."""
    system: str | None = None
    licenses: list[str] = []
    params: dict[str, Any] = {}
    messages: list[dict[str, Any]] = []
    parents: tuple[str, ...] = ()
    config: ImageConfig
    architecture: str

    @classmethod
    def of(cls, base: Base, store: Store) -> _Inherited:
        match base:
            case ImageBase(image=stored):
                return cls._from_image(stored, store)
            case CheckpointBase():
                return cls._from_checkpoint(base)
            case FileBase(reference=reference, path=path):
                from builder.gguf.file import inspect_gguf

                source = WeightsSource(
                    kind="file", reference=reference, paths=(str(path),), size=path.stat().st_size
                )
                return cls._from_gguf(inspect_gguf(path), source, "file")
            case PackageBase(reference=reference, weights=weights):
                paths = weights.paths()
                source = WeightsSource.of_package(reference, weights)
                if len(paths) == 1:
                    from builder.gguf.file import inspect_gguf

                    return cls._from_gguf(inspect_gguf(paths[0]), source, "package")
                # Split weights are checked once joined, as they are copied (execute).
                weights_layer = LayerPlan(
                    media_type=media_types.MODEL, size=source.size, weights=source
                )
                return cls(
                    kind="package", weights=[weights_layer], config=ImageConfig(), architecture=""
                )
        raise BuildError(f"cannot build from {base.reference}")  # BundledBase: see plan()

    @classmethod
    def _from_checkpoint(cls, base: CheckpointBase) -> _Inherited:
        """A converted checkpoint: its GGUF is a blob already, reused as it is; the config
        records the converted files' digests (``CHECKPOINT <file>``) for the lock."""
        from builder.gguf.file import inspect_gguf

        source = WeightsSource(
            kind="file", reference=base.reference, paths=(str(base.path),), size=base.size
        )
        inherited = cls._from_gguf(inspect_gguf(base.path), source, "checkpoint")
        inputs = {f"CHECKPOINT {name}": digest for name, digest in base.inputs.items()}
        inputs[f"FROM {base.reference}"] = base.digest
        config = inherited.config.model_copy(update={"ladle": Provenance(inputs=inputs)})
        layer = LayerPlan(media_type=media_types.MODEL, digest=base.digest, size=base.size)
        return inherited.model_copy(update={"weights": [layer], "config": config})

    @classmethod
    def _from_gguf(cls, info: GGUFInfo, source: WeightsSource, kind: Any) -> _Inherited:
        checked = {"header_digest": info.header_digest, "header_bytes": info.header_bytes}
        source = source.model_copy(update=checked)
        if info.general_type != "model":
            raise BuildInputError(f"FROM {source.reference}: this GGUF is an adapter, not a model")
        # As Ollama does: a GGUF template of a known family names the family in the
        # config and brings the stop sequences that family needs.
        family = detect_family(info.chat_template) if info.chat_template else None
        config = ImageConfig(**gguf_facts(info), template_family=family.name if family else None)
        weights = LayerPlan(media_type=media_types.MODEL, size=source.size, weights=source)
        return cls(
            kind=kind,
            weights=[weights],
            template=info.chat_template,
            params=family.default_params() if family else {},
            config=config,
            architecture=info.architecture,
        )

    @classmethod
    def _from_image(cls, stored: StoredImage, store: Store) -> _Inherited:
        image = Image.read(store, stored)

        def kept(media_type: str) -> list[LayerPlan]:
            return [
                LayerPlan(media_type=layer.media_type, digest=layer.digest, size=layer.size)
                for layer in stored.manifest.layers_of(media_type)
            ]

        return cls(
            kind="image",
            weights=kept(media_types.MODEL) + kept(media_types.PROJECTOR),
            adapters=kept(media_types.ADAPTER),
            drafts=kept(media_types.DRAFT),
            template=image.template,
            template_layers=kept(media_types.JINJA_TEMPLATE)[-1:],
            system=image.system,
            licenses=list(image.licenses),
            params=image.params,
            messages=list(image.messages),
            parents=(stored.digest,),
            config=image.config.model_copy(update={"rootfs": RootFS(), "ladle": None}),
            architecture=image.config.model_family,
        )


def _adapters(spec: ModelSpec, inherited: _Inherited, resolver: Resolver) -> list[LayerPlan]:
    layers = list(inherited.adapters)
    for reference in spec.adapters:
        from builder.convert.lora import is_peft_folder  # gguf loads here
        from builder.gguf.file import inspect_gguf

        path = resolver.local_path(reference)
        if path.is_dir() and is_peft_folder(path):
            path = _converted_lora(reference, path, inherited, resolver.store)
        if not path.is_file():
            raise BuildInputError(f"ADAPTER {reference}: no file at {path}")
        info = inspect_gguf(path)
        if info.general_type != "adapter":
            raise BuildInputError(f"ADAPTER {reference}: {path} is a model, not a LoRA adapter")
        if inherited.architecture and info.architecture != inherited.architecture:
            raise BuildInputError(
                f"ADAPTER {reference}: made for {info.architecture!r} models, "
                f"but the base is {inherited.architecture!r}"
            )
        _check_base_model(reference, info, inherited, resolver.store)
        source = WeightsSource.checked_file(reference, path, info.header_digest, info.header_bytes)
        layers.append(LayerPlan(media_type=media_types.ADAPTER, size=source.size, weights=source))
    return layers


def _converted_lora(reference: str, folder: Path, inherited: _Inherited, store: Store) -> Path:
    """ADAPTER a PEFT folder: its GGUF LoRA for this base (checked against the base's
    tensors), a blob of the store (:mod:`builder.convert.lora`)."""
    from builder.convert.lora import import_lora

    models = [layer for layer in inherited.weights if layer.media_type == media_types.MODEL]
    layer = models[0] if models else None
    if layer is not None and layer.digest is not None:
        base = store.blob_path(layer.digest)
    elif layer is not None and layer.weights is not None and len(layer.weights.paths) == 1:
        base = Path(layer.weights.paths[0])
    else:
        raise BuildInputError(f"ADAPTER {reference}: a PEFT adapter needs a one-file GGUF base")
    try:
        digest, _ = import_lora(folder, base, store)
    except BuildInputError as error:
        raise BuildInputError(f"ADAPTER {reference}: {error}") from None
    return store.blob_path(digest)


def _check_base_model(
    reference: str, adapter: GGUFInfo, inherited: _Inherited, store: Store
) -> None:
    """An adapter that names the model it was trained on (``general.base_model.0.name``)
    must name this base (compared on letters and digits, so ``SmolLM2-135M`` matches
    ``SmolLM2 135M Instruct``)."""
    wanted = adapter.base_model.get("0.name")
    if not isinstance(wanted, str) or not wanted:
        return
    base = _base_model_name(inherited, store)
    if base is not None and not _same_model(wanted, base):
        raise BuildInputError(
            f"ADAPTER {reference}: trained on {wanted!r}, but the base model is {base!r}"
        )


def _base_model_name(inherited: _Inherited, store: Store) -> str | None:
    models = [layer for layer in inherited.weights if layer.media_type == media_types.MODEL]
    if not models:
        return None
    from builder.gguf.file import inspect_gguf

    layer = models[0]
    if layer.digest is not None:
        return inspect_gguf(store.blob_path(layer.digest)).name
    if layer.weights is not None and len(layer.weights.paths) == 1:
        return inspect_gguf(layer.weights.paths[0]).name
    return None


def _same_model(first: str, second: str) -> bool:
    a, b = (re.sub(r"[^a-z0-9]", "", name.lower()) for name in (first, second))
    return a in b or b in a


def _template_layers(template: str | None, inherited: _Inherited) -> list[LayerPlan]:
    """The Modelfile's TEMPLATE (converted and compiled now), else the base's."""
    if template is None and inherited.template_layers:
        return inherited.template_layers  # reused as it is: no Jinja needed
    source = template if template is not None else inherited.template
    if source is None:
        return []
    from builder.templates.layer import template_layer_text  # Jinja loads only when compiling

    return [_text(media_types.JINJA_TEMPLATE, template_layer_text(source))]


def _output_format(spec: ModelSpec, inherited: _Inherited) -> dict[str, str | None]:
    """The image's RENDERER and PARSER: the Modelfile's, else the base's (Ollama inherits
    both), else the ones Ollama picks for the weights' architecture when ladle has them.
    A name ladle does not have is a build error listing the ones it has."""
    renderer, parser = architecture_defaults(inherited.architecture)
    chosen = {
        "renderer": spec.renderer or inherited.config.renderer or _known(renderer, RENDERER_NAMES),
        "parser": spec.parser or inherited.config.parser or _known(parser, PARSER_NAMES),
    }
    for key, lookup in (("renderer", renderer_named), ("parser", parser_named)):
        name = chosen[key]
        try:
            if name is not None:
                lookup(name)
        except ValueError as error:
            inherited_from = "" if getattr(spec, key) else f"FROM {spec.from_}: "
            raise BuildInputError(f"{inherited_from}{error}") from None
    return chosen


def _known(name: str | None, names: tuple[str, ...]) -> str | None:
    return name if name in names else None


def _merge_params(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Key by key; a new value (a whole ``stop`` list included) replaces the base's."""
    return {**base, **new}


def _text(media_type: str, text: str) -> LayerPlan:
    return LayerPlan(media_type=media_type, text=text, size=len(text.encode("utf-8")))


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def modelfile_folder(path: Path | None) -> Path:
    """The folder FROM and ADAPTER paths are relative to."""
    return (path.parent if path is not None else Path.cwd()).resolve()
