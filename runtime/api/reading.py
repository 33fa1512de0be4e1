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
    """The parser of the calls in the reply (``None`` for harmony, which reads its own),
    typing arguments written as text by the request's ``tools``; a model that takes no
    tools refuses them with a 400 naming ``tools``."""
    image = model.image
    if not parser.takes_tools(image.config.template_family, image.template):
        raise InvalidFieldError("tools", f"{model.name.display()} does not support tools")
    return parser.tool_parser(image.config.template_family, image.template, tools)


def reply_reading(
    parser: OutputParser,
    think: Think,
    request: GenerateRequest,
    tools: ToolCallParser | None = None,
) -> ReplyStream:
    """How the reply to ``request`` (whose prompt was rendered with ``think``) is read.

    No thoughts are split off when the model was asked not to think, nor under a grammar
    (``format``, a forced tool call), which admits only its answer: Ollama lets a model
    think before it constrains the rest, ladle's runner constrains the whole reply."""
    prompt = request.prompt if isinstance(request.prompt, str) else ""
    split = thinks(think) and request.grammar is None
    return ReplyStream(parser, think=split, prompt=prompt, tools=tools)


def as_it_is() -> ReplyStream:
    """The reading of a raw reply: all text, as generated."""
    return ReplyStream(NO_PARSER, think=False, prompt="")


def joined(part: ReplyPart, end: ReplyPart) -> ReplyPart:
    """A reply's last chunk and what its end releases, as one piece."""
    calls = part.tool_calls + end.tool_calls
    return ReplyPart(part.thinking + end.thinking, part.content + end.content, calls)
