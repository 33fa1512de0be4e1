"""One token gets the same logits alone and in a batch: what greedy speculative decoding
needs to give the tokens plain decoding gives.

llama.cpp multiplies attention over an F16 KV cache (flash attention off) with a vector
dot for one query row and with tinyBLAS for several; llama-cpp-python as released sums
the two in different orders, and ladle's build patches the vector dot
(llama-cpp/patches/). Without the patch these tests fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from runtime.hardware import PATCHED_VERSION
from runtime.protocol import LoadSpec
from runtime.runner.native import Batch, LlamaModel

from .test_speculation import process_log

CONTEXT = 700  # past 512 cached tokens, where flash attention's paths part too
BATCH = 9  # a verify of 8 proposed tokens


@pytest.fixture(scope="module")
def model() -> Iterator[LlamaModel]:
    from tests.fixtures.installed import smollm2_gguf

    spec = LoadSpec(
        model_path=smollm2_gguf(),
        n_ctx=1024,
        n_threads=2,
        num_parallel=1,
        flash_attention="off",
    )
    loaded = LlamaModel(spec, process_log())
    yield loaded
    loaded.close()


def logits(model: LlamaModel, row: int) -> np.ndarray:
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(model.ctx, row)
    return np.ctypeslib.as_array(pointer, shape=(model.n_vocab,)).copy()


def decode(model: LlamaModel, batch: Batch, tokens: list[int], start: int) -> None:
    batch.clear()
    for offset, token in enumerate(tokens):
        batch.add(token, start + offset, 0, True)
    assert model.decode(batch) == 0


def test_the_installed_llama_cpp_carries_ladles_patches() -> None:
    from importlib import metadata

    version = metadata.version("llama-cpp-python")
    assert PATCHED_VERSION in version, f"{version}: install it with llama-cpp/wheel.py"


def test_each_row_of_a_batch_gets_the_logits_of_its_token_decoded_alone(
    model: LlamaModel,
) -> None:
    model.forget(0)
    batch = Batch(512)
    prompt = [(13 * index + 5) % 20_000 + 100 for index in range(CONTEXT)]
    for start in range(0, CONTEXT, 512):
        decode(model, batch, prompt[start : start + 512], start)
    differing = []
    for step in range(3):
        position = CONTEXT + step
        tokens = [(7919 * step + 977 * row) % 20_000 + 100 for row in range(BATCH)]
        alone = []
        for row, token in enumerate(tokens):
            decode(model, batch, [token], position + row)
            alone.append(logits(model, 0))
        model.forget(0, position)
        decode(model, batch, tokens, position)
        differing += [
            (position, row, float(np.abs(alone[row] - logits(model, row)).max()))
            for row in range(BATCH)
            if not np.array_equal(alone[row], logits(model, row))
        ]
        model.forget(0, position + 1)  # keep the first token, as an accepted proposal
    assert not differing, f"(position, row, largest difference): {differing}"
