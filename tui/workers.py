"""The chat's slow work, run in Textual thread workers: each function talks to the
server through the client, reports by posting :mod:`tui.messages`, and never touches a
widget. ``post`` is the app's ``post_message`` (safe from a thread); ``cancelled`` is
the worker's ``is_cancelled``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from textual.message import Message

from ladle.errors import LadleError, ServerError
from tui.messages import (
    InfoReceived,
    ModelLoaded,
    ModelLoadFailed,
    ModelsListed,
    ResponseChunkReceived,
    ResponseFailed,
    ResponseFinished,
    RetryScheduled,
    ThinkingReceived,
)

Json = dict[str, Any]
Post = Callable[[Message], object]
Cancelled = Callable[[], bool]

BUSY = 503
RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
"""How long to wait before each new try of a request the server was too busy for (503),
unless it said how long (``Retry-After``): doubling, about 15 s in all, then the error is
shown and sending again retries."""


class ChatClient(Protocol):
    """What the chat needs of :class:`runtime.client.LadleClient`."""

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        format: str | Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        think: bool | str | None = None,
    ) -> Iterator[Json]: ...

    def generate(
        self, model: str, prompt: str, *, options: Mapping[str, Any] | None = None
    ) -> Iterator[Json]: ...

    def tags(self) -> list[Json]: ...

    def show(self, model: str) -> Json: ...

    def ps(self) -> list[Json]: ...

    def create(self, model: str, request: Mapping[str, Any]) -> Iterator[Json]: ...


@dataclass(frozen=True)
class AnswerRequest:
    """One answer to ask for: the conversation so far and the session's settings."""

    generation: int
    model: str
    messages: list[Json]
    options: Json
    format: str | None = None
    think: bool | str | None = None


def stream_answer(
    client: ChatClient,
    request: AnswerRequest,
    post: Post,
    cancelled: Cancelled,
    delays: Sequence[float] = RETRY_DELAYS_S,
) -> None:
    """Post the answer's pieces, then its end; a 503 before the first piece is tried
    again after each of ``delays``."""
    generation = request.generation
    for attempt in range(len(delays) + 1):
        try:
            _stream_once(client, request, post, cancelled)
            return
        except ServerError as error:
            if error.status != BUSY or attempt == len(delays):
                post(ResponseFailed(generation, str(error)))
                return
            delay = delays[attempt] if error.retry_after is None else error.retry_after
            post(RetryScheduled(generation, attempt + 1, delay, error.message))
            if _sleep(delay, cancelled):
                return
        except LadleError as error:
            post(ResponseFailed(generation, str(error)))
            return


def _stream_once(
    client: ChatClient, request: AnswerRequest, post: Post, cancelled: Cancelled
) -> None:
    options = request.options or None
    pieces = client.chat(
        request.model,
        request.messages,
        format=request.format or None,
        options=options,
        think=request.think,
    )
    try:
        for piece in pieces:
            if cancelled():
                return
            if piece.get("done"):
                post(ResponseFinished(request.generation, piece))
                return
            message = piece.get("message") or {}
            if message.get("thinking"):
                post(ThinkingReceived(request.generation, str(message["thinking"])))
            if message.get("content"):
                post(ResponseChunkReceived(request.generation, str(message["content"])))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # leaves the client's `with stream`: the connection closes


def _sleep(seconds: float, cancelled: Cancelled) -> bool:
    """Wait ``seconds``, waking early when cancelled; whether it was."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancelled():
            return True
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return cancelled()


def load_model(client: ChatClient, model: str, options: Json, post: Post) -> None:
    """Load ``model`` now (an empty-prompt generate), so that the first answer does not
    wait for it, then post its context size from ``/api/ps``."""
    try:
        for _ in client.generate(model, "", options=options or None):
            pass
        post(ModelLoaded(model, context_length(client.ps(), model)))
    except LadleError as error:
        post(ModelLoadFailed(model, str(error)))


def context_length(loaded: list[Json], model: str) -> int | None:
    """The context ``model`` was loaded with, from ``/api/ps``'s entries."""
    for entry in loaded:
        if same_model(str(entry.get("name", "")), model):
            value = entry.get("context_length")
            return value if isinstance(value, int) and value > 0 else None
    return None


def same_model(a: str, b: str) -> bool:
    """Whether two names are the same model (``tiny`` is ``tiny:latest``)."""
    return _tagged(a) == _tagged(b)


def _tagged(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def list_models(client: ChatClient, post: Post, *, choose: bool) -> None:
    try:
        models = client.tags()
    except LadleError as error:
        post(InfoReceived(f"error: {error}", error=True))
        return
    post(ModelsListed(models, choose))


def model_rows(models: list[Json]) -> list[tuple[str, str]]:
    """The picker's lines: name, size, quantization and family, in columns."""
    from ladle.units import human_bytes

    cells = []
    for model in models:
        details = model.get("details") or {}
        cells.append(
            (
                str(model.get("name", "")),
                human_bytes(int(model.get("size") or 0)),
                str(details.get("quantization_level") or ""),
                str(details.get("family") or ""),
            )
        )
    width = [max((len(row[column]) for row in cells), default=0) for column in range(4)]
    return [
        (row[0], "  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)).rstrip())
        for row in cells
    ]


def fetch_show(client: ChatClient, model: str, post: Post, describe: Callable[[Json], str]) -> None:
    """Post ``describe`` of the model's ``/api/show``."""
    try:
        post(InfoReceived(describe(client.show(model))))
    except LadleError as error:
        post(InfoReceived(f"error: {error}", error=True))


def save_image(client: ChatClient, name: str, request: Json, post: Post) -> None:
    """``/save``: create ``name`` through ``/api/create``, posting its status lines."""
    try:
        for line in client.create(name, request):
            if line.get("status"):
                post(InfoReceived(f"{name}: {line['status']}"))
    except LadleError as error:
        post(InfoReceived(f"error: /save {name}: {error}", error=True))
        return
    post(InfoReceived(f"Saved the session as {name}."))
