"""Output parsers by the names Ollama's ``PARSER`` uses, and the one a template implies.

A model's reply may hold three things, one after the other: its reasoning, the answer,
and tool calls. How each is marked is the model's own (its training):
``<think>…</think>`` then ``<tool_call>{…}</tool_call>`` for Qwen3, the channels of
OpenAI's harmony format for gpt-oss, ``[THINK]…[/THINK]`` then ``[TOOL_CALLS]`` for
Ministral, messages to recipients for Glimmer. An :class:`OutputParser` names both halves:
how the reasoning is marked (:class:`~builder.templates.thinking.ThinkTags`) and the
tool-call format of :mod:`builder.templates.tool_calls` that the answer is read with, or
a format read whole, reasoning and calls included (harmony, Glimmer).

A Modelfile's ``PARSER`` picks one by the name Ollama gives it (``model/parsers``,
``ParserForName``); :data:`PARSER_NAMES` lists those ladle implements:

======================  ==============  ==============  ===========================
name                    reasoning       tool calls      note
======================  ==============  ==============  ===========================
``passthrough``         none            template's      the reply as it is
``qwen3``               none            hermes          Qwen3 instruct
``qwen3-thinking``      ``<think>``     hermes          the prompt opens the block
``qwen3-vl-instruct``   none            hermes
``qwen3-vl-thinking``   ``<think>``     hermes          the prompt opens the block
``qwen3-coder``         none            qwen3-coder     XML calls, typed by tools
``qwen3.5``             ``<think>``     qwen3-coder     also ``ornith``
``nemotron-3-nano``     ``<think>``     qwen3-coder     also ``nemotron-3.5-nano``
``glm-4.7``             ``<think>``     glm             ``<arg_key>`` pairs
``glm-ocr``             none            glm
``laguna``              ``<think>``     glm             also ``poolside-v1``
``deepseek3``           ``<think>``     deepseek3       DeepSeek's call tokens
``cogito``              ``<think>``     cogito          the same, JSON fenced
``olmo3``               none            olmo3           Python-style calls
``olmo3-think``         ``<think>``     none            the prompt opens the block
``lfm2``                none            pythonic        also ``lfm2-thinking``
``gemma4``              ``<|channel>``  gemma4          Gemma's call notation
``gemma4-no-thinking``  none            gemma4
``functiongemma``       none            functiongemma   the same, ``<escape>``
``cohere``              START_THINKING  cohere          ``<|START_ACTION|>`` JSON
``harmony``             ``analysis``    harmony         gpt-oss (:mod:`.harmony`)
``ministral``           ``[THINK]``     mistral         Ministral 3, Magistral
``glimmer``             ``to=self``     ATEM            messages to recipients
======================  ==============  ==============  ===========================

The tool-call formats are :mod:`builder.templates.tool_calls`'s and those of
:mod:`.tool_call_xml`, :mod:`.tool_call_text` and :mod:`.tool_call_gemma`; Glimmer's
are :mod:`.glimmer`'s (:mod:`.glimmer_atem`). Where a
parser's prompt may open the reasoning itself (GLM-4.7, Qwen3.5, Nemotron, DeepSeek),
the prompt's end tells :class:`~builder.templates.reply_stream.ReplyStream` that the
reply starts inside it.

Without a ``PARSER``, :func:`parser_for_template` reads the chat template (and the
template family): a gpt-oss template gets ``harmony``, a template with ``[THINK]`` and
``[/THINK]`` gets ``ministral``, one that writes ``<think>`` and ``</think>`` (or cuts
earlier answers at ``</think>``, as Qwen's and DeepSeek's do) reasons between those
tags, as Ollama infers a template's thinking tags (Gemma 4's in its thought channel);
anything else does not reason. A template that writes calls in one of the formats above
has them read in it (:func:`own_call_format`); else the template's markers and family
choose (:func:`~builder.templates.tool_calls.parser_for_family`).
:class:`~builder.templates.reply_stream.ReplyStream` applies a parser to a reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.templates.glimmer import TOKENS as GLIMMER_TOKENS
from builder.templates.harmony import CHANNEL, CONSTRAIN, ENDS, MESSAGE, START
from builder.templates.thinking import ThinkTags
from builder.templates.tool_call_gemma import FunctionGemmaCallParser, Gemma4CallParser
from builder.templates.tool_call_text import (
    CogitoParser,
    CohereActionParser,
    DeepSeek3Parser,
    Olmo3Parser,
    PythonicParser,
)
from builder.templates.tool_call_xml import GlmParser, Qwen3CoderParser, TypedCallParser
from builder.templates.tool_calls import ToolCallParser, parser_for_family, parser_for_format

THINK = ThinkTags("<think>", "</think>")
"""Qwen3, DeepSeek-R1, QwQ, Cogito, Olmo 3, Nemotron and most other reasoning models."""

MISTRAL_THINK = ThinkTags("[THINK]", "[/THINK]")
"""Magistral and Ministral 3."""

COHERE_THINK = ThinkTags("<|START_THINKING|>", "<|END_THINKING|>")
"""Cohere's Command A and North models (the prompt opens the block when they think)."""

GEMMA4_THINK = ThinkTags("<|channel>thought", "<channel|>")
"""Gemma 4: its thought channel (the control token ``<|channel>``, then the channel's
name, whose line break goes with the blanks that open any reasoning). A prompt that
ends in it (after tool results, when thinking) leaves the reply inside."""

_OWN_FORMATS: dict[str, ToolCallParser] = {
    parser.format: parser
    for parser in (
        Qwen3CoderParser(),
        GlmParser(),
        PythonicParser(),
        Olmo3Parser(),
        DeepSeek3Parser(),
        CogitoParser(),
        Gemma4CallParser(),
        FunctionGemmaCallParser(),
        CohereActionParser(),
    )
}


def tool_format(name: str) -> ToolCallParser:
    """The tool-call parser of the format ``name`` (``ValueError`` for none)."""
    return _OWN_FORMATS.get(name) or parser_for_format(name)


@dataclass(frozen=True)
class OutputParser:
    """How one kind of model writes its reasoning and its tool calls.

    ``thinking`` is the reasoning's tags (``None``: the model does not reason in tags);
    ``harmony``: the reply is harmony channels, calls included; ``glimmer``: it is
    Glimmer's messages to recipients, calls included; ``tools`` the tool-call format
    (:data:`~builder.templates.tool_calls.FORMATS`), ``None`` to take the one the chat
    template implies; ``opened_by_template``: the prompt of a thinking request
    opens the reasoning, so the reply starts inside it (else the prompt tells).
    """

    name: str
    thinking: ThinkTags | None = None
    tools: str | None = None
    harmony: bool = False
    glimmer: bool = False
    opened_by_template: bool = False
    shows: tuple[str, ...] = ()
    """Control tokens the reply is read by that are not whole tags (Gemma 4's
    ``<|channel>``, which opens its longer thinking tag)."""

    @property
    def thinks(self) -> bool:
        """Whether a model read with this parser reasons (Ollama's ``thinking``
        capability)."""
        return self.thinking is not None or self.reads_whole

    @property
    def reads_whole(self) -> bool:
        """Whether the reply is a format read whole, reasoning and calls included
        (harmony's channels, Glimmer's recipients), not thoughts then an answer."""
        return self.harmony or self.glimmer

    @property
    def markup(self) -> tuple[str, ...]:
        """The texts this parser reads the reply by. Some are control tokens of their
        model (gpt-oss's ``<|channel|>``, Magistral's ``[THINK]``), which a runner must
        render for the parser to see them (Ollama's ``PreservedTokens``)."""
        if self.harmony:
            return (START, MESSAGE, CHANNEL, CONSTRAIN, *ENDS)
        if self.glimmer:
            return GLIMMER_TOKENS
        tags = (self.thinking.open, self.thinking.close) if self.thinking else ()
        calls = tool_format(self.tools) if self.tools else None
        # Formats of their own read every token of their markup (DeepSeek's separators).
        read: tuple[str, ...] = getattr(calls, "tokens", (calls.marker,)) if calls else ()
        return (*tags, *self.shows, *(token for token in read if token))

    def tool_parser(
        self,
        family: str | None,
        template: str | None,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> ToolCallParser | None:
        """The parser of the calls in the answer; ``None`` when the model takes no tools,
        or when the format read whole reads them (:mod:`builder.templates.harmony`,
        :mod:`builder.templates.glimmer`). ``tools`` (the request's) type the arguments of
        a format that writes them as text."""
        if self.reads_whole:
            return None
        if self.tools is None:
            return parser_for_family(family, template)
        parser = tool_format(self.tools)
        return parser.for_tools(tools) if isinstance(parser, TypedCallParser) else parser

    def takes_tools(self, family: str | None, template: str | None) -> bool:
        """Whether a model read with this parser calls tools (the ``tools`` capability)."""
        return self.reads_whole or self.tool_parser(family, template) is not None


HARMONY = OutputParser("harmony", harmony=True)
NO_PARSER = OutputParser("passthrough")

_BUILT_IN = (
    NO_PARSER,
    OutputParser("qwen3", tools="hermes"),
    OutputParser("qwen3-thinking", THINK, "hermes", opened_by_template=True),
    OutputParser("qwen3-vl-instruct", tools="hermes"),
    OutputParser("qwen3-vl-thinking", THINK, "hermes", opened_by_template=True),
    HARMONY,
    OutputParser("ministral", MISTRAL_THINK, "mistral"),
    OutputParser("olmo3-think", THINK, opened_by_template=True),
    OutputParser("qwen3-coder", tools="qwen3-coder"),
    OutputParser("qwen3.5", THINK, "qwen3-coder"),
    OutputParser("ornith", THINK, "qwen3-coder"),
    OutputParser("nemotron-3-nano", THINK, "qwen3-coder"),
    OutputParser("nemotron-3.5-nano", THINK, "qwen3-coder"),
    OutputParser("glm-4.7", THINK, "glm"),
    OutputParser("glm-ocr", tools="glm"),
    OutputParser("laguna", THINK, "glm"),
    OutputParser("poolside-v1", THINK, "glm"),
    OutputParser("deepseek3", THINK, "deepseek3"),
    OutputParser("cogito", THINK, "cogito"),
    OutputParser("olmo3", tools="olmo3"),
    OutputParser("lfm2", tools="pythonic"),
    OutputParser("lfm2-thinking", THINK, "pythonic"),
    OutputParser("gemma4", GEMMA4_THINK, "gemma4", shows=("<|channel>",)),
    OutputParser("gemma4-no-thinking", tools="gemma4"),
    OutputParser("functiongemma", tools="functiongemma"),
    OutputParser("cohere", COHERE_THINK, "cohere"),
    OutputParser("glimmer", glimmer=True),
)

_BY_NAME = {parser.name: parser for parser in _BUILT_IN}

PARSER_NAMES: tuple[str, ...] = tuple(_BY_NAME)
"""The ``PARSER`` names ladle implements, spelt as Ollama spells them: all of Ollama's
(``ParserForName`` in ``model/parsers/parsers.go``)."""


def parser_named(name: str) -> OutputParser:
    """The built-in parser ``name`` (one of :data:`PARSER_NAMES`); ``ValueError`` that
    lists the known ones otherwise."""
    parser = _BY_NAME.get(name)
    if parser is not None:
        return parser
    known = ", ".join(PARSER_NAMES)
    raise ValueError(f"unknown PARSER {name!r}; known parsers: {known}")


def parser_for_image(name: str | None, family: str | None, template: str | None) -> OutputParser:
    """The parser of an image: its ``PARSER`` (``name``) when ladle knows it, else the
    one its template implies. (An image that names a parser ladle lacks, pulled from
    Ollama's registry, is served as Ollama serves a name it lacks: by its template.)"""
    if name and name in _BY_NAME:
        return _BY_NAME[name]
    return parser_for_template(family, template)


def parser_for_template(family: str | None, template: str | None) -> OutputParser:
    """The parser a model without ``PARSER`` gets, from its template family and chat
    template (see the module docstring)."""
    text = template or ""
    if _is_harmony(family, text):
        return HARMONY
    if MISTRAL_THINK.open in text and MISTRAL_THINK.close in text:
        return _BY_NAME["ministral"]
    tools = own_call_format(text)
    if "<|channel>" in text and "<channel|>" in text:  # Gemma 4's thought channel
        return OutputParser("template", GEMMA4_THINK, tools, shows=("<|channel>",))
    thinking = THINK if thinks_in_tags(text) else None
    if thinking is None and tools is None:
        return NO_PARSER
    return OutputParser("think" if tools is None else "template", thinking, tools)


# Text in a chat template that shows its model writes calls in a format of its own,
# most telling first (a Qwen3-Coder or GLM template writes ``<tool_call>`` too, which
# would otherwise pass for Hermes's JSON).
_OWN_MARKERS = (
    (("<function=", "<parameter="), "qwen3-coder"),
    (("<arg_key>", "<arg_value>"), "glm"),
    (("<｜tool▁sep｜>", "```json"), "cogito"),  # noqa: RUF001 -- DeepSeek's own bars
    (("<｜tool▁sep｜>",), "deepseek3"),  # noqa: RUF001
    (("<|tool_call_start|>",), "pythonic"),
    (("<|tool_call>", "<tool_call|>"), "gemma4"),
    (("<start_function_call>",), "functiongemma"),
)


def own_call_format(template: str) -> str | None:
    """The tool-call format of :data:`_OWN_FORMATS` a chat template writes calls in
    (Qwen3-Coder's XML, GLM's argument tags, DeepSeek's tokens, LFM2's Python-style
    calls, Gemma's notation), or ``None`` for the formats the template family tells
    (:func:`~builder.templates.tool_calls.parser_for_family`)."""
    return next(
        (name for markers, name in _OWN_MARKERS if all(m in template for m in markers)), None
    )


def thinks_in_tags(template: str) -> bool:
    """Whether ``template`` is a reasoning model's with ``<think>`` tags: it writes both
    tags, or cuts earlier answers at ``</think>`` (Ollama's
    ``chatTemplateHasThinkingSupport``, minus its exceptions for templates it renders
    with its own parsers)."""
    if THINK.open in template and THINK.close in template:
        return True
    return any(f"content.split({quote}</think>{quote})" in template for quote in "'\"")


def _is_harmony(family: str | None, template: str) -> bool:
    """gpt-oss: its family (as Ollama names it), or a template that writes channels."""
    if (family or "").lower() in ("gptoss", "gpt-oss"):
        return True
    return "<|channel|>" in template and "<|start|>" in template
