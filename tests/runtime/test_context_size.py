"""The default context chosen from the machine, and how the placement applies it."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.gguf.file import GGUFInfo, inspect_gguf
from runtime.context_size import GIB, memory_context, tier_context
from runtime.memory import GPU_RESERVE, estimate
from runtime.placement import PlannedRunnerFactory
from runtime.protocol import LoadSpec
from tests.fixtures.installed import smollm2_gguf
from tests.fixtures.tiny_gguf import write_tiny_llama

from .test_memory import _hardware

GB = 10**9


@pytest.fixture(scope="module")
def long_context(tmp_path_factory: pytest.TempPathFactory) -> GGUFInfo:
    """The tiny model, trained for 1M tokens: only the tiers and memory bound it."""
    path = tmp_path_factory.mktemp("long") / "long.gguf"
    return inspect_gguf(write_tiny_llama(path, n_ctx=2**20))


def _spec(path: Path, **fields: object) -> LoadSpec:
    spec = LoadSpec(model_path=path, n_gpu_layers=-1, context_from_memory=True)
    return spec.model_copy(update=fields)


@pytest.mark.parametrize(
    ("free", "context"),
    [
        (0, 4096),
        (8 * GIB, 4096),
        (24 * GIB - 1, 4096),
        (24 * GIB, 32_768),
        (47 * GIB, 32_768),
        (48 * GIB, 262_144),
        (140 * GIB, 262_144),
    ],
)
def test_ollamas_tiers(free: int, context: int) -> None:
    assert tier_context(free) == context


def test_a_cpu_gets_the_smallest_context(long_context: GGUFInfo, tiny_model: Path) -> None:
    hardware = _hardware(512 * GB)
    assert memory_context(long_context, _spec(tiny_model), hardware) == 4096


def test_a_large_gpu_gets_the_largest_within_memory(
    long_context: GGUFInfo, tiny_model: Path
) -> None:
    hardware = _hardware(64 * GB, 80 * GB + GPU_RESERVE)
    assert memory_context(long_context, _spec(tiny_model), hardware) == 262_144
    # num_gpu 0 puts the model on the CPU, whatever the GPU has
    on_cpu = _spec(tiny_model, n_gpu_layers=0)
    assert memory_context(long_context, on_cpu, hardware) == 4096


def test_the_context_halves_until_it_fits(long_context: GGUFInfo, tiny_model: Path) -> None:
    # 30 GiB free: the 32k tier; 128 sequences of 32k tokens do not fit (the compute
    # buffer's attention scores grow with every token), of 16k they do
    free = 30 * GIB
    hardware = _hardware(64 * GB, free + GPU_RESERVE)
    many = _spec(tiny_model, num_parallel=128)
    assert (
        estimate(long_context, 32_768, 128).total
        > free
        >= estimate(long_context, 16_384, 128).total
    )
    assert memory_context(long_context, many, hardware) == 16_384
    # never below 4,096, even where that does not fit: the planner then says so
    crowd = _spec(tiny_model, num_parallel=1024)
    assert estimate(long_context, 4096, 1024).total > free
    assert memory_context(long_context, crowd, hardware) == 4096


def test_never_above_the_trained_length(tiny_model: Path) -> None:
    tiny = inspect_gguf(tiny_model)  # trained for 256 tokens
    hardware = _hardware(64 * GB, 80 * GB)
    assert memory_context(tiny, _spec(tiny_model), hardware) == 256


def test_the_placement_uses_it_and_an_asked_context_wins(tiny_model: Path) -> None:
    smollm2 = smollm2_gguf()  # trained for 8,192 tokens
    factory = PlannedRunnerFactory(hardware=lambda: _hardware(64 * GB, 80 * GB), ram_now=None)
    chosen = factory.plan(_spec(smollm2), "smollm2")
    assert chosen.context == 8192 and chosen.apply(_spec(smollm2)).n_ctx == 8192
    asked = LoadSpec(model_path=smollm2, n_ctx=2048)
    assert factory.plan(asked, "smollm2").context == 2048
