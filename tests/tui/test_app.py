"""The terminal chat driven by Textual's Pilot against a fake client that streams
pieces like :class:`runtime.client.LadleClient` (and once against a live server)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from builder.store import Store
from ladle.errors import ServerUnreachableError
from runtime.client import LadleClient
from tests.runtime.api.conftest import TINY_MODELFILE, build
from tests.runtime.api.test_live_server import Server
from tui import ChatApp, make_app
from tui.commands import Bye, Invalid, SetParameter, SetSystem, parse_command
from tui.widgets import AssistantMessage, Notice, StatusBar, UserMessage

Json = dict[str, Any]
FINAL = {"done": True, "done_reason": "stop", "eval_count": 50, "eval_duration": 500_000_000}


class FakeClient:
    """Streams ``words`` one piece at a time, ``delay`` seconds apart."""

    def __init__(self, words: Sequence[str] = ("Hello", " **world**"), delay: float = 0.0):
        self.words, self.delay = list(words), delay
        self.calls: list[tuple[str, list[Json], Json | None]] = []
        self.closed = threading.Event()
        self.down = False

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
    ) -> Iterator[Json]:
        self.calls.append((model, [dict(m) for m in messages], dict(options or {}) or None))
        return self._pieces()

    def _pieces(self) -> Iterator[Json]:
        if self.down:
            raise ServerUnreachableError("http://127.0.0.1:1")
        try:
            for word in self.words:
                time.sleep(self.delay)
                yield {"message": {"role": "assistant", "content": word}, "done": False}
            yield FINAL
        finally:
            self.closed.set()

    def tags(self) -> list[Json]:
        return [{"name": "tiny:latest"}, {"name": "other:latest"}]


def drive(app: ChatApp, script: Callable[[Pilot[None]], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        async with app.run_test() as pilot:
            await script(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.01)


async def say(pilot: Pilot[None], text: str) -> None:
    pilot.app.query_one(Input).value = text
    await pilot.press("enter")


def notices(app: ChatApp) -> list[str]:
    return [str(notice.render()) for notice in app.query(Notice)]


def test_an_answer_streams_into_the_transcript_as_markdown() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi there")
        await until(pilot, lambda: not app.answering and len(app.history) == 2)
        assert [str(m.render()) for m in app.query(UserMessage)] == ["hi there"]
        answer = app.query_one(AssistantMessage)
        assert answer.source == "Hello **world**"
        status = str(app.query_one(StatusBar).render())
        assert "tiny" in status and "100.0 tokens/s" in status and "first token" in status

    drive(app, script)
    assert client.calls == [("tiny", [{"role": "user", "content": "hi there"}], None)]
    assert app.history[-1] == {"role": "assistant", "content": "Hello **world**"}


def test_the_conversation_carries_the_system_message_and_parameters() -> None:
    client = FakeClient()
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "/set system You are terse.")
        await say(pilot, "/set parameter temperature 0.2")
        await say(pilot, "/set parameter num_predict 8")
        await say(pilot, "one")
        await until(pilot, lambda: len(app.history) == 2)
        await say(pilot, "two")
        await until(pilot, lambda: len(app.history) == 4)

    drive(app, script)
    _, messages, options = client.calls[-1]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "You are terse."
    assert options == {"temperature": 0.2, "num_predict": 8}


def test_clear_forgets_the_conversation() -> None:
    app = make_app(FakeClient(), "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)
        await say(pilot, "/clear")
        await until(pilot, lambda: "Cleared the conversation." in notices(app))
        assert not app.query(UserMessage) and not app.query(AssistantMessage)
        assert app.history == []

    drive(app, script)


def test_help_and_unknown_commands_answer_inline() -> None:
    app = make_app(FakeClient(), "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "/help")
        await say(pilot, "/nope")
        await until(pilot, lambda: len(notices(app)) == 2)
        help_text, unknown = notices(app)
        assert "/set parameter NAME VALUE" in help_text and "/bye" in help_text
        assert "unknown command '/nope'" in unknown

    drive(app, script)


def test_bye_and_ctrl_d_quit() -> None:
    for key in ("bye", "ctrl+d"):
        app = make_app(FakeClient(), "tiny")

        async def script(pilot: Pilot[None], key: str = key) -> None:
            if key == "bye":
                await say(pilot, "/bye")
            else:
                await pilot.press(key)
            await pilot.pause()

        drive(app, script)
        assert app.return_code == 0 and not app.is_running, key


def test_escape_stops_a_slow_answer_and_closes_the_stream() -> None:
    client = FakeClient(words=["word "] * 1000, delay=0.02)
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "talk forever")
        await until(pilot, lambda: "word" in app.query_one(AssistantMessage).source)
        await pilot.press("escape")
        assert not app.answering
        await until(pilot, lambda: "Stopped." in notices(app))
        await until(pilot, client.closed.is_set)
        shown = app.query_one(AssistantMessage).source
        await pilot.pause(0.1)
        assert app.query_one(AssistantMessage).source == shown  # late pieces are dropped
        assert "stopped" in str(app.query_one(StatusBar).render())

    drive(app, script)
    assert app.history[-1]["role"] == "assistant"


def test_a_server_that_is_down_is_an_inline_error_and_recoverable() -> None:
    client = FakeClient()
    client.down = True
    app = make_app(client, "tiny")

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "hi")
        await until(pilot, lambda: bool(notices(app)))
        assert "is `ladle serve` running?" in notices(app)[0]
        assert app.history == [] and not app.answering
        client.down = False
        await say(pilot, "hi")
        await until(pilot, lambda: len(app.history) == 2)

    drive(app, script)


def test_without_a_name_the_chat_talks_to_the_first_model() -> None:
    app = make_app(FakeClient(), None)

    async def script(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.model == "tiny:latest")
        assert "tiny:latest" in str(app.query_one(StatusBar).render())

    drive(app, script)


def test_slash_commands_parse() -> None:
    assert parse_command("hello /bye") is None
    assert parse_command(" /bye ") == Bye()
    assert parse_command("/set system Be brief. Very.") == SetSystem("Be brief. Very.")
    assert parse_command("/set parameter top_k 40") == SetParameter("top_k", 40)
    assert parse_command("/set parameter stop </s>") == SetParameter("stop", "</s>")
    assert isinstance(parse_command("/set parameter top_k"), Invalid)
    assert isinstance(parse_command("/set"), Invalid)


def test_the_chat_streams_from_a_live_server(tiny_model: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    build(store, tmp_path / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    server = Server(store.root, tmp_path / "serve.log")
    try:
        server.wait_ready()
        with LadleClient(server.url) as client:
            app = make_app(client, "tiny")

            async def script(pilot: Pilot[None]) -> None:
                await say(pilot, "/set parameter num_predict 8")
                await say(pilot, "hello")
                await until(pilot, lambda: len(app.history) == 2, timeout=60)
                assert app.query_one(AssistantMessage).source
                assert "tokens/s" in str(app.query_one(StatusBar).render())

            drive(app, script)
    finally:
        server.stop()
