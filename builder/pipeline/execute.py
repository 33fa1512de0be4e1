"""Carrying out a :class:`~builder.pipeline.plan.BuildPlan`: the only step of a build that writes.

Weights are copied into the store in one pass (hashed while copied, checked as GGUF
before they become visible); text layers and the config are written as blobs; the
manifest is written last, under the tag's lock. Progress events let the CLI draw bars.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from builder.pipeline import quantize
from builder.pipeline.layers import LayerPlan, WeightsSource
from builder.pipeline.plan import BuildPlan
from builder.pipeline.quantize import QuantizeStep
from builder.sources import bundled
from builder.store import media_types
from builder.store.config import Provenance, RootFS, gguf_facts
from builder.store.manifest import Descriptor, Manifest
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent, ProgressSink
from builder.store.store import Readable, Store
from ladle.errors import BuildError
from ladle.versions import installed_version

if TYPE_CHECKING:  # gguf (and numpy) load only when weights are copied
    from builder.gguf.file import GGUFInfo


def execute(plan: BuildPlan, store: Store, progress: ProgressSink | None = None) -> str:
    """Write ``plan`` into ``store`` and tag it; returns the manifest digest (the image ID)."""
    manifest = write_blobs(plan, store, progress)
    name = ModelName.parse(plan.name)
    with store.lock(name):
        digest = store.put_manifest(name, manifest)
    if progress is not None:
        progress(ProgressEvent("success"))
    return digest


def write_blobs(plan: BuildPlan, store: Store, progress: ProgressSink | None = None) -> Manifest:
    """Write every blob of ``plan`` (weights, text layers, config) and return the manifest
    that would tag them; nothing is tagged (``builder.pipeline.build`` checks the lock first)."""
    report = progress or (lambda event: None)
    config = plan.config
    descriptors: list[Descriptor] = []
    # Inputs the plan knows already (a converted checkpoint's files), then what is written.
    inputs = dict(config.ladle.inputs) if config.ladle is not None else {}
    for layer in plan.layers:
        descriptor, info = _write_layer(layer, store, report)
        if layer.weights is not None:
            inputs[f"{_LABELS[layer.media_type]} {layer.weights.reference}"] = descriptor.digest
        if plan.draft is not None and layer.media_type == media_types.DRAFT:
            inputs.setdefault(f"DRAFT {plan.draft.reference}", descriptor.digest)
            descriptor = _draft_quantized(descriptor, plan, store, report, inputs)
        if info is not None and layer.media_type == media_types.MODEL:
            config = config.model_copy(update=gguf_facts(info))
        if plan.quantize is not None and layer.media_type == media_types.MODEL:
            quantized = _quantize(descriptor, plan.quantize, config.file_type, store, report)
            if quantized is not None:
                inputs.setdefault(f"FROM {plan.base}", descriptor.digest)
                descriptor, info = quantized
                inputs[f"quantize {plan.quantize.type}"] = descriptor.digest
                config = config.model_copy(update=gguf_facts(info))
        descriptors.append(descriptor)
    config = config.model_copy(
        update={
            "rootfs": RootFS(diff_ids=tuple(d.digest for d in descriptors)),
            "ladle": Provenance(parents=plan.parents, inputs=inputs, tools=tool_versions()),
        }
    )
    report(ProgressEvent(f"writing the config of {ModelName.parse(plan.name).display()}"))
    config_bytes = config.to_bytes()
    config_descriptor = Descriptor(
        media_type=media_types.CONFIG, digest=store.put_bytes(config_bytes), size=len(config_bytes)
    )
    return Manifest(config=config_descriptor, layers=tuple(descriptors))


_LABELS = {
    media_types.MODEL: "FROM",
    media_types.ADAPTER: "ADAPTER",
    media_types.DRAFT: "DRAFT",
    media_types.PROJECTOR: "PROJECTOR",
}
"""The Modelfile instruction each kind of imported weights came from, in ``ladle.inputs``."""

DRAFT_QUANTIZE_INPUT = "draft-quantize"
"""The key's first word in ``ladle.inputs`` for the quantized draft's digest."""


def _draft_quantized(
    weights: Descriptor, plan: BuildPlan, store: Store, report: ProgressSink, inputs: dict[str, str]
) -> Descriptor:
    """The draft layer quantized as the plan asks (recorded in ``inputs``), else as it is."""
    step, draft = plan.draft_quantize, plan.draft
    if step is None or draft is None:
        return weights
    quantized = _quantize(weights, step, draft.file_type, store, report)
    if quantized is None:
        return weights
    inputs[f"{DRAFT_QUANTIZE_INPUT} {step.type}"] = quantized[0].digest
    return quantized[0]


def _write_layer(
    layer: LayerPlan, store: Store, report: ProgressSink
) -> tuple[Descriptor, GGUFInfo | None]:
    if layer.digest is not None:
        if not store.has_blob(layer.digest):
            raise BuildError(f"the base layer {layer.digest} is missing from the store")
        return Descriptor(
            media_type=layer.media_type, digest=layer.digest, size=layer.size or 0
        ), None
    if layer.text is not None:
        data = layer.text.encode("utf-8")
        digest = store.put_bytes(data)
        return Descriptor(media_type=layer.media_type, digest=digest, size=len(data)), None
    assert layer.weights is not None  # a LayerPlan is one of the three
    digest, size, info = _import_weights(layer.weights, store, report)
    return Descriptor(media_type=layer.media_type, digest=digest, size=size), info


def _import_weights(
    source: WeightsSource, store: Store, report: ProgressSink
) -> tuple[str, int, GGUFInfo | None]:
    """Copy weights in one pass; the copy is checked as a GGUF before it is kept.

    When planning checked the file, the copy only has to match what was checked (same
    size, same header bytes); weights planning could not read are checked in full here,
    and their facts returned for the config.
    """
    from builder.gguf.file import header_digest, inspect_gguf

    facts: list[GGUFInfo] = []
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        report(ProgressEvent(f"copying {source.reference}", done, source.size))

    def check(path: Path) -> None:
        if source.header_digest is None:
            facts.append(inspect_gguf(path, display_name=source.reference))
        elif (
            path.stat().st_size != source.size
            or header_digest(path, source.header_bytes) != source.header_digest
        ):
            raise BuildError(f"{source.reference} changed while it was being copied; build again")

    report(ProgressEvent(f"copying {source.reference}", 0, source.size))
    with _open(source) as stream:
        digest, size = store.put_stream(stream, source.digest, step, check)
    return digest, size, (facts[0] if facts else None)


def _quantize(
    weights: Descriptor, step: QuantizeStep, file_type: str, store: Store, report: ProgressSink
) -> tuple[Descriptor, GGUFInfo] | None:
    """The model layer quantized as ``step`` asks; None when it has that type already."""
    if file_type == step.type:
        report(ProgressEvent(f"the weights are {file_type} already: not quantizing"))
        return None
    warning = quantize.check_source(file_type, step, "the weights")
    if warning is not None:
        report(ProgressEvent(warning))
    status = f"quantizing to {step.type}"

    def tensors_done(done: int, total: int) -> None:  # shown as bytes of the source read
        report(ProgressEvent(status, weights.size * done // max(total, 1), weights.size))

    report(ProgressEvent(status, 0, weights.size))
    result = quantize.quantize_blob(store, weights.digest, step, tensors_done)
    if result.cached:
        report(ProgressEvent(f"{status}: done before with this llama.cpp, taken from the cache"))
    descriptor = Descriptor(media_type=weights.media_type, digest=result.digest, size=result.size)
    return descriptor, result.info


@contextlib.contextmanager
def _open(source: WeightsSource) -> Iterator[Readable]:
    paths = [Path(path) for path in source.paths]
    if len(paths) == 1:
        with paths[0].open("rb") as handle:
            yield handle
        return
    joined = bundled.JoinedFiles(paths)
    try:
        yield joined
    finally:
        joined.close()


def tool_versions() -> dict[str, str]:
    """Versions of the tools that shape an image's bytes."""
    versions = {}
    for package in ("ladle", "gguf", "llama-cpp-python"):
        versions[package] = installed_version(package) or "unknown"
    return versions
