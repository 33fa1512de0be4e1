"""Sending a question and streaming its answer onto the chat screen.

:class:`AnsweringApp` is the half of :class:`~tui.app.ChatApp` that owns one answer's
life: the question goes to a thread worker (:func:`tui.workers.stream_answer`), whose
pieces come back as :mod:`tui.messages` and are written to the answer's Markdown
stream once a frame; an answer that finishes, fails or is stopped leaves the history
ready for the next question. It is apart from the app's commands, model loading and
panels because it is the one part with timing to get right (late pieces of a stopped
answer, a stream still being written when the next answer starts), and it is easier
to follow when nothing else is in between.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from textual import work
from textual.app import App
from textual.widgets.markdown import MarkdownStream
from textual.worker import get_current_worker

from tui import workers
from tui.attachments import user_message
from tui.messages import (
    ResponseChunkReceived,
    ResponseFailed,
    ResponseFinished,
    RetryScheduled,
    ThinkingReceived,
)
from tui.session import Json, Session
from tui.widgets import AssistantMessage, Notice, Stats, ThinkingBlock, Transcript, UserMessage

ANSWER_GROUP = "answer"
FRAME_S = 1 / 30
"""How often streamed text reaches the Markdown widget: each write re-parses the answer's
last block, so writing per frame rather than per token keeps a long answer from costing
more the faster the model is."""


class AnsweringApp(App[None]):
    """The answer half of the chat app: :class:`~tui.app.ChatApp` sets the attributes
    below and shows notices and the status bar for it."""

    client: workers.ChatClient
    session: Session
    stats: Stats
    clock: Callable[[], float]
    retry_delays: Sequence[float]

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0
        self.answering = False
        self._answer: AssistantMessage | None = None
        self._stream: MarkdownStream | None = None
        self._pieces: list[str] = []
        self._unwritten: list[str] = []
        self._thinking: ThinkingBlock | None = None
        self._unthought: list[str] = []
        """Thinking received since the last frame, not shown yet."""
        self._sent_at = 0.0

    @property
    def history(self) -> list[Json]:
        return self.session.history

    @property
    def model(self) -> str | None:
        return self.session.model

    @abstractmethod
    async def notice(self, text: str, *, error: bool = False) -> Notice:
        """Add ``text`` to the transcript, as an error or not."""

    @abstractmethod
    def show_stats(self, state: str = "") -> None:
        """Show the model, the last answer's numbers and ``state`` in the status bar."""

    async def send(self, text: str) -> None:
        if self.answering:
            await self.notice("Still answering: Escape stops it.", error=True)
            return
        if self.model is None:
            await self.notice("No model yet: /load MODEL or F3 chooses one.", error=True)
            return
        message, shown = user_message(text, self.session.attached)
        self.session.attached = []
        self.history.append(message)
        transcript = self.query_one(Transcript)
        self._answer, self._pieces, self._unwritten = AssistantMessage(), [], []
        self._thinking, self._unthought = None, []
        await transcript.mount_all([UserMessage(shown, markup=False), self._answer])
        self._stream = AssistantMessage.get_stream(self._answer)
        transcript.scroll_end(animate=False)
        self.generation += 1
        self.answering, self._sent_at = True, self.clock()
        self.stats.first_token_s = self.stats.tokens_per_s = None
        self.show_stats("answering…")
        request = workers.AnswerRequest(
            self.generation,
            self.model,
            self.session.conversation(),
            dict(self.session.options),
            self.session.format,
            self.session.think,
        )
        self.stream_answer(request)

    @work(thread=True, exclusive=True, group=ANSWER_GROUP)
    def stream_answer(self, request: workers.AnswerRequest) -> None:
        worker = get_current_worker()
        workers.stream_answer(
            self.client, request, self.post_message, lambda: worker.is_cancelled, self.retry_delays
        )

    async def on_thinking_received(self, message: ThinkingReceived) -> None:
        """Thinking goes to a collapsed block above the answer, mounted with its first
        piece and written once a frame, as the answer is."""
        if message.generation != self.generation or self._answer is None:
            return
        if self._thinking is None:
            self._first_piece()
            self._thinking = ThinkingBlock()
            await self.query_one(Transcript).mount(self._thinking, before=self._answer)
        self._unthought.append(message.text)
        if len(self._unthought) == 1:
            self.set_timer(FRAME_S, self.write_thinking)

    def write_thinking(self) -> None:
        if self._unthought and self._thinking is not None:
            self._thinking.add(self._unthought)
            self._unthought = []

    def _first_piece(self) -> None:
        """The answer's first piece, thinking or text: the time to first token."""
        if self.stats.first_token_s is None:
            self.stats.first_token_s = self.clock() - self._sent_at
            self.show_stats("thinking…" if not self._pieces else "answering…")

    def _thinking_done(self) -> None:
        if self._thinking is not None and not self._pieces:
            self.write_thinking()
            self._thinking.finish(self.clock() - self._sent_at)

    async def on_response_chunk_received(self, message: ResponseChunkReceived) -> None:
        if message.generation != self.generation or self._stream is None:
            return
        if not self._pieces:
            self._thinking_done()
            self._pieces.append("")  # the answer has begun
            self._first_piece()
            self.show_stats("answering…")
        self._pieces.append(message.text)
        self._unwritten.append(message.text)
        if len(self._unwritten) == 1:
            self.set_timer(FRAME_S, self.write_answer)

    async def write_answer(self) -> None:
        """Hand the pieces received since the last frame to the Markdown stream."""
        if self._unwritten and self._stream is not None:
            text = "".join(self._unwritten)
            self._unwritten.clear()
            await self._stream.write(text)

    async def on_response_finished(self, message: ResponseFinished) -> None:
        if message.generation != self.generation:
            return
        final = message.final
        self.stats.tokens_per_s = tokens_per_second(final)
        prompt, answer = final.get("prompt_eval_count"), final.get("eval_count")
        if isinstance(prompt, int) and isinstance(answer, int):
            self.stats.context_used = prompt + answer
        self.show_stats()
        await self.end_answer()

    async def on_response_failed(self, message: ResponseFailed) -> None:
        if message.generation != self.generation or not self.answering:
            return
        self.answering = False
        self.history.pop()  # the question was not answered: sending again retries it
        if self._answer is not None and not self._pieces:
            await self._answer.remove()
            if self._thinking is not None:
                await self._thinking.remove()
        self.show_stats("failed")
        await self.notice(f"error: {message.error}", error=True)

    async def on_retry_scheduled(self, message: RetryScheduled) -> None:
        if message.generation != self.generation:
            return
        self.show_stats("server busy, retrying…")
        tries = len(self.retry_delays) + 1
        await self.notice(
            f"The server is busy ({message.reason}); trying again in {message.delay_s:g} s "
            f"(try {message.attempt + 1} of {tries})."
        )

    async def end_answer(self) -> None:
        self._thinking_done()
        self.keep_answer(finished=True)
        await self.stop_stream()

    def keep_answer(self, *, finished: bool = False) -> None:
        """The answer joins the history; a question stopped before any answer leaves it
        (as a failed one does), so that sending it again does not repeat it."""
        self.answering = False
        thinking = self._thinking.text + "".join(self._unthought) if self._thinking else ""
        if finished or self._pieces:
            answer: Json = {"role": "assistant", "content": "".join(self._pieces)}
            if thinking:
                answer["thinking"] = thinking
            self.history.append(answer)
        else:
            self.history.pop()

    async def stop_stream(self) -> None:
        """Render what the Markdown stream still holds, then let it go."""
        await self.write_answer()
        stream = self._stream
        if stream is not None:
            await stream.stop()
        if self._stream is stream:  # not a new answer's, sent meanwhile
            self._stream = None

    @property
    def streaming(self) -> bool:
        """Whether an answer's text is still on its way to the screen."""
        return self._stream is not None

    def action_stop(self) -> None:
        """Stop the answer being written (Escape, Ctrl+C); nothing when there is none."""
        if not self.answering:
            return
        self.workers.cancel_group(self, ANSWER_GROUP)
        self.generation += 1  # late pieces of the stopped answer are dropped
        self.keep_answer()
        self.call_later(self._stopped)

    async def _stopped(self) -> None:
        await self.stop_stream()
        self.show_stats("stopped")
        await self.notice("Stopped.")


def tokens_per_second(final: Mapping[str, Any]) -> float | None:
    """Speed from the final piece's ``eval_count`` and ``eval_duration`` (nanoseconds)."""
    count, duration = final.get("eval_count"), final.get("eval_duration")
    if isinstance(count, int) and isinstance(duration, int | float) and duration > 0:
        return count / (duration / 1e9)
    return None
