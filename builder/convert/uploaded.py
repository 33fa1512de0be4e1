"""A checkpoint folder sent to a server: the files a client sends, and the folder the
server converts.

Client side (``ladle create --host``): :func:`checkpoint_files` picks the folder's files
as Ollama's client does (``parser.filesForModel``): the weights (``model*.safetensors``
and a sentence-transformers module's ``*/model*.safetensors``, else
``consolidated*.safetensors``), every ``*.json`` and ``*/*.json``, ``chat_template.jinja``
and ``tokenizer.model``. PyTorch pickles, which Ollama's client would send, are refused
there, naming the file (loading a pickle runs the code it carries).

A PEFT adapter (``ADAPTER ./my-lora``) is sent as its two files in ``adapters``
(:func:`prepare_adapter_upload` on the server), converted for the base by the build.

Server side (``/api/create`` with ``files``): :func:`prepare_upload` lays the uploaded
blobs out under their relative names as a folder of links in the store's private area,
keyed by the names and digests (so the same upload makes the same folder, and the
converter's cache finds its GGUF), then checks it as a build would, before the response
stream starts. Weights the converter would not read are refused rather than dropped: a
sentence-transformers module (``2_Dense/model.safetensors``), a ``consolidated`` file
beside the model's shards, a pickle. Other files (``generation_config.json``, a
module's ``config.json``) are metadata the GGUF does not take; they are kept, unread.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from builder.convert.checkpoint import PICKLE_PATTERNS, Checkpoint
from builder.convert.lora import CONFIG as PEFT_CONFIG
from builder.convert.lora import WEIGHTS as PEFT_WEIGHTS
from builder.convert.lora import check_adapter
from builder.convert.writer import plan_conversion
from builder.store.store import Store
from ladle.errors import BuildInputError

UPLOADS = ("uploads", "checkpoints")
"""Under the store's private folder: one folder of links per uploaded checkpoint."""

WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth")

PEFT_FILES = (PEFT_CONFIG, PEFT_WEIGHTS)
"""The files of a PEFT adapter, as a client sends them in ``adapters``."""


def checkpoint_files(folder: Path) -> list[Path]:
    """The files of the checkpoint in ``folder`` a client sends, in Ollama's order."""
    if (folder / PEFT_CONFIG).is_file():
        raise BuildInputError(
            f"{folder} is a PEFT adapter ({PEFT_CONFIG}): name it in ADAPTER, with the model "
            "it was trained on in FROM"
        )
    weights = sorted(folder.glob("model*.safetensors"))
    if weights:
        weights += sorted(folder.glob("*/model*.safetensors"))
    else:
        weights = sorted(folder.glob("consolidated*.safetensors"))
    if not weights:
        refuse_pickles([path.name for path in folder.iterdir()], folder)
        raise BuildInputError(f"{folder}: no *.safetensors model weights")
    config = sorted(folder.glob("*.json")) + sorted(folder.glob("*/*.json"))
    tokenizer = sorted(folder.glob("tokenizer.model")) or sorted(folder.glob("*/tokenizer.model"))
    picked = [*weights, *config, *sorted(folder.glob("chat_template.jinja")), *tokenizer]
    return list(dict.fromkeys(path for path in picked if path.is_file()))


def is_pickle(name: str) -> bool:
    """Whether ``name`` is a PyTorch checkpoint file by its name (its folder aside)."""
    return any(fnmatch.fnmatch(PurePosixPath(name).name, pattern) for pattern in PICKLE_PATTERNS)


def refuse_pickles(names: list[str], where: Path | None = None) -> None:
    """``BuildInputError`` naming the first PyTorch pickle among ``names`` (in ``where``)."""
    for name in sorted(names):
        if is_pickle(name):
            raise BuildInputError(
                f"{f'{where}: ' if where else ''}{name} is a PyTorch pickle; ladle does not "
                "load pickles, since "
                "loading one runs any code it holds. Save the model as safetensors "
                "(save_pretrained(..., safe_serialization=True)) and send that"
            )


def is_checkpoint_upload(names: list[str]) -> bool:
    """Whether the files of a create request are a checkpoint's rather than one GGUF."""
    return any(name.endswith(WEIGHTS_SUFFIXES) or is_pickle(name) for name in names)


def prepare_upload(store: Store, blobs: dict[str, Path], name: str) -> Path:
    """The folder (named ``name``: the GGUF's ``general.name``) holding ``blobs`` under
    their relative names, checked as a conversion would check it. ``BuildInputError``
    names the file at fault by the name the client sent."""
    for relative in blobs:
        _check_name(relative)
    refuse_pickles(list(blobs))
    nested = sorted(key for key in blobs if "/" in key and key.endswith(WEIGHTS_SUFFIXES))
    if nested:
        raise BuildInputError(
            f"{nested[0]} is a sentence-transformers module's weights; ladle converts "
            "the model alone (a decoder for text generation), not the modules after it"
        )
    folder = _linked_folder(store, blobs, name)
    try:
        _check(folder, blobs)
    except BuildInputError as error:
        message = str(error).replace(f"{folder}{os.sep}", "").replace(str(folder), "the files sent")
        raise BuildInputError(message) from None
    return folder


def is_peft_upload(names: list[str]) -> bool:
    """Whether the ``adapters`` of a create request are a PEFT adapter's files."""
    return any(name in PEFT_FILES for name in names)


def prepare_adapter_upload(store: Store, blobs: dict[str, Path]) -> Path:
    """The folder holding an uploaded PEFT adapter's two files, checked as far as it
    can be without the base (which the build checks it against)."""
    for name in sorted(blobs):
        if name not in PEFT_FILES:
            raise BuildInputError(
                f"{name}: a PEFT adapter is sent as {' and '.join(PEFT_FILES)} alone"
            )
    for name in PEFT_FILES:
        if name not in blobs:
            raise BuildInputError(f"{name} is missing: a PEFT adapter needs it")
    folder = _linked_folder(store, blobs, "adapter")
    try:
        check_adapter(folder)
    except BuildInputError as error:
        raise BuildInputError(str(error).replace(f"{folder}{os.sep}", "")) from None
    return folder


def _check(folder: Path, blobs: dict[str, Path]) -> None:
    checkpoint = Checkpoint(folder)
    shards = {shard.path.name for shard in checkpoint.shards}
    for key in sorted(blobs):
        if key.endswith(".safetensors") and key not in shards:
            raise BuildInputError(
                f"{key} is not one of the model's shards ({', '.join(sorted(shards))}), "
                "so it would not be converted; send the model's weights alone"
            )
    plan_conversion(checkpoint)


def _check_name(name: str) -> None:
    """A file name relative to the checkpoint's folder, one folder deep at most."""
    parts = PurePosixPath(name).parts
    safe = all(part not in ("", ".", "..") and not part.startswith(".") for part in parts)
    safe = safe and all(ord(char) >= 32 for char in name)
    if not name or "\\" in name or name.startswith("/") or not safe or len(parts) > 2:
        raise BuildInputError(
            f"{name!r} is not a file name in a checkpoint folder (a name, or "
            "folder/name, without '..')"
        )


def _linked_folder(store: Store, blobs: dict[str, Path], name: str) -> Path:
    """The store's folder of links for this upload, made once (atomically, so that two
    requests with the same files at once both find it whole)."""
    key = json.dumps([name, sorted((k, str(v)) for k, v in blobs.items())]).encode("utf-8")
    parent = store.private_folder(*UPLOADS)
    final = parent / hashlib.sha256(key).hexdigest()
    if final.is_dir() and all((final / name / k).exists() for k in blobs):
        return final / name
    temp = Path(tempfile.mkdtemp(dir=parent, prefix=".new-"))
    for relative, blob in blobs.items():
        link = temp / name / relative
        try:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(blob)
        except OSError:  # "config.json" and "config.json/x": a file and a folder
            shutil.rmtree(temp, ignore_errors=True)
            raise BuildInputError(f"{relative}: its name clashes with another file's") from None
    shutil.rmtree(final, ignore_errors=True)  # links to blobs since removed: made again
    try:
        temp.rename(final)
    except OSError:  # another request made it meanwhile, with the same links
        shutil.rmtree(temp, ignore_errors=True)
    return final / name
