"""The public Python API: ``from ladle import render_prompt, check_modelfile``, with
``import ladle`` light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ladle
from builder.pipeline.check import check_modelfile
from builder.pipeline.preview import render_prompt


def test_render_prompt_is_exported() -> None:
    assert ladle.render_prompt is render_prompt
    assert "render_prompt" in ladle.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = ladle.nothing  # type: ignore[attr-defined]


def test_check_modelfile_is_exported() -> None:
    assert ladle.check_modelfile is check_modelfile
    assert "check_modelfile" in ladle.__all__


def test_import_ladle_stays_light() -> None:
    code = (
        "import sys, ladle; "
        "print(sorted(m for m in ('builder.pipeline.preview', 'builder.pipeline.check', "
        "'builder.prompt', 'jinja2', 'gguf', 'llama_cpp') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout == "[]\n", result.stderr
