"""The exact prompt an image gives a conversation: the server's and the chat's way in.

A :class:`PromptSource` holds what turns a conversation into a prompt: the image's
compiled template, its SYSTEM and MESSAGE turns, and its tokenizer's special tokens.
The conversation is completed as Ollama's chat handler does it (``server/routes.go``,
``ChatHandler``): the image's MESSAGE turns come first, then the caller's messages, and
the image's SYSTEM goes in front of all of them unless the caller's messages start with
a system message of their own. The template gets ``bos_token`` and ``eos_token`` from
the model's GGUF tokenizer; the image config does not hold them, so they are read from
the weights, once per blob digest (or per file, size and modification time). The server
inspects each header once per load and hands it in (:func:`loaded_source`), so that the
memory planner and the prompt share one reading.

An image with a RENDERER has its prompt written by that built-in renderer
(:mod:`builder.templates.renderers`) instead of its template, as in Ollama; a request
with a ``suffix`` gets a fill-in-the-middle prompt instead (:meth:`PromptSource.fill_in`,
:mod:`builder.templates.fim`).

Nothing here plans a build: a Modelfile's prompt (``ladle render``,
``ladle.render_prompt``) is :mod:`builder.pipeline.preview`, which resolves its FROM
and then comes here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from builder.gguf.file import GGUFInfo, inspect_gguf
from builder.store import media_types
from builder.store.image import Image
from builder.store.store import Store, StoredImage
from builder.templates.chat_template import DEFAULT_TEMPLATE, ChatTemplate, compile_template
from builder.templates.conversation import Message
from builder.templates.fim import fill_in
from builder.templates.go_template import convert_go_template, is_go_template, render_messages
from builder.templates.renderers import renderer_named
from builder.templates.thinking import Think
from ladle.errors import GGUFError, TemplateError

LLAMA_CPP_LOGGER = "llama-cpp-python"
"""The logger llama-cpp-python writes llama.cpp's log to."""


@dataclass(frozen=True)
class SpecialTokens:
    """The tokenizer's BOS and EOS texts, as templates use them, whether tokenizing puts
    a BOS first by itself, and its fill-in-the-middle tokens (prefix, suffix, middle)."""

    bos: str = ""
    eos: str = ""
    adds_bos: bool = False
    fim: tuple[str, str, str] | None = None


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
    renderer: str | None = None
    """The image's RENDERER: a built-in renderer writes the prompt, not the template."""

    def conversation(self, messages: Sequence[Message]) -> list[Message]:
        """``messages`` after the image's MESSAGE turns, behind its SYSTEM (as Ollama)."""
        turns = [*self.messages, *messages]
        if self.system and (not messages or messages[0].get("role") != "system"):
            turns.insert(0, {"role": "system", "content": self.system})
        return turns

    def with_template(self, text: str, origin: str) -> PromptSource:
        """This source with another template, Jinja or Go (a request's ``template``, which
        takes the renderer's place as it does in Ollama)."""
        return replace(self, template=_compiled(text, origin), renderer=None)

    def render(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        add_generation_prompt: bool = True,
        think: Think = None,
    ) -> str:
        """The prompt for ``messages``; :class:`~ladle.errors.TemplateError` if it fails.
        ``think`` (a request's, ``None`` when unset) reaches the template. With a
        RENDERER, the renderer writes it (always ready for the answer, as Ollama's)."""
        if self.renderer is not None:
            return self._rendered(messages, tools, think)
        return render_messages(
            self.template,
            self.conversation(messages),
            tools,
            think=think,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.tokens.bos,
            eos_token=self.tokens.eos,
        )

    def _rendered(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]] | None,
        think: Think,
    ) -> str:
        """The built-in renderer's prompt, without its BOS text when the tokenizer puts
        the BOS first itself (Ollama's ``LeadingBOS``: never two BOS tokens)."""
        try:
            renderer = renderer_named(self.renderer or "")
        except ValueError as error:
            raise TemplateError(str(error), origin=f"RENDERER {self.renderer}") from None
        prompt = renderer.render(self.conversation(messages), tools, think)
        if self.tokens.adds_bos and renderer.leading_bos:
            return prompt.removeprefix(renderer.leading_bos)
        return prompt

    def fill_in(self, prompt: str, suffix: str, think: Think = None) -> str | None:
        """The prompt asking for the text between ``prompt`` and ``suffix``
        (:mod:`builder.templates.fim`), or ``None``: the model cannot fill in."""
        return fill_in(self.template, self.tokens.fim, prompt, suffix, think)


def image_source(store: Store, stored: StoredImage) -> PromptSource:
    """The prompt source of an image already found in ``store`` (``ladle render``'s way in)."""
    return image_parts(store, stored).compile(stored.name.display())


def loaded_source(image: Image, gguf: GGUFInfo | None) -> PromptSource:
    """The prompt source of an image already read, whose weights' header ``gguf`` was
    already inspected (``None``: no weights): the server's way in."""
    return loaded_parts(image, gguf).compile(image.stored.name.display())


@dataclass(frozen=True)
class PromptParts:
    """A prompt source before its template is converted and compiled."""

    template: str | None
    system: str | None
    messages: tuple[Message, ...]
    tokens: SpecialTokens
    model_path: Path | None
    renderer: str | None = None

    def compile(self, origin: str) -> PromptSource:
        """The source with its template compiled (the default template where none)."""
        text = self.template if self.template is not None else DEFAULT_TEMPLATE
        template = _compiled(text, origin)
        return PromptSource(
            template, self.system, self.messages, self.tokens, self.model_path, self.renderer
        )


@functools.lru_cache(maxsize=64)
def _compiled(text: str, origin: str) -> ChatTemplate:
    """Templates compiled once per process: the same text (an image's template layer is
    content-addressed) is not compiled again for the next prompt."""
    jinja = convert_go_template(text) if is_go_template(text) else text
    return compile_template(jinja, origin=origin)


def image_parts(store: Store, stored: StoredImage) -> PromptParts:
    """An image's template, SYSTEM, MESSAGE turns and special tokens."""
    image = Image.read(store, stored)
    models = stored.manifest.layers_of(media_types.MODEL)
    if not models:
        return loaded_parts(image, None)
    _, tokens = _gguf_facts(image.model_path, models[0].digest)
    return PromptParts(
        image.template,
        image.system,
        image.messages,
        tokens,
        image.model_path,
        image.config.renderer,
    )


def loaded_parts(image: Image, gguf: GGUFInfo | None) -> PromptParts:
    """:func:`image_parts` of an image already read, with its weights' header ``gguf``."""
    renderer = image.config.renderer
    if gguf is None:
        tokens = SpecialTokens()
        return PromptParts(image.template, image.system, image.messages, tokens, None, renderer)
    tokens = _special_tokens(gguf, image.stored.name.display())
    return PromptParts(
        image.template, image.system, image.messages, tokens, image.model_path, renderer
    )


def gguf_parts(path: Path) -> PromptParts:
    """A GGUF file's own chat template and special tokens (a FROM of a file)."""
    status = path.stat()
    template, tokens = _gguf_facts(path, f"{status.st_size}:{status.st_mtime_ns}")
    return PromptParts(template, None, (), tokens, path)


# A GGUF's facts never change for a given digest (or file size and mtime), and reading
# them means walking the vocabulary: remember the last few, keyed by both.
@functools.lru_cache(maxsize=32)
def _gguf_facts(path: Path, stamp: str) -> tuple[str | None, SpecialTokens]:
    """The chat template and special tokens of the GGUF at ``path``."""
    info = inspect_gguf(path)
    return info.chat_template, _special_tokens(info, path)


def _special_tokens(info: GGUFInfo, where: str | Path) -> SpecialTokens:
    """The BOS and EOS texts of ``info``; ``where`` names the weights in the error."""
    if info.general_type != "model":
        raise GGUFError(where, "is a LoRA adapter, not a model")
    return SpecialTokens(info.bos_token or "", info.eos_token or "", info.adds_bos, info.fim_tokens)


def count_tokens(model_path: Path, prompt: str) -> int:
    """How many tokens ``model_path``'s tokenizer makes of ``prompt``: special tokens in
    the text count as one token each, and no BOS is added beyond what the text holds."""
    # Heavy, and only needed here. The vocabulary alone is loaded (no weights, no
    # context: ``Llama(vocab_only=True)`` would still make one, and log a warning),
    # through llama-cpp-python's public low-level API (the bindings of llama.h).
    import llama_cpp

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with _llama_cpp_log_level(logging.ERROR):  # not the loader's INFO lines
        model = llama_cpp.llama_model_load_from_file(str(model_path).encode("utf-8"), params)
    if not model:
        raise GGUFError(model_path, "llama.cpp cannot load its vocabulary")
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        text = prompt.encode("utf-8")
        # llama.h: with too small a buffer (here none), llama_tokenize returns minus the
        # number of tokens the text makes.
        return abs(int(llama_cpp.llama_tokenize(vocab, text, len(text), None, 0, False, True)))
    finally:
        llama_cpp.llama_model_free(model)


@contextlib.contextmanager
def _llama_cpp_log_level(level: int) -> Iterator[None]:
    """llama.cpp's log, which llama-cpp-python passes to its ``llama-cpp-python`` logger,
    at ``level`` for a while (what its ``verbose=False`` sets, without the fd juggling)."""
    logger = logging.getLogger(LLAMA_CPP_LOGGER)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
