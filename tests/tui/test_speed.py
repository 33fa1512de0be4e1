"""The chat keeps up with fast models and stays usable while it streams (issue: at least
200 tokens/s, nothing dropped or reordered, typing never blocked), and starts quickly.
``bench/tui_bench.py`` measures the same things for the benchmark report."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from textual import events
from textual.pilot import Pilot

from bench.tui_bench import _serve, startup_seconds, stream_capacity
from tests.runtime.api.test_live_server import free_port
from tests.tui.fakes import FakeClient
from tests.tui.pilot import drive, say, until
from tui import make_app
from tui.prompt import PromptInput
from tui.widgets import AssistantMessage

STARTUP_LIMIT_S = 3.0
"""The issue asks for under 1 s; a shared, loaded CI machine gets three times that (the
benchmark report has the figure from a quiet machine)."""


def test_the_app_takes_in_far_more_than_200_pieces_a_second_in_order() -> None:
    capacity = stream_capacity(2000)
    assert capacity.dropped == 0
    # per CPU second: the wall clock of a shared, busy CI machine says more about the
    # other jobs than about the app (bench/tui_bench.py reports both)
    assert capacity.per_cpu_s >= 200, capacity


def test_typing_works_while_an_answer_streams_at_250_tokens_a_second() -> None:
    pieces = [f"w{index} " for index in range(500)]
    client = FakeClient(words=pieces, delay=1 / 250)
    app = make_app(client, "tiny")
    typed = "the next question"
    lags: list[float] = []

    async def script(pilot: Pilot[None]) -> None:
        await say(pilot, "stream")
        await until(pilot, lambda: "w1" in app.query_one(AssistantMessage).source)
        started = time.perf_counter()
        prompt = app.query_one(PromptInput)
        for count, key in enumerate(typed, 1):
            # As a terminal delivers keys: posted, not awaited the way Pilot.press does
            # (it waits for an idle screen, which a streaming one never is).
            before = time.perf_counter()
            prompt.post_message(events.Key("space" if key == " " else key, key))
            while len(prompt.text) < count:
                await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - before)
        assert app.answering, "the answer ended before the typing did: not a test of both"
        assert app.query_one(PromptInput).text == typed
        await until(pilot, lambda: len(app.history) == 2 and not app.streaming, timeout=30)
        assert time.perf_counter() - started < 500 / 250 * 3  # it kept pace with the model
        assert app.query_one(AssistantMessage).source == "".join(pieces)

    drive(app, script)
    print(f"keystroke lag: max {max(lags):.3f} s, mean {sum(lags) / len(lags):.3f} s")
    # Typing is never blocked: keys land between pieces. Generous bounds, because a busy CI
    # machine can stall any one key; the speed itself is measured by bench/tui_bench.py.
    assert statistics.median(lags) < 0.1, lags
    assert max(lags) < 2.0, lags


def test_the_chat_is_ready_for_input_soon_after_it_starts(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    server = _serve(tmp_path / "models", url)
    try:
        seconds = startup_seconds(url, runs=1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert seconds < STARTUP_LIMIT_S, seconds
