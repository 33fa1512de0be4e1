"""What the API does around the runner, with a scripted fake runner: tool calls read
from the answer, a full queue, errors in the middle of a stream, a crashed runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ladle.errors import RunnerCrashedError
from runtime.protocol import (
    EmbedResult,
    GenerateChunk,
    GenerateRequest,
    LoadSpec,
    RunnerHandle,
    RunnerInfo,
)

from .conftest import MakeClient

pytestmark = pytest.mark.anyio

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@dataclass
class Script:
    """What every fake runner answers, and how."""

    pieces: tuple[str, ...] = ("Hello", ",", " world")
    gate: asyncio.Event | None = None
    """Set: requests wait here before answering (to fill the queue)."""
    failure: Exception | None = None
    """Raised after the first piece."""
    requests: list[GenerateRequest] = field(default_factory=list)


class ScriptedRunner:
    def __init__(self, spec: LoadSpec, script: Script) -> None:
        self.spec, self.script, self.closed = spec, script, False

    @property
    def info(self) -> RunnerInfo:
        return RunnerInfo(
            pid=1,
            load=self.spec,
            load_duration_ns=1,
            n_ctx_train=256,
            gpu_layers=0,
            total_layers=2,
            size_bytes=1000,
        )

    @property
    def alive(self) -> bool:
        return not self.closed

    async def generate(self, request: GenerateRequest) -> AsyncIterator[GenerateChunk]:
        self.script.requests.append(request)
        if self.script.gate is not None:
            await self.script.gate.wait()
        for number, piece in enumerate(self.script.pieces):
            if number == 1 and self.script.failure is not None:
                raise self.script.failure
            yield GenerateChunk(text=piece)
        yield GenerateChunk(done=True, done_reason="stop", prompt_eval_count=3, eval_count=3)

    async def embed(self, texts: list[str], truncate: bool = True) -> EmbedResult:
        return EmbedResult(vectors=[[1.0, 0.0] for _ in texts], prompt_eval_count=len(texts))

    async def tokenize(self, text: str, special: bool = True) -> list[int]:
        return [ord(char) for char in text]

    async def detokenize(self, tokens: list[int]) -> str:
        return "".join(map(chr, tokens))

    async def close(self) -> None:
        self.closed = True


def scripted(script: Script) -> object:
    async def start(spec: LoadSpec, /, *, model_name: str, gguf: object = None) -> RunnerHandle:
        return ScriptedRunner(spec, script)

    return start


async def test_tool_calls_are_read_from_the_answer(make_client: MakeClient) -> None:
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    script = Script(pieces=("Let me check.", "\n<tool_", call[6:]))
    client = await make_client(runner_factory=scripted(script))
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    body = {"model": "tiny-tools", "messages": messages, "tools": [WEATHER_TOOL]}
    whole = (await client.post("/api/chat", json={**body, "stream": False})).json()
    assert whole["message"] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    }
    streamed = await client.post("/api/chat", json=body)
    pieces = [json.loads(line) for line in streamed.text.splitlines()]
    shown = "".join(piece["message"]["content"] for piece in pieces)
    assert shown == "Let me check." and "<tool_" not in streamed.text
    assert [piece for piece in pieces if "tool_calls" in piece["message"]]
    assert "get_weather" in script.requests[0].prompt  # the tools reached the template


async def test_a_full_queue_is_503_with_retry_after(make_client: MakeClient) -> None:
    script = Script(gate=asyncio.Event())
    client = await make_client(runner_factory=scripted(script), num_parallel=1, max_queue=1)
    body = {"model": "tiny", "prompt": "hi", "stream": False}
    running = asyncio.create_task(client.post("/api/generate", json=body))
    while not script.requests:
        await asyncio.sleep(0.01)
    waiting = asyncio.create_task(client.post("/api/generate", json=body))
    await asyncio.sleep(0.1)  # the second request now waits for the only slot
    refused = await client.post("/api/generate", json=body)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "2"
    assert "LADLE_MAX_QUEUE" in refused.json()["error"]
    script.gate.set()
    assert (await running).status_code == 200
    assert (await waiting).status_code == 200


async def test_an_error_during_a_stream_ends_it_with_an_error_line(
    make_client: MakeClient, models: Path
) -> None:
    crash = RunnerCrashedError("tiny:latest", "signal SIGSEGV", log=f"in {models}/blobs/x")
    client = await make_client(runner_factory=scripted(Script(failure=crash)))
    response = await client.post("/api/generate", json={"model": "tiny", "prompt": "hi"})
    assert response.status_code == 200
    pieces = [json.loads(line) for line in response.text.splitlines()]
    assert pieces[0]["response"] == "Hello"
    assert "stopped (signal SIGSEGV)" in pieces[-1]["error"]
    assert str(models) not in response.text


async def test_a_runner_failure_before_any_text_is_a_500(make_client: MakeClient) -> None:
    failing = Script(pieces=(), failure=None)

    async def start(spec: LoadSpec, /, *, model_name: str, gguf: object = None) -> RunnerHandle:
        raise RunnerCrashedError(model_name, "exit status 1", log="/secret/path/model.gguf")

    client = await make_client(runner_factory=start)
    response = await client.post("/api/generate", json={"model": "tiny", "prompt": "hi"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "the runner for tiny:latest stopped (exit status 1); the next request reloads it"
    }
    assert not failing.requests
