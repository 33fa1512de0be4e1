"""The ``ladle`` command: --version, --help, check and fmt, through Typer's runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ladle import __version__
from ladle.cli.app import app, main, make_app
from ladle.cli.hints import describe, hint
from ladle.errors import (
    BuildError,
    CorruptBlobError,
    LadleError,
    ModelNotFoundError,
    RegistryAuthError,
    UnsupportedRegistryError,
)
from tests.conftest import EXAMPLES
from tests.fixtures.installed import missing

runner = CliRunner()

SRE_BOT = EXAMPLES / "sre-bot" / "Modelfile"
MESSY = (
    "# keep me\n"
    "from   smollm2:135m\n"
    "\n\n\n"
    "  parameter temperature 0.3\n"
    '# and me\nsystem "be brief"\n'
)
TIDY = (
    '# keep me\nFROM smollm2:135m\n\nPARAMETER temperature 0.3\n# and me\nSYSTEM """be brief"""\n'
)


def _write(folder: Path, text: str, name: str = "Modelfile") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"ladle {__version__}\n"


COMMANDS = sorted(
    name
    for name, command in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
    if not command.hidden
)


def test_main_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_useful_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and "Example:" in result.output


@pytest.mark.parametrize("command", [*COMMANDS, "ls"])
def test_a_group_of_one_command_reads_the_same(command: str) -> None:
    # main() builds the group with the named command only; its help must not change.
    alone = runner.invoke(make_app([command]), [command, "--help"])
    assert alone.exit_code == 0
    assert alone.output == runner.invoke(app, [command, "--help"]).output


def test_main_runs_the_named_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    modelfile = str(_write(tmp_path, TIDY))
    for argv, code in (
        (["ladle", "fmt", "--check", modelfile], 0),
        (["ladle", "--version"], 0),
        (["ladle", "nosuch"], 2),
    ):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_:
            main()
        assert exit_.value.code == code
    assert capsys.readouterr().out == f"ladle {__version__}\n"


def test_main_prints_an_error_then_the_cli_s_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("LADLE_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(sys, "argv", ["ladle", "show", "nope"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    assert capsys.readouterr().err == (
        "error: model 'nope:latest' not found\nhint: ladle list shows the models you have\n"
    )


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (ModelNotFoundError("x:latest"), "ladle list"),
        (CorruptBlobError("sha256:" + "0" * 64, "the blob file is missing"), "ladle doctor"),
        (RegistryAuthError("localhost:5000", "anonymous access was refused"), "ladle login"),
        (UnsupportedRegistryError("registry.ollama.ai", "not there"), "ladle cp"),
        (BuildError("no hint"), None),
    ],
)
def test_hints_are_chosen_by_type(error: LadleError, says: str | None) -> None:
    assert "ladle " not in str(error)  # the message names no command: the hint does
    found = hint(error)
    if says is None:
        assert found is None and describe(error) == f"error: {error}"
    else:
        assert found is not None and found.startswith(says)
        assert describe(error) == f"error: {error}\nhint: {found}"


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage:" in result.output


def test_check_clean_file() -> None:
    result = runner.invoke(app, ["check", str(SRE_BOT)])
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.output


def test_check_reports_file_line_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "FROM x\nSYSTEM a\nSYSTEM b\nPARAMETER top_p 2\n")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{path}:3:1: warning: SYSTEM is set again; this replaces line 2"
    assert lines[1].startswith(f"{path}:4:17: error: top_p must be less than or equal to 1")


def test_check_strict_fails_on_warnings(tmp_path: Path) -> None:
    path = _write(tmp_path, "FROM x\nPARAMETER mirostat 1\n")
    assert runner.invoke(app, ["check", str(path)]).exit_code == 0
    assert runner.invoke(app, ["check", "--strict", str(path)]).exit_code == 1


def test_check_syntax_error_and_missing_file(tmp_path: Path) -> None:
    broken = _write(tmp_path, "FROM x\nFORM y\n")
    missing = tmp_path / "nope"
    result = runner.invoke(app, ["check", str(broken), str(missing)])
    assert result.exit_code == 1
    assert f"{broken}:2:1: error: unknown instruction 'FORM'; did you mean FROM?" in result.output
    assert f"{missing}:1:1: error: cannot read file" in result.output


def test_check_reads_stdin() -> None:
    result = runner.invoke(app, ["check", "-"], input="FROM x\nPARAMETER num_ctx 0\n")
    assert result.exit_code == 1
    assert "<stdin>:2:19: error: num_ctx must be greater than 0 (got 0)" in result.output


def test_fmt_rewrites_and_keeps_comments(tmp_path: Path) -> None:
    path = _write(tmp_path, MESSY)
    result = runner.invoke(app, ["fmt", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == TIDY
    assert f"reformatted {path}" in result.output


def test_fmt_leaves_canonical_files_alone(tmp_path: Path) -> None:
    path = _write(tmp_path, TIDY)
    os.utime(path, (1_000_000, 1_000_000))
    result = runner.invoke(app, ["fmt", str(path)])
    assert result.exit_code == 0
    assert path.stat().st_mtime == 1_000_000


def test_fmt_check_prints_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, MESSY)
    result = runner.invoke(app, ["fmt", "--check", str(path)])
    assert result.exit_code == 1
    assert "-  parameter temperature 0.3" in result.output
    assert "+PARAMETER temperature 0.3" in result.output
    assert f"would reformat {path}" in result.output
    assert path.read_text(encoding="utf-8") == MESSY


def test_fmt_check_passes_on_examples() -> None:
    files = sorted(str(path) for path in EXAMPLES.glob("*/Modelfile"))
    assert files
    result = runner.invoke(app, ["fmt", "--check", *files])
    assert result.exit_code == 0, result.output


def test_fmt_broken_file_is_reported_and_untouched(tmp_path: Path) -> None:
    text = 'FROM x\nSYSTEM """never closed\n'
    path = _write(tmp_path, text)
    result = runner.invoke(app, ["fmt", str(path)])
    assert result.exit_code == 1
    assert f'{path}:2:8: error: unterminated """ string' in result.output
    assert path.read_text(encoding="utf-8") == text


def test_fmt_stdin_to_stdout() -> None:
    result = runner.invoke(app, ["fmt", "-"], input=MESSY)
    assert result.exit_code == 0
    assert result.stdout == TIDY


def test_fmt_keeps_file_mode(tmp_path: Path) -> None:
    path = _write(tmp_path, MESSY)
    path.chmod(0o640)
    runner.invoke(app, ["fmt", str(path)])
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["Modelfile"]  # no temp files left


def test_console_script_runs() -> None:
    ladle = shutil.which("ladle", path=str(Path(sys.executable).parent))
    if ladle is None:
        missing("the ladle console script", "pip install -e '.[test,models]'")
    result = subprocess.run([ladle, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("ladle ")


@pytest.mark.parametrize(
    ("text", "where", "inside"),
    [
        (
            'FROM x\nTEMPLATE """{% for m in messages %}\n{{ m.content }\n{% endfor %}"""\n',
            "3:14",
            "line 2, column 14",
        ),
        ('FROM x\nTEMPLATE "{{ x }"\n', "2:16", "line 1, column 6"),
        ("FROM x\nTEMPLATE {{ if .System }}{{ .System }\n", "2:37", "line 1, column 28"),
    ],
    ids=["jinja-multiline", "jinja-quoted", "go-bare"],
)
def test_check_compiles_templates(tmp_path: Path, text: str, where: str, inside: str) -> None:
    path = _write(tmp_path, text)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:{where}: error: template {inside}" in result.output


def test_check_warns_when_no_template_is_anywhere(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LADLE_MODELS", str(tmp_path / "models"))
    (tmp_path / "tiny.gguf").write_bytes(tiny_model.read_bytes())  # a GGUF with no template
    bare = _write(tmp_path, "FROM ./tiny.gguf\n")
    result = runner.invoke(app, ["check", str(bare)])
    assert result.exit_code == 0
    assert f"{bare}:1:1: warning: no chat template" in result.output
    templated = _write(tmp_path, 'FROM ./tiny.gguf\nTEMPLATE "{{ messages }}"\n', "Other")
    assert "0 warning(s)" in runner.invoke(app, ["check", str(templated)]).output
    assert not (tmp_path / "models").exists()  # checking writes nothing
