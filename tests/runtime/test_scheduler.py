"""The scheduler against a fake runner: loading, sharing, evicting, queueing, reloading."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from builder.store.names import ModelName
from ladle.errors import (
    InvalidNameError,
    InvalidOptionError,
    ModelNotFoundError,
    QueueFullError,
    SchedulerError,
)
from runtime.protocol import GenerateRequest
from runtime.scheduler import RETRY_AFTER_S
from tests.runtime.scheduler_fakes import CHUNKS, Bench, FakeFactory, eventually, hold, make_bench


def run(bench: Bench, scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``scenario`` in a fresh event loop, closing the scheduler after it."""

    async def main() -> None:
        try:
            await asyncio.wait_for(scenario(), timeout=10)
        finally:
            await bench.scheduler.close()

    asyncio.run(main())


def test_a_model_loads_on_its_first_request_and_serves_it(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    digest = bench.put("a")

    async def scenario() -> None:
        assert bench.factory.runners == []
        async with bench.scheduler.use("a", {}, None) as loaded:
            assert loaded.name == ModelName.parse("a")
            assert loaded.digest == digest
            assert loaded.image.stored.digest == digest
            chunks = [c async for c in loaded.handle.generate(GenerateRequest(prompt="hi"))]
        assert "".join(chunk.text for chunk in chunks) == "".join(CHUNKS)
        assert bench.factory.events == ["load a"]

    run(bench, scenario)


def test_the_runner_factory_gets_the_image_and_header_resolved_for_the_request(
    tmp_path: Path,
) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        model = await bench.scheduler.resolve("a")
        async with bench.scheduler.use(model) as loaded:
            assert loaded.image is model.image and loaded.digest == model.digest
        assert model.gguf is not None and bench.factory.ggufs == [model.gguf]
        assert await bench.scheduler.resolve("a:latest") is model

    run(bench, scenario)


def test_a_loaded_model_is_reused(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        for _ in range(3):
            async with bench.scheduler.use("a:latest", {"temperature": 0.1}, "5m"):
                pass
        release = asyncio.Event()
        await asyncio.gather(
            *(hold(bench.scheduler, "a", release) for _ in range(3)), _set(release)
        )
        assert bench.factory.events == ["load a"]

    run(bench, scenario)


def test_concurrent_requests_for_a_loading_model_share_one_load(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, FakeFactory(delay=0.02), max_loaded_models=2)
    bench.put("a")

    async def scenario() -> None:
        release = asyncio.Event()
        release.set()
        texts = await asyncio.gather(*(hold(bench.scheduler, "a", release) for _ in range(5)))
        assert texts == ["".join(CHUNKS)] * 5
        assert bench.factory.events == ["load a"]

    run(bench, scenario)


def test_one_load_at_a_time(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, FakeFactory(delay=0.02), max_loaded_models=3)
    for name in ("a", "b", "c"):
        bench.put(name)

    async def scenario() -> None:
        release = asyncio.Event()
        release.set()
        await asyncio.gather(*(hold(bench.scheduler, name, release) for name in "abcabc"))
        assert bench.factory.most_loading == 1
        assert sorted(bench.factory.events) == ["load a", "load b", "load c"]

    run(bench, scenario)


def test_keep_alive_zero_unloads_when_the_last_request_finishes(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        release, entered = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(hold(bench.scheduler, "a", release, entered, keep_alive=0))
        await entered.wait()
        async with bench.scheduler.use("a", keep_alive=0) as loaded:
            runner = loaded.handle
        assert runner.alive, "another request is still in flight"
        release.set()
        await first
        await eventually(lambda: not runner.alive, "unloaded")
        assert bench.scheduler.ps() == []

    run(bench, scenario)


def test_max_loaded_evicts_the_idle_model_that_expires_soonest(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, max_loaded_models=3)
    for name in ("forever", "long", "short", "new"):
        bench.put(name)

    async def scenario() -> None:
        for name, keep in (("forever", -1), ("short", "1m"), ("long", "1h")):
            async with bench.scheduler.use(name, keep_alive=keep):
                pass
        async with bench.scheduler.use("new"):
            pass
        assert bench.factory.events[3:] == ["close short", "load new"]
        loaded = {entry.name for entry in bench.scheduler.ps()}
        assert loaded == {"forever:latest", "long:latest", "new:latest"}

    run(bench, scenario)


def test_a_model_kept_forever_is_evicted_last(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, max_loaded_models=1)
    bench.put("a")
    bench.put("b")

    async def scenario() -> None:
        async with bench.scheduler.use("a", keep_alive=-1):
            pass
        async with bench.scheduler.use("b"):
            pass
        assert bench.factory.events == ["load a", "close a", "load b"]

    run(bench, scenario)


def test_a_model_with_requests_in_flight_is_never_evicted(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, max_loaded_models=1)
    bench.put("a")
    bench.put("b")

    async def scenario() -> None:
        release, entered = asyncio.Event(), asyncio.Event()
        busy = asyncio.create_task(hold(bench.scheduler, "a", release, entered))
        await entered.wait()
        waiting = asyncio.create_task(hold(bench.scheduler, "b", asyncio.Event()))
        await asyncio.sleep(0.02)
        assert bench.factory.events == ["load a"]
        assert not waiting.done()
        release.set()
        assert await busy == "".join(CHUNKS)  # its request finished on the runner it had
        await eventually(lambda: bench.factory.events == ["load a", "close a", "load b"])
        waiting.cancel()

    run(bench, scenario)


def test_a_busy_model_drains_so_a_waiting_model_is_not_starved(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, max_loaded_models=1)
    bench.put("a")
    bench.put("b")

    async def scenario() -> None:
        release_a, entered = asyncio.Event(), asyncio.Event()
        first_a = asyncio.create_task(hold(bench.scheduler, "a", release_a, entered))
        await entered.wait()
        b = asyncio.create_task(hold(bench.scheduler, "b", asyncio.Event(), asyncio.Event()))
        await asyncio.sleep(0.01)
        later_a = asyncio.create_task(hold(bench.scheduler, "a", release_a))
        await asyncio.sleep(0.01)
        release_a.set()
        await first_a
        await eventually(lambda: bench.factory.events[-1] == "load b")
        assert not later_a.done(), "a waits until b has had its turn"
        b.cancel()
        await later_a
        assert bench.factory.events == ["load a", "close a", "load b", "close b", "load a"]

    run(bench, scenario)


def test_unloads_finish_before_the_next_load_starts(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, FakeFactory(close_delay=0.02), max_loaded_models=1)
    bench.put("a")
    bench.put("b")

    async def scenario() -> None:
        async with bench.scheduler.use("a"):
            pass
        first = bench.factory.runners[0]
        async with bench.scheduler.use("b"):
            assert first.closed
        assert bench.factory.events == ["load a", "close a", "load b"]

    run(bench, scenario)


def test_a_full_queue_refuses_at_once(tmp_path: Path) -> None:
    gate = asyncio.Event()
    bench = make_bench(tmp_path, FakeFactory(gate=gate), max_queue=2)
    bench.put("a")

    async def scenario() -> None:
        release = asyncio.Event()
        release.set()
        queued = [asyncio.create_task(hold(bench.scheduler, "a", release)) for _ in range(2)]
        await eventually(lambda: bench.factory.loading == 1, "loading")
        with pytest.raises(QueueFullError) as caught:
            async with bench.scheduler.use("a"):
                pass
        assert caught.value.retry_after == RETRY_AFTER_S
        assert "LADLE_MAX_QUEUE" in str(caught.value)
        gate.set()
        assert await asyncio.gather(*queued) == ["".join(CHUNKS)] * 2
        async with bench.scheduler.use("a"):  # the queue is empty again
            pass

    run(bench, scenario)


def test_requests_beyond_num_parallel_wait_for_a_slot_and_count_as_queued(
    tmp_path: Path,
) -> None:
    bench = make_bench(tmp_path, num_parallel=2, max_queue=1)
    bench.put("a")

    async def scenario() -> None:
        async with bench.scheduler.use("a"):
            pass
        release = asyncio.Event()
        entered = [asyncio.Event() for _ in range(3)]
        tasks = [
            asyncio.create_task(hold(bench.scheduler, "a", release, event)) for event in entered
        ]
        await eventually(lambda: entered[0].is_set() and entered[1].is_set(), "two running")
        await asyncio.sleep(0.01)
        assert not entered[2].is_set()
        with pytest.raises(QueueFullError):
            async with bench.scheduler.use("a"):
                pass
        release.set()
        await asyncio.gather(*tasks)
        assert bench.factory.events == ["load a"]

    run(bench, scenario)


def test_requests_that_give_up_waiting_for_a_slot_leave_the_queue(tmp_path: Path) -> None:
    # Their clients went away: the places they held are free for the next ones at once,
    # not when a slot would have come to them.
    bench = make_bench(tmp_path, num_parallel=1, max_queue=2)
    bench.put("a")

    async def scenario() -> None:
        release, entered = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(hold(bench.scheduler, "a", release, entered))
        await entered.wait()
        ghosts = [asyncio.create_task(hold(bench.scheduler, "a", release)) for _ in range(2)]
        await eventually(lambda: bench.scheduler.queued == 2, "two queued")
        for ghost in ghosts:
            ghost.cancel()
        await eventually(lambda: bench.scheduler.queued == 0, "the queue emptied")
        later = [asyncio.create_task(hold(bench.scheduler, "a", release)) for _ in range(2)]
        await eventually(lambda: bench.scheduler.queued == 2, "two queued again")
        release.set()
        assert await asyncio.gather(running, *later) == ["".join(CHUNKS)] * 3
        assert all(ghost.cancelled() for ghost in ghosts)

    run(bench, scenario)


def test_the_runner_timeout_setting_reaches_the_runner(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, runner_timeout=7.5)
    bench.put("a")

    async def scenario() -> None:
        async with bench.scheduler.use("a"):
            pass
        assert [spec.runner_timeout for spec in bench.factory.loads] == [7.5]

    run(bench, scenario)


def test_other_load_options_reload_the_model(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a", params={"num_ctx": 2048})

    async def scenario() -> None:
        async with bench.scheduler.use("a", {"temperature": 0.5}):
            pass
        async with bench.scheduler.use("a", {"temperature": 0.9, "num_ctx": 2048}):
            pass
        assert len(bench.factory.runners) == 1, "sampling options and equal values keep it"
        async with bench.scheduler.use("a", {"num_ctx": 8192}) as loaded:
            assert loaded.spec.n_ctx == 8192
        async with bench.scheduler.use("a", {"num_gpu": 0}):
            pass
        assert [spec.n_ctx for spec in bench.factory.loads] == [2048, 8192, 2048]
        assert [runner.closed for runner in bench.factory.runners] == [True, True, False]

    run(bench, scenario)


def test_a_reload_lets_requests_in_flight_finish_first(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, max_loaded_models=1)
    bench.put("a")

    async def scenario() -> None:
        release, entered = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(hold(bench.scheduler, "a", release, entered))
        await entered.wait()
        second = asyncio.create_task(hold(bench.scheduler, "a", release, options={"num_ctx": 1024}))
        await asyncio.sleep(0.01)
        assert len(bench.factory.runners) == 1
        release.set()
        assert list(await asyncio.gather(first, second)) == ["".join(CHUNKS)] * 2
        assert bench.factory.events == ["load a", "close a", "load a"]

    run(bench, scenario)


def test_a_runner_that_died_is_reaped_and_the_next_request_reloads(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        async with bench.scheduler.use("a"):
            pass
        bench.factory.runners[0].died = True
        assert bench.scheduler.ps() == []
        async with bench.scheduler.use("a") as loaded:
            assert loaded.handle is bench.factory.runners[1]
        assert bench.factory.events == ["load a", "close a", "load a"]

    run(bench, scenario)


def test_a_deleted_model_finishes_in_flight_requests_and_refuses_new_ones(
    tmp_path: Path,
) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        release, entered = asyncio.Event(), asyncio.Event()
        in_flight = asyncio.create_task(hold(bench.scheduler, "a", release, entered))
        await entered.wait()
        bench.store.delete(ModelName.parse("a"))
        with pytest.raises(ModelNotFoundError):
            async with bench.scheduler.use("a"):
                pass
        assert bench.factory.runners[0].alive
        release.set()
        assert await in_flight == "".join(CHUNKS)
        await eventually(lambda: bench.factory.runners[0].closed, "unloaded")

    run(bench, scenario)


def test_a_retagged_model_gets_a_new_runner(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, max_loaded_models=2)
    old = bench.put("a", weights=b"old")

    async def scenario() -> None:
        release, entered = asyncio.Event(), asyncio.Event()
        in_flight = asyncio.create_task(hold(bench.scheduler, "a", release, entered))
        await entered.wait()
        new = bench.put("a", weights=b"new")
        async with bench.scheduler.use("a") as loaded:
            assert (loaded.digest, loaded.image.stored.digest) == (new, new)
            assert loaded.handle is bench.factory.runners[1]
        assert [entry.digest for entry in bench.scheduler.ps()].count(old) == 1
        release.set()
        assert await in_flight == "".join(CHUNKS)
        await eventually(lambda: bench.factory.runners[0].closed, "old runner unloaded")
        assert [entry.digest for entry in bench.scheduler.ps()] == [new]

    run(bench, scenario)


def test_ps_shows_each_loaded_model(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, FakeFactory(size=2000, vram=1040), max_loaded_models=2)
    digest = bench.put("a", params={"num_ctx": 2048})
    bench.put("b")

    async def scenario() -> None:
        async with bench.scheduler.use("a", keep_alive="10m"):
            pass
        async with bench.scheduler.use("b", keep_alive=-1):
            pass
        before = datetime.now(UTC)
        entries = bench.scheduler.ps()
        assert [entry.name for entry in entries] == ["b:latest", "a:latest"]
        a = entries[1]
        assert (a.model, a.digest, a.size, a.size_vram) == ("a:latest", digest, 2000, 1040)
        assert (a.processor, a.context_length) == ("48%/52% CPU/GPU", 2048)
        assert timedelta(minutes=9) < a.expires_at - before < timedelta(minutes=11)
        assert entries[0].expires_at.year > before.year + 200

    run(bench, scenario)


def test_a_failed_load_fails_every_waiting_request_and_the_next_one_retries(
    tmp_path: Path,
) -> None:
    gate = asyncio.Event()
    bench = make_bench(tmp_path, FakeFactory(gate=gate, failure=OSError("no memory")))
    bench.put("a")

    async def scenario() -> None:
        waiting = [asyncio.create_task(hold(bench.scheduler, "a", gate)) for _ in range(3)]
        await eventually(lambda: bench.factory.loading == 1, "loading")
        gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert [str(result) for result in results] == ["no memory"] * 3
        bench.factory.failure = None
        async with bench.scheduler.use("a"):
            pass
        assert bench.factory.events == ["load a", "load a"]

    run(bench, scenario)


def test_a_request_that_gives_up_while_waiting_leaves_nothing_behind(tmp_path: Path) -> None:
    gate = asyncio.Event()
    bench = make_bench(tmp_path, FakeFactory(gate=gate))
    bench.put("a")

    async def scenario() -> None:
        waiting = asyncio.create_task(hold(bench.scheduler, "a", asyncio.Event()))
        await eventually(lambda: bench.factory.loading == 1, "loading")
        waiting.cancel()
        gate.set()
        await eventually(lambda: len(bench.factory.runners) == 1, "loaded")
        await asyncio.sleep(0.01)
        bench.clock.advance(301)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].closed, "idle after the load, so it expired"

    run(bench, scenario)


def test_load_only_loads_and_keep_alive_zero_unloads(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        await bench.scheduler.load_only("a", "1m")
        assert [entry.name for entry in bench.scheduler.ps()] == ["a:latest"]
        await bench.scheduler.load_only("a", 0)
        assert bench.scheduler.ps() == []
        assert bench.factory.events == ["load a", "close a"]
        with pytest.raises(ModelNotFoundError):
            await bench.scheduler.load_only("missing", 0)
        with pytest.raises(ModelNotFoundError):
            await bench.scheduler.load_only("missing")

    run(bench, scenario)


def test_unload(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        assert not await bench.scheduler.unload("a")
        async with bench.scheduler.use("a", keep_alive=-1):
            pass
        assert await bench.scheduler.unload("A:latest")
        assert bench.factory.runners[0].closed

    run(bench, scenario)


def test_bad_requests_are_refused_before_anything_loads(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    bench.put("a")

    async def scenario() -> None:
        for name, options, keep, error in [
            ("missing", {}, None, ModelNotFoundError),
            ("../a", {}, None, InvalidNameError),
            ("a", {"num_ctx": "lots"}, None, InvalidOptionError),
            ("a", {}, "5 minutes", InvalidOptionError),
        ]:
            with pytest.raises(error):
                async with bench.scheduler.use(name, options, keep):
                    pass
        assert bench.factory.events == []

    run(bench, scenario)


def test_close_unloads_everything_and_refuses_later_requests(tmp_path: Path) -> None:
    gate = asyncio.Event()
    bench = make_bench(tmp_path, FakeFactory(), max_loaded_models=2)
    for name in ("a", "b", "c"):
        bench.put(name)

    async def scenario() -> None:
        async with bench.scheduler.use("a"):
            pass
        release, entered = asyncio.Event(), asyncio.Event()
        busy = asyncio.create_task(hold(bench.scheduler, "b", release, entered))
        await entered.wait()
        bench.factory.gate = gate
        loading = asyncio.create_task(hold(bench.scheduler, "c", release))
        await eventually(lambda: bench.factory.loading == 1, "c loading")
        await bench.scheduler.close()
        assert bench.factory.open_runners() == []
        idle, busy_runner = bench.factory.runners
        assert idle.close_error is None  # nothing to tell
        assert isinstance(busy_runner.close_error, SchedulerError)
        assert "shutting down" in str(busy_runner.close_error)  # what its request hears
        assert bench.factory.loading == 0, "the load in progress was cancelled"
        with pytest.raises(SchedulerError):
            await loading
        release.set()
        assert await busy == ""  # its runner was closed under it: generation cancelled
        with pytest.raises(SchedulerError, match="shutting down"):
            async with bench.scheduler.use("a"):
                pass

    run(bench, scenario)


async def _set(event: asyncio.Event) -> None:
    await asyncio.sleep(0.01)
    event.set()
