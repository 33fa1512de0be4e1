"""The chat against a real ``ladle serve`` with the tiny test model: an answer streams,
``/save`` writes an image with the conversation as its MESSAGEs, ``/load`` switches
models; and the CLI's side: a server that is not running is started for the user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from builder.store.names import ModelName
from builder.store.store import Store
from ladle.errors import ServerUnreachableError
from ladle.settings import Settings
from runtime.autostart import ensure_server, is_loopback
from runtime.client import LadleClient
from tests.runtime.api.conftest import TINY_MODELFILE, build
from tests.runtime.api.test_live_server import Server, free_port, live_server
from tests.tui.pilot import drive, loaded, notices, say, status, until
from tui import make_app
from tui.prompt import PromptInput

SLOW_S = 60  # a loaded CI machine takes its time to load a model


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("tui-live")
    store = Store(root / "models")
    build(store, root / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    build(store, root / "src", "tiny-b", TINY_MODELFILE.format(model=tiny_model))
    with live_server(store.root, root) as server:  # serves root/models as built
        yield server


def test_an_answer_streams_from_a_live_server(server: Server) -> None:
    with LadleClient(server.url) as client:
        app = make_app(client, "tiny")

        async def script(pilot: Pilot[None]) -> None:
            await until(pilot, lambda: app.context_length is not None, timeout=SLOW_S)
            assert "context 256" in status(app)  # from /api/ps, after the preload
            await say(pilot, "hello")
            await until(pilot, lambda: len(app.history) == 2, timeout=SLOW_S)
            assert "tokens/s" in status(app) and "/256" in status(app)
            await say(pilot, "/set format json")  # LadleClient.chat(format=...)
            await say(pilot, "answer in JSON")
            await until(pilot, lambda: len(app.history) == 4, timeout=SLOW_S)
            assert not [text for text in notices(app) if text.startswith("error")]

        drive(app, script)
    assert app.history[1]["role"] == "assistant" and app.history[1]["content"]
    assert app.history[3]["content"].lstrip().startswith("{")  # held to JSON by a grammar


def test_save_makes_an_image_with_the_session(server: Server) -> None:
    with LadleClient(server.url) as client:
        app = make_app(client, "tiny")

        async def script(pilot: Pilot[None]) -> None:
            await say(pilot, "/set parameter temperature 0.1")
            await say(pilot, "/set system Answer in one word.")
            await say(pilot, "hello")
            await until(pilot, lambda: len(app.history) == 2, timeout=SLOW_S)
            await say(pilot, "/save tiny-saved")
            await until(
                pilot,
                lambda: any("tiny-saved" in text for text in notices(app)[-1:]) and not app.workers,
                timeout=SLOW_S,
            )
            assert notices(app)[-1] == "Saved the session as tiny-saved.", notices(app)

        drive(app, script)
        modelfile = client.show("tiny-saved")["modelfile"]
    answer = app.history[1]["content"]
    assert "PARAMETER temperature 0.1" in modelfile
    assert "Answer in one word." in modelfile
    assert "MESSAGE user hello" in modelfile
    assert "MESSAGE assistant" in modelfile and answer.strip()[:5] in modelfile
    assert Store(server.models).get(ModelName.parse("tiny-saved"))


def test_load_switches_the_model_while_the_screen_stays_live(server: Server) -> None:
    with LadleClient(server.url) as client:
        app = make_app(client, "tiny")

        async def script(pilot: Pilot[None]) -> None:
            await loaded(pilot)
            await say(pilot, "/load tiny-b")
            await pilot.press("h", "i")  # typing while it loads
            assert app.query_one(PromptInput).text == "hi"
            await until(pilot, lambda: app.model == "tiny-b" and app.loading is None, SLOW_S)
            await pilot.press("enter")
            await until(pilot, lambda: len(app.history) == 2, timeout=SLOW_S)
            await say(pilot, "/load missing-model")
            await until(pilot, lambda: "load failed" in status(app), SLOW_S)
            assert "not found" in notices(app)[-1] and app.model == "tiny-b"

        drive(app, script)
        names = [entry["name"] for entry in client.ps()]
    assert "tiny-b:latest" in names


def test_the_chat_starts_a_local_server_when_none_answers(tmp_path: Path) -> None:
    settings = Settings.from_environment(
        {"LADLE_HOST": f"127.0.0.1:{free_port()}", "LADLE_MODELS": str(tmp_path / "models")}
    )
    with LadleClient(settings.url) as client:
        notice = ensure_server(settings, client)
        try:
            assert notice is not None and f"Started ladle serve at {settings.url}" in notice
            assert client.version()
            assert ensure_server(settings, client) is None  # it answers now: no second one
        finally:
            pid = int(notice.split("(pid ")[1].split(",")[0]) if notice else 0
            if pid:
                import os
                import signal

                os.kill(pid, signal.SIGTERM)
    assert (tmp_path / "serve.log").exists()


def test_a_remote_server_that_does_not_answer_is_an_error_not_a_start() -> None:
    settings = Settings.from_environment({"LADLE_HOST": "192.0.2.1:9"})  # TEST-NET-1

    class Down(LadleClient):
        def version(self) -> str:
            raise ServerUnreachableError(self.url)

    def never(settings: Settings) -> None:
        raise AssertionError("started a server for a remote host")

    with Down(settings.url) as client, pytest.raises(ServerUnreachableError, match=r"192\.0\.2\.1"):
        ensure_server(settings, client, start=never)  # type: ignore[arg-type]
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("0.0.0.0") and not is_loopback("example.com")
