"""The default context (``num_ctx``) of a load that asks for none, from the machine.

``LADLE_CONTEXT_LENGTH`` sets it when given; a Modelfile's or a request's ``num_ctx``
wins over both. Otherwise (:attr:`~runtime.protocol.LoadSpec.context_from_memory`) the
context is chosen from the free memory of the device the model lands on, by Ollama's
tiers (its default ``num_ctx`` since 0.12 follows the GPU's memory):

- on a GPU with less than 24 GiB free: 4,096 tokens; less than 48 GiB: 32,768; more:
  262,144;
- on the CPU (no GPU, a build without GPU support, or ``num_gpu 0``): 4,096, as Ollama
  gives a machine without VRAM: a CPU evaluates a 32k-token prompt in minutes, so a
  larger window would mostly reserve RAM;
- never above the model's trained length (the memory estimate caps it there), and
  halved (not below 4,096) until the model with ``num_parallel`` sequences of it fits in
  that free memory, so that a large model on a large GPU keeps its layers there rather
  than trading them for context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.memory import GPU_RESERVE, estimate

if TYPE_CHECKING:
    from builder.gguf.file import GGUFInfo
    from runtime.hardware import Hardware
    from runtime.protocol import LoadSpec

GIB = 2**30
SMALLEST_CONTEXT = 4096
"""The default context on a CPU or a small GPU, and the least the halving goes to."""
GPU_CONTEXT_TIERS: tuple[tuple[int, int], ...] = ((24 * GIB, 4096), (48 * GIB, 32_768))
"""(free GPU memory below, context): Ollama's tiers; above the last, :data:`LARGEST_CONTEXT`."""
LARGEST_CONTEXT = 262_144


def tier_context(gpu_free: int) -> int:
    """The context Ollama's tiers give a GPU with ``gpu_free`` bytes free (0: the CPU)."""
    if gpu_free <= 0:
        return SMALLEST_CONTEXT
    return next((ctx for below, ctx in GPU_CONTEXT_TIERS if gpu_free < below), LARGEST_CONTEXT)


def gpu_free(hardware: Hardware, requested_gpu_layers: int) -> int:
    """Free memory of the GPUs a model would land on, less the backend's reserve each
    (0 when it runs on the CPU)."""
    if requested_gpu_layers == 0 or not hardware.llama.gpu_offload:
        return 0
    return sum(max(0, gpu.memory_free - GPU_RESERVE) for gpu in hardware.gpus)


def memory_context(info: GGUFInfo, load: LoadSpec, hardware: Hardware) -> int:
    """The context for ``load``'s model on ``hardware`` (module docstring's rule)."""
    free = gpu_free(hardware, load.n_gpu_layers)
    context = tier_context(free)
    if info.context_length:
        context = min(context, max(info.context_length, 1))
    while context > SMALLEST_CONTEXT and not _fits(info, load, context, free):
        context //= 2
    return context


def _fits(info: GGUFInfo, load: LoadSpec, context: int, free: int) -> bool:
    memory = estimate(info, context, load.num_parallel, load.kv_cache_type, n_batch=load.n_batch)
    return memory.total <= free
