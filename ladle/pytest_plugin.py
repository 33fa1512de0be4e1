"""ladle's pytest plugin: the ``rendered_prompt`` fixture, to pin prompts in snapshots.

Installed with ladle and registered through the ``pytest11`` entry point, so any test
suite in an environment with ladle can use it (or load it with ``-p
ladle.pytest_plugin``)::

    def test_prompt(rendered_prompt, snapshot):
        assert rendered_prompt("Modelfile", [{"role": "user", "content": "hi"}]) == snapshot

A relative Modelfile path is taken from pytest's root folder (``rootdir``), so a test
gives the same result wherever pytest is started. FROM names of images are looked up
in ``$LADLE_MODELS``. The builder is imported on the first render, not when pytest
starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest


class RenderedPrompt(Protocol):
    """What the ``rendered_prompt`` fixture returns."""

    def __call__(
        self,
        modelfile: str | os.PathLike[str],
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        add_generation_prompt: bool = True,
    ) -> str: ...


@pytest.fixture
def rendered_prompt(request: pytest.FixtureRequest) -> RenderedPrompt:
    """A function ``(modelfile, messages, tools=None) -> str``: the exact prompt the
    Modelfile's model gets for ``messages`` (see :func:`ladle.render_prompt`)."""
    root = Path(request.config.rootpath)

    def render(
        modelfile: str | os.PathLike[str],
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        add_generation_prompt: bool = True,
    ) -> str:
        from builder.pipeline.preview import render_prompt

        path = root / Path(modelfile).expanduser()  # an absolute path stays as it is
        return render_prompt(path, messages, tools, add_generation_prompt)

    return render
