"""A runner that dies or cannot load fails its requests with a clear error, never a hang."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import gguf
import pytest

from ladle.errors import RunnerCrashedError, RunnerError
from runtime.protocol import GenerateRequest, LoadSpec, SamplingOptions
from runtime.runner import RunnerProcess
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import TEST_TIMEOUT_S, StartRunner, complete

pytestmark = pytest.mark.anyio

ENDLESS = GenerateRequest(
    prompt="hello world", sampling=SamplingOptions(temperature=0), ignore_eos=True
)


def write_inconsistent_llama(path: Path) -> Path:
    """A tiny model whose header says n_embd 64 while its tensors are 32 wide."""
    write_tiny_llama(path, n_embd=32)
    reader = gguf.GGUFReader(path, "r+")
    reader.fields["llama.embedding_length"].parts[-1][0] = 64
    reader.fields["llama.rope.dimension_count"].parts[-1][0] = 16  # consistent with 64
    del reader  # flushes the memory map
    return path


async def test_a_runner_killed_mid_stream_fails_its_requests_and_a_new_one_works(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=4096)
    errors: list[BaseException] = []

    async def stream() -> None:
        with pytest.raises(RunnerCrashedError) as caught:
            async for chunk in runner.generate(ENDLESS):
                if chunk.text and not errors:
                    errors.append(RuntimeError("started"))
                    os.kill(runner.info.pid, signal.SIGKILL)
        errors.append(caught.value)

    with anyio.fail_after(TEST_TIMEOUT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(stream)
            group.start_soon(stream)
    crashed = errors[-1]
    assert isinstance(crashed, RunnerCrashedError)
    assert "signal SIGKILL" in str(crashed)
    assert "tiny.gguf" in str(crashed)
    assert not runner.alive
    with pytest.raises(RunnerError):
        await runner.tokenize("hello")

    fresh = await start(tiny_model)
    _, final = await complete(fresh, ENDLESS.model_copy(update={"num_predict": 4}))
    assert final.eval_count == 4


async def test_a_model_llama_cpp_rejects_fails_the_load_with_its_reason(
    start: StartRunner, tmp_path: Path
) -> None:
    broken = write_inconsistent_llama(tmp_path / "broken.gguf")
    with pytest.raises(RunnerError) as caught:
        await start(broken)
    message = str(caught.value)
    assert "cannot load broken.gguf: llama.cpp rejected" in message
    assert "token_embd.weight" in message and "wrong shape" in message


async def test_a_file_that_is_not_gguf_fails_the_load(start: StartRunner, tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + os.urandom(200))
    with pytest.raises(RunnerError, match=r"cannot load junk\.gguf"):
        await start(junk)
    with pytest.raises(RunnerError, match="does not exist"):
        await start(tmp_path / "missing.gguf")


async def test_a_runner_that_dies_while_loading_is_an_error(tiny_model: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT_S):
        runner = await RunnerProcess.spawn(LoadSpec(model_path=tiny_model), "tiny")
        os.kill(runner.pid, signal.SIGKILL)
        with pytest.raises(RunnerError, match=r"stopped while loading \(signal SIGKILL\)"):
            await runner.ready
        await runner.close()


async def test_closing_a_runner_ends_its_streams(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model, n_ctx=4096)
    with anyio.fail_after(TEST_TIMEOUT_S), pytest.raises(RunnerError, match="was closed"):
        async for _ in runner.generate(ENDLESS):
            await runner.close()
    assert not runner.alive
