"""The terminal chat (``ladle run NAME`` on a terminal, ``ladle chat``).

The app owns the :class:`~tui.session.Session`; thread workers (:mod:`tui.workers`)
talk to the server through :class:`runtime.client.LadleClient` (or any
:class:`~tui.workers.ChatClient`) and post :mod:`tui.messages`, so the screen never
waits on the network. Sending a question and streaming its answer is the part this
app inherits from :class:`~tui.answering.AnsweringApp`; stopping an answer cancels its
worker, which closes the HTTP stream at the next piece, and the server cancels the
generation. Slash commands are parsed in :mod:`tui.commands` and acted on here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import LoadingIndicator

from ladle.errors import LadleError
from tui import commands as cmd
from tui import workers
from tui.answering import AnsweringApp
from tui.attachments import AttachmentError, dropped_image, read_attachment
from tui.info import describe
from tui.messages import (
    InfoReceived,
    ModelLoaded,
    ModelLoadFailed,
    ModelsListed,
    PanelEdited,
)
from tui.panel import SidePanel
from tui.picker import ModelPicker
from tui.prompt import PromptInput
from tui.session import Session
from tui.widgets import AssistantMessage, Notice, Stats, StatusBar, Transcript, UserMessage

Json = dict[str, Any]
LOAD_GROUP = "load"
PLACEHOLDER = "Send a message (/help for help, F2 settings, F3 models)"


class ChatApp(AnsweringApp):
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
        self.loading: str | None = None
        self.context_length: int | None = None

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
        if dropped_image(event.text):  # a dragged file's path, before slash commands
            await self.attach(event.text)
            return
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
            case cmd.SetThink(think):
                self.session.think = think
                await self.notice(_think_notice(think))
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
            case cmd.AttachImage(path):
                await self.attach(path)
            case _ if self.model is None:
                await self.notice("No model yet: /load MODEL or F3 chooses one.", error=True)
            case cmd.Show(topic):
                session = self.session
                self.fetch_show(self.model, lambda show: describe(show, topic, session))
            case cmd.Save(name):
                self.save_image(name, self.session.create_request())

    async def attach(self, path: str) -> None:
        """Attach the image at ``path`` to the next message, shown as its chip."""
        try:
            attachment = read_attachment(path)
        except AttachmentError as error:
            await self.notice(str(error), error=True)
            return
        self.session.attached.append(attachment)
        await self.notice(f"{attachment.chip} goes with your next message.")

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

    # -- actions -----------------------------------------------------------

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


def _think_notice(think: bool | str) -> str:
    if think is False:
        return "Thinking off: the model answers without thinking first."
    level = "" if think is True else f" ({think})"
    return f"Thinking on{level}: the thinking shows, collapsed, above each answer."
