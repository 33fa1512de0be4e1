"""One reply read as it arrives: its reasoning, its answer and its tool calls apart.

:class:`ReplyStream` puts the pieces of an
:class:`~builder.templates.parsers.OutputParser` together. The reasoning is split off
first (:class:`~builder.templates.thinking.ThinkingStream`), then the answer goes through
the tool-call stream (:class:`~builder.templates.tool_call_stream.ToolCallStream`), so
that calls made after the reasoning, or instead of its closing tag, are read the same
way streamed or not. A harmony reply is read whole by
:class:`~builder.templates.harmony.HarmonyStream`, which knows its own calls, and a
Glimmer reply by :class:`~builder.templates.glimmer.GlimmerStream`, which reads its calls
by the request's tool schemas.

Whether the reply starts inside the reasoning is the prompt's to tell: a template that
opens the block at the end of the prompt (DeepSeek-R1's ``<think>\\n``) leaves the model
inside it. A request that asks the model not to think gets no reasoning split off (its
template was told so, and a model that thinks anyway shows it in the answer, as Ollama
does), except from harmony, whose channels always say which text is which, and Glimmer,
whose messages to ``self`` are then dropped (as Ollama drops them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.templates.glimmer import GlimmerStream
from builder.templates.harmony import HarmonyStream
from builder.templates.parsers import OutputParser
from builder.templates.thinking import Split, ThinkingStream
from builder.templates.tool_call_stream import ToolCallStream
from builder.templates.tool_calls import ToolCall, ToolCallParser


@dataclass(frozen=True)
class ReplyPart:
    """What a chunk of a reply (or its end) makes certain."""

    thinking: str = ""
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


class ReplyStream:
    """Feed it the chunks of one reply; :meth:`finish` it once the reply is complete.

    ``think``: whether the request lets the model reason; ``prompt``: the rendered
    prompt the reply continues; ``tools``: the tool-call parser when the request has
    tools (``None``: calls are not looked for, except harmony's and Glimmer's);
    ``schemas``: the request's tools, whose calls a Glimmer reply makes.
    """

    def __init__(
        self,
        parser: OutputParser,
        *,
        think: bool,
        prompt: str,
        tools: ToolCallParser | None = None,
        schemas: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self._harmony = HarmonyStream.after_prompt(prompt) if parser.harmony else None
        self._glimmer = GlimmerStream.for_tools(schemas, thinking=think) if parser.glimmer else None
        self._thinking: ThinkingStream | None = None
        if parser.thinking is not None and think and not parser.reads_whole:
            tags = parser.thinking
            inside = parser.opened_by_template or prompt.rstrip().endswith(tags.open)
            ends = tools.marker if tools is not None else ""
            self._thinking = ThinkingStream(tags, inside=inside, ends_thinking=ends)
        own_calls = parser.reads_whole  # harmony and Glimmer read their own calls
        self._calls = ToolCallStream(tools) if tools is not None and not own_calls else None

    def feed(self, chunk: str) -> ReplyPart:
        """The reasoning and answer that ``chunk`` makes certain (never calls: those come
        from :meth:`finish`)."""
        if self._harmony is not None:
            split = self._harmony.feed(chunk)
        elif self._glimmer is not None:
            split = self._glimmer.feed(chunk)
        elif self._thinking is not None:
            split = self._thinking.feed(chunk)
        else:
            split = Split(content=chunk)
        return self._answer(split)

    def finish(self) -> ReplyPart:
        """What was held back, and the tool calls, once the reply has ended."""
        if self._harmony is not None:
            end = self._harmony.finish()
            return ReplyPart(end.rest.thinking, end.rest.content, tuple(end.tool_calls))
        if self._glimmer is not None:
            rest = self._glimmer.finish()
            return ReplyPart(rest.thinking, rest.content, tuple(self._glimmer.tool_calls))
        rest = self._thinking.finish() if self._thinking is not None else Split()
        part = self._answer(rest)
        if self._calls is None:
            return part
        parsed = self._calls.finish()
        content = part.content + parsed.content
        return ReplyPart(part.thinking, content, tuple(parsed.tool_calls))

    def _answer(self, split: Split) -> ReplyPart:
        content = self._calls.feed(split.content) if self._calls is not None else split.content
        return ReplyPart(split.thinking, content)
