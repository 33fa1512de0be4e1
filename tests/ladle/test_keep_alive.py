"""keep_alive: reading durations as Ollama does, the setting, and expiry over time."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from builder.store.store import Store
from ladle.errors import InvalidOptionError, SettingsError
from ladle.keep_alive import FOREVER, LONGEST, keep_alive_seconds, parse_duration
from ladle.settings import Settings
from runtime.scheduler import Scheduler
from tests.runtime.scheduler_fakes import FakeFactory, eventually, make_bench, put_image

DEFAULT = 300.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5m", 300),
        ("1h30m", 5400),
        ("10s", 10),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("1m30.5s", 90.5),
        (".5s", 0.5),
        ("2us", 2e-6),
        ("2\u00b5s", 2e-6),
        ("7ns", 7e-9),
        ("+1m", 60),
        ("0", 0),
        ("0s", 0),
        ("300", 300),  # a bare number in a string: seconds, as OLLAMA_KEEP_ALIVE reads it
        (30, 30),
        (2.5, 2.5),
        (0, 0),
        (None, DEFAULT),
        ("-1m", FOREVER),
        ("-1", FOREVER),
        (-1, FOREVER),
        (-0.5, FOREVER),
        (math.inf, FOREVER),
        (1e16, FOREVER),  # past Go's longest Duration (about 292 years): forever too
        (2**63, FOREVER),
        ("9999999999999999h", FOREVER),
        (LONGEST, FOREVER),
        (LONGEST - 1e3, LONGEST - 1e3),
    ],
)
def test_keep_alive_reads_as_ollamas_api_duration(
    value: str | float | None, seconds: float
) -> None:
    assert keep_alive_seconds(value, DEFAULT) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "m", "5 m", "5min", "1x", "1h-5m", "--1s", ".s", True, [5]])
def test_a_bad_keep_alive_names_the_option(value: object) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        keep_alive_seconds(value, DEFAULT)  # type: ignore[arg-type]
    assert caught.value.option == "keep_alive"
    assert str(caught.value).startswith("invalid keep_alive")


def test_nan_is_refused() -> None:
    with pytest.raises(InvalidOptionError):
        keep_alive_seconds(math.nan, DEFAULT)


def test_parse_duration_keeps_the_sign() -> None:
    assert parse_duration("-1h30m") == -5400


def test_settings_read_the_scheduler_variables(tmp_path: Path) -> None:
    defaults = Settings.from_environment({"LADLE_MODELS": str(tmp_path)})
    assert (defaults.keep_alive, defaults.num_parallel) == (300, 4)
    assert (defaults.max_loaded_models, defaults.max_queue) == (3, 512)
    custom = Settings.from_environment(
        {
            "LADLE_KEEP_ALIVE": "-1",
            "LADLE_NUM_PARALLEL": "2",
            "LADLE_MAX_LOADED_MODELS": "3",
            "LADLE_MAX_QUEUE": " 10 ",
        }
    )
    assert (custom.keep_alive, custom.num_parallel) == (FOREVER, 2)
    assert (custom.max_loaded_models, custom.max_queue) == (3, 10)
    assert Settings.from_environment({"LADLE_KEEP_ALIVE": "0"}).keep_alive == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LADLE_KEEP_ALIVE", "five minutes"),
        ("LADLE_NUM_PARALLEL", "0"),
        ("LADLE_MAX_LOADED_MODELS", "two"),
        ("LADLE_MAX_QUEUE", "-5"),
    ],
)
def test_bad_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environment({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}={value!r}")


def test_an_idle_model_expires_after_keep_alive(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    put_image(bench.store, "a")

    async def scenario() -> None:
        async with bench.scheduler.use("a", keep_alive="10s"):
            bench.clock.advance(60)  # time in flight does not count
        runner = bench.factory.runners[0]
        bench.clock.advance(9)
        await bench.scheduler.expire_idle()
        assert runner.alive
        bench.clock.advance(2)
        await bench.scheduler.expire_idle()
        assert runner.closed
        assert bench.scheduler.ps() == []

    _run(bench.scheduler, scenario())


def test_expiry_restarts_when_the_last_request_finishes(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    put_image(bench.store, "a")

    async def scenario() -> None:
        first = bench.scheduler.use("a", keep_alive="10s")
        await first.__aenter__()
        async with bench.scheduler.use("a", keep_alive="10s"):
            pass
        bench.clock.advance(30)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].alive, "a request is still in flight"
        await first.__aexit__(None, None, None)
        bench.clock.advance(9)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].alive
        bench.clock.advance(2)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].closed

    _run(bench.scheduler, scenario())


def test_the_latest_request_sets_keep_alive(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    put_image(bench.store, "a")

    async def scenario() -> None:
        async with bench.scheduler.use("a", keep_alive="1h"):
            pass
        async with bench.scheduler.use("a", keep_alive="1s"):
            pass
        bench.clock.advance(2)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].closed

    _run(bench.scheduler, scenario())


def test_negative_keep_alive_keeps_the_model(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    put_image(bench.store, "a")

    async def scenario() -> None:
        async with bench.scheduler.use("a", keep_alive="-1m"):
            pass
        bench.clock.advance(10 * 365 * 24 * 3600)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].alive

    _run(bench.scheduler, scenario())


def test_the_default_comes_from_the_settings(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, keep_alive=60)
    put_image(bench.store, "a")

    async def scenario() -> None:
        async with bench.scheduler.use("a"):
            pass
        bench.clock.advance(59)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].alive
        bench.clock.advance(2)
        await bench.scheduler.expire_idle()
        assert bench.factory.runners[0].closed

    _run(bench.scheduler, scenario())


def test_the_expiry_task_unloads_on_its_own(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    put_image(store, "a")
    factory = FakeFactory()
    scheduler = Scheduler(store, Settings(models=store.root), factory, clock=time.monotonic)

    async def scenario() -> None:
        async with scheduler.use("a", keep_alive="50ms"):
            pass
        async with scheduler.use("a", keep_alive="50ms"):  # a change while it sleeps
            pass
        assert factory.runners[0].alive
        await eventually(lambda: factory.runners[0].closed, "expired")
        assert len(factory.runners) == 1

    _run(scheduler, scenario())


def _run(scheduler: Scheduler, scenario: Coroutine[Any, Any, None]) -> None:
    async def main() -> None:
        try:
            await asyncio.wait_for(scenario, timeout=10)
        finally:
            await scheduler.close()

    asyncio.run(main())
