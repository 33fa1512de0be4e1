"""Run against run: the report's reproducibility section (bench/reproducibility.py)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import reproducibility
from bench.__main__ import previous_results
from bench.machine import commit
from bench.report import render_markdown
from bench.targets import evaluate

FULL = Path(__file__).parent / "results_full.json"
CLI = "The same create through the CLI (`ladle create`, a new process, wall clock)"


@pytest.fixture
def results() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FULL.read_text(encoding="utf-8"))
    return loaded


def _section(results: dict[str, Any]) -> str:
    return "\n".join(reproducibility.section(results, evaluate(results)))


def test_a_run_lands_inside_its_own_spread(results: dict[str, Any]) -> None:
    results["previous"] = reproducibility.snapshot(copy.deepcopy(results), "same.json")
    text = _section(results)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "figure" not in line]
    assert rows and all(line.endswith("| yes | yes |") for line in rows)
    assert f"of the {len(rows)} figures measured over several runs: **{len(rows)}** have" in text
    assert f"the two ranges overlap for **{len(rows)}**." in text
    assert "(same.json, measured " in text


def test_a_median_outside_the_previous_range_is_a_no(results: dict[str, Any]) -> None:
    previous = reproducibility.snapshot(results, "old.json")
    previous["figures"][CLI].update(median=0.2, min=0.19, max=0.21)
    results["previous"] = previous
    row = next(line for line in _section(results).splitlines() if line.startswith(f"| {CLI}"))
    assert row.endswith("| **no** | **no** |")
    assert "+56 %" in row  # 312 ms now against a median of 200 ms
    previous["figures"][CLI].update(max=0.3)  # the ranges meet, the median is still out
    assert next(
        line for line in _section(results).splitlines() if line.startswith(f"| {CLI}")
    ).endswith("| **no** | yes |")


def test_figures_measured_once_take_no_part(results: dict[str, Any]) -> None:
    results["previous"] = reproducibility.snapshot(results, "old.json")
    assert "`make bench` wall time" not in _section(results)


def test_without_a_previous_run(results: dict[str, Any]) -> None:
    assert _section(results).endswith("No earlier full run of this host to compare with.\n")
    assert "## Reproducibility" in render_markdown(results, "r.json", "r.json", {})


def test_the_previous_run_is_the_latest_full_one_of_the_host(
    results: dict[str, Any], tmp_path: Path
) -> None:
    for name, extra in (
        ("2026-11-20-vm.json", {}),
        ("2026-11-24-vm.json", {}),
        ("2026-11-25-vm-quick.json", {"quick": True}),
        ("2026-11-25-other.json", {}),
        ("2026-11-27-vm.json", {}),  # after this run: not the previous one
    ):
        (tmp_path / name).write_text(json.dumps({**results, **extra}), encoding="utf-8")
    found = previous_results(tmp_path / "2026-11-26-vm.json", tmp_path)
    assert found is not None and found["source"] == "2026-11-24-vm.json"
    (tmp_path / "2026-11-26-vm.json").write_text(json.dumps(results), encoding="utf-8")
    found = previous_results(tmp_path / "2026-11-26-vm.json", tmp_path)
    assert found is not None and found["source"] == "2026-11-26-vm.json"  # about to be replaced
    assert previous_results(tmp_path / "2026-11-19-vm.json", tmp_path) is None


def test_the_section_says_whether_the_code_changed(results: dict[str, Any]) -> None:
    results["machine"]["commit"] = "abc123"
    results["previous"] = reproducibility.snapshot(copy.deepcopy(results), "old.json")
    assert "Both runs measured the same code (commit `abc123`)." in _section(results)
    results["machine"]["commit"] = "def456+changes"
    assert "The code changed between the runs (`abc123` then `def456+changes`)" in (
        _section(results)
    )
    del results["machine"]["commit"]
    assert "The commit of one of the runs is not recorded." in _section(results)


def test_the_commit_of_a_checkout(tmp_path: Path) -> None:
    found = commit()
    assert found is None or re.fullmatch(r"[0-9a-f]{12}(\+changes)?", found)
    assert commit(tmp_path) is None  # not a git checkout
