"""How the reply to one ``/api/generate`` or ``/api/chat`` request is read: the image's
output parser, the ``think`` its template gets, and the tool-call parser.

Ollama's handlers (``server/routes.go``) decide ``think`` before rendering: a model with
the ``thinking`` capability thinks unless the request says ``false`` (an unset ``think``
becomes ``true``), and a model without it answers ``"think": true`` (or a level) with a
400, ``"NAME" does not support thinking``. gpt-oss knows three levels; Ollama's ``max``
is ``high`` for it. The reply is then read by a
:class:`~builder.templates.reply_stream.ReplyStream` (thoughts, text and calls apart),
prepared with the request in the same worker thread (:meth:`runtime.api.service.
Service._prepare`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from builder.templates.parsers import NO_PARSER, OutputParser
from builder.templates.reply_stream import ReplyPart, ReplyStream
from builder.templates.thinking import Think, thinks
from builder.templates.tool_calls import ToolCallParser
from ladle.errors import InvalidFieldError
from runtime.images import ResolvedModel
from runtime.protocol import GenerateRequest


def output_parser(model: ResolvedModel, think: Think) -> tuple[OutputParser, Think]:
    """The image's output parser and the ``think`` its template gets (see above)."""
    parser = model.image.output_parser
    if not parser.thinks:
        if thinks(think):
            raise InvalidFieldError("think", f'"{model.name.display()}" does not support thinking')
        return parser, think
    if parser.harmony and think == "max":
        return parser, "high"
    return parser, True if think is None else think


def tool_parser(
    model: ResolvedModel, parser: OutputParser, tools: Sequence[Mapping[str, Any]] | None = None
) -> ToolCallParser | None:
    """The parser of the calls in the reply (``None`` for harmony and Glimmer, which read
    their own), typing arguments written as text by the request's ``tools``; a model that
    takes no tools refuses them with a 400 naming ``tools``."""
    image = model.image
    if not parser.takes_tools(image.config.template_family, image.template):
        raise InvalidFieldError("tools", f"{model.name.display()} does not support tools")
    return parser.tool_parser(image.config.template_family, image.template, tools)


def reply_reading(
    parser: OutputParser,
    think: Think,
    request: GenerateRequest,
    tools: ToolCallParser | None = None,
    schemas: Sequence[Mapping[str, Any]] | None = None,
) -> ReplyStream:
    """How the reply to ``request`` (whose prompt was rendered with ``think``) is read;
    ``schemas``, the request's tools, are the calls a Glimmer reply may make.

    No thoughts are split off when the model was asked not to think, nor under a grammar
    that admits only the answer (harmony's channels, which :func:`fenced` leaves whole)."""
    prompt = request.prompt if isinstance(request.prompt, str) else ""
    split = thinks(think) and (request.grammar is None or request.grammar_after is not None)
    return ReplyStream(parser, think=split, prompt=prompt, tools=tools, schemas=schemas)


def fenced(parser: OutputParser, think: Think, request: GenerateRequest) -> GenerateRequest:
    """``request``, whose grammar (``format``, a forced tool call) waits until a thinking
    model's reasoning is over, as Ollama lets a model think before it constrains the rest
    (the runner's :class:`~runtime.runner.sampling.ThinkGate`). A reply read whole
    (harmony, Glimmer), or asked not to think, is constrained whole."""
    tags = parser.thinking
    if request.grammar is None or tags is None or parser.reads_whole or not thinks(think):
        return request
    prompt = request.prompt if isinstance(request.prompt, str) else ""
    inside = parser.opened_by_template or prompt.rstrip().endswith(tags.open)
    update = {"grammar_after": tags.close, "grammar_unless": None if inside else tags.open}
    return request.model_copy(update=update)


def as_it_is() -> ReplyStream:
    """The reading of a raw reply: all text, as generated."""
    return ReplyStream(NO_PARSER, think=False, prompt="")


def joined(part: ReplyPart, end: ReplyPart) -> ReplyPart:
    """A reply's last chunk and what its end releases, as one piece."""
    calls = part.tool_calls + end.tool_calls
    return ReplyPart(part.thinking + end.thinking, part.content + end.content, calls)
