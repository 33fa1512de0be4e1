"""Making room for one more model: which idle runners the scheduler unloads first, by
count and by memory, and which busy one it drains when no idle one will do.

The rule (Ollama's ``server/sched.go``, with ladle's settings), :func:`to_unload`:

- A new model may load when fewer than ``max_loaded_models`` runners are left *and* it
  fits beside them: its plan beside their planned memory (:class:`runtime.memory.
  Footprint`, summed by :func:`footprint`) fits in RAM and puts as many layers on the
  GPU as its plan alone would (:meth:`Sizing.fits`). A model that cannot
  fit even alone was refused before this (``InsufficientMemoryError``).
- Until it may, idle runners are unloaded one by one, the one that would expire soonest
  first (a dead one before any live one).
- When unloading every idle runner would still not make room, none is unloaded: the
  request waits, and one busy runner is drained (:func:`to_drain`) — it takes no new
  requests and is unloaded when its last one finishes — so that the waiting model is
  not starved by busy ones, as Ollama's first-come queue ensures. The room is then
  judged again, so a large model may wait for several runners in turn.

A :class:`Sizing` is one model priced once, then asked whether it fits beside a set of
loaded models: it does when its plan beside them fits in RAM and puts as many layers on
the GPU as its plan alone would, so that an idle model never pushes a new one off the GPU
(Ollama unloads a model rather than load the next one partly on the CPU).

Memory counts only for a runner factory that prices loads (:class:`PlanningFactory`,
:class:`runtime.placement.PlannedRunnerFactory`); any other is judged by count alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from builder.gguf.file import GGUFInfo
from ladle.errors import InsufficientMemoryError
from runtime.hardware import Hardware
from runtime.loaded import LoadedRunner, ModelRequest
from runtime.memory import NOTHING, Footprint, MemoryEstimate, OffloadPlan, plan_offload
from runtime.protocol import LoadSpec, RunnerHandle


@dataclass(frozen=True)
class Sizing:
    """One model priced on one machine, to be placed beside other loaded models."""

    estimate: MemoryEstimate
    hardware: Hardware
    requested_gpu_layers: int = -1

    def __post_init__(self) -> None:
        self.plan(NOTHING)  # InsufficientMemoryError if the model cannot fit even alone

    @property
    def alone(self) -> OffloadPlan:
        """The plan with nothing else loaded."""
        return self.plan(NOTHING)

    def plan(self, beside: Footprint) -> OffloadPlan:
        """The plan beside models that take ``beside``; InsufficientMemoryError if none."""
        return plan_offload(self.estimate, self.hardware, self.requested_gpu_layers, beside)

    def fits(self, beside: Footprint) -> bool:
        """Whether the model fits beside models that take ``beside`` as well as alone."""
        try:
            plan = self.plan(beside)
        except InsufficientMemoryError:
            return False
        return plan.gpu_layers >= self.alone.gpu_layers

    def footprint(self, n_gpu_layers: int) -> Footprint:
        """What the model takes once loaded with llama.cpp's ``n_gpu_layers`` (-1: all)."""
        if not self.hardware.gpus:
            return self.estimate.footprint(0)
        layers = self.estimate.layers
        return self.estimate.footprint(layers if n_gpu_layers < 0 else n_gpu_layers)


@runtime_checkable
class PlanningFactory(Protocol):
    """A runner factory that prices a load before it starts it, and starts it beside
    models taking a given :class:`Footprint` of memory."""

    def __call__(
        self, load: LoadSpec, /, *, model_name: str, gguf: GGUFInfo | None, beside: Footprint
    ) -> Awaitable[RunnerHandle]: ...

    def sizing(self, load: LoadSpec, /, *, model_name: str, gguf: GGUFInfo | None) -> Sizing:
        """The model priced (blocking); InsufficientMemoryError if it cannot fit alone."""
        ...


async def price(planner: PlanningFactory, request: ModelRequest) -> Sizing:
    """``request``'s model priced off the event loop (the first call detects hardware)."""
    name, gguf = request.name.display(), request.model.gguf
    return await asyncio.to_thread(planner.sizing, request.spec, model_name=name, gguf=gguf)


def footprint(runners: Iterable[LoadedRunner]) -> Footprint:
    """The memory ``runners`` were planned to take, together."""
    return sum((runner.footprint for runner in runners), NOTHING)


def to_unload(
    runners: Sequence[LoadedRunner], max_loaded: int, sizing: Sizing | None
) -> list[LoadedRunner] | None:
    """The idle runners to unload so that a model priced ``sizing`` (``None``: count
    only) may load beside the rest; ``None`` when unloading every idle one is not enough."""
    kept = list(runners)
    idle = sorted(
        (runner for runner in runners if runner.refs == 0),
        key=lambda runner: (runner.model.handle.alive, runner.expires),
        reverse=True,  # popped from the end: the soonest to expire first
    )
    chosen: list[LoadedRunner] = []
    while len(kept) >= max_loaded or (sizing is not None and not sizing.fits(footprint(kept))):
        if not idle:
            return None
        chosen.append(runner := idle.pop())
        kept.remove(runner)
    return chosen


def to_drain(runners: Sequence[LoadedRunner]) -> LoadedRunner | None:
    """The busy runner to drain while a model waits for room: the one likely to finish
    first; ``None`` while one is draining already (or retired, which frees it as well)."""
    if any(runner.retired for runner in runners):
        return None
    return min(runners, key=lambda runner: (runner.refs, runner.expires), default=None)
