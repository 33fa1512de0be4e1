"""``ladle create``, ``list``, ``show``, ``cp`` and ``rm`` against a store in a temp folder."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.store.store import Store
from ladle.cli.app import app
from ladle.units import human_bytes, human_time
from runtime.api import catalog
from runtime.images import ImageCache
from tests.conftest import EXAMPLES
from tests.fixtures.tiny_gguf import write_tiny_llama

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LADLE_MODELS", str(tmp_path / "models"))
    shutil.copy(tiny_model, tmp_path / "tiny.gguf")
    (tmp_path / "Modelfile").write_text(
        "# a tiny bot\nFROM ./tiny.gguf\nPARAMETER temperature 0.3\nSYSTEM You are terse.\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_create_list_show_cp_rm(env: Path) -> None:
    assert "created tiny-bot:latest" in _ok("create", "tiny-bot")  # default -f ./Modelfile
    listing = _ok("list").splitlines()
    assert listing[0].split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert listing[1].startswith("tiny-bot:latest")
    summary = _ok("show", "tiny-bot")
    assert "architecture        llama" in summary and "You are terse." in summary
    assert _ok("show", "tiny-bot", "--system") == "You are terse.\n"
    assert _ok("show", "tiny-bot", "--parameters") == "temperature         0.3\n"
    assert "copied tiny-bot:latest to tiny-bot:backup" in _ok("cp", "tiny-bot", "tiny-bot:backup")
    assert len(_ok("list").splitlines()) == 3
    assert "deleted tiny-bot:backup" in _ok("rm", "tiny-bot:backup")
    assert "tiny-bot:backup" not in _ok("list")


def test_show_modelfile_rebuilds_the_same_content(env: Path) -> None:
    _ok("create", "tiny-bot")
    text = _ok("show", "tiny-bot", "--modelfile")
    (env / "Rebuilt").write_text(text)
    _ok("create", "again", "-f", "Rebuilt")
    assert _ok("show", "again", "--modelfile").splitlines()[1:] == text.splitlines()[1:]


def test_show_prints_the_draft_and_its_modelfile_rebuilds_it(env: Path) -> None:
    write_tiny_llama(env / "draft.gguf", seed=5, n_layer=1)
    (env / "Drafted").write_text("FROM ./tiny.gguf\nDRAFT ./draft.gguf\n")
    _ok("create", "drafted", "-f", "Drafted")
    summary = _ok("show", "drafted")
    draft = summary.split("  Draft\n", 1)[1]
    assert draft.startswith("    architecture        llama\n    quantization        F16\n")
    assert draft.splitlines()[2].startswith("    blob                sha256-")
    text = _ok("show", "drafted", "--modelfile")
    assert "\nDRAFT " in text
    (env / "Rebuilt").write_text(text)
    _ok("create", "again", "-f", "Rebuilt")
    assert _ok("show", "again", "--modelfile").splitlines()[1:] == text.splitlines()[1:]
    _ok("create", "small-draft", "-f", "Drafted", "--draft-quantize", "q8_0")
    assert "    quantization        Q8_0\n" in _ok("show", "small-draft").split("  Draft\n")[1]
    lock = json.loads((env / "Drafted.lock").read_text())
    assert lock["draft"]["quantize"]["type"] == "Q8_0"


def _capabilities_shown(summary: str) -> list[str]:
    """The items under ``ladle show``'s Capabilities heading."""
    section = summary.split("  Capabilities\n", 1)[1]
    return re.findall(r"^    (\S+)$", section.split("\n\n", 1)[0], re.MULTILINE)


@pytest.mark.parametrize(
    ("modelfile", "expected"),
    [
        ("Modelfile", ["completion"]),
        ("tool-use.Modelfile", ["completion", "tools"]),  # examples/tool-use's TEMPLATE
    ],
)
def test_show_lists_the_capabilities_api_show_lists(
    env: Path, modelfile: str, expected: list[str]
) -> None:
    example = (EXAMPLES / "tool-use" / "Modelfile").read_text(encoding="utf-8")
    (env / "tool-use.Modelfile").write_text(example.replace("smollm2:135m", "./tiny.gguf"))
    _ok("create", "bot", "-f", modelfile, "--no-lock")
    shown = _capabilities_shown(_ok("show", "bot"))
    api = catalog.show(ImageCache(Store(env / "models")), "bot")["capabilities"]
    assert shown == api == expected


def test_errors_are_messages_not_tracebacks(env: Path) -> None:
    result = runner.invoke(app, ["show", "nope"])
    assert result.exit_code == 1
    assert "model 'nope:latest' not found" in str(result.exception)
    result = runner.invoke(app, ["create", "../evil"])
    assert "invalid model name '../evil'" in str(result.exception)


def test_human_units() -> None:
    assert human_bytes(98_362_432) == "98 MB"
    assert human_bytes(1_234_567_890) == "1.2 GB"
    assert human_bytes(512) == "512 B"
    assert human_time(100.0, now=100.2) == "Less than a second ago"
    assert human_time(0.0, now=150.0) == "2 minutes ago"
    assert human_time(0.0, now=3_700.0) == "An hour ago"


def test_create_writes_and_checks_the_lock(env: Path) -> None:
    _ok("create", "tiny-bot")
    assert (env / "Modelfile.lock").is_file()
    _ok("create", "tiny-bot", "--locked")
    (env / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM Now verbose.\n")
    result = runner.invoke(app, ["create", "tiny-bot", "--locked"])
    assert result.exit_code == 1
    assert "does not match this build (--locked)" in str(result.exception)
    (env / "Modelfile.lock").unlink()
    _ok("create", "other", "--no-lock")
    assert not (env / "Modelfile.lock").exists()


def test_locked_and_no_lock_exclude_each_other(env: Path) -> None:
    result = runner.invoke(app, ["create", "tiny-bot", "--locked", "--no-lock"])
    assert result.exit_code == 2
    assert "use --locked or --no-lock, not both" in result.output


def test_create_quantized(env: Path) -> None:
    assert "Q4_K_M" in _ok("create", "--help")
    assert "created tiny-bot:q8" in _ok("create", "tiny-bot:q8", "--quantize", "q8_0")
    assert "quantization        Q8_0" in _ok("show", "tiny-bot:q8")
    result = runner.invoke(app, ["create", "again", "-q", "Q4_0", "--requantize"])
    assert result.exit_code == 0, result.output  # an F16 source: the flag is not needed
    result = runner.invoke(app, ["create", "bad", "--quantize", "Q9"])
    assert "unknown quantization type 'Q9'" in str(result.exception)
