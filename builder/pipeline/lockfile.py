"""``Modelfile.lock``: every input a build resolved, so that the build can be repeated.

``ladle create`` writes the lock beside the Modelfile (``Modelfile`` -> ``Modelfile.lock``)
after the image is tagged. It records how FROM resolved (its kind, its source and the
digests it gave), the digest of each ADAPTER, how DRAFT resolved (as FROM, under
``draft``), the digests quantization produced, and the manifest digest of the image.
Nothing in it depends on the machine: file paths are relative to the Modelfile, and
configs and manifests hold no timestamps, so the same Modelfile and lock give the same
manifest digest in any store.

The lock is derived from what the build already produced, never computed again: the
plan (FROM's kind and source) and the built config's ``ladle.inputs`` (digests keyed
``"FROM <ref>"``, ``"ADAPTER <ref>"``, ``"DRAFT <ref>"``, ``"QUANTIZE <type>"``,
``"draft-quantize <type>"``, and for a converted Hugging Face checkpoint
``"CHECKPOINT <file>"``, one per file the conversion read). ``--locked`` compares the
lock of the build about to be tagged with the one on disk (see
:mod:`builder.pipeline.build`).

A Hugging Face base (``FROM hf.co/…``) is locked as its repository, file, revision
(commit) and digest; a ``--locked`` build resolves it at that revision (:func:`pins`),
so that a new commit upstream changes nothing until the lock is rewritten.

The file is JSON with sorted keys, two-space indents and a trailing newline, so that it
diffs well in review.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from builder.pipeline.execute import DRAFT_QUANTIZE_INPUT
from builder.pipeline.plan import BuildPlan
from builder.sources import bundled, huggingface
from builder.store import media_types
from builder.store.config import ImageConfig
from builder.store.names import ModelName
from ladle.atomic import write_atomically
from ladle.errors import BuildError

LOCK_VERSION = 1
"""The format written; a lock of another version is refused rather than misread."""

LOCK_SUFFIX = ".lock"
"""Appended to the Modelfile's name: ``Modelfile`` -> ``Modelfile.lock``."""

FROM_INPUT, ADAPTER_INPUT, QUANTIZE_INPUT, DRAFT_INPUT = "FROM", "ADAPTER", "quantize", "DRAFT"
PROJECTOR_INPUT = "PROJECTOR"
CHECKPOINT_INPUT = "CHECKPOINT"
"""The first word of each key of the config's ``ladle.inputs`` (compared ignoring case)."""

BaseKind = Literal["image", "file", "package", "bundled", "huggingface", "checkpoint"]


class BaseLock(BaseModel):
    """How FROM resolved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str = Field(description="FROM as the Modelfile writes it.")
    kind: BaseKind
    source: str = Field(
        description="The image name (image, bundled), the file's path relative to the "
        "Modelfile (file), the package reference (package), or the repository and file "
        "(huggingface: <user>/<repo>/<file>.gguf), or the checkpoint folder's path relative "
        "to the Modelfile (checkpoint)."
    )
    revision: str | None = Field(
        None, description="The repository's commit the file was taken at (huggingface)."
    )
    image: str | None = Field(None, description="Manifest digest of the base image.")
    digest: str | None = Field(None, description="Digest of the model weights' blob.")
    files: dict[str, str] | None = Field(
        None,
        description="A checkpoint's files the conversion read (relative to its folder) -> "
        "the digest of each (checkpoint).",
    )


class QuantizeLock(BaseModel):
    """What quantizing the model weights gave."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="The quantization type, as llama.cpp names it.")
    digest: str = Field(description="Digest of the quantized weights' blob.")


class DraftLock(BaseLock):
    """How DRAFT resolved, as FROM's entry, and what quantizing the draft gave."""

    quantize: QuantizeLock | None = None


class Lockfile(BaseModel):
    """The whole lock of one Modelfile."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    version: int = LOCK_VERSION
    from_: BaseLock = Field(alias="from")
    adapters: dict[str, str] = Field(
        default_factory=dict, description="ADAPTER reference -> digest of its blob."
    )
    projector: dict[str, str] | None = Field(
        None,
        description="The projector's reference (a second FROM, or the file beside the "
        "model in a FROM folder) -> digest of its blob.",
    )
    quantize: QuantizeLock | None = None
    draft: DraftLock | None = Field(None, description="How the Modelfile's DRAFT resolved.")
    image: str = Field(description="Manifest digest of the built image.")

    def to_text(self) -> str:
        """The file's text: sorted keys, unset fields left out, a trailing newline."""
        data = self.model_dump(by_alias=True, exclude_none=True)
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def lock_path(modelfile: Path) -> Path:
    """Where the lock of ``modelfile`` lives: beside it, named after it."""
    return modelfile.with_name(modelfile.name + LOCK_SUFFIX)


def read(path: Path) -> Lockfile:
    """The lock at ``path``; ``BuildError`` when it is missing, unreadable or invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildError(
            f"{path} does not exist; run 'ladle create' without --locked to write it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"cannot read {path}: {exc}") from None
    try:
        version = json.loads(text).get("version")
        if version != LOCK_VERSION:
            raise BuildError(f"{path} has version {version!r}; this ladle reads {LOCK_VERSION}")
        return Lockfile.model_validate_json(text)
    except (ValueError, AttributeError) as exc:  # ValidationError is a ValueError
        raise BuildError(f"{path} is not a valid lock: {_reason(exc)}") from None


def write(path: Path, lock: Lockfile) -> None:
    """Replace the lock at ``path`` atomically (a reader sees the old lock or the new
    one), and only when it changes."""
    data = lock.to_text().encode("utf-8")
    try:
        if path.is_file() and path.read_bytes() == data:
            return
        write_atomically(path, data)
    except OSError as exc:
        raise BuildError(f"cannot write {path}: {exc.strerror or exc}") from None


def compare(old: Lockfile, new: Lockfile, old_name: str = "Modelfile.lock") -> list[str]:
    """A unified diff from ``old`` to ``new``, one line per item; empty when they agree."""
    return list(
        difflib.unified_diff(
            old.to_text().splitlines(),
            new.to_text().splitlines(),
            fromfile=old_name,
            tofile="this build",
            lineterm="",
        )
    )


def lock_of(plan: BuildPlan, config: ImageConfig, digest: str, folder: Path) -> Lockfile:
    """The lock of an image built from ``plan``: ``config`` is the config the build wrote,
    ``digest`` the manifest's digest, ``folder`` the Modelfile's folder."""
    inputs = config.ladle.inputs if config.ladle is not None else {}
    quantized = [
        QuantizeLock(type=type_name, digest=output)
        for type_name, output in _inputs(inputs, QUANTIZE_INPUT).items()
    ]
    return Lockfile(
        from_=base_lock(plan, inputs, folder),
        adapters=_inputs(inputs, ADAPTER_INPUT),
        projector=_inputs(inputs, PROJECTOR_INPUT) or None,
        quantize=quantized[0] if quantized else None,
        draft=draft_lock(plan, inputs, folder),
        image=digest,
    )


def base_lock(plan: BuildPlan, inputs: dict[str, str], folder: Path) -> BaseLock:
    """How the plan's FROM resolved, with the digests the build recorded in ``inputs``."""
    reference = plan.base
    imported = _inputs(inputs, FROM_INPUT).get(reference)
    if plan.base_kind == "checkpoint":
        path = Path(reference).expanduser()
        return BaseLock(
            reference=reference,
            kind="checkpoint",
            source=_relative(str(path if path.is_absolute() else folder / path), folder),
            digest=imported,
            files=_inputs(inputs, CHECKPOINT_INPUT),
        )
    if plan.base_kind == "package":
        return BaseLock(reference=reference, kind="package", source=reference, digest=imported)
    if plan.base_kind == "file":
        return _file_lock(reference, _weights_paths(plan, media_types.MODEL), imported, folder)
    inherited = [layer.digest for layer in plan.layers if layer.media_type == media_types.MODEL]
    return image_lock(
        reference,
        plan.parents[0] if plan.parents else None,
        imported or next(iter(inherited), None),
    )


def draft_lock(plan: BuildPlan, inputs: dict[str, str], folder: Path) -> DraftLock | None:
    """How the plan's DRAFT resolved, with the digests the build recorded in ``inputs``."""
    draft = plan.draft
    if draft is None:
        return None
    reference = draft.reference
    digest = _inputs(inputs, DRAFT_INPUT).get(reference)
    if draft.kind == "image":
        entry = image_lock(reference, draft.parent, digest)
    elif draft.kind == "file":
        entry = _file_lock(reference, _weights_paths(plan, media_types.DRAFT), digest, folder)
    elif draft.kind == "checkpoint":
        path = Path(reference).expanduser()
        source = _relative(str(path if path.is_absolute() else folder / path), folder)
        entry = BaseLock(reference=reference, kind="checkpoint", source=source, digest=digest)
    else:
        entry = BaseLock(reference=reference, kind="package", source=reference, digest=digest)
    quantized = _inputs(inputs, DRAFT_QUANTIZE_INPUT).items()
    quantize = [QuantizeLock(type=type_name, digest=output) for type_name, output in quantized]
    return DraftLock(**entry.model_dump(), quantize=quantize[0] if quantize else None)


def _weights_paths(plan: BuildPlan, media_type: str) -> list[str]:
    """The first file of each layer of ``media_type`` that the plan imports."""
    return [
        layer.weights.paths[0]
        for layer in plan.layers
        if layer.weights is not None and layer.media_type == media_type
    ]


def _file_lock(reference: str, paths: list[str], digest: str | None, folder: Path) -> BaseLock:
    """A file's entry: a Hugging Face file by repository and revision, else its path."""
    from_hub = paths and huggingface.is_reference(reference)
    pin = huggingface.pin_of(paths[0]) if from_hub else None
    if pin is not None:
        return BaseLock(
            reference=reference,
            kind="huggingface",
            source=pin.source,
            revision=pin.revision,
            digest=digest,
        )
    source = _relative(paths[0], folder) if paths else reference
    return BaseLock(reference=reference, kind="file", source=source, digest=digest)


def pins(lock: Lockfile) -> dict[str, str]:
    """Hugging Face reference -> the revision ``lock`` pinned it at (FROM's and DRAFT's)."""
    entries = [lock.from_, *([lock.draft] if lock.draft is not None else [])]
    return {
        entry.reference: entry.revision
        for entry in entries
        if entry.kind == "huggingface" and entry.revision is not None
    }


def image_lock(reference: str, image: str | None, weights: str | None) -> BaseLock:
    """FROM an image: ``image`` is its manifest digest, ``weights`` its model blob's."""
    name = ModelName.parse(reference).display()
    return BaseLock(
        reference=reference,
        # A bundled model stays "bundled" once built: a lock written where it was first
        # built must match one written where it was already in the store.
        kind="bundled" if name in bundled.MODELS else "image",
        source=name,
        image=image,
        digest=weights,
    )


def _inputs(inputs: dict[str, str], label: str) -> dict[str, str]:
    """The entries of ``inputs`` whose key's first word is ``label``, keyed by the rest."""
    found = {}
    for key, digest in inputs.items():
        word, _, rest = key.partition(" ")
        if word.lower() == label.lower():
            found[rest] = digest
    return found


def _relative(path: str, folder: Path) -> str:
    """``path`` relative to the Modelfile's folder, with ``/`` on every system."""
    return Path(os.path.relpath(path, folder)).as_posix()


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problem = exc.errors()[0]
        location = ".".join(str(part) for part in problem["loc"]) or "document"
        return f"{location}: {problem['msg']}"
    return str(exc)
