"""KV cache types and flash attention in a real runner: llama.cpp is given what the spec
says, reports what it chose, and a quantized cache holds fewer bytes a token."""

from __future__ import annotations

from pathlib import Path

import pytest

from ladle.errors import RunnerError
from runtime.protocol import GenerateRequest, SamplingOptions
from tests.fixtures.tiny_gguf import write_tiny_llama

from .conftest import StartRunner, collect

pytestmark = pytest.mark.anyio

GREEDY = SamplingOptions(temperature=0)


@pytest.fixture(scope="module")
def tiny_32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a head dimension of 32, which 32-value cache blocks divide."""
    folder = tmp_path_factory.mktemp("tiny32")
    return write_tiny_llama(folder / "tiny32.gguf", n_head=2, n_head_kv=1)


@pytest.mark.parametrize("kv_type", ["f16", "q8_0", "q4_0"])
async def test_each_cache_type_generates(start: StartRunner, tiny_32: Path, kv_type: str) -> None:
    runner = await start(tiny_32, kv_cache_type=kv_type)
    request = GenerateRequest(prompt="hello world", sampling=GREEDY, num_predict=6, ignore_eos=True)
    chunks = await collect(runner, request)
    assert chunks[-1].done and chunks[-1].eval_count == 6
    assert runner.info.load.kv_cache_type == kv_type
    # A quantized V cache makes llama.cpp turn auto flash attention on.
    assert runner.info.flash_attention is True


@pytest.mark.parametrize("mode", ["on", "off"])
async def test_flash_attention_is_reported_as_asked(
    start: StartRunner, tiny_32: Path, mode: str
) -> None:
    runner = await start(tiny_32, flash_attention=mode)
    assert runner.info.flash_attention is (mode == "on")


async def test_a_quantized_cache_with_flash_attention_off_fails_cleanly(
    start: StartRunner, tiny_32: Path
) -> None:
    # The server refuses this before loading (runtime.kv_cache); a runner given it anyway
    # fails its load with llama.cpp's words, and does not crash.
    with pytest.raises(RunnerError) as caught:
        await start(tiny_32, kv_cache_type="q8_0", flash_attention="off")
    assert "flash_attn" in caught.value.log


async def test_smollm2_with_a_quantized_cache_answers_in_half_the_memory(
    start: StartRunner, smollm2: Path
) -> None:
    sizes = {}
    for kv_type in ("f16", "q8_0", "q4_0"):
        runner = await start(smollm2, kv_cache_type=kv_type, n_ctx=512, num_parallel=2)
        prompt = (
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        )
        chunks = await collect(
            runner, GenerateRequest(prompt=prompt, sampling=GREEDY, num_predict=8)
        )
        assert "Paris" in "".join(chunk.text for chunk in chunks)
        sizes[kv_type] = runner.info.kv_cache_bytes
        await runner.close()
    # 2 sequences * 512 tokens * 30 layers * 128 values * 3 kv heads * 2 bytes = 23.6 MB,
    # as llama.cpp logs it (in MiB, to 2 decimals)
    f16 = 2 * 512 * 30 * 128 * 3 * 2
    assert sizes["f16"] == pytest.approx(f16, rel=1e-3)
    assert sizes["q8_0"] == pytest.approx(f16 * 34 / 64, rel=1e-3)
    assert sizes["q4_0"] == pytest.approx(f16 * 18 / 64, rel=1e-3)
