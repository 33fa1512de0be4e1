"""The box the user types into: multi-line, with history and slash-command completion.

Enter sends. A new line is Ctrl+J, Alt+Enter or Shift+Enter — many terminals send the
same bytes for Shift+Enter as for Enter, so the first two are the ones that always work
— and, as in Ollama's REPL, Enter inside a block opened with ``\"\"\"`` (closed by a
line ending in ``\"\"\"``). Up on the first line and Down on the last walk the history.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from tui.commands import suggest

NEWLINE_KEYS = frozenset({"ctrl+j", "alt+enter", "shift+enter"})
FENCE = '"""'


class PromptInput(TextArea):
    """A TextArea where Enter submits (see the module docstring for the other keys)."""

    DEFAULT_CSS = """
    PromptInput { height: auto; max-height: 12; border: tall $accent 50%; padding: 0 1; }
    PromptInput:focus { border: tall $accent; }
    """

    class Submitted(Message):
        """The user sent ``text`` (a ``\"\"\"`` block arrives without its quotes)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(
            id=id,
            placeholder=placeholder,
            show_line_numbers=False,
            soft_wrap=True,
            highlight_cursor_line=False,
        )
        self.sent: list[str] = []  # what Up recalls, oldest first
        self._recalled = 0  # how far back Up has walked; 0: the text being written
        self._draft = ""
        self.models: Sequence[str] = ()  # names `/load ` completes

    def update_suggestion(self) -> None:
        self.suggestion = suggest(self.text, self.models) if self.cursor_at_end_of_text else ""

    async def _on_key(self, event: events.Key) -> None:
        handled = True
        if event.key == "enter" and not in_open_block(self.text):
            self.submit()
        elif event.key in NEWLINE_KEYS or event.key == "enter":
            self.insert("\n")
        elif event.key == "tab" and self.suggestion:
            self.insert(self.suggestion)
        elif event.key == "up" and self.cursor_at_first_line and self.sent:
            self.recall(self._recalled + 1)
        elif event.key == "down" and self.cursor_at_last_line and self._recalled:
            self.recall(self._recalled - 1)
        else:
            handled = False
        if handled:
            event.stop()
            event.prevent_default()
        else:
            await super()._on_key(event)

    def submit(self) -> None:
        text = unfenced(self.text)
        if text.strip():
            if not self.sent or self.sent[-1] != text:
                self.sent.append(text)
            self.post_message(self.Submitted(text))
        self._recalled, self._draft = 0, ""
        self.clear()

    def recall(self, back: int) -> None:
        """Show the message ``back`` steps up the history (0: the unsent draft)."""
        if self._recalled == 0:
            self._draft = self.text
        self._recalled = min(back, len(self.sent))
        self.load_text(self.sent[-self._recalled] if self._recalled else self._draft)
        self.move_cursor(self.document.end)


def in_open_block(text: str) -> bool:
    """Whether ``text`` opened a ``\"\"\"`` block that it has not closed yet."""
    stripped = text.strip()
    return stripped.startswith(FENCE) and (len(stripped) < 6 or not stripped.endswith(FENCE))


def unfenced(text: str) -> str:
    """``text`` without the quotes of a closed ``\"\"\"`` block."""
    stripped = text.strip()
    if stripped.startswith(FENCE) and stripped.endswith(FENCE) and len(stripped) >= 6:
        return stripped[3:-3].strip("\n")
    return text
