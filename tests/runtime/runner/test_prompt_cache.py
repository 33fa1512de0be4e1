"""Prompt caches on disk (:mod:`runtime.runner.prompt_cache`): saved when an engine
closes, read back by the next one, and every damaged or foreign file discarded."""

from __future__ import annotations

import errno
import logging
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.protocol import GenerateRequest, PromptCacheSpec, SamplingOptions
from runtime.runner.engine import Engine
from runtime.runner.native import LlamaModel
from runtime.runner.prompt_cache_file import SUFFIX, encode, read_header

from .conftest import TEST_TIMEOUT_S, StartRunner, complete
from .stepping import Outputs, greedy, loaded

DIGEST = "sha256-" + "ab" * 32
HISTORY = "you are a helpful bot and the world is hello " * 6


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "prompt-cache"


@pytest.fixture
def model(tiny_model: Path, folder: Path) -> Iterator[LlamaModel]:
    spec = PromptCacheSpec(folder=folder, max_bytes=1 << 30, model_digest=DIGEST)
    with loaded(tiny_model, num_parallel=1, prompt_cache=spec) as model:
        yield model


def _prompts(model: LlamaModel) -> tuple[list[int], list[int]]:
    history = model.tokenize(HISTORY)
    return history, history + model.tokenize("it is the world", add_special=False)


def _engine(model: LlamaModel, *, saving: bool = True) -> tuple[Engine, Outputs]:
    """A fresh engine over ``model``'s emptied sequences."""
    model.forget(0)
    engine = Engine(model)
    if not saving:
        engine.saved = None
    return engine, Outputs(engine)


def _saved(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{SUFFIX}"))


def _save_history(model: LlamaModel, folder: Path) -> Path:
    history, _ = _prompts(model)
    engine, outputs = _engine(model)
    outputs.run(1, greedy(history, 1))
    engine.close()
    [path] = _saved(folder)
    assert list(read_header(path).tokens) == history
    return path


def _expected(model: LlamaModel) -> str:
    """The next turn's answer after an in-memory hit on the history."""
    history, turn = _prompts(model)
    engine, outputs = _engine(model, saving=False)
    outputs.run(1, greedy(history, 1))
    text, final = outputs.run(2, greedy(turn, 16))
    assert final.cached_tokens == len(history)
    engine.close()
    return text


def test_a_saved_cache_is_read_back_and_answers_as_the_cache_it_saved(
    model: LlamaModel, folder: Path
) -> None:
    history, turn = _prompts(model)
    expected = _expected(model)
    first = _save_history(model, folder)
    engine, outputs = _engine(model)
    text, final = outputs.run(1, greedy(turn, 16))
    assert (final.cache_source, final.cached_tokens) == ("disk", len(history))
    assert text == expected
    assert engine.stats.disk_hits == 1
    engine.close()
    [later] = _saved(folder)  # the later turn replaced the earlier one
    assert later != first and read_header(later).tokens[: len(turn)] == tuple(turn)


def _rewrite(path: Path, **header: Any) -> None:
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[12:16])
    state = data[16 + length : -32]
    path.write_bytes(encode(read_header(path).model_copy(update=header), state))


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], object]] = {
    "truncated in its state": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "truncated in its header": lambda p: p.write_bytes(p.read_bytes()[:20]),
    "a bit flipped in its state": lambda p: _flip(p, p.stat().st_size // 2),
    "a bit flipped in its header": lambda p: _flip(p, 40),
    "another format version": lambda p: _flip(p, 8),
    "another model": lambda p: _rewrite(p, model_digest="sha256-" + "cd" * 32),
    "another llama.cpp build": lambda p: _rewrite(p, build="llama-cpp-python 0.0.1"),
    "other load options": lambda p: _rewrite(p, key="0" * 32),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_bad_file_is_discarded_with_a_warning_and_the_prompt_evaluated(
    model: LlamaModel, folder: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, turn = _prompts(model)
    path = _save_history(model, folder)
    DAMAGE[damage](path)
    with caplog.at_level(logging.WARNING):
        engine, outputs = _engine(model)
        _, final = outputs.run(1, greedy(turn, 4))
    assert (final.cache_source, final.cached_tokens, final.eval_count) == (None, 0, 4)
    assert not path.exists()
    assert f"discarding the prompt cache {path}" in caplog.text
    engine.close()


def test_a_full_disk_abandons_the_save_and_leaves_nothing(
    model: LlamaModel, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    history, _ = _prompts(model)
    engine, outputs = _engine(model)
    outputs.run(1, greedy(history, 1))
    monkeypatch.setattr("ladle.atomic.os.fsync", full)
    engine.close()  # does not raise
    assert [path for path in folder.rglob("*") if path.is_file()] == []


def test_the_least_recently_used_files_go_when_the_folder_is_full(
    model: LlamaModel, folder: Path
) -> None:
    old = _save_history(model, folder)
    os.utime(old, (1_000_000, 1_000_000))
    engine, outputs = _engine(model)
    assert engine.saved is not None
    engine.saved.max_bytes = old.stat().st_size  # room for the new, shorter one alone
    outputs.run(1, greedy(model.tokenize("of the world " * 12), 1))
    engine.close()
    [kept] = _saved(folder)
    assert kept != old and not old.exists()


@pytest.mark.anyio
async def test_a_restarted_runner_reads_back_what_the_closed_one_saved(
    start: StartRunner, tiny_model: Path, folder: Path
) -> None:
    spec = PromptCacheSpec(folder=folder, max_bytes=1 << 30, model_digest=DIGEST)
    prompt = HISTORY * 2
    runner = await start(tiny_model, num_parallel=2, prompt_cache=spec)
    request = GenerateRequest(prompt=prompt, sampling=SamplingOptions(temperature=0))
    _, cold = await complete(runner, request.model_copy(update={"num_predict": 1}))
    with anyio.fail_after(TEST_TIMEOUT_S):
        await runner.close()
    assert len(_saved(folder)) == 1

    runner = await start(tiny_model, num_parallel=2, prompt_cache=spec)
    turn = request.model_copy(update={"prompt": prompt + " it is", "num_predict": 2})
    _, warm = await complete(runner, turn)
    assert warm.cache_source == "disk"
    assert warm.cached_tokens == cold.prompt_eval_count
