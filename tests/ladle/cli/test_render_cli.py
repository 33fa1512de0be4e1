"""``ladle render``: the exact prompt of an image or a Modelfile, through Typer's runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ladle.cli.app import app

runner = CliRunner()

MODELFILE = """FROM ./tiny.gguf
SYSTEM You are terse.
TEMPLATE \"\"\"{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}
{%- if tools %}[{{ tools | length }} tools]{% endif %}
{%- if add_generation_prompt %}<assistant>{% endif %}\"\"\"
"""


@pytest.fixture
def env(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LADLE_MODELS", str(tmp_path / "models"))
    shutil.copy(tiny_model, tmp_path / "tiny.gguf")
    (tmp_path / "Modelfile").write_text(MODELFILE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _ok(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_default_conversation(env: Path) -> None:
    assert _ok("render", "Modelfile") == "<s><system>You are terse.<user>Hello!<assistant>"
    assert not (env / "models").exists()  # nothing was built


def test_messages_tools_and_no_generation_prompt(env: Path) -> None:
    (env / "chat.json").write_text(
        json.dumps({"messages": [{"role": "user", "content": "df?"}, {"role": "assistant"}]})
    )
    (env / "tools.json").write_text('[{"type": "function", "function": {"name": "df"}}]')
    output = _ok("render", "Modelfile", "-m", "chat.json", "--tools", "tools.json")
    assert output == "<s><system>You are terse.<user>df?<assistant>[1 tools]<assistant>"
    stdin = '[{"role": "system", "content": "Mine."}, {"role": "user", "content": "hi"}]'
    output = _ok("render", "Modelfile", "--messages", "-", "--no-generation-prompt", stdin=stdin)
    assert output == "<s><system>Mine.<user>hi"


def test_json_counts_tokens_with_the_models_tokenizer(env: Path) -> None:
    (env / "Modelfile").write_text('FROM ./tiny.gguf\nTEMPLATE "{{ bos_token }}hello world"\n')
    assert json.loads(_ok("render", "Modelfile", "--json")) == {
        "prompt": "<s>hello world",
        "tokens": 3,
    }


def test_an_image_renders_as_its_modelfile(env: Path) -> None:
    _ok("create", "terse")
    assert _ok("render", "terse") == _ok("render", "Modelfile")


def test_errors(env: Path) -> None:
    result = runner.invoke(app, ["render", "Modelfile", "-m", "missing.json"])
    assert result.exit_code == 1
    assert "missing.json: cannot read: No such file or directory" in str(result.exception)
    result = runner.invoke(app, ["render", "Modelfile", "-m", "-"], input="[1]")
    assert "<stdin>: message 1 is a number, not an object" in str(result.exception)
    result = runner.invoke(app, ["render", "nope"])
    assert "model 'nope:latest' not found" in str(result.exception)


def test_help_has_an_example() -> None:
    assert "Example: ladle render" in _ok("render", "--help")
