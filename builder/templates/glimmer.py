"""Replies in Glimmer's format: messages to recipients, split into reasoning, answer and
tool calls as the text arrives.

A Glimmer reply is a run of messages, each ``<|start|>assistant``, a header, then
``<|message|>`` and the body, ended by ``<|eom|>`` (another message follows) or
``<|eot|>`` (the turn is over). The prompt opens the first message
(:mod:`builder.templates.renderers.glimmer`), so a reply begins inside its header. The
header names the message's recipient, which says what the body is, as Ollama reads it
(``model/parsers/glimmer.go``):

=================  ==================================================================
``to=self``        the model's reasoning, shown only when the request lets it think
``to=TOOL``        a call of TOOL, a tool the request declares (its body an ATEM
                   block, :mod:`.glimmer_atem`)
anything else      the answer (``to=user``, no recipient, an unknown one)
=================  ==================================================================

A model sometimes forgets to end a message: one also ends where a valid header visibly
starts the next (``<|start|>assistant``, ``to=`` ``self``, ``user`` or a declared tool,
then ``<|message|>``); other text that looks like the control tokens stays in its
message. A call's body is read whole, up to its block's closing tag, so its values may
hold such text too (a block that never closes ends its message at the first end token).
An answer whose whole body is an ATEM block invoking a declared tool is that call (the
model fumbled its header: no recipient, the namespace, ``user``); an answer that may be
one is held back until its message ends, any other streams. Text that never reaches a
``<|message|>`` is the answer as written. Where Ollama fails the
request on a call whose block does not read (malformed, or invoking another tool), ladle
keeps its text in the answer, as it keeps other markup that does not read as calls
(:mod:`builder.templates.tool_calls`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.templates.glimmer_atem import (
    CALLS_CLOSE,
    CALLS_OPEN,
    MESSAGE,
    read_block,
    resolve_tool,
)
from builder.templates.thinking import Split
from builder.templates.tool_call_xml import TypesByTool, parameter_types
from builder.templates.tool_calls import ToolCall, partial_marker

START = "<|start|>"
ENDS = ("<|eom|>", "<|eot|>")
"""What ends a message: ``<|eom|>``, or ``<|eot|>`` at the end of the turn."""
TOKENS = (START, MESSAGE, *ENDS)
"""The control tokens a reply is read by (Ollama's ``PreservedTokens``)."""

_ASSISTANT = START + "assistant"
_TO = " to="
_BLANKS = " \t\r\n"


class _Kind(enum.Enum):
    HEADER = "header"
    ANSWER = "answer"
    THINKING = "thinking"
    CALL = "call"


class _Header(enum.Enum):
    """What the text at a ``<|start|>`` inside a body is, so far."""

    NONE = "none"
    MAYBE = "maybe"
    """It may yet be a header: the next chunk tells."""
    NEXT = "next"
    """A header: the message before it is over."""


@dataclass(frozen=True)
class _Piece:
    """What one step took off the pending text: ``body`` of the current message, and
    whether the message is ``complete``; no ``progress``: wait for more text."""

    progress: bool
    body: str = ""
    complete: bool = False


class GlimmerStream:
    """Feed it the chunks of one Glimmer reply; :meth:`finish` it once it is complete.

    ``tools``: the parameter types of the request's tools, by tool name (the recipients
    that make a message a call); ``thinking``: whether the reasoning is shown."""

    def __init__(self, tools: TypesByTool | None = None, *, thinking: bool = True) -> None:
        # Ollama keys the tools by their names, blanks trimmed; a blank name is no tool.
        named = (tools or {}).items()
        self._tools = {name.strip(): types for name, types in named if name.strip()}
        self._thinking = thinking
        self._pending = ""
        self._kind = _Kind.HEADER
        self._recipient = ""
        self._shown = False
        """Whether some of the current answer has been shown (it can be no call then)."""
        self._calls: list[ToolCall] = []

    @classmethod
    def for_tools(
        cls, tools: Sequence[Mapping[str, Any]] | None, *, thinking: bool
    ) -> GlimmerStream:
        """A stream whose calls are of the request's ``tools`` (Ollama's or OpenAI's)."""
        return cls(parameter_types(tools), thinking=thinking)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The calls read so far, in order."""
        return list(self._calls)

    def feed(self, chunk: str) -> Split:
        """The reasoning and the answer that ``chunk`` makes certain."""
        self._pending += chunk
        return self._read(done=False)

    def finish(self) -> Split:
        """What was held back, once the reply has ended (its calls: :attr:`tool_calls`)."""
        return self._read(done=True)

    def _read(self, done: bool) -> Split:
        result = Split()
        progress = True
        while progress:
            if self._kind is _Kind.HEADER:
                progress, text = self._header(done)
                result += Split(content=text)
            else:
                piece = self._body(done)
                result += self._take(piece)
                progress = piece.progress
        return result

    def _header(self, done: bool) -> tuple[bool, str]:
        """Read the header up to ``<|message|>``; at the reply's end, text that never got
        there is the answer."""
        text = self._pending
        if text.startswith(_ASSISTANT):
            text = self._pending = text[len(_ASSISTANT) :]
        elif not done and text.startswith("<") and _ASSISTANT.startswith(text):
            return False, ""
        end = text.find(MESSAGE)
        if end < 0:
            if not done:
                return False, ""
            self._pending = ""
            return bool(text), text
        self._pending = text[end + len(MESSAGE) :]
        self._recipient = text[:end].strip().removeprefix("to=").strip()
        self._kind = self._kind_of(self._recipient)
        return True, ""

    def _kind_of(self, recipient: str) -> _Kind:
        if recipient == "self":
            return _Kind.THINKING
        return _Kind.CALL if resolve_tool(self._tools, recipient) else _Kind.ANSWER

    def _take(self, piece: _Piece) -> Split:
        """What ``piece`` of the current message shows (a call is kept for the end)."""
        if self._kind is _Kind.THINKING:
            shown = Split(thinking=piece.body) if self._thinking else Split()
        elif self._kind is _Kind.CALL:
            shown = self._call(piece.body) if piece.complete else Split()
        else:
            shown = self._answer(piece.body, piece.complete)
        if piece.complete:
            self._kind, self._recipient, self._shown = _Kind.HEADER, "", False
        return shown

    def _call(self, body: str) -> Split:
        call = read_block(body, self._tools)
        if call is None or call.name != resolve_tool(self._tools, self._recipient):
            return Split(content=body)
        self._calls.append(call)
        return Split()

    def _answer(self, body: str, complete: bool) -> Split:
        if complete and not self._shown and self._tools:
            call = read_block(body, self._tools)
            if call is not None:  # a call under a fumbled header
                self._calls.append(call)
                return Split()
        self._shown = self._shown or bool(body)
        return Split(content=body)

    def _body(self, done: bool) -> _Piece:
        """The next piece of the current message's body."""
        text = self._pending
        whole = self._kind is _Kind.CALL or self._may_be_call(text)
        search = _after_block(text, done) if whole else 0
        end = _end_of_message(text, search)
        following, maybe = self._next_header(text, search, done)
        if following >= 0 and not maybe and (end is None or following < end[0]):
            return self._cut(following, following, complete=True)
        if end is not None:
            return self._cut(end[0], end[1], complete=True)
        if done:
            self._pending = ""
            return _Piece(bool(text) or self._kind is _Kind.CALL, text, complete=True)
        if whole:
            return _Piece(False)
        if maybe:
            return self._cut(following, following, complete=False)
        held = max(partial_marker(text, marker) for marker in ENDS)
        return self._cut(len(text) - held, len(text) - held, complete=False)

    def _cut(self, at: int, resume: int, *, complete: bool) -> _Piece:
        body, self._pending = self._pending[:at], self._pending[resume:]
        return _Piece(complete or bool(body), body, complete)

    def _may_be_call(self, text: str) -> bool:
        """Whether the answer so far may be a call under a fumbled header: held back."""
        if self._kind is not _Kind.ANSWER or self._shown or not self._tools:
            return False
        start = text.lstrip(_BLANKS)
        return CALLS_OPEN.startswith(start) or start.startswith(CALLS_OPEN)

    def _next_header(self, text: str, search: int, done: bool) -> tuple[int, bool]:
        """Where a header of the next message starts in ``text`` (from ``search``), and
        whether it may yet turn out not to be one; ``-1`` for none."""
        while (start := text.find(START, search)) >= 0:
            found = self._header_at(text[start:], done)
            if found is not _Header.NONE:
                return start, found is _Header.MAYBE
            search = start + len(START)
        held = 0 if done else partial_marker(text[search:], _ASSISTANT)
        return (len(text) - held, True) if held else (-1, False)

    def _header_at(self, text: str, done: bool) -> _Header:
        """Whether ``text``, from a ``<|start|>``, opens the next message's header."""
        maybe = _Header.NONE if done else _Header.MAYBE
        if not text.startswith(_ASSISTANT):
            return maybe if _ASSISTANT.startswith(text) else _Header.NONE
        rest = text[len(_ASSISTANT) :]
        if rest.startswith(MESSAGE):
            return _Header.NEXT
        if MESSAGE.startswith(rest) or not rest.startswith(_TO):
            return maybe if MESSAGE.startswith(rest) or _TO.startswith(rest) else _Header.NONE
        return self._recipient_at(rest[len(_TO) :], done)

    def _recipient_at(self, text: str, done: bool) -> _Header:
        """Whether ``text``, after ``to=``, names a recipient then ``<|message|>``."""
        end = text.find(MESSAGE)
        if end >= 0:
            recipient = text[:end]
            known = recipient in ("self", "user") or recipient in self._tools
            return _Header.NEXT if known else _Header.NONE
        if done or any(blank in text for blank in _BLANKS):
            return _Header.NONE
        bracket = text.find("<")
        if bracket >= 0 and not MESSAGE.startswith(text[bracket:]):
            return _Header.NONE
        return _Header.MAYBE


def _after_block(text: str, done: bool) -> int:
    """Where a call's block ends in ``text``: its end while the block may still close. At
    the reply's end a block that never closed reads as no call, so its message ends at
    the first end token, as any other does (Ollama's runs to the reply's end)."""
    close = text.find(CALLS_CLOSE)
    if close >= 0:
        return close + len(CALLS_CLOSE)
    return 0 if done else len(text)


def _end_of_message(text: str, search: int) -> tuple[int, int] | None:
    """Where the first end token from ``search`` starts and ends, or ``None``."""
    found = [(at, at + len(end)) for end in ENDS if (at := text.find(end, search)) >= 0]
    return min(found) if found else None
