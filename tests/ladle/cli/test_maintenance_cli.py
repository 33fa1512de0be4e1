"""``ladle prune``, ``doctor`` and ``diff`` against a store in a temp folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.store.maintenance import GRACE_SECONDS
from builder.store.names import ModelName
from builder.store.store import Store
from ladle.cli.app import app

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store with ``bot`` and ``terse`` (FROM bot), as the CLI sees it."""
    monkeypatch.setenv("LADLE_MODELS", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    shutil.copy(tiny_model, tmp_path / "tiny.gguf")
    Path("Modelfile").write_text("FROM ./tiny.gguf\nPARAMETER temperature 0.3\nSYSTEM Hi.\n")
    Path("Terse").write_text("FROM bot\nSYSTEM Be terse.\nPARAMETER top_k 5\n")
    _run("create", "bot")
    _run("create", "terse", "-f", "Terse")
    return Store(tmp_path / "models")


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _age(store: Store) -> None:
    for path in store.root.rglob("*"):
        if path.is_file():
            old = path.stat().st_mtime - GRACE_SECONDS - 60
            os.utime(path, (old, old))


def test_every_command_has_an_example() -> None:
    names = [command.name for command in app.registered_commands if not command.hidden]
    assert {"prune", "doctor", "diff"} <= set(names)
    for name in names:
        assert name is not None
        assert "Example:" in _run(name, "--help"), name


def test_prune_dry_run_then_prune(store: Store) -> None:
    _run("rm", "terse")
    _age(store)
    before = store.blob_digests()
    dry = _run("prune", "--dry-run").splitlines()
    assert all(line.startswith("would delete sha256:") for line in dry[:-1])
    assert (
        dry[-1].startswith("Total reclaimable space: ") and len(dry) == 4
    )  # config, system, params
    assert store.blob_digests() == before
    done = _run("prune").splitlines()
    assert [line.replace("would delete", "deleted") for line in dry[:-1]] == done[:-1]
    assert done[-1] == dry[-1].replace("reclaimable", "reclaimed")
    assert _run("prune") == "Total reclaimed space: 0 B\n"
    assert "store OK: 1 image," in _run("doctor")


def test_prune_says_what_it_kept(store: Store) -> None:
    _run("rm", "terse")
    output = _run("prune")
    assert "kept 3 unused blobs (" in output
    assert "modified less than 10 minutes ago, in case a write is still in progress" in output
    assert output.endswith("Total reclaimed space: 0 B\n")


def test_prune_refuses_with_a_corrupt_manifest(store: Store) -> None:
    store.manifest_path(ModelName.parse("terse")).write_text("garbage")
    _age(store)
    result = runner.invoke(app, ["prune"])
    assert result.exit_code == 1
    message = str(result.exception)
    assert "nothing was pruned" in message and "ladle rm terse:latest" in message


def test_doctor_on_a_clean_and_a_damaged_store(store: Store) -> None:
    output = _run("doctor")
    assert output.startswith("store OK: 2 images, ") and output.endswith(" checked\n")
    bot = store.get(ModelName.parse("bot")).manifest
    store.blob_path(bot.layers[0].digest).write_bytes(b"not the weights")
    output = _run("doctor", code=1)
    assert "problem: blob sha256:" in output and "(used by bot:latest, terse:latest)" in output
    assert "    fix: ladle rm bot:latest terse:latest && ladle prune" in output
    blobs = len(store.blob_digests())
    assert output.endswith(f"1 problem found in 2 images, {blobs} blobs\n")


def test_diff_exit_codes(store: Store) -> None:
    output = _run("diff", "bot", "terse", code=1)
    assert output.startswith("--- bot:latest (")
    assert "\nSystem\n@@ -1 +1 @@\n-Hi.\n+Be terse.\n" in output
    assert "\nParameters\n+top_k  5\n" in output
    assert "\x1b[" not in output  # no colour when stdout is not a terminal
    assert "no differences between bot:latest" in _run("diff", "bot", "bot")
    result = runner.invoke(app, ["diff", "bot", "nope"])
    assert result.exit_code == 2
    assert "error: model 'nope:latest' not found" in result.output
