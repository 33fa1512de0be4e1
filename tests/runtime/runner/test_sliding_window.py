"""Sliding-window layers (Gemma 3) cache only their window (``swa_full`` off, as
llama-server runs them): a cut back past the window is refused, so a cached prefix that
needs cells no longer held is evaluated again and answers as a fresh evaluation does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import llama_cpp as llama
import pytest

from runtime.protocol import GenerateChunk
from runtime.runner.engine import Engine
from runtime.runner.native import LlamaModel
from tests.fixtures.installed import joined_bundled_model

from .stepping import Outputs, greedy, loaded

TEXT = "The harbour town grew up around a fishing fleet of two hundred boats. " * 150


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M's GGUF, joined from the package's parts."""
    return joined_bundled_model("gemma3:270m", tmp_path_factory.mktemp("gemma3"))


@pytest.fixture
def model(gemma3: Path) -> Iterator[LlamaModel]:
    with loaded(gemma3, n_ctx=2048) as loaded_model:
        yield loaded_model


def test_the_window_layers_hold_only_their_window(model: LlamaModel) -> None:
    assert model.n_swa == 512  # Gemma 3's window
    prompt = model.tokenize(TEXT)[:1500]
    Outputs(Engine(model)).run(1, greedy(prompt, 1))
    oldest = llama.llama_memory_seq_pos_min(model.memory, 0)
    assert 0 < oldest <= 1500 - 512  # the window layers let the oldest cells go
    newest = llama.llama_memory_seq_pos_max(model.memory, 0)
    assert not model.forget(0, 100)  # the window of position 100 is gone
    assert llama.llama_memory_seq_pos_max(model.memory, 0) == newest  # nothing dropped
    assert model.forget(0, newest - 10)  # near the end it is all there


def after_a_long_prompt(model: LlamaModel, shared: int) -> tuple[str, GenerateChunk, str]:
    """A prompt that shares its first ``shared`` tokens with a 1,500-token one answered
    just before on the same slot: its answer, its final chunk, and the answer the same
    prompt gets from an empty cache."""
    tokens = model.tokenize(TEXT)
    second = tokens[:shared] + model.tokenize(" Tell me about the ferry.", add_special=False)
    engine = Engine(model)
    outputs = Outputs(engine)
    outputs.run(1, greedy(tokens[:1500], 4))
    text, final = outputs.run(2, greedy(second, 24))
    engine.close()
    model.forget(0)
    fresh, _ = Outputs(Engine(model)).run(3, greedy(second, 24))
    return text, final, fresh


def test_a_prefix_whose_window_is_gone_is_evaluated_again(model: LlamaModel) -> None:
    text, final, fresh = after_a_long_prompt(model, 200)
    assert final.cached_tokens == 0  # they could not be reused: the window was gone
    assert text == fresh


def test_a_prefix_within_the_window_is_reused(model: LlamaModel) -> None:
    text, final, fresh = after_a_long_prompt(model, 1450)
    assert (final.cache_source, final.cached_tokens) == ("memory", 1450)
    assert text == fresh
