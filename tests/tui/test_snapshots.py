"""SVG snapshots of the chat's main screens (pytest-textual-snapshot), at a fixed
terminal size, with a fake client and a frozen clock so that they are stable.

After a deliberate change to the screens: ``pytest tests/tui/test_snapshots.py
--snapshot-update``, and look at the new SVGs in ``__snapshots__`` before committing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import OptionList

from tests.tui.fakes import FakeClient
from tests.tui.pilot import SIZE, loaded, say, until
from tui import ChatApp, make_app
from tui.prompt import PromptInput
from tui.widgets import ThinkingBlock

Compare = Callable[..., bool]


async def steady(pilot: Pilot[Any]) -> None:
    """The model loaded, and the prompt's cursor shown without blinking: on a loaded
    machine a blink could fall between the last frame and the screenshot."""
    await loaded(pilot)
    pilot.app.query_one(PromptInput).cursor_blink = False


def frozen_app(model: str | None = "tiny") -> ChatApp:
    return make_app(FakeClient(), model, clock=lambda: 0.0)


def test_an_empty_chat(snap_compare: Compare) -> None:
    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=steady)


def test_a_streamed_answer(snap_compare: Compare) -> None:
    app = frozen_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await steady(pilot)
        await say(pilot, "Show me a shell loop")
        await until(pilot, lambda: len(app.history) == 2 and not app.streaming)

    app.client.words = ["Here:\n\n", "```sh\n", "for f in *.log; do\n", "  gzip $f\ndone\n", "```"]  # type: ignore[attr-defined]
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_an_answer_after_thinking(snap_compare: Compare) -> None:
    """The thinking collapsed and dimmed above the answer, its title saying how long."""
    app = frozen_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await steady(pilot)
        await say(pilot, "/set think on")
        await say(pilot, "Which port is sshd on?")
        await until(pilot, lambda: len(app.history) == 2 and not app.streaming)
        await until(pilot, lambda: app.query_one(ThinkingBlock).title.startswith("Thought for"))

    app.client.thoughts = ["The user asks about sshd.", " Default is 22."]  # type: ignore[attr-defined]
    app.client.words = ["Port **22**, unless `Port` is set in sshd_config."]  # type: ignore[attr-defined]
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_help(snap_compare: Compare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await steady(pilot)
        await say(pilot, "/help")

    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=run_before)


def test_the_model_picker(snap_compare: Compare) -> None:
    app = frozen_app(None)

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: bool(app.screen.query(OptionList)))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_side_panel(snap_compare: Compare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await steady(pilot)
        await say(pilot, "/set parameter temperature 0.1")
        await say(pilot, "/set system You are a terse SRE.")
        await pilot.press("f2")

    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=run_before)
