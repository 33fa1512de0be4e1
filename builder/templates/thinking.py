"""A model's reasoning, written between tags, split from its answer as the text arrives.

Reasoning models write their thoughts first, between an opening and a closing tag
(``<think>…</think>`` for Qwen3, DeepSeek-R1 and most others), then the answer. Some
chat templates open the block themselves at the end of the prompt (DeepSeek-R1, Qwen3's
thinking models): the reply then starts inside it, with no opening tag of its own.
:class:`ThinkingStream` reads either, the way Ollama's thinking parser does
(``thinking/parser.go``):

* whitespace before the opening tag, after it and after the closing tag is dropped, and
  so is the whitespace that ends the reasoning;
* a reply that starts with anything but the opening tag did not think: all of it is the
  answer, word for word;
* a reply that starts inside the block may still repeat the opening tag (some Qwen3
  checkpoints do): one is dropped;
* ``ends_thinking`` (a tool-call marker such as ``<tool_call>``) written before the
  closing tag ends the reasoning too, and goes on to the answer, so that a call made
  while thinking is still read as a call (Ollama's Qwen3 parser does the same);
* a reply cut off while thinking (the token limit) keeps what it thought as reasoning.

Text that may be the start of a tag (``</th`` at the end of a chunk) is held back until
the next chunk tells, so that every split of a reply into chunks gives the same result.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from builder.templates.tool_calls import partial_marker

ThinkLevel = Literal["low", "medium", "high", "max"]
Think = bool | ThinkLevel | None
"""A request's ``think``, as Ollama's ``api.ThinkValue`` holds it: ``None`` when not
sent, a bool, or how hard to think (a level implies thinking)."""

THINK_LEVELS: tuple[ThinkLevel, ...] = ("low", "medium", "high", "max")


def thinks(think: Think) -> bool:
    """Whether ``think`` asks the model to reason (Ollama's ``ThinkValue.Bool``)."""
    return think is True or isinstance(think, str)


def think_level(think: Think) -> str:
    """``think`` as a level (Ollama's ``ThinkValue.String``): ``true`` is ``medium``,
    ``false`` and unset are ``""``."""
    if isinstance(think, str):
        return think
    return "medium" if think is True else ""


def template_variables(think: Think) -> dict[str, Any]:
    """What a Jinja chat template is told of ``think``: the names real templates read,
    ``enable_thinking`` (Qwen3, GLM, SmolLM3, Hunyuan), ``thinking`` (DeepSeek-V3.1,
    Granite) and ``reasoning_effort`` (gpt-oss, which knows low, medium and high). An
    unset ``think`` tells nothing, so each template keeps its own default."""
    if think is None:
        return {}
    variables: dict[str, Any] = {"enable_thinking": thinks(think), "thinking": thinks(think)}
    if thinks(think):
        variables["reasoning_effort"] = "high" if think == "max" else think_level(think)
    return variables


@dataclass(frozen=True)
class ThinkTags:
    """The text around a model's reasoning."""

    open: str
    close: str


@dataclass(frozen=True)
class Split:
    """Text of a reply split in two: the reasoning and the rest (the answer)."""

    thinking: str = ""
    content: str = ""

    def __add__(self, other: Split) -> Split:
        return Split(self.thinking + other.thinking, self.content + other.content)


class _State(enum.Enum):
    BEFORE = "before"
    """Nothing but whitespace yet: the opening tag may still come."""
    OPENED = "opened"
    """Inside the block, before its first visible character."""
    THINKING = "thinking"
    CLOSED = "closed"
    """After the closing tag, before the answer's first visible character."""
    ANSWER = "answer"


class ThinkingStream:
    """Feed it the chunks of one reply; :meth:`finish` it once the reply is complete."""

    def __init__(self, tags: ThinkTags, *, inside: bool = False, ends_thinking: str = "") -> None:
        self._tags = tags
        self._ends = ends_thinking
        self._state = _State.OPENED if inside else _State.BEFORE
        self._may_reopen = inside
        """Whether an opening tag at the start is the model's repeat of the prompt's."""
        self._pending = ""

    def feed(self, chunk: str) -> Split:
        """The reasoning and the answer that ``chunk`` makes certain."""
        self._pending += chunk
        result = Split()
        while (step := self._step()) is not None:
            result += step
        return result

    def finish(self) -> Split:
        """What was held back, once the reply has ended."""
        held, self._pending = self._pending, ""
        if self._state is _State.BEFORE:  # a part of the opening tag, or blanks: the answer
            return Split(content=held)
        if self._state in (_State.OPENED, _State.THINKING):  # cut off while thinking
            return Split(thinking=held.strip())
        return Split(content=held if self._state is _State.ANSWER else "")

    def _step(self) -> Split | None:
        """One move of the state machine, or ``None`` when it needs more text."""
        if self._state is _State.BEFORE:
            return self._before()
        if self._state is _State.OPENED:
            return self._opened()
        if self._state is _State.THINKING:
            return self._thinking()
        if self._state is _State.CLOSED:
            return self._closed()
        if not self._pending:
            return None
        answer, self._pending = self._pending, ""
        return Split(content=answer)

    def _before(self) -> Split | None:
        opening = self._tags.open
        text = self._pending.lstrip()
        if text.startswith(opening):
            self._pending, self._state = text[len(opening) :], _State.OPENED
            return Split()
        if opening.startswith(text):  # blanks, or a part of the tag: wait
            return None
        self._state = _State.ANSWER  # no reasoning: the reply is all answer, blanks kept
        return Split()

    def _opened(self) -> Split | None:
        opening = self._tags.open
        text = self._pending.lstrip()
        if self._may_reopen and text.startswith(opening):
            self._pending, self._may_reopen = text[len(opening) :], False
            return Split()
        if not text or (self._may_reopen and opening.startswith(text)):
            self._pending = text
            return None
        self._pending, self._state, self._may_reopen = text, _State.THINKING, False
        return Split()

    def _thinking(self) -> Split | None:
        end, after = self._end_of_thinking()
        if end >= 0:
            thought = self._pending[:end].rstrip()
            self._pending = self._pending[after:]
            self._state = _State.CLOSED if after > end else _State.ANSWER
            return Split(thinking=thought)
        held = max(partial_marker(self._pending, marker) for marker in self._markers())
        certain = self._pending[: len(self._pending) - held]
        shown = certain.rstrip()  # blanks may turn out to end the reasoning
        if not shown:
            return None
        self._pending = self._pending[len(shown) :]
        return Split(thinking=shown)

    def _closed(self) -> Split | None:
        text = self._pending.lstrip()
        if not text:
            self._pending = ""
            return None
        self._pending, self._state = text, _State.ANSWER
        return Split()

    def _markers(self) -> tuple[str, ...]:
        return (self._tags.close, self._ends) if self._ends else (self._tags.close,)

    def _end_of_thinking(self) -> tuple[int, int]:
        """Where the reasoning ends in the pending text and where the rest starts (after
        the closing tag; at a tool-call marker, which the answer keeps); ``(-1, -1)``
        when it does not end there."""
        close = self._pending.find(self._tags.close)
        call = self._pending.find(self._ends) if self._ends else -1
        if call >= 0 and (close < 0 or call < close):
            return call, call
        if close >= 0:
            return close, close + len(self._tags.close)
        return -1, -1
