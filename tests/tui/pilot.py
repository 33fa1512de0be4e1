"""Helpers that drive the chat app with Textual's Pilot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from textual.pilot import Pilot

from tui import ChatApp
from tui.prompt import PromptInput
from tui.widgets import Notice, StatusBar

SIZE = (100, 30)
Script = Callable[[Pilot[None]], Coroutine[Any, Any, None]]


def drive(app: ChatApp, script: Script) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await script(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.01)


async def say(pilot: Pilot[None], text: str) -> None:
    """Type ``text`` into the prompt (at once) and press Enter."""
    pilot.app.query_one(PromptInput).load_text(text)
    await pilot.press("enter")


def notices(app: ChatApp) -> list[str]:
    return [str(notice.render()) for notice in app.query(Notice)]


def status(app: ChatApp) -> str:
    return str(app.query_one(StatusBar).render())


async def loaded(pilot: Pilot[None]) -> None:
    """Wait until the app has loaded its model (the status bar says its context)."""
    app = pilot.app
    assert isinstance(app, ChatApp)
    await until(pilot, lambda: app.loading is None and app.context_length is not None)
