"""The chat in a real terminal: ``ladle run tiny`` in a detached tmux session against a
live server; keys go in with ``tmux send-keys``, the screen comes back with
``tmux capture-pane``. Skipped when tmux is not installed, except on CI (``CI`` set),
where a missing tmux fails the test. How to watch it by hand: docs/tui.md."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from builder.store.store import Store
from runtime.client import LadleClient
from tests.fixtures.installed import missing
from tests.runtime.api.conftest import TINY_MODELFILE, build
from tests.runtime.api.test_live_server import ROOT, Server, live_server

WIDTH, HEIGHT = 140, 45
WAIT_S = 60


class Terminal:
    """One tmux session on a private server socket (so the user's tmux is untouched)."""

    def __init__(self, command: str) -> None:
        self.socket = f"ladle-test-{os.getpid()}"
        self.tmux("new-session", "-d", "-s", "chat", "-x", str(WIDTH), "-y", str(HEIGHT), command)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return result.stdout

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "chat", "-l", text)
        self.tmux("send-keys", "-t", "chat", "Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "chat")

    def wait_for(self, condition: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            shown = self.screen()
            if condition(shown):
                return shown
            time.sleep(0.1)
        raise AssertionError(f"the pane never showed {what}:\n{self.screen()}")

    def running(self) -> bool:
        return "chat" in self.tmux("list-sessions", "-F", "#{session_name}")

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def tmux() -> None:
    if shutil.which("tmux") is None:
        missing("tmux", "apt-get install tmux, as .ci/run does")


@pytest.fixture
def server(tiny_model: Path, tmp_path: Path) -> Iterator[Server]:
    store = Store(tmp_path / "models")
    build(store, tmp_path / "src", "tiny", TINY_MODELFILE.format(model=tiny_model))
    with live_server(store.root, tmp_path) as server:  # serves tmp_path/models as built
        yield server


def test_ladle_run_in_a_real_terminal(tmux: None, server: Server, tmp_path: Path) -> None:
    chat_file = tmp_path / "chat.json"
    env = f"LADLE_HOST={server.url} LADLE_MODELS={shlex.quote(str(server.models))}"
    command = (
        f"cd {shlex.quote(str(ROOT))} && env {env} {shlex.quote(sys.executable)} -m ladle run tiny"
    )
    terminal = Terminal(command)
    try:
        terminal.wait_for(lambda s: "Send a message" in s and "context 256" in s, "the prompt")
        terminal.type("hello from tmux")
        terminal.wait_for(lambda s: "tokens/s" in s, "an answer's speed")
        terminal.type(f"/save-chat {chat_file}")
        terminal.wait_for(lambda s: "Saved the conversation" in s, "/save-chat's notice")
        answer = json.loads(chat_file.read_text(encoding="utf-8"))["messages"][-1]["content"]
        first_words = " ".join(answer.split()[:2])
        screen = terminal.screen()
        assert "hello from tmux" in screen
        if re.fullmatch(r"[\x20-\x7e]+", first_words):  # random tokens: plain ones show as is
            assert first_words in " ".join(screen.split()), (first_words, screen)
        terminal.type("/set parameter temperature 0.1")
        terminal.wait_for(lambda s: "Set parameter 'temperature' to 0.1." in s, "/set's notice")
        terminal.type("/save tiny-2")
        terminal.wait_for(lambda s: "Saved the session as tiny-2." in s, "/save's notice")
        terminal.type("/bye")
        deadline = time.monotonic() + WAIT_S
        while terminal.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not terminal.running(), "/bye did not quit"
    finally:
        terminal.close()
    with LadleClient(server.url) as client:
        modelfile = client.show("tiny-2")["modelfile"]
    assert "PARAMETER temperature 0.1" in modelfile
    assert "MESSAGE user hello from tmux" in modelfile
    assert "MESSAGE assistant" in modelfile
