"""The memory estimate against hand computation, and offload plans on made-up hardware."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from builder.gguf.file import GGUFInfo, inspect_gguf
from ladle.errors import InsufficientMemoryError
from runtime.eviction import Sizing
from runtime.hardware import Accelerator, CPUInfo, Hardware, LlamaBuild, MemoryInfo
from runtime.memory import (
    GPU_RESERVE,
    NOTHING,
    RAM_RESERVE,
    Footprint,
    MemoryEstimate,
    estimate,
    fallback,
    plan_offload,
    processor,
)
from runtime.protocol import LoadSpec
from tests.fixtures.installed import smollm2_gguf

GB = 10**9


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> GGUFInfo:
    # n_embd 64, 4 heads, 2 kv heads (head dim 16), 2 layers, vocab 384, trained ctx 256
    return inspect_gguf(tiny_model)


@pytest.fixture(scope="module")
def smollm2() -> GGUFInfo:
    return inspect_gguf(smollm2_gguf())


def _hardware(ram: int, *gpu_free: int, cores: int = 8) -> Hardware:
    gpus = tuple(
        Accelerator(
            index=index + 1,
            name=f"CUDA{index}",
            description="NVIDIA H100 80GB HBM3",
            backend="CUDA",
            kind="gpu",
            memory_total=80 * GB,
            memory_free=free,
        )
        for index, free in enumerate(gpu_free)
    )
    return Hardware(
        platform="Linux x86_64",
        cpu=CPUInfo(model="test", physical_cores=cores, logical_cores=2 * cores),
        memory=MemoryInfo(total=ram, available=ram),
        accelerators=gpus,
        llama=LlamaBuild(gpu_offload=bool(gpus)),
    )


def test_tiny_estimate_by_hand(tiny: GGUFInfo) -> None:
    memory = estimate(tiny, 256, 1)
    assert memory.layer_weights == tiny.layer_bytes and memory.layers == 2
    assert memory.weights == sum(tiny.layer_bytes) + tiny.other_bytes
    # 256 tokens * (16 key + 16 value) * 2 kv heads * 2 bytes (f16)
    assert memory.kv_per_layer == 32_768 and memory.kv == 65_536
    # c=256, b=256, e=64, h=4, d=16, k=2, V=384:
    # full = max(4*256*(1 + 256 + 256*5), 4*256*(64 + 384)) = max(1_573_888, 458_752)
    assert memory.graph_full == 1_573_888
    # partial = 4*256*64 + max(4*256*(1+64+256) + 64*64*9/16 + 4*256*(256*4 + 16*2),
    #                          4*256*(64+384) + 64*384*105/128)
    #         = 65_536 + max(328_704 + 2_304 + 1_081_344, 458_752 + 20_160)
    assert memory.graph_partial == 1_477_888
    assert memory.total == memory.weights + 65_536 + 1_573_888


def test_context_is_capped_at_the_trained_length(tiny: GGUFInfo) -> None:
    memory = estimate(tiny, 4096, 4)
    assert (memory.n_ctx, memory.n_ctx_requested, memory.num_parallel) == (256, 4096, 4)
    assert memory.kv_per_layer == 4 * 32_768


def test_quantized_kv_cache(tiny: GGUFInfo) -> None:
    # q8_0 stores 32 values in 34 bytes
    assert estimate(tiny, 256, 1, "q8_0").kv_per_layer == 256 * 32 * 2 * 34 // 32
    assert estimate(tiny, 256, 1, "q4_0").kv_per_layer == 256 * 32 * 2 * 18 // 32


def test_smollm2_estimate_by_hand(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    # 30 layers of 2,216,448 bytes (Q4_1), 30,083,328 bytes of embeddings and norms
    assert memory.layer_weights == (2_216_448,) * 30 and memory.other_weights == 30_083_328
    # 4 * 8192 tokens * (64 + 64) * 3 kv heads * 2 bytes
    assert memory.kv_per_layer == 25_165_824 and memory.kv == 754_974_720
    # 4*512*(1 + 4*576 + 32768*(1 + 9))
    assert memory.graph_full == 675_809_280
    assert memory.total == 66_493_440 + 30_083_328 + 754_974_720 + 675_809_280


def test_no_gpu_runs_on_the_cpu(smollm2: GGUFInfo) -> None:
    plan = plan_offload(estimate(smollm2, 8192, 4), _hardware(16 * GB), -1)
    assert (plan.gpu_layers, plan.n_gpu_layers, plan.total_layers) == (0, 0, 30)
    assert (plan.processor, plan.vram_bytes, plan.devices) == ("100% CPU", 0, ())
    assert plan.size_bytes == plan.estimate.total
    assert plan.threads == 8 and plan.context == 8192
    assert "without GPU support" in plan.reason


def test_gpu_holding_everything(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    plan = plan_offload(memory, _hardware(16 * GB, 80 * GB), -1)
    assert (plan.gpu_layers, plan.n_gpu_layers, plan.processor) == (30, -1, "100% GPU")
    assert plan.vram_bytes == plan.size_bytes == memory.total
    assert plan.devices == ("CUDA0",) and plan.reason.startswith("all 30 layers fit in CUDA0")


def test_gpu_holding_half(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    per_layer = 2_216_448 + 25_165_824
    free = GPU_RESERVE + memory.graph_partial + 15 * per_layer + per_layer // 2
    plan = plan_offload(memory, _hardware(16 * GB, free), -1)
    assert plan.gpu_layers == plan.n_gpu_layers == 15
    assert plan.vram_bytes == 15 * per_layer + memory.graph_partial
    cpu_side = 30_083_328 + 15 * per_layer + memory.graph_partial
    assert plan.size_bytes == plan.vram_bytes + cpu_side
    split = re.fullmatch(r"(\d+)%/(\d+)% CPU/GPU", plan.processor)
    assert split is not None
    cpu, gpu = int(split[1]), int(split[2])
    assert cpu + gpu == 100 and cpu == round(cpu_side * 100 / plan.size_bytes)
    assert plan.reason.startswith("15 of 30 layers fit in CUDA0")


def test_gpu_too_small_for_one_layer(smollm2: GGUFInfo) -> None:
    plan = plan_offload(estimate(smollm2, 8192, 4), _hardware(16 * GB, GPU_RESERVE), -1)
    assert (plan.gpu_layers, plan.processor) == (0, "100% CPU")
    assert "not one layer fits" in plan.reason


def test_two_gpus_pool_their_memory(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    half = GPU_RESERVE + memory.total // 2 + 1
    plan = plan_offload(memory, _hardware(16 * GB, half, half), -1)
    assert plan.gpu_layers == 30 and plan.devices == ("CUDA0", "CUDA1")


def test_too_big_for_ram_fails_before_loading(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    with pytest.raises(InsufficientMemoryError) as caught:
        plan_offload(memory, _hardware(memory.total), -1)  # no room for the reserve
    error = caught.value
    assert error.model == "Smollm2 135M 8k Lc100K Mix1 Ep2"
    assert error.needed == memory.total + RAM_RESERVE and error.available == memory.total
    assert "needs 1.8 GB of system memory but 1.5 GB is available" in str(error)


def test_a_gpu_takes_what_ram_cannot(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    plan = plan_offload(memory, _hardware(RAM_RESERVE + memory.other_weights, 80 * GB), -1)
    assert plan.processor == "100% GPU"


def test_requested_gpu_layers(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    hardware = _hardware(16 * GB, 80 * GB)
    assert plan_offload(memory, hardware, 10).gpu_layers == 10
    assert plan_offload(memory, hardware, 999).n_gpu_layers == -1
    assert plan_offload(memory, _hardware(16 * GB), 10).gpu_layers == 0  # no GPU


def test_fallback_steps_down_to_the_cpu(smollm2: GGUFInfo) -> None:
    plan = plan_offload(estimate(smollm2, 8192, 4), _hardware(16 * GB, 80 * GB), -1)
    steps = []
    while (following := fallback(plan)) is not None:
        plan = following
        steps.append((plan.gpu_layers, plan.processor.endswith("CPU/GPU")))
    assert steps == [(22, True), (14, True), (6, True), (0, False)]
    assert plan.processor == "100% CPU" and plan.devices == ()
    assert (
        plan.reason == "loading 6 layers on the GPU failed for lack of memory; running on the CPU"
    )


def test_no_fallback_that_ram_cannot_hold(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192, 4)
    plan = plan_offload(memory, _hardware(RAM_RESERVE + memory.other_weights, 80 * GB), -1)
    assert fallback(plan) is None


def test_plan_applies_to_a_load_spec(tiny: GGUFInfo, tiny_model: Path) -> None:
    plan = plan_offload(estimate(tiny, 4096, 1), _hardware(16 * GB, 80 * GB), -1)
    spec = plan.apply(LoadSpec(model_path=tiny_model))
    assert (spec.n_gpu_layers, spec.n_threads, spec.n_ctx) == (-1, 8, 256)


@pytest.mark.parametrize(
    ("size", "vram", "expected"),
    [
        (100, 0, "100% CPU"),
        (100, 100, "100% GPU"),
        (100, 52, "48%/52% CPU/GPU"),
        (1000, 485, "52%/48% CPU/GPU"),  # 51.5% rounds up, as Go's math.Round does
    ],
)
def test_processor_column(size: int, vram: int, expected: str) -> None:
    assert processor(size, vram) == expected


def test_model_without_layers_stays_on_the_cpu() -> None:
    memory = MemoryEstimate(
        model="m",
        layer_weights=(),
        other_weights=1000,
        kv_per_layer=0,
        graph_full=10,
        graph_partial=10,
        n_ctx=8,
        n_ctx_requested=8,
        num_parallel=1,
        kv_type="f16",
        n_batch=8,
    )
    plan = plan_offload(memory, _hardware(GB, 80 * GB), -1)
    assert (plan.gpu_layers, plan.n_gpu_layers, plan.processor) == (0, 0, "100% CPU")


def test_a_plan_beside_loaded_models_gets_what_they_leave(smollm2: GGUFInfo) -> None:
    memory = estimate(smollm2, 8192)
    hardware = _hardware(4 * GB, memory.total + GPU_RESERVE)
    alone = plan_offload(memory, hardware)
    assert alone.gpu_layers == memory.layers
    beside = plan_offload(memory, hardware, beside=Footprint(ram=0, vram=memory.total // 2))
    assert 0 < beside.gpu_layers < memory.layers
    with pytest.raises(InsufficientMemoryError):
        plan_offload(memory, _hardware(4 * GB), beside=Footprint(ram=4 * GB))


def test_a_sizing_fits_beside_others_only_with_as_many_gpu_layers_as_alone(
    smollm2: GGUFInfo,
) -> None:
    memory = estimate(smollm2, 8192)
    sizing = Sizing(memory, _hardware(4 * GB, memory.total + GPU_RESERVE))
    assert sizing.fits(NOTHING) and sizing.fits(Footprint(ram=2 * GB))
    assert not sizing.fits(Footprint(vram=GB // 100)), "pushed partly off the GPU"
    assert not sizing.fits(Footprint(ram=4 * GB))
    assert sizing.footprint(-1) == Footprint(memory.cpu_bytes(memory.layers), memory.total)
    on_cpu = Sizing(memory, _hardware(4 * GB))
    assert on_cpu.footprint(-1) == Footprint(ram=memory.total)
    with pytest.raises(InsufficientMemoryError):
        Sizing(memory, _hardware(memory.total // 2))
