"""What the chat's workers tell the app, named for what happened (Textual's habit).

Every message carries the ``generation`` it belongs to, so the app can drop the late
pieces of an answer it has already stopped."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ResponseChunkReceived(Message):
    """A piece of the assistant's answer arrived."""

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


class ModelChosen(Message):
    """``ladle chat`` without a NAME picked the model to talk to."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
