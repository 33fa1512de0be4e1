"""The public Python API: ``from ladle import render_prompt``, with ``import ladle`` light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ladle
from builder.pipeline.preview import render_prompt


def test_render_prompt_is_exported() -> None:
    assert ladle.render_prompt is render_prompt
    assert "render_prompt" in ladle.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = ladle.nothing  # type: ignore[attr-defined]


def test_import_ladle_stays_light() -> None:
    code = (
        "import sys, ladle; "
        "print(sorted(m for m in ('builder.pipeline.preview', 'builder.prompt', "
        "'jinja2', 'gguf', 'llama_cpp') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout == "[]\n", result.stderr
