"""``ladle serve --help``, ``ladle run`` without a prompt and ``ladle chat``, ``ps``'s
UNTIL column, and LADLE_HOST; the commands against a live server are in
tests/runtime/api/test_live_server.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ladle.cli.app import app
from ladle.cli.graceful import FLUSH_S, deadline
from ladle.cli.serve import until
from ladle.errors import SettingsError
from ladle.settings import DEFAULT_RUNNER_TIMEOUT_S, Settings, parse_host

ROOT = Path(__file__).parents[3]
CLIENT_ONLY = {"LADLE_CREDENTIALS", "LADLE_INSECURE_REGISTRIES"}
"""Settings of the registry client, not of the server."""

runner = CliRunner()


def server_settings() -> set[str]:
    text = (ROOT / "ladle" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"LADLE_[A-Z_]+", text)) - CLIENT_ONLY


def test_serve_help_and_the_api_docs_list_every_server_setting() -> None:
    result = runner.invoke(app, ["serve", "--help"], terminal_width=100)
    assert result.exit_code == 0
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in server_settings():
        assert name in result.output, name
        assert f"`{name}`" in docs, name


def test_run_without_a_prompt_on_a_terminal_and_chat_open_the_chat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[str | None] = []
    monkeypatch.setattr("ladle.cli.serve.stdin_is_terminal", lambda: True)
    monkeypatch.setattr("ladle.cli.serve.open_chat", lambda name, host: opened.append(name))
    assert runner.invoke(app, ["run", "sre-bot"]).exit_code == 0
    assert runner.invoke(app, ["chat", "tiny"]).exit_code == 0
    assert runner.invoke(app, ["chat"]).exit_code == 0
    assert opened == ["sre-bot", "tiny", None]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:11434", ("127.0.0.1", 11434)),
        ("0.0.0.0", ("0.0.0.0", 11434)),
        (":8080", ("127.0.0.1", 8080)),
        ("http://localhost:1234/", ("localhost", 1234)),
        ("[::1]:99", ("::1", 99)),
    ],
)
def test_ladle_host_reads_as_ollama_host(value: str, expected: tuple[str, int]) -> None:
    assert parse_host(value) == expected


@pytest.mark.parametrize("value", ["host:port", "https://x:1", "x:99999", "a/b"])
def test_a_bad_ladle_host_names_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="LADLE_HOST"):
        Settings.from_environment({"LADLE_HOST": value})


def test_a_wildcard_bind_is_reached_on_loopback() -> None:
    settings = Settings.from_environment({"LADLE_HOST": "0.0.0.0:8080"})
    assert (settings.host, settings.port, settings.url) == (
        "0.0.0.0",
        8080,
        "http://127.0.0.1:8080",
    )
    assert Settings.from_environment({}).url == "http://127.0.0.1:11434"


def test_until_reads_like_ollama_ps() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)

    def shown(delta: timedelta) -> str:
        return until((now + delta).isoformat().replace("+00:00", "Z"), now)

    assert shown(timedelta(minutes=4, seconds=59)) == "4 minutes from now"
    assert shown(timedelta(seconds=1)) == "1 second from now"
    assert shown(timedelta(days=365 * 200)) == "Forever"
    assert shown(timedelta(seconds=-1)) == "Stopping..."


def test_ladle_runner_timeout_is_a_number_of_seconds_above_zero() -> None:
    assert Settings.from_environment({"LADLE_RUNNER_TIMEOUT": "2.5"}).runner_timeout == 2.5
    assert Settings.from_environment({}).runner_timeout == DEFAULT_RUNNER_TIMEOUT_S
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(SettingsError, match="LADLE_RUNNER_TIMEOUT"):
            Settings.from_environment({"LADLE_RUNNER_TIMEOUT": bad})


def test_uvicorn_s_own_deadline_leaves_room_for_the_error_lines() -> None:
    assert deadline(10) == 10 + FLUSH_S
    assert deadline(0.2) == 1 + FLUSH_S  # uvicorn takes whole seconds
