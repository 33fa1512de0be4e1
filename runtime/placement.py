"""Starting a runner where its model fits: the runner factory ``ladle serve`` uses.

:class:`PlannedRunnerFactory` wraps :func:`runtime.runner.start_runner` with the memory
planner. Before a load it takes the model's GGUF header (the one the scheduler's
:class:`~runtime.images.ImageCache` inspected for the request or, when it is given none,
:func:`~builder.gguf.file.inspect_gguf`'s reading of the file), prices the model for the
requested context (or the one :mod:`runtime.context_size` chooses when none was asked
for), KV cache type and parallel sequences (:func:`runtime.memory.estimate`) and places
its layers on what the machine has (:func:`runtime.memory.plan_offload`): GPU layers,
threads and context go into the :class:`~runtime.protocol.LoadSpec`. A model that
cannot fit in RAM is refused with :class:`~ladle.errors.InsufficientMemoryError` before
anything is loaded.

When a load still fails and llama.cpp's words say it ran out of memory, the load is
retried with :func:`runtime.memory.fallback`'s next plan (fewer layers on the GPU, down
to none). llama.cpp reports allocation failures only as log text, so that text is what
:data:`OUT_OF_MEMORY_SIGNS` matches; every other failure is raised as it came.

Hardware is detected once, in a child process (:func:`runtime.hardware.detect_isolated`),
so that the server itself never holds a GPU context: a CUDA probe costs a process and a
GPU context (0.3 s here on a CPU-only build, more with a driver), too much for every load.
Models loaded side by side are therefore accounted for, not re-measured. A load is
planned against

- VRAM: the free memory measured at detection (before the first load) less the VRAM the
  loaded models were planned to take (their :class:`~runtime.memory.Footprint`, Ollama's
  "predicted free" in ``updateFreeSpace``);
- RAM: the lesser of ``MemAvailable`` at detection less the RAM the loaded models were
  planned to take, and ``MemAvailable`` read again now
  (:func:`~runtime.hardware.memory_now`, a ``/proc/meminfo`` read of ~0.1 ms), which sees
  what other programs took since.

:meth:`PlannedRunnerFactory.sizing` prices a model once (a
:class:`~runtime.eviction.Sizing`, on the detected hardware only, so that it answers the
same every time) for the scheduler, which decides from it which idle models to unload
(:mod:`runtime.eviction`); the load itself then checks the fresh RAM too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from builder.gguf.file import GGUFInfo, inspect_gguf
from ladle.errors import RunnerError
from runtime.context_size import memory_context
from runtime.eviction import Sizing
from runtime.hardware import Hardware, MemoryInfo, detect_isolated, memory_now
from runtime.kv_cache import check_head_dimension
from runtime.memory import NOTHING, Footprint, OffloadPlan, estimate, fallback
from runtime.protocol import LoadSpec, RunnerHandle
from runtime.runner import start_runner

OUT_OF_MEMORY_SIGNS = (
    "out of memory",
    "failed to allocate",
    "unable to allocate",
    "cudamalloc failed",
    "erroroutofdevicememory",
    "insufficient memory",
)
"""Lower-cased fragments of llama.cpp's (and its backends') allocation-failure messages."""

StartRunner = Callable[..., Awaitable[RunnerHandle]]

logger = logging.getLogger(__name__)


class PlannedRunnerFactory:
    """A :class:`runtime.scheduler.RunnerFactory` that plans each load on the hardware."""

    def __init__(
        self,
        hardware: Callable[[], Hardware] = detect_isolated,
        start: StartRunner = start_runner,
        ram_now: Callable[[], MemoryInfo] | None = memory_now,
    ) -> None:
        self._hardware = hardware
        self._start = start
        self._ram_now = ram_now

    async def __call__(
        self,
        load: LoadSpec,
        /,
        *,
        model_name: str,
        gguf: GGUFInfo | None = None,
        beside: Footprint = NOTHING,
    ) -> RunnerHandle:
        """Start ``load``'s runner where it fits beside loaded models taking ``beside``."""
        plan: OffloadPlan | None = await asyncio.to_thread(
            self.plan, load, model_name, gguf, beside
        )
        while plan is not None:
            logger.info("%s: %s", model_name, plan.reason)
            try:
                return await self._start(placed(load, plan), model_name=model_name)
            except RunnerError as error:
                if not looks_out_of_memory(error):
                    raise
                plan = fallback(plan)
                if plan is None:
                    raise
        raise AssertionError("unreachable: the first plan is never None")

    def plan(
        self,
        load: LoadSpec,
        model_name: str,
        gguf: GGUFInfo | None = None,
        beside: Footprint = NOTHING,
    ) -> OffloadPlan:
        """Where ``load``'s model goes on this machine beside models taking ``beside``,
        from its GGUF header ``gguf`` (read from the file when not given), with the RAM
        available now."""
        sizing = self.sizing(load, model_name=model_name, gguf=gguf)
        if self._ram_now is None:
            return sizing.plan(beside)
        detected = sizing.hardware.memory
        # min(detected - beside, now), as plan_offload takes beside off what it is given
        available = min(detected.available, self._ram_now().available + beside.ram)
        memory = detected.model_copy(update={"available": available})
        now = sizing.hardware.model_copy(update={"memory": memory})
        return Sizing(sizing.estimate, now, sizing.requested_gpu_layers).plan(beside)

    def sizing(self, load: LoadSpec, /, *, model_name: str, gguf: GGUFInfo | None) -> Sizing:
        """``load``'s model priced on the detected hardware, from its GGUF header ``gguf``
        (read from the file when ``None``); InsufficientMemoryError if it cannot fit even
        alone. Blocking: the first call detects the hardware."""
        info = gguf or inspect_gguf(load.model_path, display_name=model_name)
        check_head_dimension(load.kv_cache_type, info)
        hardware = self._hardware()
        n_ctx = memory_context(info, load, hardware) if load.context_from_memory else load.n_ctx
        adapters = sum(adapter.path.stat().st_size for adapter in load.adapters)
        adapters += draft_bytes(load, n_ctx)
        # A vision projector's weights; its compute buffer (one image's patches) is far
        # smaller (llama.cpp measures it at warmup: a few MB to tens of MB).
        adapters += load.projector_path.stat().st_size if load.projector_path else 0
        memory = estimate(
            info,
            n_ctx,
            load.num_parallel,
            kv_type=load.kv_cache_type,
            n_batch=load.n_batch,
            adapter_bytes=adapters,
        )
        return Sizing(memory, hardware, load.n_gpu_layers)


def draft_bytes(load: LoadSpec, n_ctx: int) -> int:
    """What ``load``'s draft model (speculative decoding) adds, priced as a model of its
    own for the same sequences: weights, KV cache and compute graph (0 without one). It is
    counted with the target's non-layer weights, which go where its output layer goes."""
    if load.draft_path is None:
        return 0
    info = inspect_gguf(load.draft_path, display_name=f"the draft {load.draft_path.name}")
    draft = estimate(info, n_ctx, load.num_parallel, load.kv_cache_type, n_batch=load.n_batch)
    return draft.total


def placed(load: LoadSpec, plan: OffloadPlan) -> LoadSpec:
    """``load`` with the plan's layers, threads and context; a ``num_thread`` the user
    asked for is kept."""
    spec = plan.apply(load)
    if load.n_threads is not None:
        spec = spec.model_copy(update={"n_threads": load.n_threads})
    return spec


def looks_out_of_memory(error: RunnerError) -> bool:
    """Whether a failed load's reason or log says memory ran out."""
    text = f"{error.reason}\n{error.log}".lower()
    return any(sign in text for sign in OUT_OF_MEMORY_SIGNS)
