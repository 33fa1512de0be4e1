"""Models side by side in memory: the scheduler with the memory planner on a fake machine
of 10 GiB, and fake models of a few GiB each (:mod:`runtime.eviction`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builder.gguf.file import GGUFInfo
from ladle.errors import InsufficientMemoryError
from ladle.settings import Settings
from runtime import placement
from runtime.hardware import CPUInfo, Hardware, LlamaBuild, MemoryInfo
from runtime.memory import RAM_RESERVE, MemoryEstimate
from runtime.placement import PlannedRunnerFactory
from runtime.scheduler import Scheduler
from tests.runtime.scheduler_fakes import Bench, eventually, hold, make_bench
from tests.runtime.test_scheduler import run

GIB = 2**30
SIZES = {"a": 3 * GIB, "b": 3 * GIB, "c": 3 * GIB, "d": 3 * GIB, "big": 6 * GIB, "huge": 12 * GIB}
"""Each fake model's planned size, by its name (its GGUF's ``general.name``)."""


def ten_gib() -> Hardware:
    """A CPU-only machine with 10 GiB for models (and the RAM reserve on top)."""
    return Hardware(
        platform="Linux x86_64",
        cpu=CPUInfo(model="test", physical_cores=2, logical_cores=2),
        memory=MemoryInfo(total=16 * GIB, available=10 * GIB + RAM_RESERVE),
        llama=LlamaBuild(gpu_offload=False),
    )


@pytest.fixture(autouse=True)
def sized_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The memory planner prices each fake model at :data:`SIZES`."""

    def estimate(info: GGUFInfo, n_ctx: int, num_parallel: int, **_: Any) -> MemoryEstimate:
        return MemoryEstimate(
            model=info.name,
            layer_weights=(),
            other_weights=SIZES[info.name],
            kv_per_layer=0,
            graph_full=0,
            graph_partial=0,
            n_ctx=n_ctx,
            n_ctx_requested=n_ctx,
            num_parallel=num_parallel,
            kv_type="f16",
            n_batch=512,
        )

    monkeypatch.setattr(placement, "estimate", estimate)
    yield


def planned_bench(root: Path, **settings: Any) -> Bench:
    """A bench whose scheduler loads through the memory planner on :func:`ten_gib`."""
    bench = make_bench(root, **settings)
    factory = PlannedRunnerFactory(hardware=ten_gib, start=bench.factory, ram_now=None)
    scheduler = Scheduler(
        bench.store, Settings(models=bench.store.root, **settings), factory, clock=bench.clock
    )
    for name in SIZES:
        bench.put(name)
    return replace(bench, scheduler=scheduler)


async def use(bench: Bench, name: str, keep_alive: str = "5m") -> None:
    async with bench.scheduler.use(name, {}, keep_alive):
        pass


def loaded(bench: Bench) -> list[str]:
    return sorted(entry.name.removesuffix(":latest") for entry in bench.scheduler.ps())


def test_with_the_default_settings_three_models_that_fit_stay_loaded(tmp_path: Path) -> None:
    bench = planned_bench(tmp_path)

    async def scenario() -> None:
        for name in ("a", "b", "c"):
            await use(bench, name)
        assert loaded(bench) == ["a", "b", "c"]
        assert bench.factory.events == ["load a", "load b", "load c"]

    run(bench, scenario)


def test_a_model_that_does_not_fit_unloads_the_idle_one_that_expires_soonest(
    tmp_path: Path,
) -> None:
    bench = planned_bench(tmp_path, max_loaded_models=4)  # memory, not the count, is short

    async def scenario() -> None:
        await use(bench, "a", "10m")
        await use(bench, "b", "1m")
        await use(bench, "c", "5m")
        await use(bench, "d")
        assert loaded(bench) == ["a", "c", "d"]
        assert bench.factory.events[3:] == ["close b", "load d"]

    run(bench, scenario)


def test_a_large_model_waits_for_a_busy_one_to_finish_then_unloads_it(tmp_path: Path) -> None:
    bench = planned_bench(tmp_path)

    async def scenario() -> None:
        release_a, release_b, entered = asyncio.Event(), asyncio.Event(), asyncio.Event()
        a = asyncio.create_task(hold(bench.scheduler, "a", release_a))
        b = asyncio.create_task(hold(bench.scheduler, "b", release_b, entered))
        await entered.wait()
        big = asyncio.create_task(use(bench, "big"))
        await eventually(lambda: bench.scheduler.queued == 1, "the large model waiting")
        for _ in range(20):
            await asyncio.sleep(0)
        assert bench.factory.events == ["load a", "load b"], "no room: nothing unloads yet"

        release_a.set()
        await asyncio.gather(a, big)
        assert bench.factory.events == ["load a", "load b", "close a", "load big"]
        assert loaded(bench) == ["b", "big"]
        release_b.set()
        await b

    run(bench, scenario)


def test_a_model_larger_than_the_machine_is_refused_and_unloads_nothing(tmp_path: Path) -> None:
    bench = planned_bench(tmp_path)

    async def scenario() -> None:
        await use(bench, "a")
        with pytest.raises(InsufficientMemoryError):
            await use(bench, "huge")
        assert loaded(bench) == ["a"]
        assert bench.factory.events == ["load a"]

    run(bench, scenario)


def test_the_load_checks_the_ram_available_now(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")
    now = MemoryInfo(total=16 * GIB, available=2 * GIB)  # another program took the rest
    factory = PlannedRunnerFactory(hardware=ten_gib, start=bench.factory, ram_now=lambda: now)
    scheduler = Scheduler(bench.store, Settings(models=bench.store.root), factory, bench.clock)
    bench = replace(bench, scheduler=scheduler)

    async def scenario() -> None:
        with pytest.raises(InsufficientMemoryError):
            await use(bench, "a")
        assert bench.factory.events == []

    run(bench, scenario)
