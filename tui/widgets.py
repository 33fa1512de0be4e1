"""The chat's widgets: they show what they are given and know nothing of the server."""

from __future__ import annotations

from dataclasses import dataclass

from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Markdown, Static


class UserMessage(Static):
    """What the user asked."""

    DEFAULT_CSS = """
    UserMessage { margin: 1 1 0 1; padding: 0 1; border-left: thick $accent; }
    """


class AssistantMessage(Markdown):
    """The model's answer, rendered as Markdown (code blocks highlighted) as it streams in."""

    DEFAULT_CSS = """
    AssistantMessage { margin: 0 1; padding: 0 1; }
    """


class ThinkingBlock(Collapsible):
    """A reasoning model's thinking, above its answer: collapsed and dimmed, its title
    saying how far it got; a click (or Enter on the title) opens it."""

    DEFAULT_CSS = """
    ThinkingBlock { margin: 0 1; padding: 0; border: none; background: transparent; }
    ThinkingBlock CollapsibleTitle { color: $text-muted; padding: 0 1; width: 1fr; }
    ThinkingBlock Contents { padding: 0 0 0 2; }
    ThinkingBlock .thinking-text { color: $text-muted; text-style: italic; }
    """

    def __init__(self) -> None:
        self._text = Static("", markup=False, classes="thinking-text")
        super().__init__(self._text, title="Thinking…", collapsed=True)
        self._parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def add(self, pieces: list[str]) -> None:
        """Append ``pieces`` (one frame's worth) to the thinking shown."""
        self._parts.extend(pieces)
        self._text.update(self.text)
        self.title = f"Thinking… ({len(self.text.split())} words)"

    def finish(self, seconds: float) -> None:
        """The answer has begun (or ended): the thinking is complete."""
        self.title = f"Thought for {seconds:.1f} s ({len(self.text.split())} words)"


class Notice(Static):
    """A line from ladle itself: help, a setting changed, an answer stopped, an error."""

    DEFAULT_CSS = """
    Notice { margin: 0 1; padding: 0 1; color: $text-muted; }
    Notice.error { color: $error; }
    """


class Transcript(VerticalScroll):
    """The conversation so far, newest at the bottom."""

    DEFAULT_CSS = """
    Transcript { height: 1fr; }
    """


@dataclass
class Stats:
    """What the status bar shows: the model, the last answer's time to first token and
    speed, the context it used (prompt plus answer tokens) of the model's, and a state."""

    model: str | None = None
    first_token_s: float | None = None
    tokens_per_s: float | None = None
    context_used: int | None = None
    context_length: int | None = None
    state: str = ""

    def text(self) -> str:
        parts = [self.model or "no model"]
        if self.first_token_s is not None:
            parts.append(f"first token {self.first_token_s:.2f}s")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.1f} tokens/s")
        if self.context_used is not None:
            of = f"/{self.context_length}" if self.context_length else ""
            share = ""
            if self.context_length:
                share = f" ({100 * self.context_used / self.context_length:.0f}%)"
            parts.append(f"context {self.context_used}{of}{share}")
        elif self.context_length:
            parts.append(f"context {self.context_length}")
        if self.state:
            parts.append(self.state)
        return " · ".join(parts)


class StatusBar(Static):
    """One line of :class:`Stats` under the prompt."""

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; padding: 0 1; background: $panel; }
    """

    def show_stats(self, stats: Stats) -> None:
        self.update(stats.text())
