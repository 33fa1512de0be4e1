"""A runner that stops answering is noticed and killed: one that sends nothing (SIGSTOP)
or one that is busy but turns its loop no more (a hang inside llama.cpp). Its requests
fail with a clear error instead of waiting past every client's timeout."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import anyio
import pytest

from ladle.errors import RunnerCrashedError, RunnerHungError
from runtime.protocol import GenerateRequest, SamplingOptions
from runtime.runner.messages import HEARTBEAT_S, ChunkGenerated, Heartbeat
from runtime.runner.watchdog import SILENCE_S, Watchdog

from .conftest import TEST_TIMEOUT_S, StartRunner

ENDLESS = GenerateRequest(
    prompt="hello world", sampling=SamplingOptions(temperature=0), ignore_eos=True
)
START = 1000.0


def watchdog(timeout: float = 60.0, busy: bool = True) -> Watchdog:
    dog = Watchdog(timeout, lambda: busy)
    dog.heard(START, Heartbeat(steps=0))
    dog.check(START)
    return dog


def ticks(dog: Watchdog, start: float, end: float) -> str | None:
    """Check every heartbeat from ``start`` to ``end``, as the runner's watch task does;
    the first reason found."""
    now = start
    while now < end:
        now += HEARTBEAT_S
        if (why := dog.check(now)) is not None:
            return why
    return None


def test_a_runner_that_keeps_beating_and_stepping_is_left_alone() -> None:
    dog = watchdog(timeout=5)
    for step in range(1, 40):
        now = START + step * HEARTBEAT_S
        dog.heard(now, Heartbeat(steps=step))
        assert dog.check(now) is None


def test_silence_is_a_stopped_runner() -> None:
    dog = watchdog()
    assert ticks(dog, START, START + SILENCE_S - 1) is None
    why = ticks(dog, START + SILENCE_S - 1, START + SILENCE_S + 1)
    assert why is not None and "sent nothing" in why


def test_a_short_runner_timeout_shortens_the_silence_allowed() -> None:
    dog = watchdog(timeout=2)
    assert ticks(dog, START, START + 1.5) is None
    assert ticks(dog, START + 1.5, START + 3) is not None


def test_heartbeats_without_steps_while_busy_are_a_hung_runner() -> None:
    dog = watchdog(timeout=5)
    why = None
    for tick in range(1, 20):
        now = START + tick * HEARTBEAT_S
        dog.heard(now, Heartbeat(steps=0))  # alive, but its loop does not turn
        why = dog.check(now)
        if now - START <= 5:
            assert why is None
    assert why is not None and "finished no step in 5 s" in why


def test_an_idle_runner_is_not_hung_however_long_its_loop_waits() -> None:
    dog = watchdog(timeout=5, busy=False)
    for tick in range(1, 40):
        now = START + tick * HEARTBEAT_S
        dog.heard(now, Heartbeat(steps=0))
        assert dog.check(now) is None


def test_the_first_request_starts_the_step_clock() -> None:
    dog = watchdog(timeout=5)
    now = START + 100  # idle for long, then a request
    dog.heard(now, Heartbeat(steps=0))
    dog.check(now)
    dog.started(now)
    dog.heard(now + 1, Heartbeat(steps=0))
    assert dog.check(now + 1) is None


def test_a_request_s_own_events_count_as_steps() -> None:
    dog = watchdog(timeout=5)
    for tick in range(1, 40):
        now = START + tick * HEARTBEAT_S
        dog.heard(now, ChunkGenerated.model_validate({"id": 1, "chunk": {"text": "x"}}))
        assert dog.check(now) is None


def test_a_late_check_waits_for_the_events_that_came_meanwhile() -> None:
    # The server's own loop was held up for 30 s: the heartbeats are still unread.
    dog = watchdog()
    assert dog.check(START + 30) is None
    dog.heard(START + 30.1, Heartbeat(steps=9))
    assert dog.check(START + 30.5) is None


@pytest.mark.anyio
async def test_a_stopped_runner_is_killed_and_its_requests_fail(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=4096, runner_timeout=2)
    stopped = False
    began = time.monotonic()
    with anyio.fail_after(TEST_TIMEOUT_S), pytest.raises(RunnerHungError) as caught:
        async for chunk in runner.generate(ENDLESS):
            if chunk.text and not stopped:
                os.kill(runner.pid, signal.SIGSTOP)
                stopped, began = True, time.monotonic()
    assert time.monotonic() - began < 10  # 2 s of silence, then killed
    assert isinstance(caught.value, RunnerCrashedError)  # the next request reloads
    assert "sent nothing for" in str(caught.value) and "it was killed" in str(caught.value)
    assert not runner.alive
    with pytest.raises(RunnerCrashedError):
        await runner.tokenize("hello")


@pytest.mark.anyio
async def test_a_stopped_idle_runner_is_killed_too(start: StartRunner, tiny_model: Path) -> None:
    runner = await start(tiny_model, runner_timeout=1)
    os.kill(runner.pid, signal.SIGSTOP)
    with anyio.fail_after(TEST_TIMEOUT_S):
        while runner.alive:
            await anyio.sleep(0.1)


@pytest.mark.anyio
async def test_a_runner_that_keeps_stepping_is_left_alone(
    start: StartRunner, tiny_model: Path
) -> None:
    runner = await start(tiny_model, n_ctx=4096, runner_timeout=3)
    request = ENDLESS.model_copy(update={"num_predict": 300})
    with anyio.fail_after(TEST_TIMEOUT_S):
        chunks = [chunk async for chunk in runner.generate(request)]
    assert chunks[-1].eval_count == 300 and runner.alive


@pytest.mark.anyio
async def test_a_reader_slower_than_the_runner_does_not_make_it_hung(
    start: StartRunner, tiny_model: Path
) -> None:
    # The runner finished the request long ago; its chunks wait for a slow client.
    runner = await start(tiny_model, runner_timeout=1)
    request = ENDLESS.model_copy(update={"num_predict": 5})
    with anyio.fail_after(TEST_TIMEOUT_S):
        chunks = runner.generate(request)
        first = await anext(chunks)
        await anyio.sleep(3)
        rest = [chunk async for chunk in chunks]
    assert [first, *rest][-1].eval_count == 5 and runner.alive
