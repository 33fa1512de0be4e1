"""The model picker: a modal list of the server's models (``/api/tags``), opened by
``ladle chat`` without a NAME, ``/load`` without a MODEL, or F3."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ModelPicker(ModalScreen[str | None]):
    """Answers the chosen model's name, or ``None`` when the user backs out (Escape)."""

    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical {
        width: 80%; max-width: 90; height: auto; max-height: 80%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ModelPicker Label { width: 1fr; color: $text-muted; }
    ModelPicker OptionList { height: auto; max-height: 20; border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, rows: list[tuple[str, str]], current: str | None) -> None:
        """``rows``: each model's name and the line that shows it."""
        super().__init__()
        self.rows, self.current = rows, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Choose a model (Enter), Escape to keep the current one")
            yield OptionList(*(Option(line, id=name) for name, line in self.rows))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = [name for name, _ in self.rows]
        if self.current in names:
            options.highlighted = names.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
