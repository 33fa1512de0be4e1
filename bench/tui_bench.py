"""The terminal chat's speed: how many streamed pieces a second the app takes in (and
renders) without dropping or reordering any, and the time from ``ladle chat`` to an
input prompt with a server already running.

``run(quick)`` returns ``{"stream_tps_capacity", "dropped", "startup_s", …}``:

- ``stream_tps_capacity``: pieces a second, through the real app (worker thread →
  messages → Markdown stream) from a client that yields them as fast as it can; a
  model's tokens arrive one a piece, so this is the fastest model the screen keeps up
  with. ``stream_tps_per_cpu_s``: the same per second of the process's CPU time, which
  a busy machine does not lower. ``dropped``: pieces missing or out of place in the
  rendered answer (must be 0).
- ``startup_s``: from starting ``python -c`` (the ``ladle chat`` code path:
  settings, client, server check, app) to the app being ready for input, headless,
  against a ``ladle serve`` started beforehand on an empty store; the median of a few.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import httpx

from bench.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
STARTUP_CODE = """
import sys
from ladle.cli.serve import chat_settings
from runtime.autostart import ensure_server
from runtime.client import LadleClient
from tui import make_app

async def ready(pilot):
    await pilot.pause()
    print("ready", flush=True)
    pilot.app.exit()

settings = chat_settings(sys.argv[1])
with LadleClient(settings.url) as client:
    ensure_server(settings, client)
    make_app(client, "tiny").run(headless=True, auto_pilot=ready)
"""


@dataclass(frozen=True)
class Capacity:
    """Pieces a second through the app, by the clock and per second of this process's
    CPU time (the fair figure on a shared machine), and pieces dropped or misplaced."""

    per_s: float
    per_cpu_s: float
    dropped: int


def stream_capacity(count: int) -> Capacity:
    """How fast the app takes in an answer of ``count`` pieces, and how many of them
    are missing or out of place in what it shows."""
    from tests.tui.fakes import FakeClient
    from tests.tui.pilot import say, until
    from tui import make_app
    from tui.widgets import AssistantMessage

    pieces = [f"t{index} " for index in range(count)]
    app = make_app(FakeClient(words=pieces), "tiny")
    result: dict[str, float] = {}

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            started, cpu = time.perf_counter(), time.process_time()
            await say(pilot, "go")
            await until(pilot, lambda: len(app.history) == 2 and not app.streaming, 600)
            result["elapsed"] = time.perf_counter() - started
            result["cpu"] = time.process_time() - cpu
            shown = app.query_one(AssistantMessage).source.split()
            expected = "".join(pieces).split()
            result["dropped"] = sum(1 for a, b in zip_longest(expected, shown) if a != b)

    asyncio.run(main())
    return Capacity(count / result["elapsed"], count / result["cpu"], int(result["dropped"]))


def startup_seconds(url: str, runs: int) -> float:
    """The median time from ``python -c`` to the chat's first ready frame."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", STARTUP_CODE, url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if "ready" not in child.stdout:
            raise RuntimeError(f"the chat did not start: {child.stderr[-2000:]}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _serve(models: Path, url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LADLE_MODELS": str(models), "LADLE_HOST": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "ladle", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/version", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("ladle serve did not start")


def run(quick: bool = False) -> dict[str, Any]:
    count = 1000 if quick else 5000
    capacity = stream_capacity(count)
    url = f"http://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as folder:
        server = _serve(Path(folder) / "models", url)
        try:
            startup = startup_seconds(url, 3 if quick else 7)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "stream_tps_capacity": round(capacity.per_s, 1),
        "stream_tps_per_cpu_s": round(capacity.per_cpu_s, 1),
        "dropped": capacity.dropped,
        "startup_s": round(startup, 3),
        "pieces": count,
    }


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
