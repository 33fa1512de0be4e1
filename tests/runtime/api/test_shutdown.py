"""SIGTERM with streams still running after ``LADLE_SHUTDOWN_GRACE``: each stream ends
with the error line docs/api.md promises, then its connection closes, and the server
exits cleanly having unloaded its models (``ladle serve``, :mod:`ladle.cli.graceful`)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ladle.cli.graceful import FLUSH_S

from .long_model import ENDLESS, build_long
from .test_live_server import Server, live_server

GRACE_S = 1
SHUTTING_DOWN = "the server is shutting down"


@pytest.fixture
def stopping(built_store: Path, tmp_path: Path) -> Iterator[Server]:
    """A server with a short grace period and the ``long`` model (stopped by the test)."""
    env = {"LADLE_SHUTDOWN_GRACE": str(GRACE_S)}
    with live_server(built_store, tmp_path, env) as server:
        build_long(server.models)
        yield server


def stream_through_sigterm(server: Server, path: str, body: dict[str, object]) -> list[str]:
    """The lines of a stream that is still running when the server gets SIGTERM, after
    its first line; fails if it does not end in time."""
    with httpx.stream("POST", f"{server.url}{path}", json=body, timeout=60) as answer:
        assert answer.status_code == 200
        lines = (line for line in answer.iter_lines() if line.strip())
        first = next(lines)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        rest = list(lines)
    assert time.monotonic() - signalled < GRACE_S + FLUSH_S + 5
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises it
    assert "unloaded long:latest" in server.log()
    return [first, *rest]


def test_an_ollama_stream_cut_by_shutdown_ends_with_an_error_line(stopping: Server) -> None:
    body = {"model": "long", "prompt": "hello", "options": ENDLESS}
    lines = stream_through_sigterm(stopping, "/api/generate", body)
    assert not json.loads(lines[0])["done"]
    assert json.loads(lines[-1]) == {"error": SHUTTING_DOWN}
    assert all("error" not in json.loads(line) for line in lines[:-1])


def test_an_openai_stream_cut_by_shutdown_ends_with_an_error_event(stopping: Server) -> None:
    body = {
        "model": "long",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 1_000_000,
        "stream": True,
    }
    lines = stream_through_sigterm(stopping, "/v1/chat/completions", body)
    assert lines[-1].startswith("data: ") and lines[-1] != "data: [DONE]"
    error = json.loads(lines[-1].removeprefix("data: "))["error"]
    assert error["message"] == SHUTTING_DOWN and error["type"] == "api_error"
    assert len(lines) > 2  # it had been streaming
