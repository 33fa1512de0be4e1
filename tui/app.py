"""The terminal chat (``ladle run NAME`` on a terminal, ``ladle chat``).

The app owns the :class:`~tui.session.Session`; thread workers (:mod:`tui.workers`)
talk to the server through :class:`runtime.client.LadleClient` (or any
:class:`~tui.workers.ChatClient`) and post :mod:`tui.messages`, so the screen never
waits on the network. Stopping an answer cancels its worker, which closes the HTTP
stream at the next piece, and the server cancels the generation. Slash commands are
parsed in :mod:`tui.commands` and acted on here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import LoadingIndicator
from textual.widgets.markdown import MarkdownStream
from textual.worker import get_current_worker

from ladle.errors import LadleError
from tui import commands as cmd
from tui import workers
from tui.info import describe
from tui.messages import (
    InfoReceived,
    ModelLoaded,
    ModelLoadFailed,
    ModelsListed,
    PanelEdited,
    ResponseChunkReceived,
    ResponseFailed,
    ResponseFinished,
    RetryScheduled,
)
from tui.panel import SidePanel
from tui.picker import ModelPicker
from tui.prompt import PromptInput
from tui.session import Session
from tui.widgets import AssistantMessage, Notice, Stats, StatusBar, Transcript, UserMessage

Json = dict[str, Any]
ANSWER_GROUP = "answer"
LOAD_GROUP = "load"
PLACEHOLDER = "Send a message (/help for help, F2 settings, F3 models)"
FRAME_S = 1 / 30
"""How often streamed text reaches the Markdown widget: each write re-parses the answer's
last block, so writing per frame rather than per token keeps a long answer from costing
more the faster the model is."""


class ChatApp(App[None]):
    """A conversation with one model of a ladle server at a time."""

    TITLE = "ladle"
    CSS = """
    #status-row { height: 1; dock: bottom; }
    #status-row LoadingIndicator { width: 8; height: 1; display: none; background: $panel; }
    #status-row.loading LoadingIndicator { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+c", "stop", "Stop", show=False, priority=True),
        Binding("ctrl+d", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_panel", "Settings"),
        Binding("f3", "pick_model", "Models"),
    ]

    def __init__(
        self,
        client: workers.ChatClient,
        model: str | None,
        *,
        notice: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_delays: Sequence[float] = workers.RETRY_DELAYS_S,
    ) -> None:
        super().__init__()
        self.client, self.session = client, Session(model)
        self.stats = Stats(model)
        self.startup_notice, self.clock, self.retry_delays = notice, clock, retry_delays
        self.generation = 0
        self.answering = False
        self.loading: str | None = None
        self.context_length: int | None = None
        self._answer: AssistantMessage | None = None
        self._stream: MarkdownStream | None = None
        self._pieces: list[str] = []
        self._unwritten: list[str] = []
        self._sent_at = 0.0

    @property
    def history(self) -> list[Json]:
        return self.session.history

    @property
    def model(self) -> str | None:
        return self.session.model

    def compose(self) -> ComposeResult:
        yield SidePanel()
        yield Transcript()
        yield PromptInput(placeholder=PLACEHOLDER)
        with Horizontal(id="status-row"):
            yield StatusBar()
            yield LoadingIndicator()

    async def on_mount(self) -> None:
        self.query_one(Transcript).anchor()
        self.warm_up()
        self.query_one(PromptInput).focus()
        self.show_stats()
        if self.startup_notice:
            await self.notice(self.startup_notice)
        if self.model is None:
            self.list_models(choose=True)
        else:
            self.load(self.model)
            self.list_models(choose=False)  # for /load's completion

    # -- input -------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def submitted(self, event: PromptInput.Submitted) -> None:
        command = cmd.parse_command(event.text)
        if command is None:
            await self.send(event.text)
        else:
            await self.run_command(command)

    async def run_command(self, command: cmd.Command) -> None:
        match command:
            case cmd.Bye():
                self.exit()
            case cmd.Help():
                await self.notice(cmd.HELP)
            case cmd.Clear():
                await self.clear()
            case cmd.SetSystem(text):
                self.session.system = text
                self.settings_changed()
                await self.notice("Set the system message.")
            case cmd.SetParameter(name, value):
                self.session.options[name] = value
                self.settings_changed()
                await self.notice(f"Set parameter {name!r} to {value!r}.")
            case cmd.SetFormat(chosen):
                self.session.format = chosen
                await self.notice(f"Set format to {chosen!r}." if chosen else "Unset the format.")
            case cmd.Invalid(reason):
                await self.notice(reason, error=True)
            case _:
                await self.run_model_command(command)

    async def run_model_command(self, command: cmd.Command) -> None:
        """The commands that need the server or the filesystem."""
        match command:
            case cmd.Load(None):
                self.list_models(choose=True)
            case cmd.Load(name) if name is not None:
                self.load(name)
            case cmd.SaveChat(path):
                await self.save_chat(Path(path).expanduser())
            case cmd.LoadChat(path):
                await self.load_chat(Path(path).expanduser())
            case _ if self.model is None:
                await self.notice("No model yet: /load MODEL or F3 chooses one.", error=True)
            case cmd.Show(topic):
                session = self.session
                self.fetch_show(self.model, lambda show: describe(show, topic, session))
            case cmd.Save(name):
                self.save_image(name, self.session.create_request())

    async def send(self, text: str) -> None:
        if self.answering:
            await self.notice("Still answering: Escape stops it.", error=True)
            return
        if self.model is None:
            await self.notice("No model yet: /load MODEL or F3 chooses one.", error=True)
            return
        self.history.append({"role": "user", "content": text})
        transcript = self.query_one(Transcript)
        self._answer, self._pieces, self._unwritten = AssistantMessage(), [], []
        await transcript.mount_all([UserMessage(text, markup=False), self._answer])
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
        )
        self.stream_answer(request)

    async def notice(self, text: str, *, error: bool = False) -> Notice:
        notice = Notice(text, markup=False, classes="error" if error else "")
        await self.query_one(Transcript).mount(notice)
        return notice

    def show_stats(self, state: str = "") -> None:
        self.stats.model, self.stats.state = self.model, state
        chosen = self.session.options.get("num_ctx")
        self.stats.context_length = chosen if isinstance(chosen, int) else self.context_length
        self.query_one(StatusBar).show_stats(self.stats)

    def settings_changed(self) -> None:
        self.query_one(SidePanel).show_session(self.session.system, self.session.options)
        self.show_stats(self.stats.state)

    # -- conversations -----------------------------------------------------

    async def clear(self) -> None:
        self.action_stop()
        self.history.clear()
        await self.query_one(Transcript).remove_children()
        await self.notice("Cleared the conversation.")

    async def save_chat(self, path: Path) -> None:
        try:
            path.write_text(self.session.chat_file(), encoding="utf-8")
        except OSError as error:
            await self.notice(f"error: cannot write {path}: {error.strerror}", error=True)
            return
        await self.notice(f"Saved the conversation to {path}.")

    async def load_chat(self, path: Path) -> None:
        if self.answering:
            await self.notice("Still answering: Escape stops it.", error=True)
            return
        try:
            self.session.load_chat(path.read_text(encoding="utf-8"), str(path))
        except OSError as error:
            await self.notice(f"error: cannot read {path}: {error.strerror}", error=True)
            return
        except (LadleError, UnicodeDecodeError) as error:
            await self.notice(f"error: {error}", error=True)
            return
        transcript = self.query_one(Transcript)
        await transcript.remove_children()
        await transcript.mount_all(self.message_widgets(self.history))
        self.settings_changed()
        await self.notice(f"Loaded {len(self.history)} messages from {path}.")

    @staticmethod
    def message_widgets(messages: list[Json]) -> list[UserMessage | AssistantMessage]:
        shown: list[UserMessage | AssistantMessage] = []
        for message in messages:
            content = str(message.get("content", ""))
            if message.get("role") == "assistant":
                shown.append(AssistantMessage(content))
            else:
                shown.append(UserMessage(content, markup=False))
        return shown

    # -- models ------------------------------------------------------------

    def load(self, model: str) -> None:
        """Load ``model`` in a worker; the screen stays live, with a loading indicator."""
        self.loading = model
        self.query_one("#status-row").add_class("loading")
        self.show_stats(f"loading {model}…")
        self.load_model(model, dict(self.session.options))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        if message.model != self.loading:
            return  # another /load came after this one
        self.session.model, self.context_length = message.model, message.context_length
        self.loading_done()

    async def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        if message.model != self.loading:
            return
        self.loading_done("load failed")
        await self.notice(f"error: {message.model}: {message.error}", error=True)

    def loading_done(self, state: str = "") -> None:
        self.loading = None
        self.query_one("#status-row").remove_class("loading")
        self.show_stats(state)

    async def on_models_listed(self, message: ModelsListed) -> None:
        names = [str(model.get("name", "")) for model in message.models]
        self.query_one(PromptInput).models = names
        if not message.choose:
            return
        if not names:
            await self.notice("The server has no models: ladle pull or create one.", error=True)
        elif len(names) == 1 and self.model is None:
            self.load(names[0])
        else:
            picker = ModelPicker(workers.model_rows(message.models), self.model)
            self.push_screen(picker, self.picked)

    async def picked(self, model: str | None) -> None:
        if model is not None:
            self.load(model)
        elif self.model is None:
            await self.notice("No model chosen: /load MODEL or F3 chooses one.")

    # -- workers -----------------------------------------------------------

    @work(thread=True)
    def warm_up(self) -> None:
        """Import what the slash commands need, off the screen's thread."""
        cmd.parameter_names()

    @work(thread=True, exclusive=True, group=ANSWER_GROUP)
    def stream_answer(self, request: workers.AnswerRequest) -> None:
        worker = get_current_worker()
        workers.stream_answer(
            self.client, request, self.post_message, lambda: worker.is_cancelled, self.retry_delays
        )

    @work(thread=True, exclusive=True, group=LOAD_GROUP)
    def load_model(self, model: str, options: Json) -> None:
        workers.load_model(self.client, model, options, self.post_message)

    @work(thread=True)
    def list_models(self, *, choose: bool) -> None:
        workers.list_models(self.client, self.post_message, choose=choose)

    @work(thread=True)
    def fetch_show(self, model: str, text_of: Callable[[Json], str]) -> None:
        workers.fetch_show(self.client, model, self.post_message, text_of)

    @work(thread=True)
    def save_image(self, name: str, request: Json) -> None:
        workers.save_image(self.client, name, request, self.post_message)

    # -- what the workers report -------------------------------------------

    async def on_response_chunk_received(self, message: ResponseChunkReceived) -> None:
        if message.generation != self.generation or self._stream is None:
            return
        if not self._pieces:
            self.stats.first_token_s = self.clock() - self._sent_at
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

    async def on_info_received(self, message: InfoReceived) -> None:
        await self.notice(message.text, error=message.error)

    def on_panel_edited(self, message: PanelEdited) -> None:
        if message.name == "system":
            self.session.system = message.value or None
        elif not message.value.strip():
            self.session.options.pop(message.name, None)
        else:
            value = cmd.parse_value(message.value.strip())
            if isinstance(value, str):
                return  # half-typed ("-", "0."): wait for a number
            self.session.options[message.name] = value
        self.show_stats(self.stats.state)

    async def end_answer(self) -> None:
        self.keep_answer(finished=True)
        await self.stop_stream()

    def keep_answer(self, *, finished: bool = False) -> None:
        """The answer joins the history; a question stopped before any answer leaves it
        (as a failed one does), so that sending it again does not repeat it."""
        self.answering = False
        if finished or self._pieces:
            self.history.append({"role": "assistant", "content": "".join(self._pieces)})
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

    # -- actions -----------------------------------------------------------

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

    async def action_help(self) -> None:
        await self.notice(cmd.HELP)

    def action_toggle_panel(self) -> None:
        panel = self.query_one(SidePanel)
        panel.show_session(self.session.system, self.session.options)
        panel.toggle_class("shown")
        if panel.has_class("shown"):
            panel.query_one("#system").focus()
        else:
            self.query_one(PromptInput).focus()

    def action_pick_model(self) -> None:
        self.list_models(choose=True)


def tokens_per_second(final: Mapping[str, Any]) -> float | None:
    """Speed from the final piece's ``eval_count`` and ``eval_duration`` (nanoseconds)."""
    count, duration = final.get("eval_count"), final.get("eval_duration")
    if isinstance(count, int) and isinstance(duration, int | float) and duration > 0:
        return count / (duration / 1e9)
    return None


def make_app(
    client: workers.ChatClient,
    model: str | None,
    *,
    notice: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    retry_delays: Sequence[float] = workers.RETRY_DELAYS_S,
) -> ChatApp:
    """The chat app, as ``ladle run``/``ladle chat`` and the tests build it; ``notice``
    is a first line for the transcript (e.g. that ladle started the server)."""
    return ChatApp(client, model, notice=notice, clock=clock, retry_delays=retry_delays)
