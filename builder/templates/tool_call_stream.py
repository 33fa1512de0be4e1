"""Tool calls in text that arrives in chunks: show the content at once, hold the calls.

A streaming reply should show its words as they come, but text that may turn out to be
a tool call must not be shown. :class:`ToolCallStream` passes each chunk on as far as it
is surely content and holds back the rest:

* everything from the format's call marker on (``<tool_call>``, ``[TOOL_CALLS]``…),
* the end of a chunk that could be the start of a marker (``<tool_`` before ``call>``),
* trailing whitespace, which is dropped if the reply turns out to end with calls,
* the whole reply when it starts as bare call JSON may (``{`` for Llama 3).

:meth:`ToolCallStream.finish` then parses the whole reply with the same
:class:`~builder.templates.tool_calls.ToolCallParser` and returns the content not shown yet and
the calls, so the content shown in all equals what ``parse`` gives for the whole text.
"""

from __future__ import annotations

from builder.templates.tool_calls import ParsedOutput, ToolCallParser, partial_marker


class ToolCallStream:
    """Feed it the chunks of one reply; :meth:`finish` it once the reply is complete."""

    def __init__(self, parser: ToolCallParser) -> None:
        self._parser = parser
        self._chunks: list[str] = []
        self._pending = ""
        """Text after what was shown, not known yet to be content."""
        self._shown = 0
        self._holding = False
        """Set for good once a call may have started: nothing more is shown."""

    def feed(self, chunk: str) -> str:
        """The content of the reply so far that can be shown now ("" for none)."""
        self._chunks.append(chunk)
        if self._holding:
            return ""
        self._pending += chunk
        if self._shown == 0 and self._may_be_bare_json():
            return ""
        shown = self._pending[: self._content_end()].rstrip()
        self._pending = self._pending[len(shown) :]
        self._shown += len(shown)
        return shown

    def finish(self) -> ParsedOutput:
        """The content not shown yet and the tool calls of the whole reply."""
        parsed = self._parser.parse("".join(self._chunks))
        # parse keeps the text before the first marker as it is, so what was shown is
        # the start of its content.
        return ParsedOutput(parsed.content[self._shown :], parsed.tool_calls)

    def _may_be_bare_json(self) -> bool:
        """Whether the reply starts as bare call JSON may (then hold all of it)."""
        if self._parser.opens_bare_json(self._pending):
            self._holding = True
        return self._holding

    def _content_end(self) -> int:
        """Where in the pending text a call could start: a marker, or a part of one at
        the end."""
        marker = self._parser.marker
        if not marker:
            return len(self._pending)
        found = self._pending.find(marker)
        if found >= 0:
            self._holding = True
            return found
        return len(self._pending) - partial_marker(self._pending, marker)
