"""A Hugging Face checkpoint folder: its ``config.json``, its safetensors shards, the
files its tokenizer is read from.

The shards are the ones ``model.safetensors.index.json`` lists, else
``model-*-of-*.safetensors`` or ``model.safetensors`` (as transformers saves them), else
``consolidated*.safetensors`` (with Hugging Face tensor names and a ``config.json``).
Every shard's header is read and checked when the folder is opened, and every tensor the
index names must be in the shard it names, so a bad folder fails before anything is
converted.

PyTorch checkpoints (``pytorch_model*.bin``, ``*.pt``, ``*.pth``) are refused: they are
Python pickles, and loading a pickle runs whatever code it carries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt

from builder.convert.safetensors import SafetensorsFile, TensorEntry
from ladle.errors import BuildInputError

CONFIG = "config.json"
INDEX = "model.safetensors.index.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
)
"""Files beside the weights that the converted GGUF's vocabulary and template come from."""

PEFT_CONFIG = "adapter_config.json"
"""The file that makes a folder a PEFT adapter, for ADAPTER rather than FROM."""

PICKLE_PATTERNS = ("pytorch_model*.bin", "*.pt", "*.pth", "consolidated*.bin")
MAX_JSON_BYTES = 64 * 1024 * 1024
"""``config.json``, an index, a tokenizer: larger ones are refused unread."""


def looks_like_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds checkpoint weights: safetensors (or PyTorch ones, to
    refuse). A ``config.json`` alone is not a model."""
    return any(folder.glob("*.safetensors")) or bool(_pickles(folder))


@dataclass(frozen=True)
class TensorSource:
    """Where one tensor of the checkpoint is: its shard and header entry."""

    shard: SafetensorsFile
    entry: TensorEntry

    def read(self) -> npt.NDArray[Any]:
        return self.shard.read(self.entry.name)


class Checkpoint:
    """An opened checkpoint folder; ``BuildInputError`` names the file at fault."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        shards = _shard_paths(folder)  # first: pickles are refused before anything is read
        self.config = read_json(folder / CONFIG, what="the model's configuration")
        self.shards = [SafetensorsFile(path) for path in shards]
        self.tensors = _index_tensors(self.shards)
        _check_index(folder, self.tensors)

    def input_files(self) -> list[Path]:
        """Every file the conversion reads, in a fixed order."""
        names = [CONFIG, *([INDEX] if (self.folder / INDEX).is_file() else []), *TOKENIZER_FILES]
        files = [self.folder / name for name in names if (self.folder / name).is_file()]
        return files + [shard.path for shard in self.shards]

    def named(self, name: str) -> Path:
        """The path of ``name`` in the folder (that may not exist)."""
        return self.folder / name

    def items(self) -> Iterator[tuple[str, TensorSource]]:
        """Every tensor, by name, in the order of the shards."""
        yield from self.tensors.items()


def read_json(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; ``BuildInputError`` names the file when it is missing,
    too large or not a JSON object."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise BuildInputError(f"{path}: larger than {MAX_JSON_BYTES} bytes; refused unread")
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildInputError(f"{path} is missing: it holds {what}") from None
    except OSError as exc:
        raise BuildInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BuildInputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BuildInputError(f"{path} is not a JSON object")
    return value


def _pickles(folder: Path) -> list[Path]:
    return sorted({path for pattern in PICKLE_PATTERNS for path in folder.glob(pattern)})


def _shard_paths(folder: Path) -> list[Path]:
    if (folder / PEFT_CONFIG).is_file():
        raise BuildInputError(
            f"{folder} is a PEFT adapter ({PEFT_CONFIG}): name it in ADAPTER, with the model "
            "it was trained on in FROM"
        )
    index = folder / INDEX
    if index.is_file():
        return _indexed_shards(folder, index)
    shards = (
        sorted(folder.glob("model-*-of-*.safetensors"))
        or sorted(folder.glob("model.safetensors"))
        or sorted(folder.glob("consolidated*.safetensors"))  # as Ollama takes them, last
    )
    if shards:
        return shards
    pickles = _pickles(folder)
    if pickles:
        raise BuildInputError(
            f"{folder}: its weights are PyTorch pickles ({pickles[0].name}); ladle does not "
            "load pickles, since loading one runs any code it holds. Save the model as "
            "safetensors (save_pretrained(..., safe_serialization=True)) and build again"
        )
    others = sorted(path.name for path in folder.glob("*.safetensors"))
    found = f" (it has {', '.join(others)}: not model weights by their names)" if others else ""
    raise BuildInputError(
        f"{folder}: no model weights: expected model.safetensors, model-*-of-*.safetensors "
        f"or {INDEX}{found}"
    )


def _indexed_shards(folder: Path, index: Path) -> list[Path]:
    weight_map = read_json(index, what="the list of shards").get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise BuildInputError(f"{index}: 'weight_map' is missing or empty")
    names = set(weight_map.values())
    for name in sorted(names, key=str):
        if not isinstance(name, str) or Path(name).name != name or not name:
            raise BuildInputError(f"{index}: {name!r} is not a file name in this folder")
        if not (folder / name).is_file():
            raise BuildInputError(f"{index} lists the shard {name}, but {folder / name} is missing")
    return [folder / name for name in sorted(names)]


def _index_tensors(shards: list[SafetensorsFile]) -> dict[str, TensorSource]:
    tensors: dict[str, TensorSource] = {}
    for shard in shards:
        for name, entry in shard.tensors.items():
            if name in tensors:
                raise BuildInputError(
                    f"{shard.path}: tensor {name!r} is also in {tensors[name].shard.path.name}"
                )
            tensors[name] = TensorSource(shard, entry)
    return tensors


def _check_index(folder: Path, tensors: dict[str, TensorSource]) -> None:
    index = folder / INDEX
    if not index.is_file():
        return
    weight_map = read_json(index, what="the list of shards")["weight_map"]
    for name, shard in weight_map.items():
        found = tensors.get(name)
        if found is None or found.shard.path.name != shard:
            raise BuildInputError(f"{index} puts tensor {name!r} in {shard}, which lacks it")
