"""Built-in renderers: a Modelfile's ``RENDERER``, by the names Ollama gives them.

A renderer writes a model's prompt in code instead of a chat template (Ollama's
``model/renderers``): from the conversation, the tools and the request's ``think``,
exactly as Ollama's renderer of the same name writes it, so that an image built with
``RENDERER qwen3-coder`` (or pulled from Ollama with it) prompts its model the same way
under ladle. :data:`RENDERER_NAMES` lists them: every renderer Ollama registers
(``model/renderers/renderer.go``); any other name is a build error listing them.

An image's renderer comes from its Modelfile, its base image, or (only where Ollama
picks one, :func:`architecture_defaults`) its weights' architecture.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.templates.renderers import (
    cohere,
    deepseek,
    functiongemma,
    gemma4,
    glimmer,
    glm,
    laguna,
    lfm2,
    nemotron,
    olmo,
    qwen,
)
from builder.templates.renderers.values import Message, Struct, messages_of, tools_of
from builder.templates.thinking import Think
from ladle.errors import TemplateError

RenderFunction = Callable[[list[Message], list[Struct], Think], str]


@dataclass(frozen=True)
class Renderer:
    """One built-in renderer: its name, how it renders, and the BOS text it writes first
    (Ollama's ``LeadingBOS``: dropped when the tokenizer adds its own)."""

    name: str
    function: RenderFunction
    leading_bos: str = ""

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        think: Think = None,
    ) -> str:
        """The prompt for ``messages`` (Ollama's or OpenAI's JSON), ``tools`` and ``think``
        (``None``: not sent); :class:`~ladle.errors.TemplateError` if the renderer refuses
        the conversation."""
        try:
            return self.function(messages_of(messages), tools_of(tools), think)
        except TemplateError as error:
            raise TemplateError(error.reason, origin=f"renderer {self.name}") from None


_BUILT_IN = (
    Renderer("qwen3-coder", qwen.render_qwen3_coder),
    Renderer("qwen3-vl-instruct", qwen.qwen3_vl(thinking=False)),
    Renderer("qwen3-vl-thinking", qwen.qwen3_vl(thinking=True)),
    Renderer("qwen3.5", qwen.Qwen35()),
    Renderer("qwen3.8", qwen.Qwen35(qwen38=True, always_think_block=True)),
    Renderer("ornith", qwen.Qwen35(always_think_block=True)),
    Renderer("cogito", deepseek.render_cogito, deepseek.BOS),
    Renderer("deepseek3.1", deepseek.render_deepseek31, deepseek.BOS),
    Renderer("olmo3", olmo.olmo3(extended=False)),
    Renderer("olmo3.1", olmo.olmo3(extended=True)),
    Renderer("olmo3-think", olmo.olmo3_think(olmo31=True)),
    Renderer("olmo3-32b-think", olmo.olmo3_think(olmo31=False)),
    Renderer("glm-4.7", glm.render_glm47),
    Renderer("glm-ocr", glm.render_glm_ocr),
    Renderer("lfm2", lfm2.lfm2(thinking=False), lfm2.BOS),
    Renderer("lfm2-thinking", lfm2.lfm2(thinking=True), lfm2.BOS),
    Renderer("nemotron-3-nano", nemotron.Nemotron3Nano()),
    Renderer("nemotron-3.5-nano", nemotron.Nemotron3Nano(v35=True)),
    Renderer("gemma4", gemma4.Gemma4(), gemma4.BOS),
    Renderer("gemma4-small", gemma4.Gemma4(), gemma4.BOS),
    Renderer("gemma4-large", gemma4.Gemma4(empty_block_on_nothink=True), gemma4.BOS),
    Renderer("functiongemma", functiongemma.render_functiongemma, functiongemma.BOS),
    Renderer("laguna", laguna.render_laguna, laguna.BOS),
    Renderer("poolside-v1", laguna.render_poolside_v1, laguna.BOS),
    Renderer("cohere", cohere.render_cohere),
    Renderer("glimmer", glimmer.Glimmer(), glimmer.BOS),
)

_BY_NAME = {renderer.name: renderer for renderer in _BUILT_IN}

RENDERER_NAMES: tuple[str, ...] = tuple(_BY_NAME)
"""The ``RENDERER`` names ladle implements, as Ollama spells them."""

# Ollama's create step (server/create.go) names a renderer and a parser for a GGUF of
# these architectures when the Modelfile names none; nowhere else is one picked.
_BY_ARCHITECTURE = {
    "gemma4": ("gemma4", "gemma4"),
    "laguna": ("laguna", "laguna"),
    "nemotron_h": ("nemotron-3-nano", "nemotron-3-nano"),
    "nemotron_h_moe": ("nemotron-3-nano", "nemotron-3-nano"),
    "nemotron_h_omni": ("nemotron-3-nano", "nemotron-3-nano"),
}


def renderer_named(name: str) -> Renderer:
    """The built-in renderer ``name``; ``ValueError`` naming it and listing the known
    ones when there is none."""
    renderer = _BY_NAME.get(name)
    if renderer is not None:
        return renderer
    raise ValueError(f"unknown RENDERER {name!r}; known renderers: {', '.join(RENDERER_NAMES)}")


def architecture_defaults(architecture: str) -> tuple[str | None, str | None]:
    """The RENDERER and PARSER Ollama gives a GGUF of ``architecture`` whose Modelfile
    names none (``None``: the chat template decides), by Ollama's names (ladle has every
    renderer; a parser it lacks is left to the template)."""
    return _BY_ARCHITECTURE.get(architecture, (None, None))
