"""The README's "Pinning prompts" example runs as written: a user's repository with a
Modelfile and the example test file, under pytest with syrupy and ladle's plugin."""

from __future__ import annotations

import re
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
SECTION = "## Pinning prompts in your repository"


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the section has no python example"
    return found.group(1)


def _options() -> list[str]:
    """ladle's plugin, unless its entry point is installed (loading it twice is an error);
    hypothesis's plugin off, as it would import hypothesis afresh in every run, and
    pytest-textual-snapshot's off, as its session end in the inner run would delete the
    folder that the outer run's session end reads."""
    installed = any(point.name == "ladle" for point in entry_points(group="pytest11"))
    plugins = ["no:hypothesispytest", "no:textual-snapshot"]
    if not installed:
        plugins.append("ladle.pytest_plugin")
    return [option for plugin in plugins for option in ("-p", plugin)]


@pytest.fixture
def repository(
    pytester: pytest.Pytester, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    project = pytester.path
    monkeypatch.setenv("LADLE_MODELS", str(project / "models"))
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    shutil.copy(tiny_model, project / "tiny.gguf")
    (project / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM You are terse.\n")
    example = _readme_example()
    assert example.startswith("# tests/test_prompts.py\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_prompts.py").write_text(example)
    return project


def test_the_readme_example_pins_prompts(
    repository: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pytester.runpytest(*_options(), "--snapshot-update")
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*2 snapshots generated*"])
    snapshots = (repository / "tests" / "__snapshots__" / "test_prompts.ambr").read_text()
    assert "system: You are terse.\n  user: Why is the disk on web-1 full?" in snapshots

    monkeypatch.chdir(repository / "tests")  # the path is relative to rootdir, not cwd
    pytester.runpytest(*_options()).assert_outcomes(passed=2)

    (repository / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM You are chatty.\n")
    changed = pytester.runpytest(*_options())
    changed.assert_outcomes(failed=2)
    changed.stdout.fnmatch_lines(["*You are chatty.*"])
