"""The terminal chat (``ladle run NAME`` on a terminal, ``ladle chat``).

The app owns the conversation; a thread worker streams each answer from the server
through :class:`runtime.client.LadleClient` (or any object with its ``chat`` and
``tags``) and posts :mod:`tui.messages`. Stopping an answer cancels the worker, which
closes the HTTP stream at the next piece, and the server cancels the generation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input
from textual.worker import get_current_worker

from ladle.errors import LadleError
from tui.commands import HELP, Bye, Clear, Help, Invalid, SetParameter, SetSystem, parse_command
from tui.messages import ModelChosen, ResponseChunkReceived, ResponseFailed, ResponseFinished
from tui.widgets import AssistantMessage, Notice, StatusBar, Transcript, UserMessage

Json = dict[str, Any]
ANSWER_GROUP = "answer"


class ChatClient(Protocol):
    """What the chat needs of :class:`runtime.client.LadleClient`."""

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
    ) -> Iterator[Json]: ...

    def tags(self) -> list[Json]: ...


class ChatApp(App[None]):
    """A conversation with one model of a ladle server."""

    TITLE = "ladle"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", priority=True),
        Binding("ctrl+c", "stop", "Stop", show=False, priority=True),
        Binding("ctrl+d", "quit", "Quit", priority=True),
    ]

    def __init__(self, client: ChatClient, model: str | None) -> None:
        super().__init__()
        self.client, self.model = client, model
        self.history: list[Json] = []
        self.system: str | None = None
        self.options: Json = {}
        self.generation = 0
        self.answering = False
        self._answer: AssistantMessage | None = None
        self._answer_text = ""
        self._sent_at = 0.0
        self._first_token_s: float | None = None

    def compose(self) -> ComposeResult:
        yield Transcript()
        yield Input(placeholder="Send a message (/help for help)")
        yield StatusBar()

    def on_mount(self) -> None:
        self.query_one(StatusBar).show_stats(self.model)
        self.query_one(Input).focus()
        if self.model is None:
            self.choose_model()

    # -- input -------------------------------------------------------------

    @on(Input.Submitted)
    async def submitted(self, event: Input.Submitted) -> None:
        text = event.value
        event.input.clear()
        if not text.strip():
            return
        command = parse_command(text)
        if command is None:
            await self.send(text)
        else:
            await self.run_command(command)

    async def run_command(self, command: object) -> None:
        match command:
            case Bye():
                self.exit()
            case Clear():
                self.action_stop()
                self.history.clear()
                await self.query_one(Transcript).remove_children()
                await self.notice("Cleared the conversation.")
            case Help():
                await self.notice(HELP)
            case SetSystem(text):
                self.system = text
                await self.notice("Set the system message.")
            case SetParameter(name, value):
                self.options[name] = value
                await self.notice(f"Set parameter {name!r} to {value!r}.")
            case Invalid(reason):
                await self.notice(reason, error=True)

    async def send(self, text: str) -> None:
        if self.answering:
            await self.notice("Still answering: Escape stops it.", error=True)
            return
        if self.model is None:
            await self.notice("No model to talk to yet.", error=True)
            return
        self.history.append({"role": "user", "content": text})
        transcript = self.query_one(Transcript)
        self._answer, self._answer_text = AssistantMessage(), ""
        await transcript.mount_all([UserMessage(text), self._answer])
        transcript.scroll_end(animate=False)
        self.generation += 1
        self.answering, self._sent_at, self._first_token_s = True, time.monotonic(), None
        self.query_one(StatusBar).show_stats(self.model, state="answering…")
        self.stream_answer(self.generation, self.model, self.conversation(), dict(self.options))

    def conversation(self) -> list[Json]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + self.history

    async def notice(self, text: str, *, error: bool = False) -> None:
        transcript = self.query_one(Transcript)
        await transcript.mount(Notice(text, markup=False, classes="error" if error else ""))
        transcript.scroll_end(animate=False)

    # -- workers -----------------------------------------------------------

    @work(thread=True, exclusive=True, group=ANSWER_GROUP)
    def stream_answer(
        self, generation: int, model: str, messages: list[Json], options: Json
    ) -> None:
        worker = get_current_worker()
        pieces: Iterator[Json] = iter(())
        try:
            pieces = self.client.chat(model, messages, options=options or None)
            for piece in pieces:
                if worker.is_cancelled:
                    return
                if piece.get("done"):
                    self.post_message(ResponseFinished(generation, piece))
                    return
                text = str(piece.get("message", {}).get("content", ""))
                self.post_message(ResponseChunkReceived(generation, text))
        except LadleError as error:
            self.post_message(ResponseFailed(generation, str(error)))
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # leaves the client's `with stream`: the connection closes

    @work(thread=True)
    def choose_model(self) -> None:
        try:
            models = self.client.tags()
        except LadleError as error:
            self.post_message(ResponseFailed(0, str(error)))
            return
        if not models:
            self.post_message(ResponseFailed(0, "The server has no models: ladle pull one."))
            return
        self.post_message(ModelChosen(str(models[0].get("name", ""))))

    # -- what the workers report -------------------------------------------

    async def on_response_chunk_received(self, message: ResponseChunkReceived) -> None:
        if message.generation != self.generation or self._answer is None:
            return
        if self._first_token_s is None:
            self._first_token_s = time.monotonic() - self._sent_at
            self.query_one(StatusBar).show_stats(self.model, self._first_token_s)
        self._answer_text += message.text
        await self._answer.append(message.text)
        self.query_one(Transcript).scroll_end(animate=False)

    def on_response_finished(self, message: ResponseFinished) -> None:
        if message.generation != self.generation:
            return
        self.end_answer()
        speed = tokens_per_second(message.final)
        self.query_one(StatusBar).show_stats(self.model, self._first_token_s, speed)

    async def on_response_failed(self, message: ResponseFailed) -> None:
        if message.generation != self.generation:
            return
        if self.answering:
            self.answering = False
            self.history.pop()  # the question was not answered: sending again retries it
            if self._answer is not None and not self._answer_text:
                await self._answer.remove()
        self.query_one(StatusBar).show_stats(self.model, state="failed")
        await self.notice(f"error: {message.error}", error=True)

    def on_model_chosen(self, message: ModelChosen) -> None:
        self.model = message.model
        self.query_one(StatusBar).show_stats(self.model)

    def end_answer(self) -> None:
        self.answering = False
        if self._answer_text:
            self.history.append({"role": "assistant", "content": self._answer_text})

    # -- actions -----------------------------------------------------------

    def action_stop(self) -> None:
        """Stop the answer being written (Escape, Ctrl+C); nothing when there is none."""
        if not self.answering:
            return
        self.workers.cancel_group(self, ANSWER_GROUP)
        self.generation += 1  # late pieces of the stopped answer are dropped
        self.end_answer()
        self.query_one(StatusBar).show_stats(self.model, self._first_token_s, state="stopped")
        self.call_later(self.notice, "Stopped.")


def tokens_per_second(final: Mapping[str, Any]) -> float | None:
    """Speed from the final piece's ``eval_count`` and ``eval_duration`` (nanoseconds)."""
    count, duration = final.get("eval_count"), final.get("eval_duration")
    if isinstance(count, int) and isinstance(duration, int | float) and duration > 0:
        return count / (duration / 1e9)
    return None


def make_app(client: ChatClient, model: str | None) -> ChatApp:
    """The chat app, as ``ladle run``/``ladle chat`` and the tests build it."""
    return ChatApp(client, model)
