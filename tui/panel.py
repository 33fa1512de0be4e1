"""The side panel (F2): the session's system message and main parameters, editable.

It shows what it is given and reports each edit as :class:`tui.messages.PanelEdited`;
the app decides what an edit means (and refuses a value that is not a number)."""

from __future__ import annotations

from typing import Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, TextArea

from tui.messages import PanelEdited

PANEL_OPTIONS: tuple[tuple[str, Literal["number", "integer"]], ...] = (
    ("temperature", "number"),
    ("top_p", "number"),
    ("num_ctx", "integer"),
    ("seed", "integer"),
)
"""The options the panel edits, and the kind of Input each gets."""


class SidePanel(VerticalScroll):
    """Fields for ``system`` and :data:`PANEL_OPTIONS`; empty means the model's own."""

    DEFAULT_CSS = """
    SidePanel {
        dock: right; width: 34; display: none; padding: 0 1;
        border-left: tall $accent; background: $surface;
    }
    SidePanel.shown { display: block; }
    SidePanel Label { margin-top: 1; color: $text-muted; }
    SidePanel TextArea { height: 6; }
    """

    def compose(self) -> ComposeResult:
        yield Label("System message")
        yield TextArea(id="system", soft_wrap=True, compact=True)
        for name, kind in PANEL_OPTIONS:
            yield Label(name)
            yield Input(id=name, type=kind, placeholder="model default", compact=True)

    def show_session(self, system: str | None, options: dict[str, Any]) -> None:
        """Fill the fields from the session, without reporting that as an edit."""
        with self.prevent(TextArea.Changed, Input.Changed):
            area = self.query_one("#system", TextArea)
            if area.text != (system or ""):
                area.load_text(system or "")
            for name, _ in PANEL_OPTIONS:
                field = self.query_one(f"#{name}", Input)
                value = "" if options.get(name) is None else str(options[name])
                if field.value != value:
                    field.value = value

    @on(TextArea.Changed, "#system")
    def system_edited(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(PanelEdited("system", event.text_area.text))

    @on(Input.Changed)
    def option_edited(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(PanelEdited(str(event.input.id), event.value))
