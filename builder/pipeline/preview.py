"""The prompt a Modelfile (or an image name) gives a conversation, with nothing built.

:func:`render_prompt` (also ``ladle.render_prompt``) is what users pin with snapshot
tests. It takes an image in the store, or a Modelfile whose FROM is resolved the way
``ladle create`` resolves it (:class:`~builder.pipeline.resolver.Resolver`) but with
nothing written: an image base is read, a GGUF file or bundled weights are inspected,
and a bundled model name is read through the Modelfile ladle ships for it. The
Modelfile's TEMPLATE, SYSTEM and MESSAGE then apply over the base as in
:mod:`builder.pipeline.plan`: TEMPLATE and SYSTEM replace the base's (``SYSTEM ""``
clears it), MESSAGE replaces its messages. The conversation itself is completed by
:class:`builder.prompt.PromptSource`, as the server completes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import modelfile
from builder.gguf.file import inspect_gguf
from builder.gguf.header import read_joined_header
from builder.gguf.header_cursor import string_item
from builder.pipeline.plan import modelfile_folder
from builder.pipeline.resolver import BundledBase, FileBase, ImageBase, PackageBase, Resolver
from builder.prompt import (
    PromptParts,
    PromptSource,
    SpecialTokens,
    gguf_parts,
    image_parts,
    image_source,
)
from builder.store.names import ModelName
from builder.store.store import Store
from builder.templates.conversation import check_messages
from builder.templates.renderers import architecture_defaults
from ladle.settings import Settings
from modelfile import ModelSpec

#: File names that stand for a Modelfile even when no such file exists, so that a
#: mistyped path is reported as a missing file rather than as an unknown image.
_PATH_PREFIXES = (".", "/", "~")


def render_prompt(
    image_or_modelfile: str | os.PathLike[str],
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    add_generation_prompt: bool = True,
    *,
    settings: Settings | None = None,
) -> str:
    """The exact prompt (special tokens as text) that ``image_or_modelfile`` gives
    ``messages``.

    ``image_or_modelfile`` is a path to a Modelfile (a :class:`~pathlib.Path`, an
    existing file, or a folder holding a ``Modelfile``) or the name of an image in the
    store of ``settings`` (default: ``$LADLE_MODELS``). Nothing is written anywhere.
    """
    store = Store((settings or Settings.from_environment()).models)
    source = load_prompt_source(image_or_modelfile, store)
    checked = check_messages(messages, "messages")
    return source.render(checked, tools, add_generation_prompt=add_generation_prompt)


def load_prompt_source(target: str | os.PathLike[str], store: Store) -> PromptSource:
    """The prompt source of a Modelfile path or an image name (see :func:`render_prompt`)."""
    path = modelfile_path(target)
    if path is not None:
        return modelfile_source(path, store)
    name = ModelName.parse(os.fspath(target))
    return image_source(store, store.get(name))


def modelfile_path(target: str | os.PathLike[str]) -> Path | None:
    """The Modelfile ``target`` names, or ``None`` when it is an image name."""
    path = Path(target).expanduser()
    if path.is_dir() and (path / "Modelfile").is_file():
        return path / "Modelfile"
    text = os.fspath(target)
    if not isinstance(target, str) or path.is_file() or text.startswith(_PATH_PREFIXES):
        return path
    return path if path.name.lower().endswith("modelfile") else None


def modelfile_source(path: Path, store: Store) -> PromptSource:
    """The prompt source of the Modelfile at ``path``, its FROM resolved in ``store``."""
    spec = modelfile.parse_file(path).validate()
    resolver = Resolver(store, modelfile_folder(path))
    return _overlay(_base_parts(spec.from_, resolver), spec).compile(str(path))


def base_template(reference: str, store: Store, folder: Path) -> str | None:
    """The chat template a FROM would give an image (its own, or its GGUF's), if any."""
    return _base_parts(reference, Resolver(store, folder)).template


def _overlay(base: PromptParts, spec: ModelSpec) -> PromptParts:
    """``spec``'s TEMPLATE, SYSTEM, MESSAGE and RENDERER over ``base``
    (builder.pipeline.plan's rules)."""
    template = spec.template if spec.template is not None else base.template
    system = spec.system if spec.system is not None else base.system
    messages = tuple(m.model_dump() for m in spec.messages) if spec.messages else base.messages
    renderer = spec.renderer or base.renderer
    return replace(
        base, template=template, system=system or None, messages=messages, renderer=renderer
    )


def _base_parts(reference: str, resolver: Resolver) -> PromptParts:
    base = resolver.resolve(reference)
    match base:
        case ImageBase(image=stored):
            return image_parts(resolver.store, stored)
        case FileBase(path=path):
            renderer, _ = architecture_defaults(inspect_gguf(path).architecture)
            return replace(gguf_parts(path), renderer=renderer)
        case PackageBase(weights=weights):
            paths = weights.paths()
            return gguf_parts(paths[0]) if len(paths) == 1 else _joined_parts(paths, reference)
        case BundledBase(model=model):
            text = model.modelfile_text()
            spec = modelfile.parse(text, f"<bundled {model.name}>").validate()
            return _overlay(_base_parts(spec.from_, resolver), spec)
    raise AssertionError(f"unhandled base {base!r}")


def _joined_parts(paths: Sequence[Path], reference: str) -> PromptParts:
    """Split bundled weights: the header is read across the parts, nothing is joined."""
    header, buf = read_joined_header(paths, reference)
    template = header.metadata.get("tokenizer.chat_template")
    vocabulary = header.arrays.get("tokenizer.ggml.tokens")

    def token(key: str) -> str:
        token_id = header.metadata.get(key)
        if vocabulary is None or type(token_id) is not int:
            return ""
        return string_item(buf, vocabulary, token_id) or ""

    tokens = SpecialTokens(
        token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")
    )
    return PromptParts(template if isinstance(template, str) else None, None, (), tokens, None)
