"""``ladle serve`` as a user runs it, driven by the official, unmodified ``ollama``
client and by ``ladle run``/``ps``/``stop``: a server process on a free loopback port
over a temporary store with the tiny model (and SmolLM2 for a real answer)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import ollama
import pytest

from bench.servers import free_port
from builder.store.store import Store
from tests.fixtures.installed import require_bundled_model

from .conftest import build

STARTUP_TIMEOUT_S = 60
ROOT = Path(__file__).parents[3]


class Server:
    """A ``python -m ladle serve`` process and the environment that reaches it."""

    def __init__(self, models: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.models = models
        self.url = f"http://127.0.0.1:{free_port()}"
        self.env = {
            **os.environ,
            "LADLE_MODELS": str(models),
            "LADLE_HOST": self.url,
            "LADLE_SHUTDOWN_GRACE": "30",  # generous: a loaded CI machine is slow
            **(env or {}),
        }
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ladle", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"ladle serve exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/version", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"ladle serve did not start:\n{self.log()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ladle(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ladle", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@contextlib.contextmanager
def live_server(
    built_store: Path, folder: Path, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """A ready ``ladle serve`` over a copy of ``built_store`` in ``folder``; stopped (and
    its exit checked) afterwards."""
    if not (folder / "models").exists():
        shutil.copytree(built_store, folder / "models")
    served = Server(folder / "models", folder / "serve.log", env)
    try:
        served.wait_ready()
        yield served
    finally:
        status = served.stop()
        assert status in (0, -signal.SIGTERM), served.log()


@pytest.fixture(scope="module")
def server(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live_server(built_store, tmp_path_factory.mktemp("live")) as served:
        yield served


@pytest.fixture
def client(server: Server) -> ollama.Client:
    return ollama.Client(host=server.url, timeout=120)


def test_generate_with_the_ollama_client(client: ollama.Client) -> None:
    answer = client.generate(model="tiny", prompt="hello world", options={"num_predict": 6})
    assert answer.done and answer.done_reason == "length"
    assert answer.eval_count == 6 and answer.response
    assert answer.total_duration and answer.prompt_eval_count
    pieces = list(client.generate(model="tiny", prompt="hello", stream=True))
    assert pieces[-1].done and not any(piece.done for piece in pieces[:-1])
    assert "".join(piece.response or "" for piece in pieces)


def test_generate_with_a_context_and_logprobs_with_the_ollama_client(
    client: ollama.Client,
) -> None:
    options = {"num_predict": 4, "repeat_penalty": 1.0}
    first = client.generate(model="tiny", prompt="hello world", options=options)
    assert first.context
    second = client.generate(
        model="tiny", prompt="and then", context=first.context, options=options, logprobs=True
    )
    assert second.context is not None and second.context[: len(first.context)] == first.context
    assert second.logprobs is not None and len(second.logprobs) == second.eval_count
    assert all(entry.logprob <= 0 for entry in second.logprobs)


def test_chat_with_the_ollama_client(client: ollama.Client) -> None:
    messages = [{"role": "user", "content": "hello"}]
    whole = client.chat(model="tiny", messages=messages)
    assert whole.message.role == "assistant" and whole.message.content
    streamed = list(client.chat(model="tiny", messages=messages, stream=True))
    assert "".join(piece.message.content or "" for piece in streamed) == whole.message.content
    assert streamed[-1].done_reason == "length"


def test_embed_with_the_ollama_client(client: ollama.Client) -> None:
    result = client.embed(model="tiny", input=["hello", "world"])
    assert len(result.embeddings) == 2
    assert len(client.embeddings(model="tiny", prompt="hello").embedding) > 0


def test_list_show_copy_delete_ps_with_the_ollama_client(client: ollama.Client) -> None:
    assert "tiny:latest" in [model.model for model in client.list().models]
    shown = client.show("tiny")
    assert shown.details is not None and shown.details.family == "llama"
    assert shown.modelinfo and shown.modelinfo["general.architecture"] == "llama"
    assert shown.capabilities == ["completion"]
    assert client.copy("tiny", "tiny:copy").status == "success"
    assert "tiny:copy" in [model.model for model in client.list().models]
    assert client.delete("tiny:copy").status == "success"
    with pytest.raises(ollama.ResponseError) as missing:
        client.delete("tiny:copy")
    assert missing.value.status_code == 404
    client.generate(model="tiny", prompt="")  # load
    assert [model.model for model in client.ps().models] == ["tiny:latest"]


def test_errors_reach_the_ollama_client(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as unknown:
        client.generate(model="nope", prompt="hi")
    assert unknown.value.status_code == 404 and "not found" in unknown.value.error
    with pytest.raises(ollama.ResponseError) as streamed:
        list(client.chat(model="nope", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert streamed.value.status_code == 404


def test_ladle_run_ps_and_stop(server: Server) -> None:
    answered = server.ladle("run", "tiny", "hello world")
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip()
    piped = server.ladle("run", "tiny", stdin="hello from a pipe")
    assert piped.returncode == 0 and piped.stdout.strip()
    listed = server.ladle("ps")
    assert listed.stdout.splitlines()[0].split() == [
        "NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL", "CACHED", "SPECULATION",
    ]  # fmt: skip
    assert "tiny:latest" in listed.stdout and "100% CPU" in listed.stdout
    assert server.ladle("stop", "tiny").returncode == 0
    assert "tiny:latest" not in server.ladle("ps").stdout
    missing = server.ladle("run", "nope", "hi")
    assert missing.returncode == 1 and "'nope:latest' not found" in missing.stderr


def test_ladle_run_says_when_no_server_answers(server: Server) -> None:
    down = subprocess.run(
        [sys.executable, "-m", "ladle", "run", "tiny", "hi"],
        cwd=ROOT,
        env={**server.env, "LADLE_HOST": f"127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 1
    assert "could not connect to ladle at http://127.0.0.1:" in down.stderr
    assert "is `ladle serve` running?" in down.stderr


def test_smollm2_answers_the_seed_question(server: Server, client: ollama.Client) -> None:
    require_bundled_model("smollm2:135m")
    source = (ROOT / "examples" / "sre-bot" / "Modelfile").read_text(encoding="utf-8")
    build(Store(server.models), server.models.parent / "src", "sre-bot", source)
    answer = client.generate(
        model="sre-bot",
        prompt="How do I find the process using port 8080?",
        options={"temperature": 0, "num_predict": 64},
    )
    words = answer.response.split()
    assert len(words) >= 5, answer.response
    assert answer.done_reason in ("stop", "length")


def test_sigterm_finishes_the_stream_in_flight_and_unloads(
    built_store: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(built_store, models)
    served = Server(models, tmp_path / "serve.log")
    try:
        served.wait_ready()
        body = {"model": "tiny", "prompt": "hello", "options": {"num_predict": 200}}
        with httpx.stream("POST", f"{served.url}/api/generate", json=body, timeout=60) as answer:
            lines = answer.iter_lines()
            first = json.loads(next(lines))
            served.process.send_signal(signal.SIGTERM)
            rest = [json.loads(line) for line in lines]
    finally:
        status = served.stop()
    assert not first["done"]
    assert rest[-1]["done"] and rest[-1]["eval_count"] == 200
    assert status in (0, -signal.SIGTERM)
    assert "unloaded tiny:latest" in served.log()


def test_ladle_s_client_commands_send_ladle_api_key(
    built_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    keys = {"LADLE_API_KEYS": "user-key"}
    with live_server(built_store, tmp_path_factory.mktemp("keys"), keys) as served:
        refused = served.ladle("ps")
        assert refused.returncode == 1 and "API key" in refused.stderr, refused.stderr
        served.env["LADLE_API_KEY"] = "user-key"
        assert served.ladle("ps").returncode == 0
        answered = served.ladle("run", "tiny", "hello world")
        assert answered.returncode == 0 and answered.stdout.strip(), answered.stderr
