"""gpt-oss's replies in OpenAI's harmony format: channels split into reasoning, answer and
tool calls as the text arrives.

A harmony reply is a run of messages, each ``<|start|>{header}<|message|>{body}`` ended
by ``<|end|>`` (or ``<|call|>`` after a tool call, ``<|return|>`` after the last
message, both of which also end generation). The header names the role and the
channel (``assistant<|channel|>analysis``) and, for a tool call, the recipient
(``to=functions.get_weather``, before or after the channel, with an optional
``<|constrain|>json``). The channels mean, as Ollama reads them
(``harmony/harmonyparser.go``):

=============  ==================================================================
``analysis``   the model's reasoning (:attr:`Split.thinking`)
``final``      the answer (:attr:`Split.content`)
``commentary`` the answer too (a preamble), unless it has a recipient: then its body
               is the JSON arguments of a call of that tool; so is a message of any
               channel with a recipient. ``functions.`` is dropped from the name.
=============  ==================================================================

The chat template ends the prompt by opening the assistant's message
(``<|start|>assistant``), so the reply begins inside a header; :meth:`HarmonyStream.
after_prompt` starts the stream from the prompt's open message (or from
``<|start|>assistant`` when the prompt has none). A call whose arguments are not a JSON
object stays in the answer, word for word, as :mod:`builder.templates.tool_calls` keeps
markup that does not read as calls.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

from builder.templates.thinking import Split
from builder.templates.tool_calls import ToolCall, partial_marker

START = "<|start|>"
MESSAGE = "<|message|>"
CHANNEL = "<|channel|>"
CONSTRAIN = "<|constrain|>"
ENDS = ("<|end|>", "<|call|>", "<|return|>")
"""What ends a message: ``<|end|>``, or the two that also end generation."""

IMPLICIT_START = START + "assistant"
"""The open message a reply continues when the prompt shows none (as Ollama assumes)."""

_FUNCTIONS = "functions."


@dataclass(frozen=True)
class Header:
    """A message's header: its role, channel and recipient (``""`` when absent)."""

    role: str = ""
    channel: str = ""
    recipient: str = ""

    @classmethod
    def parse(cls, text: str) -> Header:
        """The header written as ``text`` (everything between ``<|start|>`` and
        ``<|message|>``)."""
        text = text.replace(CONSTRAIN, f" {CONSTRAIN}", 1)  # a token of its own
        before, found, after = text.partition(CHANNEL)
        channel = ""
        if found:  # the channel's name runs to the first blank
            words = after.split(maxsplit=1) or [""]
            channel, text = words[0], f"{before} {' '.join(words[1:])}"
        words = text.split()
        role = words[0] if words else ""
        if role.startswith("to="):  # ``<|start|>to=functions.x`` names the recipient first
            return cls("tool", channel, role[3:])
        recipient = next((word[3:] for word in words[1:2] if word.startswith("to=")), "")
        return cls(role, channel, recipient)

    @property
    def kind(self) -> str:
        """What the body is: ``call``, ``thinking`` or ``content``."""
        if self.recipient:
            return "call"
        return "thinking" if self.channel == "analysis" else "content"


@dataclass(frozen=True)
class HarmonyEnd:
    """What a finished reply still holds: text not shown yet, and its tool calls."""

    rest: Split
    tool_calls: list[ToolCall] = field(default_factory=list)


class _State(enum.Enum):
    BETWEEN = "between"
    HEADER = "header"
    BODY = "body"


class HarmonyStream:
    """Feed it the chunks of one harmony reply; :meth:`finish` it once it is complete."""

    def __init__(self) -> None:
        self._state = _State.BETWEEN
        self._pending = ""
        self._header = Header()
        self._call = ""
        """The arguments of the tool call being written."""
        self._calls: list[ToolCall] = []
        self._messages = 0
        """Headers read so far (none: the reply is not harmony at all)."""

    @classmethod
    def after_prompt(cls, prompt: str) -> HarmonyStream:
        """A stream that continues the message ``prompt`` leaves open."""
        stream = cls()
        start = prompt.rfind(START)
        open_message = start >= 0 and not any(end in prompt[start:] for end in ENDS)
        stream.feed(prompt[start:] if open_message else IMPLICIT_START)
        stream._messages = 0
        return stream

    def feed(self, chunk: str) -> Split:
        """The reasoning and the answer that ``chunk`` makes certain."""
        self._pending += chunk
        result = Split()
        while (step := self._step()) is not None:
            result += step
        return result

    def finish(self) -> HarmonyEnd:
        """The text held back and the tool calls, once the reply has ended."""
        if self._state is _State.BODY:  # cut off (a token limit): the body so far counts
            held, self._pending = self._pending, ""
            rest = self._body(held) + self._end_message()
            return HarmonyEnd(rest, self._calls)
        if self._state is _State.HEADER and not self._messages:
            # No harmony at all (the runner did not render its tokens): show it as it is.
            return HarmonyEnd(Split(content=self._header_text()), self._calls)
        return HarmonyEnd(Split(), self._calls)

    def _step(self) -> Split | None:
        if self._state is _State.BETWEEN:
            return self._between()
        if self._state is _State.HEADER:
            return self._header_done()
        return self._in_body()

    def _between(self) -> Split | None:
        start = self._pending.find(START)
        if start < 0:
            return None
        # Text outside a message is not part of any channel (Ollama drops it too).
        self._pending, self._state = self._pending[start + len(START) :], _State.HEADER
        return Split()

    def _header_done(self) -> Split | None:
        end = self._pending.find(MESSAGE)
        if end < 0:
            return None
        self._header = Header.parse(self._pending[:end])
        self._pending, self._state = self._pending[end + len(MESSAGE) :], _State.BODY
        self._messages += 1
        return Split()

    def _in_body(self) -> Split | None:
        ends = [(found, end) for end in ENDS if (found := self._pending.find(end)) >= 0]
        if ends:
            found, end = min(ends)
            body, self._pending = self._pending[:found], self._pending[found + len(end) :]
            self._state = _State.BETWEEN
            return self._body(body) + self._end_message()
        held = max(partial_marker(self._pending, end) for end in ENDS)
        body = self._pending[: len(self._pending) - held]
        if not body:
            return None
        self._pending = self._pending[len(body) :]
        step = self._body(body)
        return step if step.thinking or step.content else None

    def _body(self, text: str) -> Split:
        kind = self._header.kind
        if kind == "call":
            self._call += text
            return Split()
        return Split(thinking=text) if kind == "thinking" else Split(content=text)

    def _end_message(self) -> Split:
        """A call message is complete: read its arguments (or give its text back)."""
        if self._header.kind != "call":
            return Split()
        text, self._call = self._call, ""
        name = self._header.recipient.removeprefix(_FUNCTIONS)
        arguments = _arguments(text)
        if arguments is None:
            return Split(content=text)
        self._calls.append(ToolCall(name=name, arguments=arguments))
        return Split()

    def _header_text(self) -> str:
        text, self._pending = self._pending, ""
        return text.removeprefix("assistant")


def _arguments(text: str) -> dict[str, object] | None:
    """A call's arguments: a JSON object (blank means none), else ``None``."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
