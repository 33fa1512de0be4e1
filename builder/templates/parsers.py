"""Output parsers by the names Ollama's ``PARSER`` uses, and the one a template implies.

A model's reply may hold three things, one after the other: its reasoning, the answer,
and tool calls. How each is marked is the model's own (its training):
``<think>…</think>`` then ``<tool_call>{…}</tool_call>`` for Qwen3, the channels of
OpenAI's harmony format for gpt-oss, ``[THINK]…[/THINK]`` then ``[TOOL_CALLS]`` for
Ministral. An :class:`OutputParser` names both halves: how the reasoning is marked
(:class:`~builder.templates.thinking.ThinkTags`, or harmony) and the tool-call format of
:mod:`builder.templates.tool_calls` that the answer is read with.

A Modelfile's ``PARSER`` picks one by the name Ollama gives it (``model/parsers``,
``ParserForName``); :data:`PARSER_NAMES` lists those ladle implements:

=====================  =================  ==========  ===============================
name                   reasoning          tool calls  note
=====================  =================  ==========  ===============================
``passthrough``        none               template's  the reply as it is
``qwen3``              none               hermes      Qwen3 instruct
``qwen3-thinking``     ``<think>``        hermes      the prompt opens the block
``qwen3-vl-instruct``  none               hermes
``qwen3-vl-thinking``  ``<think>``        hermes      the prompt opens the block
``harmony``            ``analysis``       harmony     gpt-oss (:mod:`.harmony`)
``ministral``          ``[THINK]``        mistral     Ministral 3, Magistral
``olmo3-think``        ``<think>``        none        the prompt opens the block
=====================  =================  ==========  ===============================

Without a ``PARSER``, :func:`parser_for_template` reads the chat template (and the
template family): a gpt-oss template gets ``harmony``, a template with ``[THINK]`` and
``[/THINK]`` gets ``ministral``, one that writes ``<think>`` and ``</think>`` (or cuts
earlier answers at ``</think>``, as Qwen's and DeepSeek's do) reasons between those
tags, as Ollama infers a template's thinking tags; anything else does not reason.
:class:`~builder.templates.reply_stream.ReplyStream` applies a parser to a reply.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.templates.harmony import CHANNEL, CONSTRAIN, ENDS, MESSAGE, START
from builder.templates.thinking import ThinkTags
from builder.templates.tool_calls import ToolCallParser, parser_for_family, parser_for_format

THINK = ThinkTags("<think>", "</think>")
"""Qwen3, DeepSeek-R1, QwQ, Cogito, Olmo 3, Nemotron and most other reasoning models."""

MISTRAL_THINK = ThinkTags("[THINK]", "[/THINK]")
"""Magistral and Ministral 3."""


@dataclass(frozen=True)
class OutputParser:
    """How one kind of model writes its reasoning and its tool calls.

    ``thinking`` is the reasoning's tags (``None``: the model does not reason in tags);
    ``harmony``: the reply is harmony channels, calls included; ``tools`` the tool-call
    format (:data:`~builder.templates.tool_calls.FORMATS`), ``None`` to take the one
    the chat template implies; ``opened_by_template``: the prompt of a thinking request
    opens the reasoning, so the reply starts inside it (else the prompt tells).
    """

    name: str
    thinking: ThinkTags | None = None
    tools: str | None = None
    harmony: bool = False
    opened_by_template: bool = False

    @property
    def thinks(self) -> bool:
        """Whether a model read with this parser reasons (Ollama's ``thinking``
        capability)."""
        return self.thinking is not None or self.harmony

    @property
    def markup(self) -> tuple[str, ...]:
        """The texts this parser reads the reply by. Some are control tokens of their
        model (gpt-oss's ``<|channel|>``, Magistral's ``[THINK]``), which a runner must
        render for the parser to see them (Ollama's ``PreservedTokens``)."""
        if self.harmony:
            return (START, MESSAGE, CHANNEL, CONSTRAIN, *ENDS)
        tags = (self.thinking.open, self.thinking.close) if self.thinking else ()
        calls = parser_for_format(self.tools).marker if self.tools else ""
        return (*tags, calls) if calls else tags

    def tool_parser(self, family: str | None, template: str | None) -> ToolCallParser | None:
        """The parser of the calls in the answer; ``None`` when the model takes no tools,
        or when harmony reads them (:mod:`builder.templates.harmony`)."""
        if self.harmony:
            return None
        if self.tools is not None:
            return parser_for_format(self.tools)
        return parser_for_family(family, template)

    def takes_tools(self, family: str | None, template: str | None) -> bool:
        """Whether a model read with this parser calls tools (the ``tools`` capability)."""
        return self.harmony or self.tool_parser(family, template) is not None


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
)

_BY_NAME = {parser.name: parser for parser in _BUILT_IN}

PARSER_NAMES: tuple[str, ...] = tuple(_BY_NAME)
"""The ``PARSER`` names ladle implements, spelt as Ollama spells them."""


OLLAMA_ONLY: tuple[str, ...] = (
    "qwen3.5",
    "ornith",
    "qwen3-coder",
    "cogito",
    "deepseek3",
    "olmo3",
    "nemotron-3-nano",
    "nemotron-3.5-nano",
    "functiongemma",
    "glm-4.7",
    "gemma4",
    "gemma4-no-thinking",
    "glm-ocr",
    "lfm2",
    "lfm2-thinking",
    "laguna",
    "poolside-v1",
    "cohere",
    "glimmer",
)
"""Ollama's other PARSER names (``model/parsers/parsers.go``): formats of their own
(XML tool calls, DeepSeek's call tokens, Python-style calls…) that ladle does not read
yet."""


def parser_named(name: str) -> OutputParser:
    """The built-in parser ``name`` (one of :data:`PARSER_NAMES`); ``ValueError`` that
    says why there is none (one of Ollama's ladle lacks, or a name nobody knows) and
    lists the known ones otherwise."""
    parser = _BY_NAME.get(name)
    if parser is not None:
        return parser
    known = ", ".join(PARSER_NAMES)
    if name in OLLAMA_ONLY:
        raise ValueError(f"Ollama's parser {name!r} is not built into ladle yet; it has {known}")
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
    if thinks_in_tags(text):
        return OutputParser("think", THINK)
    return NO_PARSER


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
