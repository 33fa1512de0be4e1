"""The exact prompt a model gets for a conversation, from an image or a Modelfile.

:func:`render_prompt` (also ``ladle.render_prompt``) is what users pin with snapshot
tests. It takes an image in the store, or a Modelfile whose FROM is resolved the way
``ladle create`` resolves it (:class:`~builder.resolver.Resolver`) but with nothing
written: an image base is read (:class:`~builder.image.Image`), a GGUF file or
bundled weights are inspected (:func:`~builder.gguf_file.inspect_gguf`), and a bundled
model name is read through the Modelfile ladle ships for it. The Modelfile's TEMPLATE,
SYSTEM and MESSAGE then apply over the base as in :mod:`builder.plan`: TEMPLATE and
SYSTEM replace the base's (``SYSTEM ""`` clears it), MESSAGE replaces its messages.

The conversation is completed as Ollama's chat handler does it (``server/routes.go``,
``ChatHandler``): the image's MESSAGE turns come first, then the caller's messages, and
the image's SYSTEM goes in front of all of them unless the caller's messages start with
a system message of their own. The template gets ``bos_token`` and ``eos_token`` from
the model's GGUF tokenizer; the image config does not hold them, so they are read from
the weights, once per blob digest (or per file, size and modification time).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import modelfile
from builder import media_types
from builder.chat_template import DEFAULT_TEMPLATE, ChatTemplate, compile_template
from builder.conversation import Message, check_messages
from builder.gguf_file import inspect_gguf
from builder.gguf_header import read_joined_header
from builder.gguf_header_cursor import string_item
from builder.go_template import convert_go_template, is_go_template, render_messages
from builder.image import Image
from builder.names import ModelName
from builder.plan import modelfile_folder
from builder.resolver import BundledBase, FileBase, ImageBase, PackageBase, Resolver
from builder.store import Store, StoredImage
from ladle.errors import GGUFError
from ladle.settings import Settings
from modelfile import ModelSpec

#: File names that stand for a Modelfile even when no such file exists, so that a
#: mistyped path is reported as a missing file rather than as an unknown image.
_PATH_PREFIXES = (".", "/", "~")


@dataclass(frozen=True)
class SpecialTokens:
    """The tokenizer's BOS and EOS texts, as templates use them."""

    bos: str = ""
    eos: str = ""


@dataclass(frozen=True)
class PromptSource:
    """What turns a conversation into a prompt: a compiled template, the image's system
    prompt and MESSAGE turns, its special tokens, and the weights (to count tokens)."""

    template: ChatTemplate
    system: str | None
    messages: tuple[Message, ...]
    tokens: SpecialTokens
    model_path: Path | None
    """The GGUF whose tokenizer counts the prompt; ``None`` for joined split weights."""

    def conversation(self, messages: Sequence[Message]) -> list[Message]:
        """``messages`` after the image's MESSAGE turns, behind its SYSTEM (as Ollama)."""
        turns = [*self.messages, *messages]
        if self.system and (not messages or messages[0].get("role") != "system"):
            turns.insert(0, {"role": "system", "content": self.system})
        return turns

    def with_template(self, text: str, origin: str) -> PromptSource:
        """This source with another template, Jinja or Go (a request's ``template``)."""
        return replace(self, template=_compiled(text, origin))

    def render(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        add_generation_prompt: bool = True,
    ) -> str:
        """The prompt for ``messages``; :class:`~ladle.errors.TemplateError` if it fails."""
        return render_messages(
            self.template,
            self.conversation(messages),
            tools,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.tokens.bos,
            eos_token=self.tokens.eos,
        )


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


def image_source(store: Store, stored: StoredImage) -> PromptSource:
    """The prompt source of an image already found in ``store`` (the server's way in)."""
    return _image_parts(store, stored).compile(stored.name.display())


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


@dataclass(frozen=True)
class _Parts:
    """A prompt source before its template is converted and compiled."""

    template: str | None
    system: str | None
    messages: tuple[Message, ...]
    tokens: SpecialTokens
    model_path: Path | None

    def compile(self, origin: str) -> PromptSource:
        text = self.template if self.template is not None else DEFAULT_TEMPLATE
        template = _compiled(text, origin)
        return PromptSource(template, self.system, self.messages, self.tokens, self.model_path)


@functools.lru_cache(maxsize=64)
def _compiled(text: str, origin: str) -> ChatTemplate:
    """Templates compiled once per process: the same text (an image's template layer is
    content-addressed) is not compiled again for the next prompt."""
    jinja = convert_go_template(text) if is_go_template(text) else text
    return compile_template(jinja, origin=origin)


def _overlay(base: _Parts, spec: ModelSpec) -> _Parts:
    """``spec``'s TEMPLATE, SYSTEM and MESSAGE over ``base`` (builder.plan's rules)."""
    template = spec.template if spec.template is not None else base.template
    system = spec.system if spec.system is not None else base.system
    messages = tuple(m.model_dump() for m in spec.messages) if spec.messages else base.messages
    return replace(base, template=template, system=system or None, messages=messages)


def _base_parts(reference: str, resolver: Resolver) -> _Parts:
    base = resolver.resolve(reference)
    match base:
        case ImageBase(image=stored):
            return _image_parts(resolver.store, stored)
        case FileBase(path=path):
            return _gguf_parts(path)
        case PackageBase(weights=weights):
            paths = weights.paths()
            return _gguf_parts(paths[0]) if len(paths) == 1 else _joined_parts(paths, reference)
        case BundledBase(model=model):
            text = model.modelfile_text()
            spec = modelfile.parse(text, f"<bundled {model.name}>").validate()
            return _overlay(_base_parts(spec.from_, resolver), spec)
    raise AssertionError(f"unhandled base {base!r}")


def _image_parts(store: Store, stored: StoredImage) -> _Parts:
    image = Image.read(store, stored)
    models = stored.manifest.layers_of(media_types.MODEL)
    if not models:
        return _Parts(image.template, image.system, image.messages, SpecialTokens(), None)
    _, tokens = _gguf_facts(image.model_path, models[0].digest)
    return _Parts(image.template, image.system, image.messages, tokens, image.model_path)


def _gguf_parts(path: Path) -> _Parts:
    status = path.stat()
    template, tokens = _gguf_facts(path, f"{status.st_size}:{status.st_mtime_ns}")
    return _Parts(template, None, (), tokens, path)


# A GGUF's facts never change for a given digest (or file size and mtime), and reading
# them means walking the vocabulary: remember the last few, keyed by both.
@functools.lru_cache(maxsize=32)
def _gguf_facts(path: Path, stamp: str) -> tuple[str | None, SpecialTokens]:
    """The chat template and special tokens of the GGUF at ``path``."""
    info = inspect_gguf(path)
    if info.general_type != "model":
        raise GGUFError(path, "is a LoRA adapter, not a model")
    return info.chat_template, SpecialTokens(info.bos_token or "", info.eos_token or "")


def _joined_parts(paths: Sequence[Path], reference: str) -> _Parts:
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
    return _Parts(template if isinstance(template, str) else None, None, (), tokens, None)


def count_tokens(model_path: Path, prompt: str) -> int:
    """How many tokens ``model_path``'s tokenizer makes of ``prompt``: special tokens in
    the text count as one token each, and no BOS is added beyond what the text holds."""
    # Heavy, and only needed here. The vocabulary alone is loaded (no weights, no
    # context: ``Llama(vocab_only=True)`` would still make one, and log a warning).
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        vocab = LlamaModel(path_model=str(model_path), params=params, verbose=False)
    except ValueError as error:  # llama_cpp's way of saying "cannot load"
        raise GGUFError(model_path, f"llama.cpp cannot load its vocabulary: {error}") from None
    with contextlib.closing(vocab):
        return len(vocab.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
