# ruff: noqa: RUF001 - the report writes spreads with en dashes, ratios with multiplication signs
"""The report (bench/report.py) rendered from fixture results files, its charts, and the
``python -m bench`` command line around it (no benchmark is run here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from bench import __main__ as orchestrator
from bench.report import DOCS_REPORT, charts_folder, render_markdown, write_report
from bench.targets import TARGETS

FULL = Path(__file__).parent / "results_full.json"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def results() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FULL.read_text(encoding="utf-8"))
    return loaded


def render(results: dict[str, Any], charts: dict[str, str] | None = None) -> str:
    return render_markdown(results, "bench/results/x.json", "../bench/results/x.json", charts or {})


def lead_rows(markdown: str) -> list[list[str]]:
    """The cells of the targets table's rows."""
    section = markdown.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_the_report_of_the_full_fixture(
    results: dict[str, Any], snapshot: SnapshotAssertion
) -> None:
    charts = {"concurrency": "benchmarks/concurrency.png", "ttft": "benchmarks/ttft.png",
              "multiturn": "benchmarks/multiturn.png"}  # fmt: skip
    assert render(results, charts) == snapshot


def test_the_lead_table_has_every_target_in_order(results: dict[str, Any]) -> None:
    markdown = render(results)
    assert markdown.index("## Targets") < markdown.index("## Machine")
    rows = lead_rows(markdown)
    assert [(int(row[0]), row[1]) for row in rows] == [(t.issue, t.figure) for t in TARGETS]
    by_figure = {row[1]: row for row in rows}
    single = by_figure["Single stream decode tok/s vs raw llama-cpp-python"]
    assert single[3] == "ladle serve (/api/generate): 118 tok/s (110–124, 3 runs)"
    assert single[4] == "llama-cpp-python (in-process): 120 tok/s (112–126, 3 runs)"
    assert single[5] == "**met**: 0.98× ≥ 0.95×"
    cp = by_figure["Import the 253 MB Gemma GGUF (whole `ladle create`) vs `cp`"]
    assert cp[5] == "**not met**: 0.35× ≥ 0.50×"
    cli = "The same create through the CLI (`ladle create`, a new process, wall clock)"
    assert by_figure[cli][5] == "**not met**: 312 ms < 300 ms"
    assert "21 met, 4 not met, 18 not measured, of 43 targets." in markdown


def test_a_run_without_serving(results: dict[str, Any]) -> None:
    results["serving"] = {"error": "ImportError: no llama_cpp"}
    markdown = render(results)
    assert "Not measured in this run: serving failed: ImportError: no llama_cpp." in markdown
    statuses = {row[1]: row[5] for row in lead_rows(markdown)}
    assert statuses["Cold start: request to first token"] == (
        "not measured: serving failed: ImportError: no llama_cpp"
    )


def test_a_partial_serving_section(results: dict[str, Any], tmp_path: Path) -> None:
    """Only ladle's single stream ran: its table renders, the rest say they are absent,
    and only the chart with data is drawn."""
    serving = results["serving"]
    results["serving"] = {
        "systems": {
            "ladle_api": serving["systems"]["ladle_api"],
            "llama_server": {"skipped": "no cmake"},
        },
        "single": {"ladle_api": serving["single"]["ladle_api"]},
    }
    markdown = render(results)
    assert "| ladle serve (/api/generate) | 210 ms (190–250, 3 runs) |" in markdown
    assert "| `llama_server` | llama_server | — | did not run: no cmake |" in markdown
    assert "No concurrency figures in this run." in markdown
    assert "Decode bound: not computed (no serving.model in the results)." in markdown
    folder = tmp_path / "charts"
    folder.mkdir()
    (folder / "concurrency.png").write_bytes(PNG)  # a stale chart of an earlier run
    from bench.charts import draw

    assert set(draw(results, folder)) == {"ttft"}
    assert sorted(path.name for path in folder.iterdir()) == ["ttft.png"]


def test_a_results_file_of_the_older_format(results: dict[str, Any]) -> None:
    old = {key: results[key] for key in ("date", "modelfile_parse", "builder", "render")}
    old["machine"] = {"host": "vm", "cpu": "AMD EPYC", "cores": 2, "python": "3.11.7",
                      "platform": "Linux-6.18"}  # fmt: skip
    markdown = render(old)
    assert "| cores | 2 physical, 2 logical |" in markdown
    assert "| memory bandwidth (memcpy) | not measured |" in markdown
    assert "| python | 3.11.7 |" in markdown
    assert "- Measured by: not recorded." in markdown


def test_a_quick_run_is_marked(results: dict[str, Any]) -> None:
    results["quick"] = True
    assert "> **Quick run** (`--quick`)" in render(results)


def test_write_report_draws_and_links_the_charts(results: dict[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "bench" / "results" / "2026-11-27-vm.json"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps(results))
    markdown = tmp_path / "docs" / "BENCHMARKS.md"
    written = write_report(results, source, markdown)
    assert charts_folder(markdown) == tmp_path / "docs" / "benchmarks"
    names = sorted(path.name for path in written)
    assert names == ["BENCHMARKS.md", "concurrency.png", "multiturn.png", "ttft.png"]
    text = markdown.read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == [
        "benchmarks/ttft.png",
        "benchmarks/concurrency.png",
        "benchmarks/multiturn.png",
    ]
    for link in links:
        assert (markdown.parent / link).read_bytes().startswith(PNG)
    assert (
        "[`../bench/results/2026-11-27-vm.json`]" not in text
    )  # shown by its name, linked relatively
    assert "(../bench/results/2026-11-27-vm.json)" in text


def test_report_only_renders_without_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "report.md"
    assert orchestrator.main(["--report-only", str(FULL), "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8").startswith("# Benchmarks\n")
    out = capsys.readouterr().out
    assert "not met  issue 9: 8 streams, aggregate tok/s vs llama_cpp.server — 2.85× ≥ 3.00×" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not a results file (invalid JSON"),
        ("[1, 2]", "is not a results file (not a JSON object)"),
    ],
)
def test_report_only_refuses_what_is_not_a_results_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit, match=re.escape(message)):
        orchestrator.main(["--report-only", str(path), "--output", str(tmp_path / "r.md")])


def test_where_results_and_reports_go() -> None:
    full = orchestrator.results_path("2026-11-27T09:00:00+00:00", "my host", False, [])
    quick = orchestrator.results_path("2026-11-27T09:00:00+00:00", "vm", True, [])
    only = orchestrator.results_path("2026-11-27T09:00:00+00:00", "vm", False, ["serving", "tui"])
    assert full.name == "2026-11-27-my_host.json"
    assert quick.name == "2026-11-27-vm-quick.json"
    assert only.name == "2026-11-27-vm-only-serving-tui.json"
    assert orchestrator.default_report({"quick": False}, full) == DOCS_REPORT
    assert orchestrator.default_report({"quick": True}, quick) == quick.with_suffix(".md")
    assert orchestrator.default_report({"only": ["tui"]}, only) == only.with_suffix(".md")


def test_a_module_that_is_missing_or_raises_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert orchestrator.measure("bench.no_such_module", quick=True) == {
        "skipped": "bench.no_such_module is not there"
    }
    failed = orchestrator.measure("json", quick=True)  # a module without run()
    assert failed["error"] == "AttributeError: module 'json' has no attribute 'run'"
    assert "Traceback" in failed["traceback"]


def test_a_module_that_crashes_its_process_is_recorded() -> None:
    result = orchestrator.run_isolated("tests.bench.crashing_bench", quick=True, timeout=60)
    assert result == {"error": "the module's process ended with signal SIGKILL and no results"}


def test_a_serving_section_with_nothing_in_it() -> None:
    markdown = render({"serving": {"api_overhead": {"skipped": "ladle_runner did not run"}}})
    assert "Systems: not recorded." in markdown
    assert "No single-stream figures in this run." in markdown
    assert "No multi-turn figures in this run." in markdown
    assert (
        "API overhead: not measured (serving.api_overhead skipped: ladle_runner did not run)."
        in markdown
    )
    assert "Overload: not measured (no serving.overload in the results)." in markdown


def test_a_second_model_gets_its_own_single_stream_table(results: dict[str, Any]) -> None:
    serving = results["serving"]
    serving["second_model"] = {
        "model": {**serving["model"], "name": "Gemma 3 270M Q4_K_M"},
        "single": {key: serving["single"][key] for key in ("ladle_api", "raw")},
        "systems": {key: serving["systems"][key] for key in ("ladle_api", "raw")},
        "settings": {"parallel": 1},
    }
    section = render(results).split("### Single stream on a second model", 1)[1]
    section = section.split("\n### ", 1)[0]
    assert "**Gemma 3 270M Q4_K_M**" in section
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 3  # the settings table (header, one row), then the systems table


def test_a_second_model_that_failed_says_why(results: dict[str, Any]) -> None:
    results["serving"]["second_model"] = {"error": "RuntimeError('ladle create failed')"}
    section = render(results).split("### Single stream on a second model", 1)[1]
    assert "ladle create failed" in section.split("\n### ", 1)[0]


def test_parts_measured_again_are_named_with_their_command(results: dict[str, Any]) -> None:
    again = {
        "date": "2026-12-05",
        "keys": ["cluster"],
        "command": "python -m bench --only cluster",
        "file": "bench/results/2026-12-05-vm-only-cluster.json",
        "why": "the cluster's figures changed",
    }
    text = render({**results, "remeasured": [again]})
    assert (
        "- Measured again on 2026-12-05, and put in this results file in place of the run's "
        "own: `cluster`, by `python -m bench --only cluster` "
        "(bench/results/2026-12-05-vm-only-cluster.json), because the cluster's figures changed."
    ) in text
