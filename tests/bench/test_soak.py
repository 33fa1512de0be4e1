"""The soak's figures and its section of the report (bench/soak.py, bench/soak_report.py);
the soak itself runs in ``make bench``, not here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.soak import P99_TARGET_MS, figures
from bench.soak_report import BEGIN, END, write_section
from bench.soak_traffic import LEFT, Tally

RSS = {"server": 100.0, "runners": 300.0, "n_runners": 2}


def soaked(errors: int = 0) -> dict[str, Any]:
    tally = Tally()
    tally.saw("generate, whole", 200)
    tally.saw("stream abandoned after a line", LEFT)
    tally.saw("upload trickling a byte a second", 408)
    for _ in range(errors):
        tally.saw("embed", 500, '{"error":"boom"}')
    tally.version_ms = [1.0] * 98 + [40.0, 80.0]
    results = figures(tally, RSS, {**RSS, "server": 104.5}, "INFO: fine\n")
    machine = {
        "host": "vm",
        "date": "2026-12-04T03:00:00+00:00",
        "cpu": "Xeon",
        "physical_cores": 2,
        "logical_cores": 2,
        "commit": "abc",
    }
    extra = {"clients": {"valid": 3, "hostile": 3}, "minutes": 3.0, "model": "SmolLM2"}
    return {"command": "python -m bench.soak", "machine": machine, **results, **extra}


def test_the_figures_count_every_answer_and_every_5xx() -> None:
    results = soaked(errors=2)
    assert results["requests"] == 5 and results["server_errors"] == 2
    assert results["statuses"] == {"200": 1, "408": 1, "500": 2, LEFT: 1}
    assert results["server_error_examples"] == ['embed: 500 {"error":"boom"}'] * 2
    probe = results["version_probe"]
    assert probe["count"] == 100 and probe["max_ms"] == 80.0
    assert 40.0 <= probe["p99_ms"] <= 80.0 and probe["target_p99_ms"] == P99_TARGET_MS


def test_the_section_is_appended_then_replaced(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nthe rest\n", encoding="utf-8")
    source = tmp_path / "results" / "2026-12-04-vm-soak.json"
    write_section(report, soaked(), source)
    first = report.read_text(encoding="utf-8")
    assert first.startswith("# Benchmarks\n\nthe rest\n\n" + BEGIN)
    assert "| 5xx answers | 0 | 0 of 3 | **met** |" in first
    assert "[`2026-12-04-vm-soak.json`](results/2026-12-04-vm-soak.json)" in first
    assert "| server | 100.0 MiB | 104.5 MiB |" in first
    write_section(report, soaked(errors=1), source)
    second = report.read_text(encoding="utf-8")
    assert second.count(BEGIN) == 1 and second.count(END) == 1
    assert "| 5xx answers | 0 | 1 of 4 | **not met** |" in second
    assert "- embed: 500" in second
