"""How much memory a model needs, and where its layers go: GPU, CPU, or both.

:func:`estimate` sizes a model from its GGUF header alone (nothing is loaded):

- **weights**: the tensor bytes of each ``blk.N`` layer, and of the other tensors
  (token embeddings, output head, final norm), as :class:`builder.gguf.file.GGUFInfo`
  sums them; LoRA adapters add their bytes to the latter.
- **KV cache**, per layer: ``tokens * (key_length + value_length) * head_count_kv *
  element size``, where ``tokens = n_ctx * num_parallel`` (one llama.cpp context holds
  every parallel sequence) and the key and value lengths default to
  ``embedding_length / head_count`` (the head dimension). That is the issue's "layers *
  context * kv heads * head dim * 2 * element size", summed over layers; the element
  size is the load's ``kv_cache_type``'s (:data:`KV_BLOCKS`: f16 2 bytes, q8_0 34 bytes a
  block of 32, q4_0 18), so a quantized cache shrinks the plan, ``ps`` and the refusal
  alike (:mod:`runtime.placement` passes it). Sliding-window
  layers (Gemma 3) keep less in practice; the estimate stays on the safe side.
- **compute buffer** (the graph's scratch memory), Ollama's estimate for llama models
  (``GraphSize`` in Ollama's ``fs/ggml/ggml.go``), used here for every architecture,
  with ``b = min(n_batch, tokens)``, ``e`` = embedding length, ``h`` heads, ``d`` head
  dimension, ``k`` kv heads, ``V`` vocabulary size and ``c = tokens``::

      full    = max(4b(1 + 4e + c(1 + h)), 4b(e + V))
      partial = 4be + max(4b(1 + e + max(c, e)) + 9e²/16 + 4c(bh + dk),
                          4b(e + V) + 105eV/128)

  ``full`` is the buffer when the whole model sits on one device (all-GPU or all-CPU),
  ``partial`` the GPU's share when layers are split. Without flash attention the
  ``4bch`` attention scores dominate, as they do in llama.cpp.

Checked against what llama-cpp-python 0.3.36 allocates on the CPU for SmolLM2-135M at
8,192 tokens: weights 92.10 MiB (estimate 92.10), KV 180.00 MiB (180.00), compute
166.38 MiB (164.50); for the tiny test model 1.63 MiB of compute against 1.50. The
estimate can run a few percent short on compute, which the reserves below absorb.

:func:`plan_offload` then puts as many layers on the GPUs as their free memory holds
(less :data:`GPU_RESERVE` each for the backend's own context), the rest on the CPU, the
way Ollama does; llama.cpp offloads the *last* layers first, so those are the ones
counted. With every layer on the GPU the output head goes too (``n_gpu_layers = -1``).
It refuses, with :class:`ladle.errors.InsufficientMemoryError`, a model whose CPU share
does not fit in available RAM less :data:`RAM_RESERVE`. :func:`fallback` gives the next
plan to try when a load still fails for lack of GPU memory.

Models loaded side by side: a plan is made *beside* the :class:`Footprint` (planned RAM
and VRAM) of the models already loaded, which :func:`plan_offload` takes off the free
memory (:mod:`runtime.eviction` decides which stay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from ladle.errors import InsufficientMemoryError

if TYPE_CHECKING:
    from builder.gguf.file import GGUFInfo
    from runtime.hardware import Hardware
    from runtime.protocol import LoadSpec

KVType = Literal["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"]
KV_BLOCKS: dict[str, tuple[int, int]] = {
    # ggml type: (bytes per block, elements per block), from ggml's type traits
    "f32": (4, 1),
    "f16": (2, 1),
    "bf16": (2, 1),
    "q8_0": (34, 32),
    "q5_1": (24, 32),
    "q5_0": (22, 32),
    "q4_1": (20, 32),
    "q4_0": (18, 32),
    "iq4_nl": (18, 32),
}
DEFAULT_BATCH = 512
"""llama.cpp's default logical batch (``n_batch``)."""
UNKNOWN_VOCAB = 262_144
"""Vocabulary assumed when a GGUF has no ``<arch>.vocab_size`` (Gemma's, the largest common)."""
GPU_RESERVE = 457 * 2**20
"""Kept free on each GPU for the backend's context and workspace (Ollama's CUDA minimum)."""
RAM_RESERVE = 256 * 2**20
"""Kept free in RAM for the runner process itself and the rest of the system."""
_NO_GPU_BUILD = "llama-cpp-python was built without GPU support (see 'GPU support' in the README)"
FALLBACK_STEPS = 4
"""A failed load retries with a quarter of the layers fewer on the GPU, then the CPU."""


@dataclass(frozen=True)
class Footprint:
    """The memory a loaded model was planned to take, in bytes."""

    ram: int = 0
    vram: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.ram + other.ram, self.vram + other.vram)


NOTHING = Footprint()
"""The footprint of no model: a plan beside nothing has the whole machine."""


class MemoryEstimate(BaseModel):
    """What one model needs, in bytes, split so that any GPU/CPU division can be priced."""

    model_config = ConfigDict(frozen=True)

    model: str
    layer_weights: tuple[int, ...]
    other_weights: int
    kv_per_layer: int
    graph_full: int
    graph_partial: int
    n_ctx: int
    """Context tokens per sequence, capped at the model's trained context."""
    n_ctx_requested: int
    num_parallel: int
    kv_type: KVType
    n_batch: int

    @property
    def layers(self) -> int:
        return len(self.layer_weights)

    @property
    def weights(self) -> int:
        return sum(self.layer_weights) + self.other_weights

    @property
    def kv(self) -> int:
        return self.kv_per_layer * self.layers

    @property
    def total(self) -> int:
        """Everything on one device: weights, KV cache and the full compute buffer."""
        return self.weights + self.kv + self.graph_full

    def gpu_bytes(self, gpu_layers: int) -> int:
        """GPU memory with the last ``gpu_layers`` layers offloaded."""
        if gpu_layers <= 0:
            return 0
        if gpu_layers >= self.layers:
            return self.total
        offloaded = sum(self.layer_weights[self.layers - gpu_layers :])
        return offloaded + gpu_layers * self.kv_per_layer + self.graph_partial

    def footprint(self, gpu_layers: int) -> Footprint:
        """RAM and GPU memory with the last ``gpu_layers`` layers offloaded."""
        return Footprint(self.cpu_bytes(gpu_layers), self.gpu_bytes(gpu_layers))

    def cpu_bytes(self, gpu_layers: int) -> int:
        """RAM with the last ``gpu_layers`` layers offloaded.

        The token embeddings always stay in RAM; with everything offloaded the output
        head is on the GPU too but is still counted here, which errs on the safe side.
        """
        if gpu_layers <= 0 or self.layers == 0:
            return self.total
        kept = self.layers - min(gpu_layers, self.layers)
        graph = self.graph_partial if kept else 0
        return (
            self.other_weights + sum(self.layer_weights[:kept]) + kept * self.kv_per_layer + graph
        )


class OffloadPlan(BaseModel):
    """Where a model's layers go, with what it costs and why (for ``ps`` and the log)."""

    model_config = ConfigDict(frozen=True)

    gpu_layers: int
    total_layers: int
    threads: int
    context: int
    processor: str
    """As ``ollama ps`` writes it: ``100% CPU``, ``48%/52% CPU/GPU`` or ``100% GPU``."""
    size_bytes: int
    vram_bytes: int
    devices: tuple[str, ...] = ()
    reason: str
    estimate: MemoryEstimate
    ram_budget: int
    vram_budget: int

    @property
    def n_gpu_layers(self) -> int:
        """llama.cpp's ``n_gpu_layers``: -1 (all, output head included) for a full offload."""
        full = self.total_layers > 0 and self.gpu_layers >= self.total_layers
        return -1 if full else self.gpu_layers

    def apply(self, spec: LoadSpec) -> LoadSpec:
        """``spec`` with this plan's GPU layers, threads and context."""
        return spec.model_copy(
            update={
                "n_gpu_layers": self.n_gpu_layers,
                "n_threads": self.threads,
                "n_ctx": self.context,
            }
        )


def estimate(
    info: GGUFInfo,
    n_ctx: int,
    num_parallel: int = 1,
    kv_type: KVType = "f16",
    *,
    n_batch: int = DEFAULT_BATCH,
    adapter_bytes: int = 0,
) -> MemoryEstimate:
    """The memory ``info``'s model needs for ``num_parallel`` sequences of ``n_ctx`` tokens
    (``n_ctx`` is capped at the model's trained ``context_length``)."""
    context = min(n_ctx, info.context_length) if info.context_length else n_ctx
    tokens = context * num_parallel
    embedding = info.embedding_length or 0
    heads = info.head_count or 1
    kv_heads = info.head_count_kv or heads
    head_dim = embedding // heads
    key = _arch_int(info, "attention.key_length") or head_dim
    value = _arch_int(info, "attention.value_length") or head_dim
    block_bytes, block_size = KV_BLOCKS[kv_type]
    kv = math.ceil(tokens * (key + value) * kv_heads * block_bytes / block_size)
    vocab = _arch_int(info, "vocab_size") or UNKNOWN_VOCAB
    full, partial = graph_size(
        tokens, min(n_batch, tokens), embedding, heads, head_dim, kv_heads, vocab
    )
    return MemoryEstimate(
        model=info.name or info.architecture,
        layer_weights=info.layer_bytes,
        other_weights=info.other_bytes + adapter_bytes,
        kv_per_layer=kv,
        graph_full=full,
        graph_partial=partial,
        n_ctx=context,
        n_ctx_requested=n_ctx,
        num_parallel=num_parallel,
        kv_type=kv_type,
        n_batch=n_batch,
    )


def graph_size(
    context: int, batch: int, embedding: int, heads: int, head_dim: int, kv_heads: int, vocab: int
) -> tuple[int, int]:
    """``(full, partial)`` compute-buffer bytes, by Ollama's formula (module docstring)."""
    c, b, e, h, d, k, v = context, batch, embedding, heads, head_dim, kv_heads, vocab
    full = max(4 * b * (1 + 4 * e + c * (1 + h)), 4 * b * (e + v))
    partial = 4 * b * e + max(
        4 * b * (1 + e + max(c, e)) + e * e * 9 // 16 + 4 * c * (b * h + d * k),
        4 * b * (e + v) + e * v * 105 // 128,
    )
    return full, partial


def plan_offload(
    memory: MemoryEstimate,
    hardware: Hardware,
    requested_gpu_layers: int = -1,
    beside: Footprint = NOTHING,
) -> OffloadPlan:
    """Choose GPU layers (-1 asks for as many as fit; ``num_gpu`` N asks for N), threads
    and context, in the memory that models taking ``beside`` leave free; raise
    :class:`InsufficientMemoryError` when the CPU's share cannot fit."""
    gpus = hardware.gpus
    vram = max(0, sum(max(0, gpu.memory_free - GPU_RESERVE) for gpu in gpus) - beside.vram)
    ram = max(0, hardware.memory.available - RAM_RESERVE - beside.ram)
    total = memory.layers
    if not gpus:
        why = "no GPU was found" if hardware.llama.gpu_offload else _NO_GPU_BUILD
        layers, reason = 0, f"{why}; running on the CPU"
    elif total == 0:
        layers, reason = 0, "the model has no layers to offload; running on the CPU"
    elif requested_gpu_layers >= 0:
        layers = min(requested_gpu_layers, total)
        reason = f"num_gpu {requested_gpu_layers} asks for {layers} of {total} layers on the GPU"
    else:
        layers = max(n for n in range(total + 1) if n == 0 or memory.gpu_bytes(n) <= vram)
        reason = _fit_reason(memory, layers, vram, gpus[0].name if len(gpus) == 1 else "the GPUs")
    names = tuple(gpu.name for gpu in gpus) if layers else ()
    return _checked(memory, layers, hardware.cpu.threads, names, reason, ram, vram)


def fallback(plan: OffloadPlan) -> OffloadPlan | None:
    """The plan to try after ``plan`` failed to load for lack of GPU memory.

    Each step moves a quarter of the layers (at least one) back to the CPU, ending with
    none on the GPU; ``None`` once ``plan`` used no GPU, or when the layers moved back
    would not fit in RAM (so that no step risks the OOM killer).
    """
    if plan.gpu_layers == 0:
        return None
    step = max(1, math.ceil(plan.total_layers / FALLBACK_STEPS))
    layers = max(0, min(plan.gpu_layers, plan.total_layers) - step)
    if plan.estimate.cpu_bytes(layers) > plan.ram_budget:
        return None
    reason = f"loading {plan.gpu_layers} layers on the GPU failed for lack of memory; " + (
        f"trying {layers} of {plan.total_layers}" if layers else "running on the CPU"
    )
    devices = plan.devices if layers else ()
    return _plan(
        plan.estimate, layers, plan.threads, devices, reason, plan.ram_budget, plan.vram_budget
    )


def processor(size: int, vram: int) -> str:
    """``ollama ps``'s PROCESSOR column for ``vram`` of ``size`` bytes on the GPU."""
    if vram <= 0:
        return "100% CPU"
    if vram >= size:
        return "100% GPU"
    cpu = math.floor((size - vram) * 100 / size + 0.5)  # Go's math.Round: halves go up
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


def _fit_reason(memory: MemoryEstimate, layers: int, vram: int, where: str) -> str:
    free = f"{vram / 1e9:.1f} GB usable"
    if layers >= memory.layers:
        return f"all {memory.layers} layers fit in {where} ({free})"
    if layers:
        return (
            f"{layers} of {memory.layers} layers fit in {where} ({free}); the rest run on the CPU"
        )
    return f"not one layer fits in {where} ({free}); running on the CPU"


def _checked(
    memory: MemoryEstimate,
    layers: int,
    threads: int,
    devices: tuple[str, ...],
    reason: str,
    ram: int,
    vram: int,
) -> OffloadPlan:
    needed = memory.cpu_bytes(layers)
    if needed > ram:
        detail = (
            f"weights {memory.weights / 1e9:.2f} GB, KV cache {memory.kv / 1e9:.2f} GB for "
            f"{memory.num_parallel} sequence(s) of {memory.n_ctx} tokens, "
            f"{layers} of {memory.layers} layers on the GPU"
        )
        raise InsufficientMemoryError(memory.model, needed + RAM_RESERVE, ram + RAM_RESERVE, detail)
    return _plan(memory, layers, threads, devices, reason, ram, vram)


def _plan(
    memory: MemoryEstimate,
    layers: int,
    threads: int,
    devices: tuple[str, ...],
    reason: str,
    ram: int,
    vram: int,
) -> OffloadPlan:
    on_gpu = memory.gpu_bytes(layers)
    size = on_gpu if layers >= memory.layers > 0 else on_gpu + memory.cpu_bytes(layers)
    return OffloadPlan(
        gpu_layers=layers,
        total_layers=memory.layers,
        threads=threads,
        context=memory.n_ctx,
        processor=processor(size, on_gpu),
        size_bytes=size,
        vram_bytes=on_gpu,
        devices=devices,
        reason=reason,
        estimate=memory,
        ram_budget=ram,
        vram_budget=vram,
    )


def _arch_int(info: GGUFInfo, key: str) -> int | None:
    value = info.metadata.get(f"{info.architecture}.{key}")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
