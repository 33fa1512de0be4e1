"""The npm ``ollama`` client, unchanged, against ``ladle serve``: tests/clients/js/
ollama_client.mjs (run by node, from the package-lock.json that ``.ci/run`` installs with
``npm ci``) makes the calls; this file checks what each answered. Without node or the
installed package the tests are skipped here and fail on CI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.installed import missing
from tests.runtime.api.test_live_server import Server

from .conversation import CITY, TEMPERATURE, Weather

JS = Path(__file__).parent / "js"
INSTALL = "cd tests/clients/js && npm ci, as .ci/run does"


def run_script(server: Server, tool_model: str | None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        missing("node", f"apt-get install nodejs npm; then {INSTALL}")
    if not (JS / "node_modules" / "ollama" / "package.json").is_file():
        missing("the npm ollama package", INSTALL)
    command = [
        node,
        str(JS / "ollama_client.mjs"),
        server.url,
        *([tool_model] if tool_model else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    answers: dict[str, Any] = json.loads(done.stdout)
    return answers


@pytest.fixture(scope="module")
def answers(client_server: Server) -> dict[str, Any]:
    """What the script's calls with the tiny model answered."""
    return run_script(client_server, None)


def test_chat_and_stream(answers: dict[str, Any]) -> None:
    assert answers["chat"]["role"] == "assistant" and answers["chat"]["content"]
    stream = answers["stream"]
    assert stream["text"] == answers["chat"]["content"]
    assert stream["last"]["done"] and stream["last"]["done_reason"] == "length"


def test_generate_and_embed(answers: dict[str, Any]) -> None:
    assert answers["generate"]["response"] and answers["generate"]["eval_count"] == 8
    vectors = answers["embed"]["embeddings"]
    assert len(vectors) == 2 and len(vectors[0]) > 0


def test_an_unknown_model_is_an_error(answers: dict[str, Any]) -> None:
    assert answers["error"]["name"] == "ResponseError"
    assert answers["error"]["status"] == 404
    assert "'nope:latest' not found" in answers["error"]["message"]


def test_structured_output_and_a_tool_round_trip(client_server: Server, tool_model: str) -> None:
    answers = run_script(client_server, tool_model)
    Weather.model_validate_json(answers["structured"])
    calls = answers["tool_call"]["tool_calls"]
    assert [call["function"] for call in calls] == [
        {"name": "get_weather", "arguments": {"city": CITY}}
    ]
    assert not answers["tool_answer"].get("tool_calls")
    assert str(TEMPERATURE) in answers["tool_answer"]["content"]
