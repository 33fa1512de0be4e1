"""What the chat's workers (and its panel) tell the app, named for what happened
(Textual's habit).

The answer's messages carry the ``generation`` they belong to, so that the app can drop
the late pieces of an answer it has already stopped."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ResponseChunkReceived(Message):
    """A piece of the assistant's answer arrived."""

    def __init__(self, generation: int, text: str) -> None:
        super().__init__()
        self.generation, self.text = generation, text


class ThinkingReceived(Message):
    """A piece of a reasoning model's thinking arrived (before or beside the answer)."""

    def __init__(self, generation: int, text: str) -> None:
        super().__init__()
        self.generation, self.text = generation, text


class ResponseFinished(Message):
    """The answer is complete; ``final`` is the server's last piece (``done``, counts)."""

    def __init__(self, generation: int, final: dict[str, Any]) -> None:
        super().__init__()
        self.generation, self.final = generation, final


class ResponseFailed(Message):
    """The request failed; ``error`` is what the user should read."""

    def __init__(self, generation: int, error: str) -> None:
        super().__init__()
        self.generation, self.error = generation, error


class RetryScheduled(Message):
    """The server was busy (503); the request is sent again after ``delay_s``."""

    def __init__(self, generation: int, attempt: int, delay_s: float, reason: str) -> None:
        super().__init__()
        self.generation, self.attempt, self.delay_s = generation, attempt, delay_s
        self.reason = reason


class ModelsListed(Message):
    """``/api/tags`` answered, for the picker (``choose``) or for completion only."""

    def __init__(self, models: list[dict[str, Any]], choose: bool) -> None:
        super().__init__()
        self.models, self.choose = models, choose


class ModelLoaded(Message):
    """The model is in memory; ``context_length`` is its context (``None``: unknown)."""

    def __init__(self, model: str, context_length: int | None) -> None:
        super().__init__()
        self.model, self.context_length = model, context_length


class ModelLoadFailed(Message):
    """The model could not be loaded (unknown name, no memory, a broken image)."""

    def __init__(self, model: str, error: str) -> None:
        super().__init__()
        self.model, self.error = model, error


class InfoReceived(Message):
    """Text for the transcript from a request other than an answer (``/show``,
    ``/save``'s progress); ``error`` marks a failure."""

    def __init__(self, text: str, *, error: bool = False) -> None:
        super().__init__()
        self.text, self.error = text, error


class PanelEdited(Message):
    """The user changed a field of the side panel: ``name`` is ``system`` or an option,
    ``value`` the field's text (``""``: back to the model's own)."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__()
        self.name, self.value = name, value
