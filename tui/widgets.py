"""The chat's widgets: they show what they are given and know nothing of the server."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static


class UserMessage(Static):
    """What the user asked."""

    DEFAULT_CSS = """
    UserMessage { margin: 1 1 0 1; padding: 0 1; border-left: thick $accent; }
    """


class AssistantMessage(Markdown):
    """The model's answer, rendered as Markdown while it streams in."""

    DEFAULT_CSS = """
    AssistantMessage { margin: 0 1; padding: 0 1; }
    """


class Notice(Static):
    """A line from ladle itself: help, a setting changed, an answer stopped."""

    DEFAULT_CSS = """
    Notice { margin: 0 1; padding: 0 1; color: $text-muted; }
    Notice.error { color: $error; }
    """


class Transcript(VerticalScroll):
    """The conversation so far, newest at the bottom."""

    DEFAULT_CSS = """
    Transcript { height: 1fr; }
    """


class StatusBar(Static):
    """The model, the time to the first token and the speed of the last answer."""

    DEFAULT_CSS = """
    StatusBar { height: 1; dock: bottom; padding: 0 1; background: $panel; }
    """

    def show_stats(
        self,
        model: str | None,
        first_token_s: float | None = None,
        tokens_per_s: float | None = None,
        state: str = "",
    ) -> None:
        parts = [model or "no model"]
        if first_token_s is not None:
            parts.append(f"first token {first_token_s:.2f}s")
        if tokens_per_s is not None:
            parts.append(f"{tokens_per_s:.1f} tokens/s")
        if state:
            parts.append(state)
        self.update(" · ".join(parts))
