"""A runner that stops answering (SIGSTOP) while a request streams from it: the server
notices within ``LADLE_RUNNER_TIMEOUT``'s silence, kills it, ends the stream with a clear
error line, keeps answering meanwhile, and the next request loads a fresh runner."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.servers import process_tree

from .long_model import ENDLESS, build_long
from .test_live_server import Server, live_server

RUNNER_TIMEOUT_S = 2


@pytest.fixture
def watched(built_store: Path, tmp_path: Path) -> Iterator[Server]:
    env = {"LADLE_RUNNER_TIMEOUT": str(RUNNER_TIMEOUT_S), "LADLE_NUM_PARALLEL": "1"}
    with live_server(built_store, tmp_path, env) as server:
        yield server


def runners(server: Server) -> list[int]:
    """The pids of the server's runner processes."""
    found = []
    for pid in process_tree(server.process.pid)[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"runtime.runner" in command:
            found.append(pid)
    return found


def test_a_stopped_runner_fails_its_stream_and_the_next_request_reloads(
    watched: Server,
) -> None:
    url = f"{watched.url}/api/generate"
    body = {"model": build_long(watched.models), "prompt": "hello", "options": ENDLESS}
    with httpx.stream("POST", url, json=body, timeout=60) as answer:
        lines = (json.loads(line) for line in answer.iter_lines() if line.strip())
        assert not next(lines)["done"]
        (stopped,) = runners(watched)
        os.kill(stopped, signal.SIGSTOP)
        signalled = time.monotonic()
        version = httpx.get(f"{watched.url}/api/version", timeout=5)
        assert version.status_code == 200
        last = list(lines)[-1]
    assert time.monotonic() - signalled < RUNNER_TIMEOUT_S + 8
    assert "sent nothing for" in last["error"] and "next request reloads it" in last["error"]
    assert "killing it" in watched.log()
    again = httpx.post(url, json={**body, "stream": False, "options": {"num_predict": 3}})
    assert again.status_code == 200 and again.json()["eval_count"] == 3
    assert runners(watched) and stopped not in runners(watched)
